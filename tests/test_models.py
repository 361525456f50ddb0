"""Tests of mocar.model: presets, outputs, gradients, MaxAvg-Cat pooling, export preparation, files.

Tiny presets run for real at 64 px; the R50x1/R152x2 presets are checked on the meta device
(shapes only) or with one 64 px forward, so the whole file stays fast on 2 CPU cores.
"""

from __future__ import annotations

import json

import pytest
import torch
import torch.nn.functional as F
from timm.layers import StdConv2d
from torch import nn

import mocar.model as mm

TINY_PRESETS = ["baseline_tiny", "maxavgcat_tiny", "mocar_tiny"]
NUM_CLASSES = 7
IMG = 64


def _tiny(preset: str, **overrides) -> nn.Module:
    torch.manual_seed(0)
    return mm.create_model_from_preset(preset, NUM_CLASSES, **overrides)


def _perturb_heads(model: nn.Module, std: float = 0.1) -> None:
    """Gives the zero-initialised output layers random weights, so gradients flow backwards."""
    generator = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for layer in (model.classifier, getattr(model, "regressor", None)):
            if layer is not None:
                layer.weight.copy_(torch.randn(layer.weight.shape, generator=generator) * std)
                layer.bias.copy_(torch.randn(layer.bias.shape, generator=generator) * std)


def _images(batch: int = 2, size: int = IMG) -> torch.Tensor:
    return torch.randn(batch, 3, size, size, generator=torch.Generator().manual_seed(2))


def _loss(model: nn.Module, outputs: mm.ModelOutput) -> torch.Tensor:
    labels = torch.arange(outputs.logits.shape[0]) % NUM_CLASSES
    loss = F.cross_entropy(outputs.logits, labels)
    if outputs.year is not None:
        loss = loss + F.mse_loss(outputs.year, torch.linspace(-1.0, 1.0, outputs.year.shape[0]))
    return loss


# --- registry and configs -------------------------------------------------------------------

def test_registry_holds_the_paper_presets():
    expected = {"baseline_r50x1", "baseline_r152x2", "maxavgcat_r50x1_h1024", "maxavgcat_r50x1_h3840",
                "maxavgcat_r152x2_h3840", "mocar_r50x1", "mocar_r152x2", *TINY_PRESETS}
    assert expected <= set(mm.list_presets())
    assert mm.list_presets() == sorted(mm.PRESETS)


def test_unknown_preset_error_lists_valid_names():
    with pytest.raises(mm.UnknownNameError) as err:
        mm.create_model_from_preset("mocar_r18", NUM_CLASSES)
    assert "mocar_r18" in str(err.value)
    for name in mm.list_presets():
        assert name in str(err.value)


@pytest.mark.parametrize("field,value,error,message", [
    ("arch", "transformer", mm.UnknownNameError, "transformer"),
    ("backbone", "bit_r101x3", mm.UnknownNameError, "bit_r101x3"),
    ("activation", "tanh", mm.UnknownNameError, "tanh"),
    ("no_such_field", 1, mm.UnknownNameError, "no_such_field"),
    ("year_scale", 0.0, mm.ModelConfigError, "year_scale"),
    ("num_classes", 0, mm.ModelConfigError, "num_classes"),
    ("dropout", 1.0, mm.ModelConfigError, "dropout"),
])
def test_invalid_config_values_raise_typed_errors(field, value, error, message):
    with pytest.raises(error, match=message):
        mm.preset_config("mocar_tiny", NUM_CLASSES).replace(**{field: value})


def test_head_norm_groups_must_divide_pooled_size():
    with pytest.raises(mm.ModelConfigError, match="head_norm_groups=7"):
        mm.create_model_from_preset("maxavgcat_tiny", NUM_CLASSES, head_norm_groups=7)


def test_config_roundtrips_through_json_and_stays_plain_data():
    cfg = mm.preset_config("mocar_r50x1", 12, year_mean=-350.0, year_scale=420.0, dropout=0.25)
    data = json.loads(json.dumps(cfg.to_dict()))
    assert mm.ModelConfig.from_dict(data) == cfg
    assert data["mean"] == [0.5, 0.5, 0.5] and data["preset"] == "mocar_r50x1" and data["hidden"] == 1024


def test_baseline_config_has_no_hidden_layer():
    assert mm.preset_config("baseline_r50x1", 5, hidden=4096).hidden is None


