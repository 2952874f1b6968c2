"""The public-transport pilot: the GTFS feed in PostGIS, stop and station metrics for polling, stops,
stations, route lines, PTAL, service coverage and route reliability."""
