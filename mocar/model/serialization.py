"""Standalone model files: the config (plain dict) plus the state dict, safe to load.

Two formats, chosen by the file suffix:

* ``.safetensors``: tensors in safetensors, the config as JSON in the header metadata
  (key ``mocar_model_config``).
* anything else (``.pt`` by convention): ``torch.save`` of ``{"format", "version", "config",
  "state_dict"}`` containing only dicts, strings, numbers and tensors, so it loads with
  ``torch.load(weights_only=True)``.

Neither format executes code when loaded.
"""

from __future__ import annotations

import json
import pickle
from pathlib import Path

import torch
from torch import nn

from mocar.model.config import ModelConfig
from mocar.model.errors import ModelFileError
from mocar.model.factory import create_model_from_config

FILE_FORMAT = "mocar-model"
FILE_VERSION = 1
SAFETENSORS_CONFIG_KEY = "mocar_model_config"


def save_model(model: nn.Module, path: str | Path) -> Path:
    """Writes a model's config and weights to one file.

    Args:
        model: A network built by :mod:`mocar.model.factory` (it has ``.config``).
        path: Target file; ``.safetensors`` selects safetensors, anything else ``torch.save``.

    Returns:
        The written path.
    """
    path = Path(path)
    config = model.config.to_dict()
    state = {name: tensor.detach().cpu().contiguous() for name, tensor in model.state_dict().items()}
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix.lower() == ".safetensors":
        from safetensors.torch import save_file

        metadata = {"format": FILE_FORMAT, "version": str(FILE_VERSION), SAFETENSORS_CONFIG_KEY: json.dumps(config)}
        save_file(state, str(path), metadata=metadata)
    else:
        torch.save({"format": FILE_FORMAT, "version": FILE_VERSION, "config": config, "state_dict": state}, path)
    return path


def load_model(path: str | Path) -> nn.Module:
    """Rebuilds a model written by :func:`save_model`, in eval mode.

    Args:
        path: The model file.

    Raises:
        ModelFileError: If the file is missing, unreadable or not a mocar model file.
    """
    path = Path(path)
    if not path.is_file():
        raise ModelFileError(f"model file not found: {path}")
    if path.suffix.lower() == ".safetensors":
        config, state = _read_safetensors(path)
    else:
        config, state = _read_torch(path)
    model = create_model_from_config(ModelConfig.from_dict(config))
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as err:
        raise ModelFileError(f"{path}: weights do not match its own config: {err}") from err
    return model.eval()


def _read_torch(path: Path) -> tuple[dict, dict[str, torch.Tensor]]:
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except (pickle.UnpicklingError, RuntimeError, EOFError, OSError, ValueError) as err:
        raise ModelFileError(f"{path}: not a loadable mocar model file ({err})") from err
    if not isinstance(payload, dict) or payload.get("format") != FILE_FORMAT:
        raise ModelFileError(f"{path}: not a mocar model file (no format={FILE_FORMAT!r} entry)")
    if payload.get("version") != FILE_VERSION:
        raise ModelFileError(f"{path}: unsupported version {payload.get('version')!r}; valid: {FILE_VERSION}")
    return payload["config"], payload["state_dict"]


def _read_safetensors(path: Path) -> tuple[dict, dict[str, torch.Tensor]]:
    from safetensors import SafetensorError, safe_open

    try:
        with safe_open(str(path), framework="pt", device="cpu") as handle:
            metadata = handle.metadata() or {}
            state = {name: handle.get_tensor(name) for name in handle.keys()}
    except (SafetensorError, OSError, ValueError) as err:
        raise ModelFileError(f"{path}: not a readable safetensors file ({err})") from err
    if metadata.get("format") != FILE_FORMAT or SAFETENSORS_CONFIG_KEY not in metadata:
        raise ModelFileError(f"{path}: safetensors file without mocar metadata ({SAFETENSORS_CONFIG_KEY})")
    return json.loads(metadata[SAFETENSORS_CONFIG_KEY]), state
