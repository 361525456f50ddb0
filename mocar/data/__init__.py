"""Data stage: museum export ingest, dating parser, Jenks epochs, splits, demo museum, transforms."""
from mocar.data.jenks import jenks_breaks

__all__ = ["jenks_breaks"]
