"""The catalog: layer specifications and provenance, the layer registry, collections as served."""
