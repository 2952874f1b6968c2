"""Lozenets Twin: the domain, a core, a platform and one package per pilot; never imports the web
framework."""

__version__ = "0.1.0"
