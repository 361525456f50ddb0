"""Export a trained run to every requested format and precision, validate each file, write a manifest.

:func:`export_run` is the Python API behind ``mocar export``:

1. rebuilds the model from the run's own files (checkpoint + configs; the run is never modified)
   and saves it as a standalone ``model.pt`` (the float reference, and the source every exporter
   loads);
2. prepares calibration images (training split, seeded order, evaluation preprocessing), the
   validation images and the float PyTorch outputs on them (cached in ``OUT/.cache``);
3. runs each format's exporter (named in the format registry, :data:`mocar.runtime.registry.FORMATS`) in its
   own worker process with a timeout: a crash, hang or missing dependency fails that format only;
4. validates every produced file in a worker process per format on the whole validation split
   (:mod:`mocar.export.validate`);
5. writes ``OUT/manifest.json`` (every file with size, sha256, signature, figures, status) and,
   with ``strict=True``, raises :class:`~mocar.export.errors.ExportError` /
   :class:`~mocar.export.errors.ParityError` after everything has run.

This process never imports TensorFlow or coremltools (they can crash a process that imported
torch first, or the reverse).
"""
from __future__ import annotations

import datetime as dt
import json
import os
import platform
import shutil
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import mocar
from mocar.data.dataset import PreparedData
from mocar.data.image_roles import ROLES_FILE, assign_roles
from mocar.export.errors import ExportError, ParityError
from mocar.export.job import ExportedFile, ExportJob
from mocar.export.reference import ReferenceData, build_reference_data
from mocar.export.validate import ValidationLimits
from mocar.model import save_model
from mocar.quantize.request import Int8Request
from mocar.runtime.registry import EXPORT_FORMATS, FORMATS, PRECISIONS
from mocar.runtime.run_metadata import build_metadata
from mocar.train.run_files import load_trained_run
from mocar.utils.hashing import file_sha256
from mocar.utils.io import json_safe

MANIFEST_NAME = "manifest.json"
CACHE_DIR = ".cache"
LOG_DIR = "logs"
MODEL_FILE = "model.pt"
# Seconds per format; onnx2tf on R50x1 at 224 px took ~7 min under load (docs/toolchain_findings.md).
EXPORT_TIMEOUTS = {"onnx": 900, "tflite": 2400, "coreml": 1800}
VALIDATION_TIMEOUT = 1800
STATUSES = ("ok", "failed", "parity_failed")  # of a file; a format is ok, failed (no files) or incomplete


def _check_request(formats: Sequence[str], precisions: Sequence[str]) -> tuple[tuple[str, ...], tuple[str, ...]]:
    formats, precisions = tuple(formats), tuple(precisions)
    exportable = [name for name, fmt in FORMATS.items() if fmt.exporter]
    unknown = [f for f in formats if f not in exportable]
    if unknown or not formats:
        raise ExportError(f"unknown format(s) {unknown or '(none given)'}; valid: {', '.join(exportable)}")
    wrong = [p for p in precisions if p not in PRECISIONS]
    if wrong or not precisions:
        raise ExportError(f"unknown precision(s) {wrong or '(none given)'}; valid: {', '.join(PRECISIONS)}")
    return formats, precisions


def _log(progress: bool, message: str) -> None:
    if progress:
        print(f"[export] {message}", file=sys.stderr, flush=True)


def _worker_env() -> dict[str, str]:
    """The environment of a worker: this one, with mocar importable even when not installed."""
    env = dict(os.environ)
    root = str(Path(mocar.__file__).resolve().parent.parent)
    env["PYTHONPATH"] = os.pathsep.join([root] + ([env["PYTHONPATH"]] if env.get("PYTHONPATH") else []))
    return env


