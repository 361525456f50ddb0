"""`mocar eval --conditions` and `mocar calibrate --condition field` on the tiny indexed run.

The tiny museum gets one field photo per object (its museum photo darkened, shifted and noisier), so
the run trained on the museum photos alone can be measured on museum, field and corrupted photos; the
run folder is copied so the recalibration's file does not leak into other tests.
"""
from __future__ import annotations

import json
import shutil
from types import SimpleNamespace
from typing import ClassVar

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from mocar.cli import main
from mocar.data.conditions import Condition, parse_conditions
from mocar.data.dataset import PreparedData
from mocar.errors import InputError
from mocar.field import calibrate_run, conformal
from mocar.field.calibrate import CALIBRATION_FILE, calibration_file
from mocar.field.conditions import (
    ConditionDataset,
    _ood_false_alarms,
    corruption_summary,
    evaluate_conditions,
    format_conditions_table,
    recalibration_curve,
)
from mocar.field.errors import CalibrationError
from mocar.field.runs import open_field_run, softmax
from tests.conftest import make_tiny_museum


@pytest.fixture(scope="module")
def field_prepared(tmp_path_factory):
    """The tiny museum of ``tiny_prepared`` plus one field photo per object (same prepare settings)."""
    from mocar.data.prepare import PrepareConfig, prepare_dataset

    root = tmp_path_factory.mktemp("tiny_field")
    export, images = make_tiny_museum(root)
    rows = pd.read_csv(export).assign(condition="museum")
    rng = np.random.default_rng(1)
    field = []
    for row in rows.itertuples():
        pixels = np.asarray(Image.open(images / row.image), np.float32)
        shifted = np.roll(pixels * 0.6, (3, -2), axis=(0, 1)) + rng.normal(0, 30, pixels.shape)
        Image.fromarray(np.clip(shifted, 0, 255).astype(np.uint8)).save(images / f"f{row.image}")
        field.append({"object_id": row.object_id, "image": f"f{row.image}", "collection": row.collection,
                      "dating": row.dating, "condition": "field"})
    pd.concat([rows, pd.DataFrame(field)]).to_csv(export, index=False)
    prepare_dataset(PrepareConfig(export=str(export), images=str(images), out=str(root / "prepared"), classes=6,
                                  min_class_size=5, min_image_size=16, workers=1), progress=False)
    return root / "prepared"


@pytest.fixture(scope="module")
def run_copy(tiny_indexed_run, tmp_path_factory):
    target = tmp_path_factory.mktemp("conditions_run") / "run"
    shutil.copytree(tiny_indexed_run["run"], target)
    return target


@pytest.fixture(scope="module")
def measured(run_copy, field_prepared):
    conditions = parse_conditions("museum,field,gaussian_noise:5,brightness:1-2")
    return evaluate_conditions(run_copy, conditions, "test", field_prepared, batch_size=16)


def test_field_data_keeps_the_museum_classes(field_prepared, tiny_prepared):
    # the run trained on tiny_prepared is valid on field_prepared: same classes, same museum rows
    data, plain = PreparedData.load(field_prepared), PreparedData.load(tiny_prepared)
    assert data.classes == plain.classes
    assert data.manifest["id"].tolist() == plain.manifest["id"].tolist()
    assert set(data.split("test", condition="field")["id"]) <= set(data.split("test")["id"])


def test_per_condition_metrics_are_in_range_with_the_right_n(measured, field_prepared):
    data = PreparedData.load(field_prepared)
    rows = {row["condition"]: row for row in measured["rows"]}
    assert list(rows) == ["museum", "field", "gaussian_noise@5", "brightness@1", "brightness@2"]
    assert rows["field"]["n"] == len(data.split("test", condition="field"))
    assert rows["museum"]["n"] == rows["gaussian_noise@5"]["n"] == len(data.split("test"))
    for row in rows.values():
        for key in ("top1", "top5"):
            estimate = row[key]
            assert 0 <= estimate["low"] <= estimate["value"] <= estimate["high"] <= 1 and estimate["n"] == row["n"]
        assert row["top5"]["value"] >= row["top1"]["value"]
        assert row["year_mae"]["value"] >= 0 and row["year_mae"]["low"] <= row["year_mae"]["value"]
        sets = row["calibrations"]["museum"]["classes"]
        assert set(sets) == {"0.8", "0.9", "0.95"}
        assert all(1 <= s["mean_size"] <= 3 and 0 <= s["coverage"] <= 1 for s in sets.values())  # 3 collections
        years = row["calibrations"]["museum"]["year"]["0.9"]
        assert 0 <= years["coverage_low"] <= years["coverage"] <= years["coverage_high"] <= 1
        # the tiny index's 12 val photos are too few for a 5 % threshold: no false-alarm figure, no guess
        assert row["ood"] == {"score": "knn10", "default_rate": "0.05", "false_alarms": None,
                              "by_rate": {"0.05": None, "0.01": None}}
    museum_error = 1 - rows["museum"]["top1"]["value"]
    assert measured["summary"]["museum_top1_error"] == pytest.approx(museum_error)
    assert set(measured["summary"]["ce"]) == {"gaussian_noise", "brightness"}
    assert measured["summary"]["ce"]["brightness"]["severities"] == [1, 2]


