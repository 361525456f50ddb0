"""The int8 search on an export folder: chosen on the selection images, shipped with its float groups, reported."""

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from mocar.bench.int8_search import _refuse_all_float, search_export, shipped_name, target_agreement
from mocar.bench.report import markdown_report
from mocar.bench.search_records import load_search_records
from mocar.bench.suite import run
from mocar.errors import InputError
from mocar.quantize.search import SearchPoint, SearchResult
from mocar.runtime.statistics import proportion


@pytest.fixture
def export_copy(tiny_onnx_export, tmp_path):
    folder = tmp_path / "export"
    shutil.copytree(tiny_onnx_export["export"], folder)
    return folder


def _policy(tmp_path: Path, agreement: float) -> Path:
    path = tmp_path / "policy.yaml"
    path.write_text(f"min_images: 0\nint8:\n  agreement: {{min: {agreement}}}\n")
    return path


def test_search_ships_a_file_with_its_float_groups_and_the_bench_report_shows_it(export_copy, tmp_path):
    results = search_export(export_copy, ("onnx",), _policy(tmp_path, 50.0), budget_s=60, criterion="point")
    result = results["onnx"]
    roles = json.loads((export_copy / "image_roles.json").read_text())
    assert result.images == len(roles["selection"])  # judged on the selection images only
    assert result.chosen is not None and result.chosen.agreement.value >= 0.5
    shipped = export_copy / shipped_name("onnx")
    assert shipped.is_file()
    entry = next(e for e in json.loads((export_copy / "manifest.json").read_text())["files"]
                 if e["file"] == shipped.name)
    assert entry["precision"] == "int8" and entry["float_groups"] == list(result.chosen.float_groups)
    record = load_search_records(export_copy)["onnx"]
    assert record["shipped"] == shipped.name and record["sensitivities"] and record["points"]
    report = run(export_copy, threads=(1,), runs=2, warmup=1, out=tmp_path / "bench", progress=False, memory=False)
    assert any(r["export"] == shipped.name for r in report["rows"])
    assert "int8 search, onnx" in markdown_report(report)
    assert not (export_copy / "int8_search" / "work_onnx").exists()  # scratch removed


def test_an_unreachable_target_ships_nothing_and_says_why(export_copy, tmp_path):
    before = set(p.name for p in export_copy.iterdir())
    result = search_export(export_copy, ("onnx",), _policy(tmp_path, 100.0), budget_s=60,
                           min_speedup=1000.0)["onnx"]
    assert result.chosen is None and result.reason
    assert not (export_copy / shipped_name("onnx")).exists()
    assert set(p.name for p in export_copy.iterdir()) == before | {"int8_search"}


def test_every_group_float_is_not_an_int8_file():
    all_float = SearchPoint(("a", "b"), Path("x.onnx"), proportion(100, 100), 1.0, True, 1.0)
    partial = SearchPoint(("a",), Path("y.onnx"), proportion(97, 100), 0.8, False, 1.0)
    result = SearchResult("onnx", "u8s8_conv", 0.99, 100, 1, 1.0, [], [partial, all_float], all_float, "", 1.0)
    _refuse_all_float(result, groups=2)
    assert result.chosen is None and "fp32 file" in result.reason and "97.00 %" in result.reason


def test_errors_name_the_problem(tmp_path, export_copy):
    with pytest.raises(InputError, match="no manifest.json"):
        search_export(tmp_path / "nothing")
    with pytest.raises(InputError, match="no int8 search for coreml"):
        search_export(export_copy, ("coreml",))
    with pytest.raises(InputError, match="unknown ONNX int8 flavour 'nope'"):
        search_export(export_copy, ("onnx",), onnx_flavour="nope")
    (export_copy / "image_roles.json").unlink()
    with pytest.raises(InputError, match="re-export"):
        search_export(export_copy, ("onnx",))
    with pytest.raises(InputError, match="no int8 agreement bound"):
        target_agreement({"int8": {}})
    assert np.isclose(target_agreement({"int8": {"agreement": {"min": 99.0}}}), 0.99)


def test_the_percentile_recipe_is_an_option_and_names_the_file(export_copy, tmp_path):
    result = search_export(export_copy, ("onnx",), _policy(tmp_path, 50.0), budget_s=60, criterion="point",
                           onnx_flavour="u8s8_conv_pct")["onnx"]
    assert result.flavour == "u8s8_conv_pct"
    assert (export_copy / "model_int8_u8s8_conv_pct_fallback.onnx").is_file()


def test_min_speedup_without_int8_auto_is_refused(capsys):
    from mocar.cli import main

    assert main(["export", "--run", "r", "--out", "o", "--min-speedup", "1.1"]) == 2
    assert "--min-speedup applies to --int8 auto only" in capsys.readouterr().err
