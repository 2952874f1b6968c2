"""The air-quality pilot's importers: EEA Parquet, the municipal CSV layout, sensor.community files and
its live API."""