def run_worker(mode: str, fmt: str, request: dict[str, Any], scratch: Path, log_file: Path,
               timeout: float) -> tuple[dict[str, Any] | None, str | None]:
    """Runs ``python -m mocar.export.worker MODE FMT`` and returns ``(result, error line)``.

    The worker's stdout and stderr go to ``log_file``; the error line is the worker's own one-line
    summary, or a description of how it ended (timeout, signal) when it could not write one.
    """
    scratch.mkdir(parents=True, exist_ok=True)
    log_file.parent.mkdir(parents=True, exist_ok=True)
    request_file, result_file = scratch / f"{fmt}_{mode}_request.json", scratch / f"{fmt}_{mode}_result.json"
    request_file.write_text(json.dumps(request, indent=2, default=str), encoding="utf-8")
    result_file.unlink(missing_ok=True)
    command = [sys.executable, "-m", "mocar.export.worker", mode, fmt, str(request_file), str(result_file)]
    with open(log_file, "w", encoding="utf-8") as log:
        try:
            completed = subprocess.run(command, stdout=log, stderr=subprocess.STDOUT, cwd=scratch, env=_worker_env(),
                                       timeout=timeout, check=False)
            ending = None if completed.returncode == 0 else _describe_exit(completed.returncode)
        except subprocess.TimeoutExpired:
            ending = f"TimeoutError: {mode} of {fmt} did not finish within {timeout:g} s"
    result = json.loads(result_file.read_text(encoding="utf-8")) if result_file.is_file() else None
    error = (result or {}).get("error") or ending
    return result, error


def _describe_exit(code: int) -> str:
    if code < 0:
        return f"WorkerCrash: the worker process was killed by signal {-code} (see its log)"
    return f"WorkerError: the worker process exited with status {code} (see its log)"


def _split_counts(data_root: Path) -> dict[str, int] | None:
    manifest = PreparedData.load(data_root).manifest
    return {str(k): int(v) for k, v in manifest["split"].value_counts().sort_index().items()}


def _prepare(run: Any, out_dir: Path, size: int, calib_images: int, data: str | None, progress: bool
             ) -> tuple[Path, ReferenceData, Path]:
    """Saves the standalone model and builds (or reuses) the calibration/reference data."""
    data_root = Path(data or run.train_config.get("data", ""))
    if not (data_root / "manifest.parquet").is_file():
        raise ExportError(f"{data_root}: the run's prepared data folder is missing; export needs its training "
                          "images (calibration) and validation split (parity). Pass data=/--data with its new place.")
    model_file = save_model(run.model, out_dir / MODEL_FILE)
    _log(progress, f"preparing calibration ({calib_images}) and validation images at {size} px")
    started = time.perf_counter()
    reference = build_reference_data(
        model_file, data_root, run.target, size, run.data_config.interpolation, list(run.data_config.mean),
        list(run.data_config.std), calib_images, out_dir / CACHE_DIR, run.model_config.year_mean,
        run.model_config.year_scale)
    _log(progress, f"reference outputs of {reference.num_val} validation images ready "
                   f"({time.perf_counter() - started:.1f} s)")
    return model_file, reference, data_root


