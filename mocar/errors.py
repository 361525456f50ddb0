"""Typed errors shared by every stage, so callers and CI can tell failures apart.

Each error message names the offending file, row or value and says what would be valid.
"""
from __future__ import annotations


class MocarError(Exception):
    """Base class of every error mocar raises on purpose."""


class InputError(MocarError, ValueError):
    """A user-supplied file or argument is unusable (missing column, unknown encoding, bad flag).

    Also a ``ValueError``, like ConfigError: it is a bad value, and generic handlers keep working.
    """


class ConfigError(MocarError, ValueError):
    """A configuration value is invalid or inconsistent."""


class CheckpointError(MocarError):
    """A checkpoint or run directory is missing, corrupt or belongs to another model."""
