"""Imports: the source manifest, fetching and verifying sources, loaders, the runner and its audit trail."""
