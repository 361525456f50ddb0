"""Errors specific to ``mocar bench``."""

from __future__ import annotations

from mocar.errors import MocarError


class PolicyViolation(MocarError):
    """At least one export broke a parity threshold; ``failures`` lists them."""

    def __init__(self, failures: list[str]) -> None:
        super().__init__(f"{len(failures)} parity check(s) failed:\n" + "\n".join(failures))
        self.failures = failures


class AndroidBenchError(MocarError):
    """A phone benchmark could not run: no/ambiguous device, or an adb or ``benchmark_model`` failure."""
