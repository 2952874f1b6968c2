"""Lozenets Twin: the domain (settings, data, importers, scenarios); never imports the web framework."""

__version__ = "0.1.0"
