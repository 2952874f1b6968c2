"""The air-quality pilot's derived layers: the estimated surface and the exposure per neighbourhood."""