def export_run(run_dir: str | Path, out_dir: str | Path, formats: Sequence[str] = EXPORT_FORMATS,
               precisions: Sequence[str] = PRECISIONS, input_size: int | None = None, calib_images: int = 300,
               checkpoint: str = "best", strict: bool = False, progress: bool = True, *, data: str | None = None,
               int8: Int8Request | None = None, options: dict[str, Any] | None = None,
               limits: ValidationLimits | None = None,
               timeouts: dict[str, float] | None = None, threads: int = 2,
               selection_images: int | None = None) -> dict[str, Any]:
    """Exports, validates and describes a trained run's model in every requested format.

    Args:
        run_dir: A training run folder (``best.pt``/``last.pt``, ``classes.json``...).
        out_dir: Where the files, ``manifest.json``, ``logs/`` and ``.cache/`` go.
        formats: Subset of :data:`mocar.runtime.registry.EXPORT_FORMATS` (``onnx``, ``tflite``, ``coreml``).
        precisions: Subset of ``fp32``, ``fp16``, ``int8``.
        input_size: Input side (default: the run's evaluation size).
        calib_images: Number of training images for int8 calibration.
        checkpoint: ``best``, ``last`` or a checkpoint path.
        strict: Raise after writing the manifest if any format or file failed.
        progress: Print one line per stage to stderr.
        data: The prepared data folder, if it moved since training.
        int8: The int8 flavours per runtime (default :class:`~mocar.quantize.request.Int8Request`'s).
        options: Other format options passed to every exporter (``ExportJob.options``).
        limits: Validation tolerances (default :class:`ValidationLimits`).
        timeouts: Seconds per format export (default :data:`EXPORT_TIMEOUTS`).
        threads: Threads of the runtimes during validation.
        selection_images: Train images outside calibration that form the validation parity set of
            ``--int8 auto`` (:mod:`mocar.data.image_roles`; default: half of the rest, at most 1,000).
            Calibration and selection ids go into ``image_roles.json``; ``mocar bench`` leaves them out
            of its parity set.

    Returns:
        The manifest (also written to ``out_dir/manifest.json``).

    Raises:
        ExportError: Invalid request or unusable run/data; with ``strict``, any failed format.
        ParityError: With ``strict``, any file outside its tolerance (and no failed format).
    """
    formats, precisions = _check_request(formats, precisions)
    if "int8" in precisions and calib_images < 1:
        raise ExportError(f"int8 needs calibration images; calib_images={calib_images} (use e.g. 300)")
    out_dir = Path(out_dir).resolve()  # workers run elsewhere: every path they get is absolute
    out_dir.mkdir(parents=True, exist_ok=True)
    run = load_trained_run(run_dir, checkpoint)
    size = int(input_size or run.data_config.input_size)
    model_file, reference, data_root = _prepare(run, out_dir, size, calib_images, data, progress)
    limits = limits or ValidationLimits()
    split_counts = _split_counts(data_root)
    roles = assign_roles(PreparedData.load(data_root), reference.num_calibration, selection_images)
    roles.save(out_dir)
    manifest = _new_manifest(run, model_file, reference, size, formats, precisions, limits)
    manifest["image_roles"] = {"file": ROLES_FILE, **roles.to_dict()}
    for fmt in formats:
        metadata = build_metadata(run, "fp32", "float", fmt, input_size=size, split_counts=split_counts)
        job = ExportJob(model_file=model_file, out_dir=out_dir, input_size=size, precisions=precisions,
                        metadata=metadata, calib_file=reference.calibration,
                        work_dir=out_dir / CACHE_DIR / f"work_{fmt}", int8=int8 or Int8Request(),
                        options=dict(options or {}))
        timeout = (timeouts or EXPORT_TIMEOUTS).get(fmt, max(EXPORT_TIMEOUTS.values()))
        record, entries = _export_format(fmt, job, reference, limits, threads, timeout, out_dir, progress)
        manifest["formats"][fmt] = record
        manifest["files"].extend(entries)
        shutil.rmtree(job.work_dir, ignore_errors=True)
    _finish_manifest(manifest, out_dir)
    _log(progress, "\n" + format_manifest_table(manifest))
    if strict:
        raise_for_failures(manifest)
    return manifest


def _new_manifest(run: Any, model_file: Path, reference: ReferenceData, size: int, formats: tuple[str, ...],
                  precisions: tuple[str, ...], limits: ValidationLimits) -> dict[str, Any]:
    return {
        "schema": "mocar-export-manifest", "schema_version": 1, "mocar_version": mocar.__version__,
        "created": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "run": {"dir": str(run.root), "checkpoint": run.checkpoint.name, "step": run.step, "target": run.target},
        "input_size": size, "formats_requested": list(formats), "precisions_requested": list(precisions),
        "reference": {"file": model_file.name, "format": "torch", "precision": "fp32",
                      "sha256": file_sha256(model_file), "size_bytes": model_file.stat().st_size,
                      "validation_images": reference.num_val, "calibration_images": reference.num_calibration,
                      "cache_key": reference.key},
        "limits": limits.to_dict(),
        "machine": {"platform": platform.platform(), "python": platform.python_version(), "cpus": os.cpu_count()},
        "formats": {}, "files": [],
    }


