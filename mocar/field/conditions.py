"""`mocar eval --conditions`: the float model under field conditions — accuracy, calibration and OOD per condition.

Every other figure mocar reports is measured on museum photos. Here each :class:`~mocar.data.conditions.Condition`
(museum photos, field photos, a standard corruption at a severity) is measured on the photos of one
split (``test`` by default), preprocessed exactly like ``mocar eval`` (the run's evaluation transform,
applied after the corruption). Per condition:

* ``top1``, ``top5``: accuracy with a 95 % Wilson interval and n (:func:`mocar.runtime.statistics.proportion`);
* ``year_mae`` (MOCaR): mean absolute year error with a 95 % percentile-bootstrap interval;
* ``calibrations``: for each calibration present — ``museum`` (``calibration.json``) and ``field``
  (``calibration_field.json``, ``mocar calibrate --condition field``) — the empirical coverage (Wilson
  interval) and mean size of the prediction sets per calibrated level (``classes``; ``collections`` for
  epoch models), and of the year intervals (coverage and mean width in years);
* ``ood``: the false-alarm rate of the index's "unlike any reference" check (:mod:`mocar.field.ood`): the
  share of these in-distribution photos (their objects are in the catalogue's collections) flagged
  at the index's default tolerated rate; null without an index or without its OOD record.

The summary follows ImageNet-C (Hendrycks & Dietterich 2019) with museum photos in the place of the
reference model: ``relative_error`` of a condition = its top-1 error / the museum photos' top-1
error; the corruption error ``CE_c`` = the mean of ``relative_error`` over the severities measured for
corruption ``c``; ``mCE`` = the mean of ``CE_c`` over the corruptions measured. 1.0 means "as good as on
museum photos", 2.0 "twice as many errors". Only severities actually measured enter (``all:3``
gives a severity-3 mCE, not ImageNet-C's 1-5 average); the JSON says which.

:func:`recalibration_curve` measures how many field photos a recalibration needs: repeated seeded
draws of N field photos of the val split, each fitting the conformal constants, each checked on the
field photos of the test split.
"""
from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from mocar.data.conditions import Condition, condition_frame
from mocar.data.dataset import MuseumDataset
from mocar.data.transforms import resize_square
from mocar.field import conformal, ood
from mocar.field.calibrate import MUSEUM, calibration_file, load_calibration
from mocar.field.errors import CalibrationError, ModelMismatchError
from mocar.field.index import DEFAULT_INDEX_NAME, ReferenceIndex
from mocar.field.runs import FieldRun, collection_matrix, open_field_run, softmax
from mocar.runtime.statistics import mean_estimate, proportion
from mocar.train.evaluate import SplitPredictions, predict_dataset
from mocar.utils.io import atomic_write_text, json_safe

CALIBRATIONS = (MUSEUM, "field")
TABLE_LEVEL = "0.9"
RECALIBRATION_SIZES = (25, 50, 100, 200)
_MODEL_SCORES = {"energy": ood.energy_score, "msp": ood.msp_score}


class ConditionDataset(MuseumDataset):
    """:class:`MuseumDataset` in evaluation mode whose photos are taken under a condition (corrupted before resizing)."""

    def __init__(self, frame: pd.DataFrame, condition: Condition, *args: Any, **kwargs: Any) -> None:
        self.condition = condition
        super().__init__(frame, *args, preload=False, **kwargs)

    def _decode(self, index: int) -> np.ndarray:
        image = self.condition.image(self.frame.at[index, "image"], str(self.frame.at[index, "id"]))
        return np.asarray(resize_square(image, self.size, self.cfg.interpolation), dtype=np.uint8)


def condition_outputs(field_run: FieldRun, frame: pd.DataFrame, condition: Condition,
                      batch_size: int = 64) -> SplitPredictions:
    """The model's outputs on ``frame``'s photos under ``condition`` (evaluation preprocessing)."""
    config = field_run.run.model_config
    dataset = ConditionDataset(frame.reset_index(drop=True), condition, field_run.run.data_config,
                               target=field_run.run.target, year_mean=config.year_mean, year_scale=config.year_scale)
    return predict_dataset(field_run.run.model, dataset, None, batch_size)


