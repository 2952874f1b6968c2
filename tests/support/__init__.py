"""Helpers shared by the test modules (imported by them; never test modules themselves)."""
