"""Tests of pretrained-weight loading: BiT .npz, torch state dicts, safetensors, and refusals.

The BiT .npz is written here with the key layout of the official checkpoints as timm's
``resnetv2._load_weights`` reads it (``resnet/block{s}/unit{u:02d}/{a,b,c}/...``, HWIO kernels),
enumerated independently of mocar's own key map so that both are checked.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import save_file

import mocar.model as mm

NUM_CLASSES = 5


def _hwio(weight: torch.Tensor) -> tuple[int, ...]:
    out_chs, in_chs, height, width = weight.shape
    return (height, width, in_chs, out_chs)


def write_bit_npz(path: Path, seed: int = 0) -> dict[str, np.ndarray]:
    """Writes a random BiT-format checkpoint for the tiny backbone (one unit per block)."""
    rng = np.random.default_rng(seed)
    backbone = mm.create_backbone("bit_tiny")
    params = dict(backbone.named_parameters())
    arrays = {
        "resnet/root_block/standardized_conv2d/kernel": _hwio(params["stem.conv.weight"]),
        "resnet/group_norm/gamma": tuple(params["norm.weight"].shape),
        "resnet/group_norm/beta": tuple(params["norm.bias"].shape),
        "resnet/head/conv2d/kernel": (1, 1, 256, 1000),  # ImageNet classifier: must be ignored
        "resnet/head/conv2d/bias": (1000,),
    }
    for stage in range(4):
        module = f"stages.{stage}.blocks.0."
        unit = f"resnet/block{stage + 1}/unit01/"
        for letter, layer in zip("abc", (1, 2, 3)):
            arrays[f"{unit}{letter}/standardized_conv2d/kernel"] = _hwio(params[f"{module}conv{layer}.weight"])
            arrays[f"{unit}{letter}/group_norm/gamma"] = tuple(params[f"{module}norm{layer}.weight"].shape)
            arrays[f"{unit}{letter}/group_norm/beta"] = tuple(params[f"{module}norm{layer}.bias"].shape)
        arrays[f"{unit}a/proj/standardized_conv2d/kernel"] = _hwio(params[f"{module}downsample.conv.weight"])
    values = {key: rng.standard_normal(shape).astype(np.float32) for key, shape in arrays.items()}
    np.savez(path, **values)
    return values


def _oihw(kernel: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(kernel.transpose(3, 2, 0, 1).copy())


@pytest.mark.parametrize("preset", ["mocar_tiny", "baseline_tiny"])
def test_bit_npz_weights_land_in_the_right_parameters(tmp_path, preset):
    values = write_bit_npz(tmp_path / "bit.npz")
    model = mm.create_model_from_preset(preset, NUM_CLASSES, pretrained=tmp_path / "bit.npz")
    params = dict(model.backbone.named_parameters())
    unit = "resnet/block2/unit01/"
    assert torch.equal(params["stem.conv.weight"], _oihw(values["resnet/root_block/standardized_conv2d/kernel"]))
    assert torch.equal(params["stages.1.blocks.0.conv2.weight"], _oihw(values[f"{unit}b/standardized_conv2d/kernel"]))
    assert torch.equal(params["stages.1.blocks.0.downsample.conv.weight"],
                       _oihw(values[f"{unit}a/proj/standardized_conv2d/kernel"]))
    assert torch.equal(params["stages.3.blocks.0.norm3.bias"],
                       torch.from_numpy(values["resnet/block4/unit01/c/group_norm/beta"]))
    if preset == "baseline_tiny":
        assert torch.equal(params["norm.weight"], torch.from_numpy(values["resnet/group_norm/gamma"]))
    else:
        assert "norm.weight" not in params  # MaxAvg-Cat drops BiT's final norm
    # Heads are mocar's own: still zero, untouched by the checkpoint's ImageNet classifier.
    assert torch.count_nonzero(model.classifier.weight) == 0


def test_mocar_key_map_matches_the_written_layout(tmp_path):
    values = write_bit_npz(tmp_path / "bit.npz")
    key_map = mm.bit_npz_key_map(mm.create_backbone("bit_tiny"))
    assert set(key_map) == {key for key in values if not key.startswith("resnet/head/")}


@pytest.mark.parametrize("change,message", [
    ("drop", "missing (1): resnet/block3/unit01/b/group_norm/gamma"),
    ("extra", "unexpected (1): resnet/block5/unit01/a/standardized_conv2d/kernel"),
    ("reshape", "wrong shape (1): resnet/block1/unit01/a/standardized_conv2d/kernel"),
])
def test_bit_npz_mismatch_is_a_clear_error(tmp_path, change, message):
    values = write_bit_npz(tmp_path / "bit.npz")
    if change == "drop":
        del values["resnet/block3/unit01/b/group_norm/gamma"]
    elif change == "extra":
        values["resnet/block5/unit01/a/standardized_conv2d/kernel"] = np.zeros((1, 1, 2, 2), np.float32)
    else:
        values["resnet/block1/unit01/a/standardized_conv2d/kernel"] = np.zeros((1, 1, 3, 8), np.float32)
    np.savez(tmp_path / "bad.npz", **values)
    with pytest.raises(mm.PretrainedWeightsError) as err:
        mm.create_model_from_preset("maxavgcat_tiny", NUM_CLASSES, pretrained=tmp_path / "bad.npz")
    assert message in str(err.value) and "bad.npz" in str(err.value)


def test_npz_with_pickled_objects_is_refused(tmp_path):
    values = write_bit_npz(tmp_path / "bit.npz")
    values["resnet/group_norm/gamma"] = np.array([object()] * 256, dtype=object)
    np.savez(tmp_path / "pickled.npz", **values)
    with pytest.raises(mm.PretrainedWeightsError, match="pickled.npz"):
        mm.create_backbone("bit_tiny", tmp_path / "pickled.npz")


def _timm_state(seed: int) -> dict[str, torch.Tensor]:
    torch.manual_seed(seed)
    state = mm.create_backbone("bit_tiny").state_dict()
    state["head.fc.weight"] = torch.randn(1000, 256, 1, 1)  # a timm ImageNet classifier: ignored
    return state


@pytest.mark.parametrize("suffix", [".pth", ".safetensors"])
def test_state_dict_files_load_into_the_backbone(tmp_path, suffix):
    state = _timm_state(seed=11)
    path = tmp_path / f"backbone{suffix}"
    if suffix == ".safetensors":
        save_file({k: v.contiguous() for k, v in state.items()}, str(path))
    else:
        torch.save(state, path)
    torch.manual_seed(99)
    model = mm.create_model_from_preset("mocar_tiny", NUM_CLASSES, pretrained=path)
    for name, value in model.backbone.state_dict().items():
        assert torch.equal(value, state[name]), name


def test_a_saved_mocar_model_can_seed_another_backbone(tmp_path):
    torch.manual_seed(5)
    source = mm.create_model_from_preset("maxavgcat_tiny", NUM_CLASSES)
    path = mm.save_model(source, tmp_path / "source.pt")
    target = mm.create_model_from_preset("mocar_tiny", NUM_CLASSES + 3, pretrained=path)
    for name, value in source.backbone.state_dict().items():
        assert torch.equal(target.backbone.state_dict()[name], value), name
    # A baseline needs BiT's final norm, which MaxAvg-Cat files do not hold.
    with pytest.raises(mm.PretrainedWeightsError, match="missing .*norm.weight"):
        mm.create_model_from_preset("baseline_tiny", NUM_CLASSES, pretrained=path)


def test_state_dict_with_missing_and_unexpected_keys_is_refused(tmp_path):
    state = _timm_state(seed=1)
    del state["stages.2.blocks.0.conv1.weight"]
    state["stages.9.blocks.0.conv1.weight"] = torch.zeros(1)
    torch.save(state, tmp_path / "partial.pt")
    with pytest.raises(mm.PretrainedWeightsError) as err:
        mm.create_backbone("bit_tiny", tmp_path / "partial.pt")
    assert "missing (1): stages.2.blocks.0.conv1.weight" in str(err.value)
    assert "unexpected (1): stages.9.blocks.0.conv1.weight" in str(err.value)


class _Payload:
    """An object whose unpickling would create a marker file (it must never run)."""

    marker: Path

    def __reduce__(self):
        return (Path.touch, (self.marker,))


def test_torch_files_with_pickled_code_are_refused_without_running_it(tmp_path):
    payload = _Payload()
    payload.marker = tmp_path / "code_ran"
    torch.save({"stem.conv.weight": torch.zeros(1), "extra": payload}, tmp_path / "evil.pt")
    with pytest.raises(mm.PretrainedWeightsError, match="weights_only"):
        mm.create_backbone("bit_tiny", tmp_path / "evil.pt")
    assert not payload.marker.exists()


def test_unknown_suffix_and_missing_file(tmp_path):
    (tmp_path / "weights.h5").write_bytes(b"\x00")
    with pytest.raises(mm.PretrainedWeightsError, match=r"'\.h5'.*\.npz"):
        mm.create_backbone("bit_tiny", tmp_path / "weights.h5")
    with pytest.raises(mm.PretrainedWeightsError, match="not found"):
        mm.create_backbone("bit_tiny", tmp_path / "nothing.npz")
