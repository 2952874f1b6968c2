"""Lozenets Twin HTTP layer: routers, schemas, error handlers, dependencies. No SQL, no geometry maths."""
