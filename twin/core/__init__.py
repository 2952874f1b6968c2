"""The core of the twin: catalog, features, CQL2, CRS, tiles, serving, the derived-layer engine and the
imports. It knows no pilot: pilots declare themselves to :mod:`twin.core.registry`."""
