"""`mocar bench`: every exported file against its float PyTorch reference, on one decoded split.

One run benchmarks one or several export folders (e.g. a BiT teacher and a distilled student side
by side). Each folder's files are compared with *its own* float reference (the folder's
``model.pt``); rows of the second and later folders also carry columns relative to the first
folder (Δtop-1 vs its reference, speed-up and size ratio vs its fp32 file of the same runtime).

The split's images are decoded and preprocessed once per preprocessing contract (read from each
folder's metadata), and the same float32 NCHW array goes to every runner of that folder, so the
only difference measured is the model file. Per export: parity on the whole split (agreement,
accuracy and year-MAE deltas, PSNR, embedding cosine, overlap@5 of nearest neighbours, the images
whose prediction flipped) and batch-1 latency per thread count. Rows are flat (one per export x
threads; schema in :mod:`mocar.bench.rows`) and written as JSON and CSV next to a Markdown and an
HTML report. Rows measured elsewhere (a phone) can be merged in with ``imports``, or measured on a
connected phone with ``android`` (:mod:`mocar.bench.android`); both are labelled as imported rows.
Each file's peak memory is measured in a fresh child process (:mod:`mocar.bench.memory`). With
``check=True`` the parity policy (relative to each reference) gates CI via ``junit.xml``.

Caveat: all folders are benchmarked on the same prepared data (``data_dir``, default: the first
folder's training data); "vs first" columns are left empty for a folder predicting another target.
"""
from __future__ import annotations

import dataclasses
import json
import os
import time
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from mocar.bench.android import AndroidBenchConfig, bench_on_device
from mocar.bench.conditions import bench_conditions, corruption_summary
from mocar.bench.evidence import Evidence
from mocar.bench.figures import flipped, parity_figures, subset
from mocar.bench.junit import write_junit
from mocar.bench.machine import load_1m, machine_fields
from mocar.bench.memory import PROBE_RUNS, MemoryProbeError, probe_memory
from mocar.bench.outputs import calendar_years, decode_split, targets_of
from mocar.bench.parity_set import ParitySet, build_parity_set, folder_roles
from mocar.bench.report import format_bench_table, write_results
from mocar.bench.rows import (
    REFERENCE_FILE,
    comparable_latencies,
    load_imported_rows,
    model_label,
)
from mocar.bench.search_records import load_search_records
from mocar.data.conditions import Condition
from mocar.data.dataset import PreparedData
from mocar.errors import InputError
from mocar.runtime.policy import (
    CheckResult,
    evaluate_policy,
    load_policy,
    raise_on_violations,
)
from mocar.runtime.preprocessing import Preprocessing
from mocar.runtime.runners import open_runner
from mocar.train.run_files import load_trained_run

__all__ = [
    "REFERENCE_FILE",
    "Evidence",
    "ExportFolder",
    "decode_split",
    "format_bench_table",
    "open_folders",
    "run",
    "time_runner",
]


@dataclass
class ExportFolder:
    """One export folder as the benchmark sees it.

    Attributes:
        path: The folder (``mocar export --out``).
        label: Short unique name in reports (the shortest distinguishing path suffix).
        manifest: Its ``manifest.json``.
        metadata: The full metadata of its first exported file (contract, labels, model).
        model: What network it holds, e.g. ``mocar_tiny · bit_tiny``.
    """

    path: Path
    label: str
    manifest: dict[str, Any]
    metadata: dict[str, Any]
    model: str

    @property
    def entries(self) -> list[dict[str, Any]]:
        """Manifest entries of the files that exist (ok or outside their export tolerance)."""
        return _benchable(self.manifest)


def _benchable(manifest: dict[str, Any]) -> list[dict[str, Any]]:
    return [e for e in manifest["files"] if e.get("file") and e["status"] in ("ok", "parity_failed")]


def _manifest(exports_dir: Path) -> dict[str, Any]:
    path = exports_dir / "manifest.json"
    if not path.is_file():
        raise InputError(f"{exports_dir}: no manifest.json; run `mocar export --out {exports_dir}` first")
    return json.loads(path.read_text(encoding="utf-8"))


