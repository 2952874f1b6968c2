"""Feature queries: request parameters parsed into a typed query, keyset cursors, and the SQL."""