def test_create_model_keyword_form_matches_config_form():
    model = mm.create_model("mocar", "bit_tiny", NUM_CLASSES, hidden=64, year_mean=100.0, year_scale=50.0)
    assert isinstance(model, mm.MocarNet)
    assert model.config == mm.ModelConfig("mocar", "bit_tiny", NUM_CLASSES, hidden=64, year_mean=100.0,
                                          year_scale=50.0)
    assert model.classifier.in_features == 64


# --- outputs per preset -------------------------------------------------------------------

def _check_outputs(cfg: mm.ModelConfig, outputs: mm.ModelOutput, batch: int, embedding: int) -> None:
    assert isinstance(outputs, mm.ModelOutput)
    assert outputs._fields == ("logits", "year", "embedding")
    assert outputs.logits.shape == (batch, cfg.num_classes)
    assert outputs.embedding.shape == (batch, embedding)
    if cfg.has_year_head:
        assert outputs.year.shape == (batch,)
    else:
        assert outputs.year is None
    for name in mm.output_names(cfg):
        assert getattr(outputs, name).dtype == torch.float32


@pytest.mark.parametrize("preset", mm.list_presets())
def test_every_preset_output_names_and_shapes_on_meta(preset):
    cfg = mm.preset_config(preset, NUM_CLASSES)
    with torch.device("meta"):
        model = mm.create_model_from_config(cfg).eval()
        outputs = model(torch.empty(2, 3, IMG, IMG))
    expected_names = ["logits", "year", "embedding"] if cfg.arch == "mocar" else ["logits", "embedding"]
    assert mm.output_names(cfg) == expected_names
    embedding = cfg.hidden if cfg.arch != "baseline" else mm.block_channels(model.backbone)[-1]
    _check_outputs(cfg, outputs, 2, embedding)


@pytest.mark.parametrize("preset", TINY_PRESETS)
def test_tiny_forward_is_finite_and_zero_heads_give_zero_outputs(preset):
    model = _tiny(preset, year_mean=1200.0, year_scale=300.0).eval()
    with torch.no_grad():
        outputs = model(_images(3))
    _check_outputs(model.config, outputs, 3, model.embedding_size)
    assert torch.isfinite(outputs.embedding).all() and outputs.embedding.abs().sum() > 0
    # New heads start at zero (big_transfer's zero_head): logits and normalised year are 0.
    assert torch.count_nonzero(outputs.logits) == 0
    if outputs.year is not None:
        assert torch.count_nonzero(outputs.year) == 0
        assert torch.equal(model.predict_years(_images(3)), torch.full((3,), 1200.0))


def test_year_normalisation_roundtrip_and_prediction():
    model = _tiny("mocar_tiny", year_mean=-500.0, year_scale=250.0).eval()
    years = torch.tensor([-3000.0, -500.0, 0.0, 1850.0])
    assert torch.allclose(model.normalize_year(years), torch.tensor([-10.0, 0.0, 2.0, 9.4]))
    assert torch.allclose(model.denormalize_year(model.normalize_year(years)), years)
    with torch.no_grad():
        model.regressor.bias.fill_(2.0)
    assert torch.allclose(model.predict_years(_images(2)), torch.tensor([0.0, 0.0]))


def test_export_wrapper_returns_plain_tuple_in_output_order():
    for preset in ("mocar_tiny", "maxavgcat_tiny"):
        model = _tiny(preset).eval()
        _perturb_heads(model)
        wrapper = mm.ExportWrapper(model)
        with torch.no_grad():
            outputs, flat = model(_images()), wrapper(_images())
        assert type(flat) is tuple and len(flat) == len(mm.output_names(model.config))
        for name, tensor in zip(wrapper.output_names, flat):
            assert torch.equal(tensor, getattr(outputs, name))


# --- gradients ------------------------------------------------------------------------------

@pytest.mark.parametrize("preset", TINY_PRESETS)
def test_every_parameter_gets_a_nonzero_gradient(preset):
    """With perturbed heads every tensor of the network must receive gradient.

    The zero heads block gradient to earlier layers on the very first step (see the next test);
    perturbing them models any later step.
    """
    model = _tiny(preset, dropout=0.1).train()
    _perturb_heads(model)
    _loss(model, model(_images(4))).backward()
    for name, param in model.named_parameters():
        assert param.grad is not None, name
        assert param.grad.abs().sum() > 0, name