def unique_labels(paths: Sequence[Path]) -> list[str]:
    """The shortest path suffixes that tell the folders apart (``teacher/export``, ``student/export``)."""
    parts = [Path(os.path.abspath(p)).parts for p in paths]
    for depth in range(1, max(len(p) for p in parts) + 1):
        labels = ["/".join(p[-depth:]) for p in parts]
        if len(set(labels)) == len(labels):
            return labels
    raise InputError(f"the same export folder is given twice: {[str(p) for p in paths]}")


def open_folders(paths: Sequence[str | Path]) -> list[ExportFolder]:
    """Reads each folder's manifest and metadata.

    Raises:
        InputError: If a folder has no manifest, no exported file or no reference ``model.pt``.
    """
    paths = [Path(p) for p in paths]
    if not paths:
        raise InputError("no export folder given; pass --exports DIR [DIR ...]")
    folders = []
    for path, label in zip(paths, unique_labels(paths)):
        manifest = _manifest(path)
        entries = _benchable(manifest)
        if not entries:
            raise InputError(f"{path}/manifest.json lists no exported file to benchmark")
        if not (path / REFERENCE_FILE).is_file():
            raise InputError(f"{path}: no {REFERENCE_FILE} (the float reference every file is compared with)")
        metadata = open_runner(path / entries[0]["file"], 1).metadata
        folders.append(ExportFolder(path, label, manifest, metadata, model_label(metadata)))
    return folders


def time_runner(path: Path, images: np.ndarray, threads: int, runs: int, warmup: int) -> dict[str, float]:
    """Load time and batch-1 latency (warm-up first; median, p90, min over ``runs``)."""
    start = time.perf_counter()
    runner = open_runner(path, threads)
    load_s = time.perf_counter() - start
    sample = images[:1]
    for _ in range(warmup):
        runner.run(sample)
    times = []
    for i in range(runs):
        tick = time.perf_counter()
        runner.run(images[i % len(images)][None])
        times.append((time.perf_counter() - tick) * 1000.0)
    p50 = float(np.median(times))
    return {"load_s": round(load_s, 4), "p50_ms": p50, "p90_ms": float(np.percentile(times, 90)),
            "mean_ms": float(np.mean(times)), "min_ms": float(np.min(times)), "timed_runs": runs,
            "throughput_ips": 1000.0 / p50 if p50 > 0 else None}


def memory_fields(path: Path, images: np.ndarray, threads: int, warmup: int, simulated: bool) -> dict[str, Any]:
    """``peak_rss_mb``/``baseline_rss_mb`` of the file in a fresh child process (:mod:`mocar.bench.memory`).

    Left empty for simulated files (the stand-in's memory is not the runtime's) and, with a warning,
    when the child fails: memory is a side figure and must not sink the parity and latency results.
    """
    if simulated:
        return {"peak_rss_mb": None, "baseline_rss_mb": None}
    try:
        return probe_memory(path, images[:PROBE_RUNS], threads, warmup=min(warmup, 2)).row_fields()
    except MemoryProbeError as err:
        warnings.warn(f"peak memory not measured: {err}", stacklevel=2)
        return {"peak_rss_mb": None, "baseline_rss_mb": None}


@dataclass
class _Images:
    """The parity set's images, decoded once per preprocessing contract and shared by every folder."""

    plan: ParitySet
    progress: bool
    decoded: dict[str, np.ndarray] = field(default_factory=dict)

    def for_file(self, metadata: dict[str, Any]) -> np.ndarray:
        # The layout is the first file's; runners all take NCHW, so it must not split the cache.
        preprocessing = dataclasses.replace(Preprocessing.from_metadata(metadata), layout="NCHW")
        key = repr(preprocessing)
        if key not in self.decoded:
            self.decoded[key] = decode_split(self.plan.frame, preprocessing, self.progress)
        return self.decoded[key]