def _calibrations(run_dir: Path, fingerprint: str) -> dict[str, dict[str, Any]]:
    """The run's calibrations that exist (museum, field), checked against the model."""
    found = {}
    for name in CALIBRATIONS:
        path = run_dir / calibration_file(name)
        if path.is_file():
            data = load_calibration(path)
            if data["model"]["fingerprint"] != fingerprint:
                raise ModelMismatchError(str(path), data["model"]["fingerprint"], fingerprint)
            found[name] = data
    return found


def _with_interval(report: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """A coverage report (per level) with the Wilson interval of each coverage."""
    out = {}
    for level, row in report.items():
        estimate = proportion(round(row["coverage"] * row["n"]), row["n"])
        out[level] = {**row, "coverage_low": estimate.low, "coverage_high": estimate.high}
    return out


def _coverage(field_run: FieldRun, frame: pd.DataFrame, outputs: SplitPredictions,
              calibration: dict[str, Any]) -> dict[str, Any]:
    """Set and interval coverage of one calibration on one condition's outputs."""
    run = field_run.run
    probs = softmax(outputs.logits)
    result: dict[str, Any] = {"classes": _with_interval(conformal.set_report(probs, outputs.targets,
                                                                             calibration["classes"]))}
    if calibration.get("collections") is not None:
        matrix = collection_matrix(run.classes, run.class_names)
        result["collections"] = _with_interval(conformal.set_report(
            probs @ matrix, frame["collection_idx"].to_numpy(), calibration["collections"]))
    year = calibration.get("year")
    if year is not None and outputs.year_pred is not None:
        groups = np.asarray(run.class_names)[outputs.logits.argmax(axis=1)]
        result["year"] = _with_interval(conformal.interval_report(
            outputs.year_pred, frame["year"].to_numpy(np.float64), year["q"], year["q_by_predicted_collection"], groups))
    return result


def _ood_false_alarms(index: ReferenceIndex | None, outputs: SplitPredictions) -> dict[str, Any] | None:
    """Share of these photos the index's OOD check flags, per tolerated rate, with the default rate's interval."""
    record = (index.meta.get("ood") if index is not None else None)
    if record is None:
        return None
    if record["score"] == "knn":
        _, sims = index.search(outputs.embeddings, record["k"])
        scores = ood.knn_score(sims, record["k"])
    else:
        scores = _MODEL_SCORES[record["score"]](outputs.logits)
    rates = ood.false_alarm_report(scores, record["thresholds"])
    threshold = record["thresholds"].get(record["default_rate"])
    flagged = None if threshold is None else proportion(int(np.sum(scores > threshold)), len(scores)).to_dict()
    name = f"knn{record['k']}" if record["score"] == "knn" else record["score"]
    return {"score": name, "default_rate": record["default_rate"], "false_alarms": flagged, "by_rate": rates}


def measure_condition(field_run: FieldRun, condition: Condition, split: str,
                      calibrations: dict[str, dict[str, Any]], index: ReferenceIndex | None,
                      batch_size: int = 64) -> dict[str, Any]:
    """One row of :func:`evaluate_conditions` (module docstring)."""
    frame = condition_frame(field_run.data, split, condition)
    outputs = condition_outputs(field_run, frame, condition, batch_size)
    n = len(frame)
    order = np.argsort(-outputs.logits, axis=1, kind="stable")[:, :5]
    hits = order == outputs.targets[:, None]
    row: dict[str, Any] = {"condition": condition.name, "photos": condition.photos, "corruption": condition.corruption,
                           "severity": condition.severity, "split": split, "n": n,
                           "top1": proportion(int(hits[:, 0].sum()), n).to_dict(),
                           "top5": proportion(int(hits.any(axis=1).sum()), n).to_dict(), "year_mae": None}
    if outputs.year_pred is not None:
        errors = np.abs(outputs.year_pred - frame["year"].to_numpy(np.float64))
        errors = errors[np.isfinite(errors)]
        if len(errors):
            row["year_mae"] = mean_estimate(errors).to_dict()
    row["calibrations"] = {name: _coverage(field_run, frame, outputs, data) for name, data in calibrations.items()}
    row["ood"] = _ood_false_alarms(index, outputs)
    return row


def corruption_summary(rows: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Errors relative to museum photos, CE per corruption and mCE (module docstring); adds ``relative_error``."""
    museum = next((r for r in rows if r["condition"] == MUSEUM), None)
    museum_error = None if museum is None else 1.0 - museum["top1"]["value"]
    for row in rows:
        error = 1.0 - row["top1"]["value"]
        row["relative_error"] = error / museum_error if museum_error else None
    by_corruption: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        if row["corruption"] is not None and row["photos"] == MUSEUM:
            by_corruption.setdefault(row["corruption"], []).append(row)
    ce = {name: {"ce": (float(np.mean([r["relative_error"] for r in group])) if museum_error else None),
                 "severities": sorted(r["severity"] for r in group)} for name, group in by_corruption.items()}
    values = [v["ce"] for v in ce.values() if v["ce"] is not None]
    field = next((r for r in rows if r["condition"] == "field"), None)
    return {"museum_top1_error": museum_error, "field_relative_error": None if field is None else field["relative_error"],
            "ce": ce, "mce": float(np.mean(values)) if values else None,
            "definition": "relative_error = top-1 error / museum top-1 error; CE = mean over the measured "
                          "severities; mCE = mean CE over the measured corruptions"}


def evaluate_conditions(run_dir: str | Path, conditions: Sequence[Condition], split: str = "test",
                        data_dir: str | Path | None = None, checkpoint: str = "best",
                        index_dir: str | Path | None = None, batch_size: int = 64,
                        write: bool = True) -> dict[str, Any]:
    """Measure a run's float model under each condition; writes ``conditions_<split>.json``/``.md``.

    Args:
        run_dir: The run folder (its calibration.json / calibration_field.json are used when present).
        conditions: From :func:`mocar.data.conditions.parse_conditions`; museum photos are measured
            first even when not asked for (every relative figure needs them).
        split: The split whose photos are measured.
        data_dir: Prepared data (default: the run's training data).
        checkpoint: ``best``, ``last`` or a checkpoint file.
        index_dir: Reference index for the OOD false alarms (default ``RUN_DIR/index`` when present).
        batch_size: Images per forward pass.
        write: Write the JSON and Markdown files next to the run's eval outputs.

    Returns:
        ``{"split", "rows": [one dict per condition], "summary", "calibrations", "index"}``.

    Raises:
        InputError: If the data has no photos of a condition in ``split`` (names both).
        ModelMismatchError: If a calibration or the index belongs to another model.
    """
    run_dir = Path(run_dir)
    field_run = open_field_run(run_dir, data_dir, checkpoint)
    for condition in conditions:  # fail before any inference when a condition has no photos
        condition_frame(field_run.data, split, condition)
    calibrations = _calibrations(run_dir, field_run.fingerprint)
    index_path = Path(index_dir) if index_dir is not None else run_dir / DEFAULT_INDEX_NAME
    index = ReferenceIndex.load(index_path) if index_dir is not None or index_path.is_dir() else None
    if index is not None:
        index.check_model(field_run.fingerprint)
    wanted = list(dict.fromkeys([Condition(MUSEUM), *conditions]))
    rows = [measure_condition(field_run, c, split, calibrations, index, batch_size) for c in wanted]
    result = {"split": split, "run": str(run_dir), "checkpoint": field_run.run.checkpoint.name,
              "data": str(field_run.data.root), "index": None if index is None else str(index_path),
              "calibrations": {name: {"file": calibration_file(name), "calibrated_on": data["calibrated_on"]}
                               for name, data in calibrations.items()},
              "rows": rows}
    result["summary"] = corruption_summary(rows)
    if write:
        atomic_write_text(run_dir / f"conditions_{split}.json", json.dumps(json_safe(result), indent=2))
        atomic_write_text(run_dir / f"conditions_{split}.md", format_conditions_table(result) + "\n")
    return result


def _pct(estimate: dict[str, Any] | None) -> str:
    if estimate is None:
        return "–"
    return f"{100 * estimate['value']:.1f} [{100 * estimate['low']:.1f}, {100 * estimate['high']:.1f}]"


def _set_cell(row: dict[str, Any], calibration: str, block: str, level: str) -> str:
    entry = ((row["calibrations"].get(calibration) or {}).get(block) or {}).get(level)
    if entry is None:
        return "–"
    coverage = (f"{100 * entry['coverage']:.1f} [{100 * entry['coverage_low']:.1f}, "
                f"{100 * entry['coverage_high']:.1f}]")
    if "mean_size" in entry:
        return f"{coverage} · {entry['mean_size']:.1f}"
    width = "∞" if entry["mean_width"] is None else f"{entry['mean_width']:.0f} y"
    return f"{coverage} · {width}"


def format_conditions_table(result: dict[str, Any], level: str = TABLE_LEVEL) -> str:
    """A Markdown table of :func:`evaluate_conditions` (the ``level`` coverage), then the mCE summary."""
    rows = result["rows"]
    calibrations = [name for name in CALIBRATIONS if any(name in r["calibrations"] for r in rows)]
    has_year = any(r["year_mae"] is not None for r in rows)
    header = ["condition", "n", "top-1 %", "top-5 %"] + (["year MAE"] if has_year else [])
    for name in calibrations:
        header.append(f"{level} set: coverage % · size ({name} cal.)")
        if has_year:
            header.append(f"{level} year interval: coverage % · width ({name} cal.)")
    header += ["OOD false alarms %", "error / museum"]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for row in rows:
        cells = [row["condition"], str(row["n"]), _pct(row["top1"]), _pct(row["top5"])]
        if has_year:
            mae = row["year_mae"]
            cells.append("–" if mae is None else f"{mae['value']:.0f} [{mae['low']:.0f}, {mae['high']:.0f}]")
        for name in calibrations:
            cells.append(_set_cell(row, name, "classes", level))
            if has_year:
                cells.append(_set_cell(row, name, "year", level))
        alarms = (row["ood"] or {}).get("false_alarms")
        cells.append(_pct(alarms))
        relative = row.get("relative_error")
        cells.append("–" if relative is None else f"{relative:.2f}")
        lines.append("| " + " | ".join(cells) + " |")
    summary = result.get("summary") or {}
    notes = [f"split {result['split']}; intervals: 95 % Wilson (proportions), bootstrap (year MAE)"]
    ood_names = {r["ood"]["score"] + " at " + r["ood"]["default_rate"] for r in rows if r["ood"]}
    notes.append("OOD: " + (", ".join(sorted(ood_names)) + " tolerated false alarms" if ood_names else "no index"))
    if summary.get("mce") is not None:
        ce = ", ".join(f"{name} {v['ce']:.2f}" for name, v in summary["ce"].items() if v["ce"] is not None)
        notes.append(f"mCE (relative to museum photos) {summary['mce']:.2f}; CE: {ce}")
    if summary.get("field_relative_error") is not None:
        notes.append(f"field photos: {summary['field_relative_error']:.2f}× the museum photos' top-1 error")
    return "\n".join(lines + [""] + [f"- {note}" for note in notes])


def recalibration_curve(run_dir: str | Path, sizes: Sequence[int] = RECALIBRATION_SIZES, repeats: int = 20,
                        condition: str = "field", data_dir: str | Path | None = None, checkpoint: str = "best",
                        calib_split: str = "val", test_split: str = "test", batch_size: int = 64,
                        seed: int = 0) -> dict[str, Any]:
    """Coverage on ``condition`` photos of ``test_split`` after recalibrating on N of them from ``calib_split``.

    The method, levels and RAPS constants are the museum calibration's (``calibration.json``, needed).
    For each N, ``repeats`` seeded draws of N photos each fit the constants; each is checked on every
    ``condition`` photo of ``test_split``. Sizes above the photos available are skipped.

    Returns:
        ``{"museum": {level: coverage on the test photos with the museum constants}, "n_test",
        "n_available", "curve": [{"n", "level", "coverage_mean", "coverage_p10", "coverage_min",
        "share_at_least_0.88", "mean_size"}]}``.
    """
    field_run = open_field_run(run_dir, data_dir, checkpoint)
    museum = _calibrations(Path(run_dir), field_run.fingerprint).get(MUSEUM)
    if museum is None:
        raise CalibrationError(f"{Path(run_dir) / calibration_file(MUSEUM)} not found; run `mocar calibrate --run RUN` first")
    plain = Condition(condition)
    frames = [condition_frame(field_run.data, s, plain) for s in (calib_split, test_split)]
    val, test = (condition_outputs(field_run, f, plain, batch_size) for f in frames)
    probs_val, probs_test = softmax(val.logits), softmax(test.logits)
    constants = museum["classes"]
    alphas = [1 - float(level) for level in constants["thresholds"]]
    fit = {"method": constants["method"], "lam": constants["lam"], "k_reg": constants["k_reg"],
           "randomized": constants["randomized"]}
    museum_report = conformal.set_report(probs_test, test.targets, constants)
    curve = []
    rng = np.random.default_rng(seed)
    for size in sizes:
        if size > len(probs_val):
            continue
        draws = []
        for _ in range(repeats if size < len(probs_val) else 1):
            rows = rng.choice(len(probs_val), size, replace=False)
            fitted = conformal.fit_class_conformal(probs_val[rows], val.targets[rows], alphas, **fit)
            draws.append(conformal.set_report(probs_test, test.targets, fitted))
        for level in constants["thresholds"]:
            coverage = np.array([d[level]["coverage"] for d in draws])
            curve.append({"n": int(size), "level": level, "draws": len(draws),
                          "coverage_mean": float(coverage.mean()), "coverage_p10": float(np.quantile(coverage, 0.1)),
                          "coverage_min": float(coverage.min()), "share_at_least_0.88": float(np.mean(coverage >= 0.88)),
                          "mean_size": float(np.mean([d[level]["mean_size"] for d in draws]))})
    return {"condition": condition, "calib_split": calib_split, "test_split": test_split, "n_test": len(frames[1]),
            "n_available": len(frames[0]), "museum": museum_report, "curve": curve}


def format_recalibration_curve(result: dict[str, Any], level: str = TABLE_LEVEL) -> str:
    """Markdown: coverage with museum constants, then per N of field photos the recalibrated coverage."""
    museum = result["museum"].get(level)
    lines = [(f"{result['condition']} photos of {result['test_split']} (n = {result['n_test']}); {level} sets; "
              f"museum calibration: coverage {100 * museum['coverage']:.1f} %, mean size {museum['mean_size']:.2f}"),
             "", (f"| field photos (of {result['n_available']}) | draws | mean coverage % | 10th pct. % | min % "
                  "| draws ≥ 88 % | mean set size |"), "|---|---|---|---|---|---|---|"]
    for row in (r for r in result["curve"] if r["level"] == level):
        lines.append(f"| {row['n']} | {row['draws']} | {100 * row['coverage_mean']:.1f} | {100 * row['coverage_p10']:.1f} "
                     f"| {100 * row['coverage_min']:.1f} | {100 * row['share_at_least_0.88']:.0f} % "
                     f"| {row['mean_size']:.2f} |")
    return "\n".join(lines)
