"""A model's identity: a SHA-256 over its config and its weights.

An index or a set of calibration constants is only valid for the exact weights that produced its
embeddings and probabilities. The fingerprint is computed from the model itself (not from a file),
so the same weights give the same fingerprint whether they came from ``best.pt``, a standalone
model file or a fresh copy in memory.

Recipe (version 1), reproducible anywhere: ``sha256`` of
``b"mocar-model-fingerprint-v1\\n" + canonical JSON of model.config.to_dict() + b"\\n"``, followed,
for every state-dict entry in sorted key order, by ``key``, ``dtype``, ``shape`` (UTF-8, newline
separated) and the tensor's raw little-endian bytes (C order).
"""
from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Any

import torch
from torch import nn

FINGERPRINT_VERSION = 1
# Version 1 hashes the config under the key names it had when the recipe was fixed, so a renamed field
# does not change the identity of the same weights (indexes and calibration files keep matching).
V1_KEY_NAMES = {"input_size": "img_size"}


def state_fingerprint(state_dict: Mapping[str, torch.Tensor], config: Mapping[str, Any]) -> str:
    """The fingerprint of a config plus state dict (see the module docstring for the recipe)."""
    digest = hashlib.sha256(f"mocar-model-fingerprint-v{FINGERPRINT_VERSION}\n".encode())
    digest.update(json.dumps(dict(config), sort_keys=True, separators=(",", ":")).encode() + b"\n")
    for key in sorted(state_dict):
        tensor = state_dict[key].detach().cpu().contiguous()
        digest.update(f"{key}\n{tensor.dtype}\n{list(tensor.shape)}\n".encode())
        digest.update(tensor.reshape(-1).view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()


def model_fingerprint(model: nn.Module) -> str:
    """The fingerprint of a mocar network (it carries its config as ``model.config``)."""
    config = {V1_KEY_NAMES.get(key, key): value for key, value in model.config.to_dict().items()}
    return state_fingerprint(model.state_dict(), config)
