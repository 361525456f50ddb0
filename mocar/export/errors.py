"""Typed errors of the export stage, so callers and CI can tell a broken exporter from a bad file.

* :class:`ExportError`: a format could not produce its files (exporter crashed, timed out, missing
  optional dependency) or an export request is invalid.
* :class:`ParityError`: files were written but at least one disagrees with the float PyTorch model
  beyond its tolerance (float formats) or its task-level limits (int8).

``export_run(strict=True)`` collects every failure first and then raises one of these, listing all.
"""
from __future__ import annotations

from mocar.errors import MocarError


class ExportError(MocarError):
    """An export could not be produced; ``failures`` lists one line per failed format or file."""

    def __init__(self, message: str, failures: list[str] | None = None) -> None:
        super().__init__(message)
        self.failures = list(failures or [])


class ParityError(ExportError):
    """An exported file was written but does not match the float reference within its limits."""
