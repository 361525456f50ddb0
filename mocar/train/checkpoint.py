"""Checkpoints that load with ``torch.load(weights_only=True)`` and are never half-written.

A checkpoint holds tensors and plain data only: the model and optimiser state dicts, the step, the
best validation loss so far, the resolved run config and the model config. Writes go to a temporary
file in the same folder and are renamed into place, so a crash leaves either the old or the new
checkpoint, never a corrupt one.
"""
from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import torch

from mocar.errors import CheckpointError
from mocar.utils.io import atomic_write_bytes

CHECKPOINT_VERSION = 1


def save_checkpoint(path: Path, state: dict[str, Any]) -> None:
    """Serialise ``state`` (tensors, numbers, strings, lists, dicts) atomically to ``path``."""
    buffer = io.BytesIO()
    torch.save({"format_version": CHECKPOINT_VERSION, **state}, buffer)
    atomic_write_bytes(Path(path), buffer.getvalue())


def load_checkpoint(path: Path, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Load a checkpoint without executing pickled code; clear errors for missing/corrupt files."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint not found: {path}")
    try:
        state = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as err:  # torch raises many types for corrupt files; report them as one
        raise CheckpointError(f"{path}: not a readable mocar checkpoint ({type(err).__name__}: {err})") from err
    if not isinstance(state, dict) or "model" not in state:
        raise CheckpointError(f"{path}: not a mocar checkpoint (no 'model' entry)")
    return state