@pytest.mark.parametrize("preset", TINY_PRESETS)
def test_zero_heads_learn_first_and_block_backbone_gradient_on_first_step(preset):
    model = _tiny(preset).train()
    _loss(model, model(_images(4))).backward()
    heads = {"classifier.weight", "classifier.bias", "regressor.weight", "regressor.bias"}
    for name, param in model.named_parameters():
        assert param.grad is not None, name
        if name in heads:
            assert param.grad.abs().sum() > 0, name
        elif name.startswith("backbone."):
            assert torch.count_nonzero(param.grad) == 0, name


# --- MaxAvg-Cat pooling -----------------------------------------------------------------------

@pytest.mark.parametrize("channels,side", [((32, 64, 128, 256), 16), ((256, 512, 1024, 2048), 16)])
def test_cheap_maxavgcat_equals_literal_upsample_concat_pool(channels, side):
    generator = torch.Generator().manual_seed(3)
    blocks = [torch.randn(2, c, side >> i, side >> i, generator=generator) * (i + 1) + i
              for i, c in enumerate(channels)]
    cheap, literal = mm.maxavg_cat_pool(blocks), mm.maxavg_cat_literal(blocks)
    assert cheap.shape == literal.shape == (2, 2 * sum(channels))
    assert (cheap - literal).abs().max() <= 2e-6
    # Channel order: all maxima (block1..block4), then all means.
    assert torch.equal(cheap[:, :channels[0]], blocks[0].amax(dim=(2, 3)))
    assert torch.allclose(cheap[:, sum(channels):sum(channels) + channels[0]], blocks[0].mean(dim=(2, 3)))


def test_cheap_pooling_matches_literal_on_real_block_outputs():
    model = _tiny("maxavgcat_tiny").eval()
    with torch.no_grad():
        blocks = model.forward_features(_images(2, 128))
    assert [tuple(b.shape[-2:]) for b in blocks] == [(32, 32), (16, 16), (8, 8), (4, 4)]
    # Values reach ~20 here: float32 sums differ in the last bits, hence the relative part.
    torch.testing.assert_close(mm.maxavg_cat_pool(blocks), mm.maxavg_cat_literal(blocks), rtol=1e-6, atol=1e-6)


def test_average_pool_downsampling_would_not_preserve_max():
    """Documents why the literal reference replicates instead of averaging blocks together."""
    block = torch.zeros(1, 1, 4, 4)
    block[0, 0, 0, 0] = 8.0
    assert F.avg_pool2d(block, 2).amax() == 2.0 and F.interpolate(block, scale_factor=2).amax() == 8.0


# --- export preparation -----------------------------------------------------------------------

def _module_modes(model: nn.Module) -> dict[str, bool]:
    return {name: module.training for name, module in model.named_modules()}


@pytest.mark.parametrize("preset", ["mocar_tiny", "baseline_tiny"])
def test_prepare_for_export_is_exact_and_leaves_the_model_untouched(preset):
    model = _tiny(preset, dropout=0.3).train()
    _perturb_heads(model)
    state_before = {k: v.clone() for k, v in model.state_dict().items()}
    modes_before = _module_modes(model)
    exported = mm.prepare_for_export(model)

    assert _module_modes(model) == modes_before and model.training
    assert all(torch.equal(state_before[k], v) for k, v in model.state_dict().items())
    assert any(isinstance(m, StdConv2d) for m in model.modules())
    assert not exported.training
    assert not any(isinstance(m, (StdConv2d, nn.Dropout)) for m in exported.modules())
    assert sum(type(m) is nn.Conv2d for m in exported.modules()) == sum(
        isinstance(m, StdConv2d) for m in model.modules())

    images = _images(2)
    with torch.no_grad():
        reference, folded = model.eval()(images), exported(images)
    for name in mm.output_names(model.config):
        assert (getattr(reference, name) - getattr(folded, name)).abs().max() <= 1e-6, name


def test_prepare_for_export_exact_on_r50x1():
    torch.manual_seed(0)
    model = mm.create_model_from_preset("maxavgcat_r50x1_h1024", NUM_CLASSES).eval()
    _perturb_heads(model)
    images = _images(1)
    with torch.no_grad():
        reference, folded = model(images), mm.prepare_for_export(model)(images)
    assert (reference.logits - folded.logits).abs().max() <= 1e-6
    assert (reference.embedding - folded.embedding).abs().max() <= 1e-6