def test_ood_false_alarms_with_a_threshold():
    class FakeIndex:
        meta: ClassVar[dict] = {"ood": {"score": "knn", "k": 2, "thresholds": {"0.05": 0.5, "0.01": None}, "default_rate": "0.05"}}

        def search(self, embeddings, k):
            sims = np.array([[0.9, 0.8], [0.2, 0.1], [0.6, 0.6], [0.3, 0.1]])  # scores 0.15, 0.85, 0.4, 0.8
            return None, sims[: len(embeddings), :k]

    outputs = SimpleNamespace(embeddings=np.zeros((4, 3)), logits=np.zeros((4, 2)))
    result = _ood_false_alarms(FakeIndex(), outputs)
    assert result["false_alarms"]["value"] == 0.5 and result["false_alarms"]["n"] == 4
    assert result["by_rate"] == {"0.05": 0.5, "0.01": None} and result["score"] == "knn2"
    assert _ood_false_alarms(None, outputs) is None


def test_museum_row_matches_the_plain_evaluation_path(measured, run_copy, field_prepared):
    field_run = open_field_run(run_copy, field_prepared)
    _, outputs = field_run.split_outputs("test", 16)
    top1 = float(np.mean(outputs.logits.argmax(axis=1) == outputs.targets))
    assert measured["rows"][0]["top1"]["value"] == pytest.approx(top1)


def test_a_severe_corruption_changes_the_images(run_copy, field_prepared):
    field_run = open_field_run(run_copy, field_prepared)
    frame = field_run.data.split("test")
    args = (field_run.run.data_config,)
    plain, noisy = (ConditionDataset(frame, c, *args)[0][0] for c in (Condition(), Condition("museum", "gaussian_noise", 5)))
    again = ConditionDataset(frame, Condition("museum", "gaussian_noise", 5), *args)[0][0]
    assert plain.shape == noisy.shape == (3, 32, 32)
    assert float((plain - noisy).abs().mean()) > 0.1 and bool((noisy == again).all())


def test_files_are_written_next_to_the_eval_outputs(measured, run_copy):
    saved = json.loads((run_copy / "conditions_test.json").read_text())
    assert [r["condition"] for r in saved["rows"]] == [r["condition"] for r in measured["rows"]]
    table = (run_copy / "conditions_test.md").read_text()
    assert "| gaussian_noise@5 |" in table and "mCE" in table
    assert not (run_copy / "eval_test.json").exists()  # the plain evaluation's files are left alone


def test_table_formatting_of_a_hand_made_result():
    estimate = {"value": 0.5, "low": 0.4, "high": 0.6, "n": 100}
    cover = {"0.9": {"coverage": 0.9, "coverage_low": 0.83, "coverage_high": 0.94, "mean_size": 2.25, "n": 100}}
    rows = [{"condition": name, "photos": "museum", "corruption": corruption, "severity": severity, "n": 100,
             "top1": {**estimate, "value": value}, "top5": estimate, "year_mae": None,
             "calibrations": {"museum": {"classes": cover}}, "ood": None}
            for name, corruption, severity, value in [("museum", None, None, 0.8), ("fog@3", "fog", 3, 0.6)]]
    result = {"split": "test", "rows": rows}
    result["summary"] = corruption_summary(rows)
    table = format_conditions_table(result)
    assert result["summary"]["mce"] == pytest.approx(2.0)
    assert "| fog@3 | 100 | 60.0 [40.0, 60.0] | 50.0 [40.0, 60.0] | 90.0 [83.0, 94.0] · 2.2 | – | 2.00 |" in table
    assert "0.9 set: coverage % · size (museum cal.)" in table and "year" not in table.split("\n")[0]
    assert "mCE (relative to museum photos) 2.00; CE: fog 2.00" in table and "OOD: no index" in table