def bench_folder(folder: ExportFolder, images: _Images, threads: Sequence[int], runs: int, warmup: int,
                 machine: dict[str, Any], memory: bool = True) -> tuple[list[dict], list[dict], list[Evidence]]:
    """Parity, latency and (with ``memory``) peak memory of every file of one folder vs its own ``model.pt``.

    Parity figures come from the parity images, accuracy figures from the labelled ones
    (:mod:`mocar.bench.figures`). Peak memory is measured once per file, at the largest thread
    count, in a child process (:func:`memory_fields`); its figures go into every thread row of that file.

    Returns:
        (rows: one per file x threads, parity rows: one per file with its flips, plot evidence).
    """
    plan, inputs = images.plan, images.for_file(folder.metadata)
    labelled = plan.frame.iloc[plan.labelled]
    targets = targets_of(labelled, folder.metadata) if len(plan.labelled) else None
    years = labelled["year"].to_numpy(float) if folder.metadata.get("year") and targets is not None else None
    ref_out = calendar_years(open_runner(folder.path / REFERENCE_FILE, max(threads)).run(inputs), folder.metadata)
    labels = list(folder.metadata["labels"]["names"])
    parity_ids = plan.frame["id"].astype(str).to_numpy()[plan.parity].tolist()
    entries = [{"file": REFERENCE_FILE, "format": "torch", "precision": "fp32", "flavour": "reference",
                "size_bytes": (folder.path / REFERENCE_FILE).stat().st_size, "status": "reference"}] + folder.entries
    rows, parity_rows, evidence = [], [], []
    for entry in tqdm(entries, desc=f"benchmarking {folder.label}", unit="file", disable=not images.progress):
        path = folder.path / entry["file"]
        runner = open_runner(path, max(threads))
        outputs = ref_out if entry["status"] == "reference" else calendar_years(runner.run(inputs), runner.metadata)
        base = {"folder": folder.label, "model": folder.model, "export": entry["file"], "format": entry["format"],
                "input_size": Preprocessing.from_metadata(runner.metadata, str(path)).input_size,
                "precision": entry["precision"], "flavour": entry.get("flavour"), "status": entry["status"],
                "simulated": bool(runner.simulated), "imported": False, "size_mb": entry["size_bytes"] / 1e6,
                "parity_set": plan.kind,
                **parity_figures(ref_out, outputs, plan.parity, plan.labelled, targets, years)}
        flips = flipped(parity_ids, ref_out["logits"][plan.parity], outputs["logits"][plan.parity], labels)
        parity_rows.append({**base, "flips": flips[:20]})
        if targets is not None:
            evidence.append(Evidence(folder.label, entry["file"], labels, targets,
                                     _plotted(subset(ref_out, plan.labelled)), _plotted(subset(outputs, plan.labelled))))
        del runner  # its memory (and threads) must not weigh on the timings below
        peak = memory_fields(path, inputs, max(threads), warmup, base["simulated"]) if memory else {}
        for t in threads:
            rows.append({**base, "threads": t, **time_runner(path, inputs, t, runs, warmup), **peak, **machine,
                         "load_1m": load_1m()})
    return rows, parity_rows, evidence


