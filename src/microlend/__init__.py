"""Microlend: online micro-lending with risk control built in."""

__version__ = "0.1.0"