def test_folded_weight_is_the_standardised_weight():
    conv = StdConv2d(4, 6, 3, eps=1e-8)
    folded = mm.fold_weight_standardization(conv)
    weight = conv.weight.detach().reshape(6, -1)
    manual = (weight - weight.mean(1, keepdim=True)) / torch.sqrt(weight.var(1, unbiased=False, keepdim=True) + 1e-8)
    assert type(folded) is nn.Conv2d and folded.padding == conv.padding
    assert torch.allclose(folded.weight.reshape(6, -1), manual, atol=1e-5)


@pytest.mark.slow
def test_prepared_model_traces_with_torch_export():
    model = _tiny("mocar_tiny").eval()
    _perturb_heads(model)
    wrapper = mm.ExportWrapper(mm.prepare_for_export(model))
    images = _images(2)
    program = torch.export.export(wrapper, (images,), strict=False)
    with torch.no_grad():
        for expected, got in zip(wrapper(images), program.module()(images)):
            assert (expected - got).abs().max() <= 1e-6


# --- precision --------------------------------------------------------------------------------

def test_bf16_autocast_forward_on_cpu_is_close_to_fp32():
    model = _tiny("mocar_tiny").eval()
    _perturb_heads(model)
    images = _images(2)
    with torch.no_grad():
        reference = model(images)
        with torch.autocast("cpu", dtype=torch.bfloat16):
            low = model(images)
    for name in mm.output_names(model.config):
        got, want = getattr(low, name).float(), getattr(reference, name)
        assert torch.isfinite(got).all(), name
        assert (got - want).norm() <= 0.05 * want.norm() + 1e-3, name


# --- model files ------------------------------------------------------------------------------

@pytest.mark.parametrize("suffix", [".pt", ".safetensors"])
def test_save_then_load_gives_identical_outputs(tmp_path, suffix):
    model = _tiny("mocar_tiny", year_mean=800.0, year_scale=400.0).eval()
    _perturb_heads(model)
    path = mm.save_model(model, tmp_path / f"model{suffix}")
    loaded = mm.load_model(path)
    assert loaded.config == model.config and not loaded.training
    images = _images(2)
    with torch.no_grad():
        for name in mm.output_names(model.config):
            assert torch.equal(getattr(model(images), name), getattr(loaded(images), name))


def test_saved_torch_file_is_plain_data(tmp_path):
    model = _tiny("maxavgcat_tiny")
    path = mm.save_model(model, tmp_path / "model.pt")
    payload = torch.load(path, weights_only=True)
    assert payload["format"] == "mocar-model" and payload["config"] == model.config.to_dict()
    assert set(payload["state_dict"]) == set(model.state_dict())


def test_load_model_rejects_foreign_files(tmp_path):
    torch.save({"weights": torch.zeros(3)}, tmp_path / "other.pt")
    with pytest.raises(mm.ModelFileError, match="other.pt"):
        mm.load_model(tmp_path / "other.pt")
    with pytest.raises(mm.ModelFileError, match="not found"):
        mm.load_model(tmp_path / "missing.pt")


# --- agreement with timm and trainability -----------------------------------------------------

def test_blocks_are_timm_feature_levels_1_to_4_and_baseline_matches_timm_forward():
    torch.manual_seed(0)
    baseline = mm.create_model_from_preset("baseline_tiny", NUM_CLASSES).eval()
    images = _images(2)
    with torch.no_grad():
        ours = mm.forward_blocks(baseline.backbone, images)
        timm_levels = baseline.backbone.forward_intermediates(images, indices=[1, 2, 3, 4], intermediates_only=True)
        timm_pooled = baseline.backbone.forward_head(baseline.backbone.forward_features(images))
        embedding = baseline(images).embedding
    assert len(ours) == len(timm_levels) == 4
    assert all(torch.equal(a, b) for a, b in zip(ours, timm_levels))
    torch.testing.assert_close(embedding, timm_pooled, rtol=1e-6, atol=1e-6)


def test_mocar_tiny_fits_one_batch():
    """Zero heads must not prevent learning: a few Adam steps fit a fixed batch."""
    model = _tiny("mocar_tiny").train()
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
    images = _images(8)
    losses = []
    for _ in range(10):
        optimizer.zero_grad()
        loss = _loss(model, model(images))
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert losses[-1] < 0.3 * losses[0], losses
