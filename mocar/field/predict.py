"""`mocar predict`: a field answer per photo — likely classes, calibrated sets, year range, look-alikes.

One answer per image (schema ``mocar-field-prediction`` v1, JSON Schema in :data:`PREDICTION_SCHEMA`;
keys are stable, new keys may be added):

* ``file``, ``target`` (``collection`` for MOCaR, ``epoch`` for MaxAvg-Cat/baseline), ``model`` (source);
* ``top5``: ``[{label, probability}]``, most likely first (ties: lower class index first);
* ``prediction_set``: ``{coverage: [labels]}`` (e.g. ``"0.9"``: the set that holds the true class for
  90 % of photos like the calibration data), or null without calibration constants;
* ``collection_set``: epoch models only, the same over collections (class probabilities summed);
* ``year``: MOCaR only, ``{estimate, interval: {coverage: [lo, hi] | null}}`` in calendar years
  (negative = BCE; null = unbounded at that level);
* ``nearest``: the k most similar reference objects ``[{rank, id, collection, dating, year_begin,
  year_end, epoch_label, similarity, thumbnail}]`` (thumbnail: ``data:image/jpeg;base64,...`` or null);
  empty without an index;
* ``ood``: ``{score_name, score, threshold, false_alarm_rate, unlike_references}`` or null;
* ``warnings``: human-readable strings (unlike any reference, no calibration, unverified index...).
"""
from __future__ import annotations

import base64
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from mocar.errors import InputError
from mocar.field import conformal, ood
from mocar.field.index import ReferenceIndex
from mocar.field.inference import FieldModel, from_file, from_run
from mocar.field.runs import softmax

SCHEMA = "mocar-field-prediction"
SCHEMA_VERSION = 1
TOP_K = 5

_NUM = {"type": "number"}
_LEVELS = {"type": ["object", "null"], "additionalProperties": {"type": "array", "items": {"type": "string"}}}
PREDICTION_SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema", "title": f"{SCHEMA} v{SCHEMA_VERSION}", "type": "object",
    "required": ["schema", "schema_version", "file", "target", "model", "top5", "prediction_set", "collection_set",
                 "year", "nearest", "ood", "warnings"],
    "properties": {
        "schema": {"type": "string"}, "schema_version": {"type": "integer"}, "file": {"type": "string"},
        "target": {"type": "string"}, "model": {"type": "string"},
        "top5": {"type": "array", "items": {"type": "object", "required": ["label", "probability"],
                                            "properties": {"label": {"type": "string"}, "probability": _NUM}}},
        "prediction_set": _LEVELS, "collection_set": _LEVELS,
        "year": {"type": ["object", "null"], "required": ["estimate", "interval"],
                 "properties": {"estimate": _NUM, "interval": {"type": ["object", "null"], "additionalProperties": {
                     "type": ["array", "null"], "items": _NUM}}}},
        "nearest": {"type": "array", "items": {"type": "object", "required": [
            "rank", "id", "collection", "dating", "year_begin", "year_end", "epoch_label", "similarity", "thumbnail"],
            "properties": {"rank": {"type": "integer"}, "id": {"type": "string"},
                           "collection": {"type": ["string", "null"]},
                           "dating": {"type": ["string", "null"]}, "year_begin": {"type": ["number", "null"]},
                           "year_end": {"type": ["number", "null"]}, "epoch_label": {"type": ["string", "null"]},
                           "similarity": _NUM, "thumbnail": {"type": ["string", "null"]}}}},
        "ood": {"type": ["object", "null"],
                "required": ["score_name", "score", "threshold", "false_alarm_rate", "unlike_references"],
                "properties": {"score_name": {"type": "string"}, "score": _NUM, "threshold": _NUM,
                               "false_alarm_rate": _NUM, "unlike_references": {"type": "boolean"}}},
        "warnings": {"type": "array", "items": {"type": "string"}},
    },
}


def _names(indices: Sequence[int], labels: Sequence[str]) -> list[str]:
    return [labels[i] for i in indices]


def _sets(probs: np.ndarray, constants: dict[str, Any] | None, labels: Sequence[str]) -> dict[str, list[str]] | None:
    if constants is None:
        return None
    return {level: _names(classes, labels) for level, classes in conformal.prediction_sets(probs, constants).items()}


def _year(model: FieldModel, year_norm: float, top_label: str) -> dict[str, Any]:
    estimate = float(model.years(np.array([year_norm]))[0])
    constants = (model.calibration or {}).get("year")
    if constants is None:
        return {"estimate": estimate, "interval": None}
    interval = {}
    for level in constants["q"]:
        q = conformal.year_half_width(level, constants["q"], constants.get("q_by_predicted_collection"), top_label)
        interval[level] = None if q is None else [estimate - q, estimate + q]
    return {"estimate": estimate, "interval": interval}


def _nearest(index: ReferenceIndex, rows: np.ndarray, sims: np.ndarray, k: int,
             thumbnails: bool) -> list[dict[str, Any]]:
    found = []
    for rank, (row, sim) in enumerate(zip(rows[:k], sims[:k]), start=1):
        jpeg = index.thumbnail(int(row)) if thumbnails else None
        thumb = "data:image/jpeg;base64," + base64.b64encode(jpeg).decode("ascii") if jpeg else None
        found.append({"rank": rank, **index.object_record(int(row)), "similarity": float(sim), "thumbnail": thumb})
    return found


