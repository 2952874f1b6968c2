"""The air-quality pilot: stations, citizen sensors and their measurements in PostGIS, limit-value
statistics, interpolated surfaces with their uncertainty, and exposure per neighbourhood."""
