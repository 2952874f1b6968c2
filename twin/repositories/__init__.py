"""Repositories: every SQL statement of the twin lives here. Functions take a connection explicitly."""
