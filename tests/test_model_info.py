"""Tests of mocar.model.model_info: shapes at the paper's 480 px, parameters and MACs (meta device)."""

from __future__ import annotations

import json

import pytest

import mocar.model as mm


@pytest.mark.parametrize("preset,hidden", [("maxavgcat_r50x1_h1024", 1024), ("maxavgcat_r50x1_h3840", 3840),
                                           ("mocar_r50x1", 1024)])
def test_r50x1_maxavgcat_shapes_at_480(preset, hidden):
    info = mm.model_info(preset, input_size=480, num_classes=50)
    assert info["blocks"] == [[1, 256, 120, 120], [1, 512, 60, 60], [1, 1024, 30, 30], [1, 2048, 15, 15]]
    assert info["concat"] == [1, 3840, 120, 120]
    assert info["pooled"] == [1, 7680]
    assert info["embedding"] == [1, hidden]
    assert info["outputs"]["logits"] == [1, 50]
    assert list(info["outputs"]) == mm.output_names(mm.preset_config(preset, 50))


def test_r152x2_shapes_at_480():
    info = mm.model_info("mocar_r152x2", input_size=480, num_classes=20)
    assert [block[1] for block in info["blocks"]] == [512, 1024, 2048, 4096]
    assert info["pooled"] == [1, 15360] and info["outputs"]["year"] == [1]


def test_baseline_has_no_concat_and_pools_the_last_block():
    info = mm.model_info("baseline_r50x1", input_size=224)
    assert info["concat"] is None and info["pooled"] == [1, 2048] and info["embedding"] == [1, 2048]
    assert list(info["outputs"]) == ["logits", "embedding"]


def test_parameter_count_matches_the_head_arithmetic():
    # The MaxAvg-Cat head adds GroupNorm(7680) + Linear(7680, 1024) + Linear(1024, 50) to R50x1.
    baseline = mm.model_info("baseline_r50x1", num_classes=50)["params"]["total"]
    maxavgcat = mm.model_info("maxavgcat_r50x1_h1024", num_classes=50)["params"]["total"]
    backbone_without_norm = baseline - (2048 * 50 + 50) - 2 * 2048
    head = 2 * 7680 + (7680 * 1024 + 1024) + (1024 * 50 + 50)
    assert maxavgcat == backbone_without_norm + head
    assert 23_400_000 < backbone_without_norm < 23_600_000  # BiT-R50x1 is 23.5 M parameters


def test_macs_of_r50x1_at_224_match_the_published_figure_and_scale_with_area():
    small = mm.model_info("baseline_r50x1", input_size=224)["macs"]
    large = mm.model_info("baseline_r50x1", input_size=448)["macs"]
    assert 4.0e9 < small < 4.4e9  # timm lists ~4.2 GMACs for resnetv2_50x1_bit at 224
    assert abs(large / small - 4.0) < 0.05


def test_info_accepts_a_config_and_is_json_serialisable():
    cfg = mm.preset_config("mocar_tiny", 9, year_mean=100.0, year_scale=10.0)
    info = mm.model_info(cfg, input_size=64)
    assert json.loads(json.dumps(info))["config"]["num_classes"] == 9
    assert info["params"]["total"] == sum(p.numel() for p in mm.create_model_from_config(cfg).parameters())
    text = mm.format_model_info(info)
    assert "block1     1 x 32 x 16 x 16" in text and "year: 1" in text and "(year - 100) / 10" in text


def test_r152x2_parameter_count_matches_timm():
    # timm: resnetv2_152x2_bit has 236.3 M parameters with its 4096x1000 ImageNet classifier.
    total = mm.model_info("baseline_r152x2", input_size=64, num_classes=1000)["params"]["total"]
    assert abs(total - 236.3e6) < 0.1e6


def test_cli_reports_an_unknown_preset_in_one_line_with_exit_status_2(capsys):
    from mocar.cli import main
    from mocar.errors import MocarError

    assert issubclass(mm.UnknownNameError, MocarError) and issubclass(mm.UnknownNameError, ValueError)
    assert main(["model", "info", "typo"]) == 2
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1 and captured.out == ""
    assert lines[0].startswith("mocar: error: unknown preset 'typo'")
    assert all(name in lines[0] for name in mm.PRESETS), "the message must list every valid preset"
