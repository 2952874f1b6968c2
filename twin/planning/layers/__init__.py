"""The urban-planning pilot's derived layers."""