def _plotted(outputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The outputs the report's plots read (logits, year): the embeddings of every file need not wait for them."""
    return {name: value for name, value in outputs.items() if name in ("logits", "year")}


def add_ratios(rows: list[dict[str, Any]]) -> None:
    """Size ratio and speed-up vs the fp32 file of the same folder (or device), model, runtime, delegate
    (a phone's GPU row compares with the GPU fp32 row) and thread count."""
    for row in rows:
        base = next((r for r in rows if r.get("folder") == row.get("folder") and r.get("model") == row.get("model")
                     and r["format"] == row["format"] and r.get("delegate") == row.get("delegate")
                     and r["precision"] == "fp32" and r["threads"] == row["threads"]), None)
        row["size_ratio"] = row["size_mb"] / base["size_mb"] if base and row.get("size_mb") and base.get("size_mb") else None
        pair = comparable_latencies(base, row) if base else None
        row["speedup_vs_fp32"] = pair[0] / pair[1] if pair else None


def add_first_comparisons(rows: list[dict[str, Any]], parity_rows: list[dict[str, Any]],
                          folders: Sequence[ExportFolder]) -> None:
    """Columns vs the first folder: Δtop-1 (points) vs its reference; speed-up and size ratio vs its fp32
    file of the same runtime and thread count. Imported rows get no speed-up (another machine)."""
    first = folders[0]
    first_ref = next(p for p in parity_rows if p["folder"] == first.label and p["status"] == "reference")
    same_target = {f.label: f.metadata["labels"].get("target") == first.metadata["labels"].get("target")
                   for f in folders}
    for row in [*rows, *parity_rows]:
        comparable = same_target.get(row.get("folder"), False) or (row.get("imported") and row.get("top1") is not None)
        row["delta_top1_vs_first"] = (100.0 * (row["top1"] - first_ref["top1"])
                                      if comparable and row.get("top1") is not None else None)
        if "threads" not in row:
            continue
        base = None if row.get("imported") else next(
            (r for r in rows if r.get("folder") == first.label and r["format"] == row["format"]
             and r["precision"] == "fp32" and r["threads"] == row["threads"]), None)
        row["speedup_vs_first"] = base["p50_ms"] / row["p50_ms"] if base and row.get("p50_ms") else None
        row["size_ratio_vs_first"] = row["size_mb"] / base["size_mb"] if base and row.get("size_mb") else None


def _check_id(row: dict[str, Any], qualified: bool) -> str:
    return f"{row['folder']}/{row['export']}" if qualified else str(row["export"])


def run(exports_dir: str | Path | Sequence[str | Path], data_dir: str | Path | None = None,
        split: str | None = "test", threads: tuple[int, ...] = (1, 2), runs: int = 50, warmup: int = 5,
        policy: str | Path | None = None, out: str | Path | None = None, check: bool = False, progress: bool = True,
        imports: Sequence[str | Path] = (), memory: bool = True, android: AndroidBenchConfig | None = None,
        parity_images: int | None = None, parity_dir: str | Path | None = None,
        selection: bool = False, conditions: Sequence[Condition] = (),
        condition_images: int | None = None) -> dict[str, Any]:
    """Benchmarks one or several export folders into one report (Python API of `mocar bench`).

    Args:
        exports_dir: An export folder, or a list of them (the first is the baseline of the "vs first" columns).
        data_dir: Prepared data folder (default: the first folder's training data).
        split: The labelled split of the accuracy figures (``train``, ``val``, ``test``; None: the
            parity images themselves, which must then be labelled).
        threads: Thread counts to time.
        runs: Timed batch-1 runs per file and thread count.
        warmup: Untimed runs before them.
        policy: Parity policy YAML (default: the packaged one).
        out: Report folder (default: ``<first folder>/bench``).
        check: Evaluate the policy, write ``junit.xml``/``summary.md`` and raise on violations.
        progress: Show progress bars.
        imports: JSON files of rows measured elsewhere (:func:`mocar.bench.rows.load_imported_rows`).
        memory: Measure each file's peak RSS in a child process (:mod:`mocar.bench.memory`).
        android: Also benchmark every ``.tflite`` file on a phone (:mod:`mocar.bench.android`); its rows
            join the report like imported rows.
        parity_images: Measure the parity figures on a seeded sample of this many images (default:
            every prepared image outside the folders' calibration and selection images).
        parity_dir: Measure them on the photos of this folder instead (no labels needed).
        selection: Measure them on the folders' selection images (the validation parity set of the
            int8 choice; :mod:`mocar.data.image_roles`).
        conditions: Also measure every file under these photo conditions (field photos, corruptions;
            :mod:`mocar.bench.conditions`), on at most ``condition_images`` parity images each.

    Returns:
        ``{"rows", "parity", "out", "split", "images", "folders"}`` (+ ``"checks"`` with ``check``).

    Raises:
        InputError: Unusable folder, data or imported file.
        AndroidBenchError: With ``android``, no usable phone or a failed run on it.
        PolicyViolation: With ``check``, when any export breaks the policy (after writing the reports).
    """
    if runs < 1 or warmup < 0 or not threads or min(threads) < 1:
        raise InputError(f"need runs >= 1, warmup >= 0 and thread counts >= 1; got runs={runs}, warmup={warmup}, "
                         f"threads={tuple(threads)}")
    paths = [exports_dir] if isinstance(exports_dir, (str, Path)) else list(exports_dir)
    folders = open_folders(paths)
    imported = [row for path in imports for row in load_imported_rows(path)]  # fail early on a bad file
    if android is not None:  # before the long desktop part, so a missing phone fails fast
        imported += bench_on_device(android, [f.path for f in folders])
    out = Path(out or folders[0].path / "bench")
    out.mkdir(parents=True, exist_ok=True)
    data = PreparedData.load(data_dir or _data_dir_of(folders[0].manifest))
    plan = build_parity_set(data, [folder_roles(data, f.path, f.manifest) for f in folders], split,
                            parity_images, parity_dir, selection)
    decoded, machine = _Images(plan, progress), machine_fields()  # machine once per run, not per row
    rows, parity_rows, evidence = [], [], []
    for folder in folders:
        folder_rows, folder_parity, folder_evidence = bench_folder(folder, decoded, threads, runs, warmup, machine,
                                                                   memory)
        rows += folder_rows
        parity_rows += folder_parity
        evidence += folder_evidence
    rows += imported
    add_ratios(rows)
    add_first_comparisons(rows, parity_rows, folders)
    described = plan.describe()
    result = {"rows": rows, "parity": parity_rows, "out": str(out), "split": described["labelled_split"],
              "images": described["parity_images"], "parity_set": described,
              "folders": [{"label": f.label, "path": str(f.path), "model": f.model} for f in folders],
              "imports": [str(p) for p in imports]}
    result["int8_search"] = [{"folder": f.label, "runtime": runtime, **record}
                             for f in folders for runtime, record in load_search_records(f.path).items()]
    if conditions:
        result["conditions"] = bench_conditions(folders, data, plan, conditions, condition_images, progress)
        result["conditions_summary"] = corruption_summary(result["conditions"])
    checks = policy_checks(result, policy)  # in every report: n, intervals, "too few", "within noise"
    result["verdicts"] = [verdict_record(c) for c in checks]
    write_results(result, out, evidence)
    if check:
        write_junit(checks, out / "junit.xml")
        (out / "summary.md").write_text(_summary_md(checks), encoding="utf-8")
        result["checks"] = [c.describe() + (" PASS" if c.passed else " FAIL") for c in checks]
        raise_on_violations(checks)
    return result


def policy_checks(result: dict[str, Any], policy: str | Path | None = None) -> list[CheckResult]:
    """The parity policy applied to a :func:`run` result's exports (``folder/file`` names when several folders)."""
    qualified = len(result["folders"]) > 1
    checked = [{**r, "export": _check_id(r, qualified)} for r in result["parity"] if r["status"] != "reference"]
    return evaluate_policy(checked, load_policy(policy))


def verdict_record(check: CheckResult) -> dict[str, Any]:
    """One policy check as bench.json and the report keep it."""
    return {"export": check.export, "metric": check.metric, "measured": check.measured, "low": check.low,
            "high": check.high, "images": check.images, "bound": check.bound, "threshold": check.threshold,
            "passed": check.passed, "too_few_images": check.too_few_images, "within_noise": check.within_noise,
            "text": check.describe()}


def _data_dir_of(manifest: dict[str, Any]) -> str:
    return load_trained_run(manifest["run"]["dir"], "best").train_config["data"]


def _summary_md(checks) -> str:
    failed = [c for c in checks if not c.passed]
    lines = [f"# mocar bench --check: {len(checks) - len(failed)} passed, {len(failed)} failed", ""]
    lines += [f"- FAIL {c.describe()}" for c in failed] + [f"- pass {c.describe()}" for c in checks if c.passed]
    return "\n".join(lines) + "\n"
