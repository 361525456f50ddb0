"""`mocar calibrate`: conformal constants from the validation split, checked on the test split.

Writes ``RUN_DIR/calibration.json`` (schema ``mocar-calibration`` v1), plain JSON that the export
stage embeds in every exported model and the app applies per photo:

* ``classes``: APS/RAPS thresholds over the model's classes (collections for MOCaR, epoch classes for
  MaxAvg-Cat and the baseline); see :mod:`mocar.field.conformal` for the rule.
* ``collections`` (epoch models only): the same over collection probabilities, obtained by summing
  the class probabilities of each collection's epoch classes.
* ``year`` (MOCaR only): half-widths of ``[pred - q, pred + q]``, global and per predicted collection.
* no out-of-distribution threshold: the index carries its own (``knn`` score). The model-only scores
  (energy, max softmax) separated a held-out collection *worse than chance* (AUROC 0.27 / 0.28,
  ``benchmarks/results/ood_heldout.md``), so none is shipped; :func:`mocar.field.ood.energy_score`
  stays available for measurements.
* ``report``: empirical coverage and set size / interval width on the test split for each level.
* ``model.fingerprint``: constants are only valid for this exact model.
"""
from __future__ import annotations

import datetime as dt
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from mocar.field import conformal
from mocar.field.errors import CalibrationError
from mocar.field.runs import FieldRun, collection_matrix, open_field_run, softmax
from mocar.utils.io import atomic_write_text

SCHEMA = "mocar-calibration"
SCHEMA_VERSION = 1
CALIBRATION_FILE = "calibration.json"
MUSEUM = "museum"


def calibration_file(condition: str = MUSEUM) -> str:
    """The file name of a calibration fitted on photos of ``condition`` (museum: ``calibration.json``).

    A recalibration on field photos goes to ``calibration_field.json`` and never replaces the museum
    constants that the export stage embeds.
    """
    return CALIBRATION_FILE if condition == MUSEUM else f"calibration_{condition}.json"


def _calibration_frames(field_run: FieldRun, calib_split: str, test_split: str, condition: str,
                        max_images: int | None, seed: int):
    """The rows to calibrate on (``max_images`` of them, a seeded draw) and to report on, both of ``condition``."""
    val_frame = field_run.data.split(calib_split, condition=condition)
    if max_images is not None:
        if max_images < 2:
            raise CalibrationError(f"--field-images {max_images}: calibration needs at least 2 photos")
        if max_images < len(val_frame):
            rows = np.sort(np.random.default_rng(seed).choice(len(val_frame), max_images, replace=False))
            val_frame = val_frame.iloc[rows].reset_index(drop=True)
    test_frame = field_run.data.split(test_split, condition=condition)
    return val_frame, test_frame


def _class_block(probs_val, y_val, probs_test, y_test, names, over: str, **fit_args) -> tuple[dict, dict]:
    constants = conformal.fit_class_conformal(probs_val, y_val, **fit_args)
    constants.update({"over": over, "labels": list(names)})
    return constants, conformal.set_report(probs_test, y_test, constants)


def _year_block(field_run: FieldRun, val, test, frames, alphas) -> tuple[dict, dict]:
    collections = field_run.run.class_names  # MOCaR classifies collections
    groups = [np.asarray(collections)[o.logits.argmax(axis=1)] for o in (val, test)]
    year_true = [f["year"].to_numpy(np.float64) for f in frames]
    global_q = conformal.fit_year_conformal(val.year_pred, year_true[0], alphas)
    by_group = conformal.fit_year_conformal_by_group(val.year_pred, year_true[0], groups[0], alphas)
    constants = {"method": "absolute_residual", "units": "calendar years (negative = BCE)", "q": global_q,
                 "q_by_predicted_collection": by_group,
                 "rule": "interval = [pred - q, pred + q]; q = q_by_predicted_collection[top-1 collection][level] "
                         "if not null, else q[level]; null q = unbounded"}
    report = {"global": conformal.interval_report(test.year_pred, year_true[1], global_q),
              "by_predicted_collection": conformal.interval_report(test.year_pred, year_true[1], global_q, by_group,
                                                                   groups[1])}
    return constants, report