def _ood(model: FieldModel, index: ReferenceIndex | None, logits: np.ndarray,
         sims: np.ndarray | None) -> dict[str, Any] | None:
    record = index.meta.get("ood") if index is not None else None
    if record is None:  # only the index's knn score is calibrated and shipped (see mocar.field.calibrate)
        return None
    if record["score"] == "knn":
        score = float(ood.knn_score(sims[None, :], record["k"])[0])
    else:
        score = float({"energy": ood.energy_score, "msp": ood.msp_score}[record["score"]](logits[None, :])[0])
    return ood.ood_verdict(score, record)


def _warnings(model: FieldModel, index: ReferenceIndex | None, verdict: dict[str, Any] | None) -> list[str]:
    notes = []
    if verdict is not None and verdict["unlike_references"]:
        notes.append(f"unlike any reference object ({verdict['score_name']} score {verdict['score']:.3f} > threshold "
                     f"{verdict['threshold']:.3f}, which {verdict['false_alarm_rate']:.0%} of known objects exceed): "
                     "the labels below are unreliable")
    if model.calibration is None:
        notes.append("no calibration constants: prediction sets and year intervals are missing (run `mocar calibrate`)")
    if index is not None and model.fingerprint is None:
        notes.append("the model file carries no fingerprint: cannot verify that the index was built with this model")
    if index is None:
        notes.append("no reference index: no look-alike objects (build one with `mocar index build`)")
    return notes


def _collection_set(model: FieldModel, probs: np.ndarray) -> dict[str, list[str]] | None:
    """Epoch models: conformal sets over collections, from class probabilities summed per collection."""
    constants = (model.calibration or {}).get("collections")
    if model.target != "epoch" or constants is None or not model.epochs:
        return None
    collection_of = {e["label"]: model.collections.index(e["collection"]) for e in model.epochs}
    owners = [collection_of[name] for name in model.labels]
    return _sets(np.bincount(owners, weights=probs, minlength=len(model.collections)), constants, model.collections)


def answer_one(model: FieldModel, file: str, outputs: dict[str, np.ndarray], row: int,
               index: ReferenceIndex | None, neighbours: tuple[np.ndarray, np.ndarray] | None, k: int,
               thumbnails: bool = True) -> dict[str, Any]:
    """The answer for image ``row`` of a batch's outputs (see the module docstring)."""
    logits = outputs["logits"][row]
    probs = softmax(logits[None, :])[0]
    order = np.argsort(-probs, kind="stable")[:TOP_K]
    year = None
    if "year" in outputs and model.year_mean is not None:
        year = _year(model, float(outputs["year"][row]), model.labels[order[0]])
    sims = neighbours[1][row] if neighbours is not None else None
    nearest = _nearest(index, neighbours[0][row], sims, k, thumbnails) if index is not None else []
    verdict = _ood(model, index, logits, sims)
    return {"schema": SCHEMA, "schema_version": SCHEMA_VERSION, "file": str(file), "target": model.target,
            "model": model.source, "top5": [{"label": model.labels[i], "probability": float(probs[i])} for i in order],
            "prediction_set": _sets(probs, (model.calibration or {}).get("classes"), model.labels),
            "collection_set": _collection_set(model, probs), "year": year, "nearest": nearest, "ood": verdict,
            "warnings": _warnings(model, index, verdict)}


def predict_images(paths: Sequence[str | Path], run_dir: str | Path | None = None, model_file: str | Path | None = None,
                   index_dir: str | Path | None = None, k: int = 5, checkpoint: str = "best",
                   calibration_file: str | Path | None = None, thumbnails: bool = True, threads: int = 2,
                   batch_size: int = 16) -> list[dict[str, Any]]:
    """Answer for each photo with a run's float model (``run_dir``) or an exported file (``model_file``).

    Args:
        paths: Image files.
        run_dir: A run folder (float PyTorch model, eval preprocessing, its calibration.json).
        model_file: An exported file (.onnx, .tflite, .mlpackage) instead of ``run_dir``.
        index_dir: A reference index of the same model (look-alikes and the OOD check).
        k: Number of look-alikes.
        checkpoint: Checkpoint of ``run_dir``.
        calibration_file: Calibration constants to use instead of the run's / the file's own.
        thumbnails: Put the look-alikes' thumbnails (base64 JPEG) into the answer.
        threads: Runtime threads for ``model_file``.
        batch_size: Images per forward pass.

    Raises:
        ModelMismatchError: If the index or the calibration belongs to another model.
    """
    if (run_dir is None) == (model_file is None):
        raise InputError("give exactly one of run_dir (a run folder) or model_file (an exported model)")
    if run_dir is not None:
        model = from_run(run_dir, checkpoint, calibration_file)
    else:
        model = from_file(model_file, threads, calibration_file)
    index = ReferenceIndex.load(index_dir) if index_dir is not None else None
    if index is not None and model.fingerprint is not None:
        index.check_model(model.fingerprint)
    depth = max(k, (index.meta.get("ood") or {}).get("k") or 1) if index is not None else 0
    answers = []
    for start in range(0, len(paths), batch_size):
        chunk = [str(p) for p in paths[start : start + batch_size]]
        outputs = model.forward(model.preprocess(chunk))
        neighbours = index.search(outputs["embedding"], depth) if index is not None else None
        answers.extend(answer_one(model, file, outputs, row, index, neighbours, k, thumbnails)
                       for row, file in enumerate(chunk))
    return answers
