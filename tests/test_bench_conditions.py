"""mocar bench --conditions: every file against its float model under field photos and corruptions."""

import shutil

import pytest

from mocar.bench.conditions import condition_images, corruption_summary
from mocar.bench.parity_set import build_parity_set, folder_roles
from mocar.bench.report import markdown_report
from mocar.bench.suite import open_folders, run
from mocar.data.conditions import Condition, parse_conditions
from mocar.data.dataset import PreparedData
from mocar.errors import InputError


def _with_field_rows(data: PreparedData) -> PreparedData:
    """The same data plus a 'field' photo of every object (its museum image, to keep the test quick)."""
    field = data.manifest.assign(condition="field")
    import pandas as pd

    return PreparedData(data.root, pd.concat([data.manifest, field], ignore_index=True), data.classes)


def test_conditions_rows_and_summary_in_the_report(tiny_onnx_export, tmp_path):
    folder = tmp_path / "export"
    shutil.copytree(tiny_onnx_export["export"], folder)
    result = run(folder, threads=(1,), runs=2, warmup=1, out=tmp_path / "bench", progress=False, memory=False,
                 conditions=parse_conditions("museum,gaussian_noise:5"), condition_images=20)
    rows = result["conditions"]
    assert {r["condition"] for r in rows} == {"museum", "gaussian_noise@5"}
    reference = [r for r in rows if r["export"] == "model.pt"]
    assert all(r["agreement"] == 100.0 and r["parity_images"] == 20 for r in reference)
    fp32 = next(r for r in rows if r["export"] == "model_fp32.onnx" and r["condition"] == "gaussian_noise@5")
    assert fp32["agreement"] == pytest.approx(100.0)  # a float file agrees with its float model under noise too
    assert {s["export"] for s in result["conditions_summary"]} >= {"model.pt", "model_fp32.onnx"}
    assert "# Photo conditions" in markdown_report(result)


def test_relative_corruption_error_is_the_file_error_over_the_float_error():
    def row(export, condition, top1, agreement):
        return {"folder": "f", "export": export, "condition": condition, "corruption": "fog", "top1": top1,
                "agreement": agreement}

    rows = [row("model.pt", "fog@1", 0.8, 100.0), row("model.pt", "fog@3", 0.6, 100.0),
            row("int8.onnx", "fog@1", 0.7, 97.0), row("int8.onnx", "fog@3", 0.5, 95.0),
            {**row("int8.onnx", "museum", 0.9, 99.0), "corruption": None}]
    summary = {s["export"]: s for s in corruption_summary(rows)}
    assert summary["model.pt"]["relative_corruption_error"] == pytest.approx(1.0)
    assert summary["int8.onnx"]["relative_corruption_error"] == pytest.approx((0.3 + 0.5) / (0.2 + 0.4))
    assert summary["int8.onnx"]["conditions"] == 2 and summary["int8.onnx"]["min_agreement"] == 95.0


def test_field_photos_are_those_of_the_parity_objects(tiny_onnx_export):
    folder = open_folders([tiny_onnx_export["export"]])[0]
    data = _with_field_rows(PreparedData.load(tiny_onnx_export["prepared"]))
    plan = build_parity_set(data, [folder_roles(data, folder.path, folder.manifest)])
    museum = condition_images(data, plan, Condition("museum"), None)
    field = condition_images(data, plan, Condition("field"), None)
    assert (field.frame["condition"] == "field").all()
    assert sorted(field.frame["id"]) == sorted(museum.frame["id"])
    assert len(field.labelled) == int((field.frame["split"] == "test").sum())
    with pytest.raises(InputError, match="--condition-images must be >= 1"):
        condition_images(data, plan, Condition("museum"), 0)
    with pytest.raises(InputError, match="no field photos"):
        condition_images(PreparedData.load(tiny_onnx_export["prepared"]), plan, Condition("field"), None)
