"""Linli (邻里): community group-buying with social distribution."""

__version__ = "0.1.0"
