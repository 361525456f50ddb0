"""Typed errors of the int8 floor."""
from __future__ import annotations

from mocar.errors import MocarError


class QuantizeError(MocarError):
    """An int8 recipe cannot be applied to this model (nothing to quantise, nothing to keep in float)."""
