"""Typed errors raised by :mod:`mocar.model`.

Callers (CLI, training, export) can tell a bad preset name from a broken weights file without
parsing messages. Every class is a :class:`~mocar.errors.MocarError` (the CLI reports it as one
line and exit status 2) and also a ``ValueError``, so handlers written for the latter keep working.
"""

from mocar.errors import MocarError


class ModelError(MocarError, ValueError):
    """Base class for every error raised by ``mocar.model``."""


class UnknownNameError(ModelError):
    """An architecture, backbone, preset or config field name is not known."""


class ModelConfigError(ModelError):
    """A model configuration value is invalid (negative size, indivisible groups, ...)."""


class PretrainedWeightsError(ModelError):
    """A pretrained-weights file cannot be read or does not match the backbone."""


class ModelFileError(ModelError):
    """A saved mocar model file is unreadable or not in the expected format."""


def unknown_name_message(kind: str, name: object, valid: list[str] | tuple[str, ...]) -> str:
    """Builds the one message format used for every unknown-name error.

    Args:
        kind: What was looked up, e.g. ``"preset"``.
        name: The offending value.
        valid: The accepted names.

    Returns:
        A message naming the bad value and listing every valid one.
    """
    return f"unknown {kind} {name!r}; valid {kind}s: {', '.join(sorted(valid))}"