def _export_format(fmt: str, job: ExportJob, reference: ReferenceData, limits: ValidationLimits, threads: int,
                   timeout: float, out_dir: Path, progress: bool) -> tuple[dict[str, Any], list[dict]]:
    """Exports one format in a worker, then validates its files in another; returns (record, entries)."""
    scratch = out_dir / CACHE_DIR / "jobs"
    _log(progress, f"{fmt}: exporting {', '.join(job.precisions)}")
    started = time.perf_counter()
    exporter = FORMATS[fmt].exporter
    result, error = run_worker("export", fmt, {"exporter": exporter, "job": job.to_dict()}, scratch,
                               out_dir / LOG_DIR / f"{fmt}_export.log", timeout)
    seconds = round(time.perf_counter() - started, 1)
    record = {"exporter": exporter, "seconds": seconds, "log": f"{LOG_DIR}/{fmt}_export.log"}
    if error or not result or not result.get("files"):
        reason = error or "the exporter wrote no files"
        _log(progress, f"{fmt}: FAILED after {seconds:.0f} s: {reason}")
        return {**record, "status": "failed", "reason": reason}, []
    files = [ExportedFile.from_dict(item) for item in result["files"]]
    _log(progress, f"{fmt}: {len(files)} file(s) in {seconds:.0f} s; validating")
    validation = _validate_format(fmt, files, reference, job.metadata, limits, threads, out_dir, scratch)
    entries = [_file_entry(exported, validation.get(str(exported.path)), out_dir) for exported in files]
    entries += _missing_precisions(fmt, job.precisions, files)
    # "incomplete": the exporter ran but some of its files failed or missed their tolerance.
    status = "ok" if all(e["status"] == "ok" for e in entries) else "incomplete"
    return {**record, "status": status, "reason": None}, entries


def _validate_format(fmt: str, files: list[ExportedFile], reference: ReferenceData, expected: dict[str, Any],
                     limits: ValidationLimits, threads: int, out_dir: Path, scratch: Path) -> dict[str, dict]:
    request = {"files": [{"path": str(f.path), "precision": f.precision} for f in files],
               "val_images": str(reference.val_images), "reference": str(reference.reference),
               "mean": expected["input"]["mean"], "std": expected["input"]["std"], "threads": threads,
               "limits": limits.to_dict(), "expected_metadata": expected}
    result, error = run_worker("validate", fmt, request, scratch, out_dir / LOG_DIR / f"{fmt}_validate.log",
                               VALIDATION_TIMEOUT)
    by_file = dict((result or {}).get("files", {}))
    for exported in files:  # files the worker never reached (it crashed or timed out before them)
        by_file.setdefault(str(exported.path), {"error": error or "not validated"})
    return by_file


def _file_entry(exported: ExportedFile, validation: dict[str, Any], out_dir: Path) -> dict[str, Any]:
    path = Path(exported.path)
    entry: dict[str, Any] = {
        "file": os.path.relpath(path, out_dir), "format": exported.format, "precision": exported.precision,
        "flavour": exported.flavour, "size_bytes": _size(path) if path.exists() else None,
        "sha256": file_sha256(path) if path.exists() else None,
        "signature": {"input_name": exported.input_name, "input_shape": exported.input_shape,
                      "layout": exported.layout, "output_names": exported.output_names},
        "export_seconds": exported.seconds, "notes": exported.notes, "simulated": None, "validation": None,
    }
    if not path.exists():
        return {**entry, "status": "failed", "reason": f"{path} was reported but does not exist"}
    if "error" in validation:
        return {**entry, "status": "failed", "reason": f"validation could not run: {validation['error']}"}
    entry.update(simulated=validation["simulated"], validation=validation["figures"],
                 validation_images=validation["images"], validation_seconds=validation["seconds"])
    if validation["failures"]:
        return {**entry, "status": "parity_failed", "reason": "; ".join(validation["failures"])}
    return {**entry, "status": "ok", "reason": None}


def _missing_precisions(fmt: str, precisions: Sequence[str], files: list[ExportedFile]) -> list[dict[str, Any]]:
    produced = {f.precision for f in files}
    return [{"file": None, "format": fmt, "precision": p, "flavour": None, "status": "failed",
             "reason": f"{p} was requested but the {fmt} exporter produced no {p} file"}
            for p in precisions if p not in produced]


def _size(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file()) if path.is_dir() else path.stat().st_size


def _finish_manifest(manifest: dict[str, Any], out_dir: Path) -> None:
    counts = {status: sum(1 for e in manifest["files"] if e["status"] == status) for status in STATUSES}
    failed_formats = [fmt for fmt, record in manifest["formats"].items() if record["status"] == "failed"]
    manifest["summary"] = {"ok_files": counts["ok"], "failed": counts["failed"],
                           "parity_failed": counts["parity_failed"], "failed_formats": failed_formats,
                           "ok": not failed_formats and counts["failed"] == 0 and counts["parity_failed"] == 0}
    text = json.dumps(json_safe(manifest), indent=2, ensure_ascii=False)
    (out_dir / MANIFEST_NAME).write_text(text + "\n", encoding="utf-8")


