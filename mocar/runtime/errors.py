"""Typed errors of the runtime floor: a file that cannot be read or run, a runtime that is not installed,
a parity verdict that failed.

Callers above (export, field, bench, the CLI) tell these apart without parsing messages.
"""
from __future__ import annotations

from mocar.errors import MocarError


class MetadataError(MocarError):
    """A model file has no readable mocar metadata, or no reader exists for its type."""


class UnknownFormatError(MocarError):
    """A file type or format name that the registry (:mod:`mocar.runtime.registry`) does not know."""


class MissingRuntimeError(MocarError):
    """A format's optional dependency is not installed; the message names the extra to install."""


class PolicyViolation(MocarError):
    """At least one export broke a parity threshold; ``failures`` lists them."""

    def __init__(self, failures: list[str]) -> None:
        super().__init__(f"{len(failures)} parity check(s) failed:\n" + "\n".join(failures))
        self.failures = failures
