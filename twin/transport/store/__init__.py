"""The transport pilot's SQL: writing a feed, and reading schedules and stops."""
