"""Loading pretrained backbone weights from files, never executing pickled code.

Accepted files:

* ``.npz``: an official BiT checkpoint (``BiT-M-R50x1.npz`` ...). The keys are checked against
  the layout timm's ``resnetv2._load_weights`` reads (see :func:`bit_npz_key_map`), then timm's
  loader copies them (HWIO kernels become OIHW). ``np.load(allow_pickle=False)``.
  The checkpoint's ImageNet classifier (``resnet/head/...``) is ignored: mocar has its own heads.
* ``.pt`` / ``.pth`` / ``.bin``: a torch state dict read with ``torch.load(weights_only=True)``;
  either a timm ``ResNetV2`` state dict or a mocar model file (its ``backbone.*`` entries).
* ``.safetensors``: the same state dict in safetensors format.

Student backbones (timm ``features_only``) take the state dict of the full timm model: entries of
top-level modules the features-only network does not have (its classifier, ``conv_head`` ...) are
ignored, everything else must match.

Missing, unexpected or mis-shaped entries raise :class:`PretrainedWeightsError` listing them;
nothing is loaded partially by accident.
"""

from __future__ import annotations

import pickle
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import torch
from timm.models.resnetv2 import _load_weights as timm_load_bit_npz
from torch import nn

from mocar.model.blocks import is_student
from mocar.model.errors import PretrainedWeightsError

NPZ_PREFIX = "resnet/"
STATE_DICT_SUFFIXES = (".pt", ".pth", ".bin")
VALID_SUFFIXES = (".npz", *STATE_DICT_SUFFIXES, ".safetensors")
# Entries of source files that belong to a classifier, not to the backbone.
IGNORED_NPZ_PREFIX = NPZ_PREFIX + "head/"
IGNORED_STATE_PREFIX = "head."


def load_pretrained_backbone(backbone: nn.Module, path: str | Path, need_final_norm: bool = True) -> None:
    """Loads weights into a backbone (BiT ``ResNetV2`` or features-only student) in place.

    Args:
        backbone: The freshly built backbone (with its final ``norm``).
        path: The weights file; the suffix selects the reader.
        need_final_norm: When ``False``, state dicts may lack ``norm.*`` (the caller drops it).

    Raises:
        PretrainedWeightsError: If the file is missing, unreadable, of an unknown type, or its
            entries do not match the backbone.
    """
    path = Path(path)
    if not path.is_file():
        raise PretrainedWeightsError(f"pretrained weights file not found: {path}")
    suffix = path.suffix.lower()
    if suffix == ".npz":
        if is_student(backbone):
            raise PretrainedWeightsError(f"{path}: .npz files hold BiT weights; a student backbone takes "
                                         f"a timm state dict ({', '.join(VALID_SUFFIXES[1:])})")
        _load_bit_npz(backbone, path)
        return
    if suffix in STATE_DICT_SUFFIXES:
        state = _read_torch_file(path)
    elif suffix == ".safetensors":
        state = _read_safetensors_file(path)
    else:
        raise PretrainedWeightsError(
            f"{path}: unknown weights file type {suffix!r}; valid: {', '.join(VALID_SUFFIXES)}")
    entries = _backbone_entries(state, path)
    if is_student(backbone):
        children = {name for name, _ in backbone.named_children()}
        entries = {k: v for k, v in entries.items() if k.split(".", 1)[0] in children}
    _load_state_dict(backbone, entries, path, need_final_norm)


def bit_npz_key_map(backbone: nn.Module, prefix: str = NPZ_PREFIX) -> dict[str, str]:
    """Maps every BiT ``.npz`` key timm's loader reads to the backbone parameter it fills.

    Args:
        backbone: A timm ``ResNetV2`` with pre-activation bottlenecks.
        prefix: The key prefix of the checkpoint (``resnet/`` in official files).

    Returns:
        ``{npz_key: parameter_name}``, e.g. ``resnet/block1/unit01/a/standardized_conv2d/kernel``
        -> ``stages.0.blocks.0.conv1.weight``.
    """
    key_map = {
        f"{prefix}root_block/standardized_conv2d/kernel": "stem.conv.weight",
        f"{prefix}group_norm/gamma": "norm.weight",
        f"{prefix}group_norm/beta": "norm.bias",
    }
    for stage_idx, stage in enumerate(backbone.stages):
        for block_idx, block in enumerate(stage.blocks):
            unit = f"{prefix}block{stage_idx + 1}/unit{block_idx + 1:02d}/"
            module = f"stages.{stage_idx}.blocks.{block_idx}."
            for letter, layer in (("a", 1), ("b", 2), ("c", 3)):
                key_map[f"{unit}{letter}/standardized_conv2d/kernel"] = f"{module}conv{layer}.weight"
                key_map[f"{unit}{letter}/group_norm/gamma"] = f"{module}norm{layer}.weight"
                key_map[f"{unit}{letter}/group_norm/beta"] = f"{module}norm{layer}.bias"
            if block.downsample is not None:
                key_map[f"{unit}a/proj/standardized_conv2d/kernel"] = f"{module}downsample.conv.weight"
    return key_map