def test_recalibration_writes_a_separate_file_and_covers_its_own_photos(run_copy, field_prepared):
    museum = (run_copy / CALIBRATION_FILE).read_bytes()
    result = calibrate_run(run_copy, field_prepared, method="raps", condition="field")
    assert calibration_file("field") == "calibration_field.json"
    assert (run_copy / CALIBRATION_FILE).read_bytes() == museum
    saved = json.loads((run_copy / "calibration_field.json").read_text())
    n_val = len(PreparedData.load(field_prepared).split("val", condition="field"))
    assert saved["calibrated_on"] == {"split": "val", "condition": "field", "n": n_val}
    assert saved["report"]["condition"] == "field"
    # conformal sets cover at least their level on the photos they were calibrated on
    measured = evaluate_conditions(run_copy, [Condition("field")], "val", field_prepared, write=False)
    field_row = measured["rows"][1]
    assert set(field_row["calibrations"]) == {"museum", "field"}
    for level, entry in field_row["calibrations"]["field"]["classes"].items():
        assert entry["coverage"] >= float(level)
    assert result["classes"]["thresholds"] == saved["classes"]["thresholds"]


def test_recalibration_on_a_seeded_subset(run_copy, field_prepared, tmp_path):
    first = calibrate_run(run_copy, field_prepared, condition="field", max_images=5, seed=3)
    again = calibrate_run(run_copy, field_prepared, condition="field", max_images=5, seed=3)
    assert first["calibrated_on"]["n"] == 5 and first["classes"] == again["classes"]
    with pytest.raises(CalibrationError, match="at least 2"):
        calibrate_run(run_copy, field_prepared, condition="field", max_images=1)


def test_recalibration_curve(run_copy, field_prepared):
    curve = recalibration_curve(run_copy, sizes=(4, 8, 1000), repeats=3, data_dir=field_prepared, batch_size=16)
    assert {row["n"] for row in curve["curve"]} == {4, 8}  # 1000 > the val field photos: skipped
    assert all(row["draws"] == 3 and 0 <= row["coverage_min"] <= row["coverage_mean"] <= 1 for row in curve["curve"])
    probs_levels = set(curve["museum"])
    assert probs_levels == {"0.8", "0.9", "0.95"} and curve["n_test"] > 0


def test_field_condition_without_field_photos_names_split_and_condition(run_copy, tiny_prepared):
    with pytest.raises(InputError, match=r"split 'test' is empty \(of field photos; present: museum\)"):
        evaluate_conditions(run_copy, [Condition("field")], "test", tiny_prepared, write=False)
    with pytest.raises(InputError, match=r"split 'val' is empty \(of field photos"):
        calibrate_run(run_copy, tiny_prepared, condition="field")


def test_cli_errors(run_copy, field_prepared, capsys):
    assert main(["eval", "--run", str(run_copy), "--data", str(field_prepared), "--conditions", "rain:3"]) == 2
    assert "unknown condition" in capsys.readouterr().err
    assert main(["calibrate", "--run", str(run_copy), "--field-images", "10"]) == 2
    assert "--condition field" in capsys.readouterr().err


def test_cli_eval_conditions(run_copy, field_prepared, capsys):
    assert main(["eval", "--run", str(run_copy), "--data", str(field_prepared), "--conditions", "field"]) == 0
    out = capsys.readouterr().out
    assert "| museum |" in out and "| field |" in out and "conditions_test.json" in out
    assert conformal.level_key(0.9) in out and softmax(np.zeros((1, 2))).shape == (1, 2)


def test_cli_predict_with_the_field_calibration(run_copy, field_prepared, tmp_path, capsys):
    run = shutil.copytree(run_copy, tmp_path / "run")
    (run / calibration_file("field")).unlink(missing_ok=True)  # another test may have recalibrated run_copy
    photo = str(PreparedData.load(field_prepared).split("test", condition="field")["image"].iloc[0])
    assert main(["predict", photo, "--run", str(run), "--condition", "field"]) == 2
    assert "--condition field" in capsys.readouterr().err  # no calibration_field.json yet: says how to make it
    calibrate_run(run, field_prepared, condition="field")
    assert main(["predict", photo, "--run", str(run), "--condition", "field", "--json"]) == 0
    answer = json.loads(capsys.readouterr().out)[0]
    assert answer["prediction_set"] is not None
    assert main(["predict", photo, "--run", str(run), "--condition", "field",
                 "--calibration", str(run / "calibration.json")]) == 2