def calibrate_run(run_dir: str | Path, data_dir: str | Path | None = None, checkpoint: str = "best",
                  alphas: Sequence[float] = conformal.ALPHAS, method: str = "aps", lam: float = conformal.RAPS_LAMBDA,
                  k_reg: int = conformal.RAPS_K_REG, randomized: bool = False, calib_split: str = "val",
                  test_split: str = "test", batch_size: int = 64, condition: str = MUSEUM,
                  max_images: int | None = None, seed: int = 0) -> dict[str, Any]:
    """Fit conformal and OOD constants on ``calib_split``, report them on ``test_split``, write calibration.json.

    With ``condition="field"`` the constants are fitted on the field photos of ``calib_split`` (the
    recalibration under shift: ``max_images`` of them, a seeded draw; None: all), reported on the
    field photos of ``test_split`` and written to ``calibration_field.json`` (:func:`calibration_file`).

    Args:
        run_dir: The run folder (calibration.json is written there).
        data_dir: Prepared data; default: the run's training data.
        checkpoint: ``best``, ``last`` or a checkpoint file.
        alphas: Miscoverage levels (coverages 1 - alpha: 80/90/95 % by default).
        method: ``aps`` or ``raps`` (with ``lam``, ``k_reg``).
        randomized: Randomised sets (exact coverage, not reproducible per photo); default deterministic.
        calib_split, test_split: Splits to calibrate on and to report on.
        batch_size: Inference batch size.
        condition: Photos to calibrate and report on (``museum`` or ``field``; PreparedData conditions).
        max_images: Calibrate on at most this many photos of ``calib_split`` (seeded draw).
        seed: Seed of that draw.

    Returns:
        The calibration's content (also written to the run folder).
    """
    field_run = open_field_run(run_dir, data_dir, checkpoint)
    val_frame, test_frame = _calibration_frames(field_run, calib_split, test_split, condition, max_images, seed)
    val, test = (field_run.frame_outputs(frame, batch_size) for frame in (val_frame, test_frame))
    if len(val_frame) < 2:
        raise CalibrationError(f"the {calib_split} split has {len(val_frame)} images; calibration needs more")
    run = field_run.run
    fit_args = dict(alphas=alphas, method=method, lam=lam, k_reg=k_reg, randomized=randomized)
    probs_val, probs_test = softmax(val.logits), softmax(test.logits)
    result: dict[str, Any] = {"schema": SCHEMA, "schema_version": SCHEMA_VERSION,
                              "model": field_run.model_description(),
                              "calibrated_on": {"split": calib_split, "condition": condition, "n": len(val_frame)},
                              "collections": None, "year": None}
    report: dict[str, Any] = {"split": test_split, "condition": condition, "n": len(test_frame)}
    result["classes"], report["classes"] = _class_block(probs_val, val.targets, probs_test, test.targets,
                                                        run.class_names, run.target, **fit_args)
    if run.target == "epoch":
        matrix = collection_matrix(run.classes, run.class_names)
        y_val, y_test = (f["collection_idx"].to_numpy() for f in (val_frame, test_frame))
        result["collections"], report["collections"] = _class_block(
            probs_val @ matrix, y_val, probs_test @ matrix, y_test, run.classes["collections"], "collection",
            **fit_args)
    if val.year_pred is not None:
        result["year"], report["year"] = _year_block(field_run, val, test, (val_frame, test_frame), alphas)
    result.update({"report": report, "created": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")})
    atomic_write_text(Path(run_dir) / calibration_file(condition), json.dumps(result, indent=2, ensure_ascii=False))
    return result


def load_calibration(path: str | Path) -> dict[str, Any]:
    """Read a calibration.json (a run folder or the file itself) and check its schema."""
    path = Path(path)
    path = path / CALIBRATION_FILE if path.is_dir() else path
    if not path.is_file():
        raise CalibrationError(f"{path} not found; run `mocar calibrate --run RUN_DIR` first")
    data = json.loads(path.read_text(encoding="utf-8"))
    if data.get("schema") != SCHEMA or data.get("schema_version") != SCHEMA_VERSION:
        raise CalibrationError(f"{path}: schema {data.get('schema')!r} v{data.get('schema_version')!r}; "
                               f"expected {SCHEMA!r} v{SCHEMA_VERSION}")
    return data


def format_calibration(result: dict[str, Any]) -> str:
    """Coverage and size/width per level on the test split, for the terminal."""
    report = result["report"]
    photos = f" {report['condition']} photos" if report.get("condition", MUSEUM) != MUSEUM else ""
    lines = [f"calibrated on {result['calibrated_on']['split']}{photos} ({result['calibrated_on']['n']} images), "
             f"checked on {report['split']}{photos} ({report['n']} images)"]
    for block in ("classes", "collections"):
        for level, row in (report.get(block) or {}).items():
            lines.append(f"  {block:11} {float(level):5.0%}: coverage {row['coverage']:.3f}, "
                         f"mean set size {row['mean_size']:.2f}")
    for level, row in ((report.get("year") or {}).get("by_predicted_collection") or {}).items():
        width = "unbounded" if row["mean_width"] is None else f"{row['mean_width']:.0f} years"
        lines.append(f"  {'year':11} {float(level):5.0%}: coverage {row['coverage']:.3f}, mean width {width}")
    return "\n".join(lines)
