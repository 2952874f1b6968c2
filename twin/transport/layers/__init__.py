"""The transport pilot's derived layers."""
