"""The air-quality pilot's base layers: stations and sensors, and their measurements."""

from __future__ import annotations

from twin.core.catalog.specs import LayerSpec

STATION_SOURCES = (
    "eea-stations-sofia",
    "sofia-air-municipal-sample",
    "sensor-community-locations-2017-2018",
    "sensor-community-locations-lozenets",
    "sensor-community-ndk-neighbourhoods",
)
MEASUREMENT_SOURCES = (
    "eea-pm10-bg0040a-nadezhda",
    "eea-pm10-bg0050a-hipodruma",
    "eea-pm25-bg0050a-hipodruma",
    "eea-pm10-bg0052a-druzhba",
    "eea-pm10-bg0054a-orlov-most",
    "eea-pm10-bg0073a-pavlovo",
    "eea-pm10-bg0079a-mladost",
    "sofia-air-municipal-sample",
    "sensor-community-ndk-hourly",
)

STATIONS_LAYER = LayerSpec(
    id="air_stations",
    title="Air-quality stations and citizen sensors",
    description="Reference stations (EEA-reported, municipal) and indicative citizen sensors "
    "(sensor.community, AirTube) in and around Sofia: operator, network, class (reference or "
    "indicative), kind (station, sensor or the NDK cluster), the pollutants measured and the span "
    "of their measurements. Sensors registered through the ingest API join it.",
    geometry_type="Point",
    table_name="air_station",
    source_ids=STATION_SOURCES,
)

MEASUREMENTS_LAYER = LayerSpec(
    id="air_measurements",
    title="Air-quality measurements",
    description="Every hourly or daily value at a station or sensor: pollutant, interval (start_time, "
    "end_time), value and unit, aggregation, EEA validity (1 valid; below 1 invalid, never averaged) "
    "and verification (1 verified, 3 not verified). `datetime` filters on start_time; numberMatched "
    "is not counted (millions of rows). Values posted through the ingest API join it; each row's "
    "import run is in /imports.",
    geometry_type="Point",
    table_name="air_measurement_feature",
    source_ids=MEASUREMENT_SOURCES,
    temporal_column="start_time",
    key_column="id",
    extent_layer="air_stations",
    exact_count=False,
)