def manifest_failures(manifest: dict[str, Any]) -> tuple[list[str], list[str]]:
    """``(export failures, parity failures)`` of a manifest, one line each."""
    exports = [f"{fmt}: {record['reason']}" for fmt, record in manifest["formats"].items() if record["status"] == "failed"]
    exports += [f"{e['file'] or e['format'] + ' ' + e['precision']}: {e['reason']}"
                for e in manifest["files"] if e["status"] == "failed"]
    parities = [f"{e['file']}: {e['reason']}" for e in manifest["files"] if e["status"] == "parity_failed"]
    return exports, parities


def failure_summary(manifest: dict[str, Any]) -> str | None:
    """``"N failed, M out of tolerance"`` when any format or file failed (what ``--strict`` refuses), else None."""
    exports, parities = manifest_failures(manifest)
    return f"{len(exports)} failed, {len(parities)} out of tolerance" if exports or parities else None


def raise_for_failures(manifest: dict[str, Any]) -> None:
    """Raises :class:`ExportError` (a format/file failed) or :class:`ParityError` (only parity misses)."""
    exports, parities = manifest_failures(manifest)
    if exports:
        raise ExportError(f"{len(exports)} export failure(s) (and {len(parities)} parity failure(s)):\n  "
                          + "\n  ".join(exports + parities), exports + parities)
    if parities:
        raise ParityError(f"{len(parities)} file(s) outside their tolerance:\n  " + "\n  ".join(parities), parities)


def _figures_text(entry: dict[str, Any]) -> str:
    figures = entry.get("validation") or {}
    if not figures:
        return ""
    if entry["precision"] == "int8":
        interval = figures.get("top1_agreement_interval")
        ci = f" [{interval[0]:.1%}, {interval[1]:.1%}] n={figures['images']}" if interval else ""
        parts = [f"agree {figures['top1_agreement']:.1%}{ci}", f"dacc {figures['accuracy_delta']:+.1%}"]
        if "year_mae_delta" in figures:
            parts.append(f"dyear {figures['year_mae_delta']:+.1f}y")
        if "embedding_cosine" in figures:
            parts.append(f"cos01 {figures['embedding_cosine']['p01']:.4f}")
        return " ".join(parts)
    worst = max(figures["outputs"].items(), key=lambda item: item[1]["max_rel"])
    return f"max rel {worst[1]['max_rel']:.1e} ({worst[0]}), agree {figures['top1_agreement']:.1%}"


def format_manifest_table(manifest: dict[str, Any]) -> str:
    """One screen: a row per file (and per failed format) with size, status and key figures."""
    header = f"{'file':<38} {'fmt':<7} {'prec':<5} {'MB':>7} {'status':<13} figures / reason"
    lines = [header, "-" * len(header)]
    for fmt, record in manifest["formats"].items():
        if record["status"] == "failed":
            lines.append(f"{'(no files)':<38} {fmt:<7} {'-':<5} {'-':>7} {'failed':<13} {record['reason']}")
    for entry in manifest["files"]:
        size = f"{entry['size_bytes'] / 1e6:7.2f}" if entry.get("size_bytes") else f"{'-':>7}"
        detail = _figures_text(entry) if entry["status"] == "ok" else (entry.get("reason") or "")
        simulated = " [simulated]" if entry.get("simulated") else ""
        lines.append(f"{(entry['file'] or '-'):<38} {entry['format']:<7} {entry['precision']:<5} {size} "
                     f"{entry['status']:<13} {detail[:110]}{simulated}")
    summary = manifest.get("summary", {})
    reference = manifest["reference"]
    lines.append(f"reference {reference['file']}: {reference['validation_images']} validation and "
                 f"{reference['calibration_images']} calibration images; files ok {summary.get('ok_files', 0)}, "
                 f"failed {summary.get('failed', 0)}, parity_failed {summary.get('parity_failed', 0)}"
                 f"{'' if summary.get('ok') else '  << FAILURES'}")
    return "\n".join(lines)
