"""The benchmark: the twin vs tipg vs PostGIS alone (`./bench/run.sh`)."""
