"""Typed errors of the field stage (reference index, calibration, prediction).

Callers (the CLI, the app build, CI) can tell "wrong model for this index" apart from "broken index
file" or "no calibration yet" without parsing messages.
"""
from __future__ import annotations

from mocar.errors import MocarError


class FieldError(MocarError):
    """Base class of the errors raised by :mod:`mocar.field`."""


class ReferenceIndexError(FieldError):
    """A reference index folder is missing, incomplete or inconsistent (names the file and what is valid)."""


class ModelMismatchError(FieldError):
    """An index or calibration file was made with another model than the one it is used with.

    Attributes:
        what: The file that does not belong to the model (index.json, calibration.json...).
        expected: Fingerprint recorded in that file.
        actual: Fingerprint of the model in use.
    """

    def __init__(self, what: str, expected: str, actual: str) -> None:
        self.what, self.expected, self.actual = what, expected, actual
        super().__init__(
            f"{what} was made with the model {expected[:16]}… but is used with the model {actual[:16]}… "
            f"(full fingerprints: {expected} vs {actual}); rebuild it for this model "
            "(`mocar index build` / `mocar calibrate`) or use the matching run")


class CalibrationError(FieldError):
    """Calibration inputs are unusable (too few samples for a level, wrong shapes, bad labels)."""
