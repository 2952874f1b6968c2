"""The platform: settings, database, migrations, logging, clock, API keys, the CLI and the private
PostgreSQL cluster."""