def _load_bit_npz(backbone: nn.Module, path: Path) -> None:
    key_map = bit_npz_key_map(backbone)
    params = dict(backbone.named_parameters())
    try:
        with np.load(path, allow_pickle=False) as npz:
            present = set(npz.files)
            missing = sorted(set(key_map) - present)
            unexpected = sorted(k for k in present - set(key_map) if not k.startswith(IGNORED_NPZ_PREFIX))
            mismatched = [
                f"{key}: file {npz[key].shape} -> {_torch_layout(npz[key].shape)}, "
                f"expected {tuple(params[name].shape)}"
                for key, name in key_map.items()
                if key in present and _torch_layout(npz[key].shape) != tuple(params[name].shape)
            ]
    except (OSError, ValueError, EOFError) as err:
        raise PretrainedWeightsError(f"{path}: not a readable BiT .npz checkpoint ({err})") from err
    _raise_on_mismatch(path, missing, unexpected, mismatched)
    timm_load_bit_npz(backbone, str(path), prefix=NPZ_PREFIX)


def _torch_layout(shape: tuple[int, ...]) -> tuple[int, ...]:
    """Shape after timm's HWIO -> OIHW transposition (4-D kernels only)."""
    if len(shape) == 4:
        return (shape[3], shape[2], shape[0], shape[1])
    return tuple(shape)


def _read_torch_file(path: Path) -> object:
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except (pickle.UnpicklingError, RuntimeError, EOFError, OSError, ValueError) as err:
        raise PretrainedWeightsError(
            f"{path}: cannot be read as a plain torch state dict with weights_only=True "
            f"(pickled code is never executed): {err}") from err


def _read_safetensors_file(path: Path) -> dict[str, torch.Tensor]:
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    try:
        return load_file(str(path), device="cpu")
    except (SafetensorError, OSError, ValueError) as err:
        raise PretrainedWeightsError(f"{path}: not a readable safetensors file ({err})") from err


def _backbone_entries(obj: object, path: Path) -> dict[str, torch.Tensor]:
    """Extracts the backbone's entries from a plain, wrapped or mocar-model state dict."""
    if isinstance(obj, Mapping) and isinstance(obj.get("state_dict"), Mapping):
        obj = obj["state_dict"]
    if not isinstance(obj, Mapping) or not all(isinstance(v, torch.Tensor) for v in obj.values()):
        raise PretrainedWeightsError(f"{path}: expected a mapping of parameter names to tensors")
    state = dict(obj)
    if any(key.startswith("backbone.") for key in state):
        state = {k.removeprefix("backbone."): v for k, v in state.items() if k.startswith("backbone.")}
    return {k: v for k, v in state.items() if not k.startswith(IGNORED_STATE_PREFIX)}


def _load_state_dict(
    backbone: nn.Module, state: dict[str, torch.Tensor], path: Path, need_final_norm: bool
) -> None:
    own = backbone.state_dict()
    optional = set() if need_final_norm else {k for k in own if k.startswith("norm.")}
    missing = sorted(set(own) - set(state) - optional)
    unexpected = sorted(set(state) - set(own))
    mismatched = [
        f"{key}: file {tuple(value.shape)}, expected {tuple(own[key].shape)}"
        for key, value in state.items()
        if key in own and value.shape != own[key].shape
    ]
    _raise_on_mismatch(path, missing, unexpected, mismatched)
    backbone.load_state_dict(state, strict=False)


def _raise_on_mismatch(path: Path, missing: list[str], unexpected: list[str], mismatched: list[str]) -> None:
    problems = [
        f"{label} ({len(items)}): {', '.join(items[:8])}{' ...' if len(items) > 8 else ''}"
        for label, items in (("missing", missing), ("unexpected", unexpected), ("wrong shape", mismatched))
        if items
    ]
    if problems:
        raise PretrainedWeightsError(
            f"{path} does not match the backbone: " + "; ".join(problems)
            + ". Is it the checkpoint of the same backbone variant?")
