"""``mocar bench --conditions``: does every export still agree with its float model on field photos and corrupted ones?

An int8 file that agrees with float on museum photos may not on a phone photo in poor light. For each
condition (:mod:`mocar.data.conditions`: museum photos, field photos, a corruption at a severity) and
each folder, the float reference and every file run on the same images under that condition:

* the images: the run's parity images (:mod:`mocar.bench.parity_set`), at most ``limit`` of them
  (seeded) — for ``field``, the field photos of those same objects; the labelled figures use the ones
  from the labelled split;
* per file: agreement with its float model under the condition (Wilson interval, n), top-1 and
  Δtop-1 vs the float model (paired bootstrap), as in the main table (:mod:`mocar.bench.figures`);
* simulated files (CoreML on Linux: a PyTorch stand-in, ~30 ms per image) are left out;
* per folder and file, a summary over the corruptions: the mean agreement, and the *relative
  corruption error* — the file's top-1 error summed over the corruption conditions divided by the float
  model's (ImageNet-C's CE, with the file's own float model as the baseline): 1.0 means int8 loses
  nothing extra under corruption.
"""
from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
from tqdm import tqdm

from mocar.bench.figures import parity_figures
from mocar.bench.outputs import calendar_years, decode_split, targets_of
from mocar.bench.parity_set import ParitySet
from mocar.bench.rows import REFERENCE_FILE
from mocar.data.conditions import Condition
from mocar.data.dataset import PreparedData
from mocar.errors import InputError
from mocar.runtime.preprocessing import Preprocessing
from mocar.runtime.runners import open_runner

CONDITION_SEED = 0


@dataclasses.dataclass(frozen=True)
class ConditionImages:
    """The rows one condition is measured on, and which of them are parity / labelled images."""

    frame: pd.DataFrame
    parity: np.ndarray
    labelled: np.ndarray


def condition_images(data: PreparedData, plan: ParitySet, condition: Condition, limit: int | None) -> ConditionImages:
    """The parity images (or their objects' field photos) for one condition; see the module docstring.

    Raises:
        InputError: If the condition has no photos among the parity images (e.g. no field photos prepared).
    """
    if limit is not None and limit < 1:
        raise InputError(f"--condition-images must be >= 1, got {limit}")
    base = plan.frame.iloc[plan.parity].reset_index(drop=True)
    if limit is not None and limit < len(base):
        keep = np.sort(np.random.default_rng(CONDITION_SEED).permutation(len(base))[:limit])
        base = base.iloc[keep].reset_index(drop=True)
    frame = base
    if condition.photos != "museum":
        rows = data.all_rows
        frame = rows[(rows["condition"] == condition.photos) & rows["id"].astype(str).isin(set(base["id"].astype(str)))]
        frame = frame.reset_index(drop=True)
    if frame.empty:
        raise InputError(f"{data.root}: no {condition.photos} photos among the parity images for condition "
                         f"{condition.name!r} (prepare an export with {condition.photos} rows, e.g. mocar data synth --field)")
    labelled = np.arange(len(frame)) if plan.labelled_split is None or "split" not in frame else \
        np.flatnonzero(frame["split"].to_numpy() == plan.labelled_split)
    return ConditionImages(frame, np.arange(len(frame)), labelled)


def _file_rows(folder: Any, condition: Condition, sets: ConditionImages, inputs: np.ndarray) -> list[dict[str, Any]]:
    """One row per file of a folder (its float reference first) under one condition."""
    labelled = sets.frame.iloc[sets.labelled]
    targets = targets_of(labelled, folder.metadata) if len(sets.labelled) else None
    years = labelled["year"].to_numpy(float) if folder.metadata.get("year") and targets is not None else None
    rows, reference = [], {}
    for entry in [{"file": REFERENCE_FILE, "format": "torch", "precision": "fp32"}, *folder.entries]:
        runner = open_runner(folder.path / entry["file"], 2)
        if runner.simulated:  # a PyTorch stand-in (CoreML on Linux): slow, and not the runtime under test
            continue
        metadata = folder.metadata if entry["file"] == REFERENCE_FILE else runner.metadata
        outputs = calendar_years(runner.run(inputs), metadata)
        reference = reference or outputs  # the float reference comes first
        rows.append({"condition": condition.name, "photos": condition.photos, "corruption": condition.corruption,
                     "severity": condition.severity, "folder": folder.label, "export": entry["file"],
                     "format": entry["format"], "precision": entry["precision"], "simulated": bool(runner.simulated),
                     **parity_figures(reference, outputs, sets.parity, sets.labelled, targets, years)})
    return rows


def bench_conditions(folders: Sequence[Any], data: PreparedData, plan: ParitySet, conditions: Sequence[Condition],
                     limit: int | None = None, progress: bool = False) -> list[dict[str, Any]]:
    """Rows per condition x folder x file (module docstring); ``folders`` are :class:`mocar.bench.suite.ExportFolder`."""
    rows = []
    for condition in tqdm(conditions, desc="conditions", unit="condition", disable=not progress):
        sets = condition_images(data, plan, condition, limit)
        decoded: dict[str, np.ndarray] = {}
        for folder in folders:
            preprocessing = dataclasses.replace(Preprocessing.from_metadata(folder.metadata), layout="NCHW")
            key = repr(preprocessing)
            if key not in decoded:
                decoded[key] = decode_split(sets.frame, preprocessing, False, condition)
            rows += _file_rows(folder, condition, sets, decoded[key])
    return rows


def corruption_summary(rows: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per folder and file: mean agreement over the corruption conditions and the relative corruption error."""
    corrupted = [r for r in rows if r.get("corruption") and r.get("top1") is not None]
    summary = []
    for key in dict.fromkeys((r["folder"], r["export"]) for r in corrupted):
        mine = [r for r in corrupted if (r["folder"], r["export"]) == key]
        reference = {r["condition"]: r for r in corrupted if r["folder"] == key[0] and r["export"] == REFERENCE_FILE}
        float_error = sum(1.0 - reference[r["condition"]]["top1"] for r in mine)
        error = sum(1.0 - r["top1"] for r in mine)
        summary.append({"folder": key[0], "export": key[1], "conditions": len(mine),
                        "mean_agreement": float(np.mean([r["agreement"] for r in mine])),
                        "min_agreement": float(np.min([r["agreement"] for r in mine])),
                        "relative_corruption_error": error / float_error if float_error else None})
    return summary
