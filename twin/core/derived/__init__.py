"""Derived layers: the contract, the inputs a computation reads, and the engine that stores results."""
