"""Errors specific to ``mocar bench`` (a parity verdict is :class:`mocar.runtime.errors.PolicyViolation`)."""

from __future__ import annotations

from mocar.errors import MocarError


class AndroidBenchError(MocarError):
    """A phone benchmark could not run: no/ambiguous device, or an adb or ``benchmark_model`` failure."""
