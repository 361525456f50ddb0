"""One format's export or validation, in a process of its own.

    python -m mocar.export.worker export   FORMAT REQUEST.json RESULT.json
    python -m mocar.export.worker validate FORMAT REQUEST.json RESULT.json

Why a process per format: TensorFlow, coremltools and torch cannot always share one process
(importing TensorFlow before torch's triton segfaults, docs/toolchain_findings.md), and a converter that
crashes, hangs or leaks must not take the other formats down. :mod:`mocar.export.run` starts these
workers; they talk through JSON files only.

* ``export``: REQUEST ``{"exporter": "module:function", "job": ExportJob.to_dict()}``; RESULT
  ``{"files": [ExportedFile.to_dict(), ...]}``.
* ``validate``: REQUEST ``{"files": [{"path", "precision"}], "val_images", "reference", "mean",
  "std", "threads", "limits", "expected_metadata"}``; RESULT ``{"files": {path: {...}}}``, rewritten
  after every file so that a crash keeps the results of the files before it.

On an exception the RESULT holds ``{"error": "<Type>: <message>"}`` (the traceback goes to stderr)
and the exit status is 1.
"""
from __future__ import annotations

import json
import os
import sys
import time
import traceback
from pathlib import Path
from typing import Any

import numpy as np

from mocar.export.job import ExportJob
from mocar.export.reference import load_reference
from mocar.export.validate import ValidationContext, ValidationLimits, check_metadata, validate_outputs
from mocar.runtime.preprocessing import normalize_images
from mocar.runtime.registry import import_object
from mocar.runtime.runners import open_runner

MODES = ("export", "validate")


def _write_json(path: Path, data: dict[str, Any]) -> None:
    temporary = path.with_suffix(path.suffix + ".tmp")
    temporary.write_text(json.dumps(data, indent=2, default=str), encoding="utf-8")
    os.replace(temporary, path)


def error_line(error: BaseException) -> str:
    """``Type: first line of the message`` (what a summary shows instead of a traceback)."""
    message = str(error).strip().splitlines()
    return f"{type(error).__name__}: {message[0] if message else ''}".rstrip(": ")


def run_export(request: dict[str, Any]) -> dict[str, Any]:
    """Imports the format's exporter and runs it on the job."""
    exporter = import_object(request["exporter"])
    files = exporter(ExportJob.from_dict(request["job"]))
    return {"files": [exported.to_dict() for exported in files]}


def validate_file(path: Path, precision: str, request: dict[str, Any]) -> dict[str, Any]:
    """Runs one file on the validation images and compares it with the float reference."""
    reference, extra = load_reference(Path(request["reference"]))
    context = ValidationContext(extra["targets"], extra["true_years"], extra["year_mean"], extra["year_scale"])
    started = time.perf_counter()
    runner = open_runner(path, threads=int(request.get("threads", 2)))
    images = np.load(request["val_images"], mmap_mode="r")
    batch = int(request.get("batch", 32))
    parts = [runner.run(normalize_images(images[start : start + batch], request["mean"], request["std"]))
             for start in range(0, len(images), batch)]
    candidate = {name: np.concatenate([part[name] for part in parts]) for name in parts[0]} if parts else {}
    figures, failures = validate_outputs(reference, candidate, precision, context,
                                         ValidationLimits.from_dict(request["limits"]))
    failures += check_metadata(runner.metadata, request.get("expected_metadata", {}))
    return {"figures": figures, "failures": failures, "simulated": bool(runner.simulated), "images": len(images),
            "seconds": round(time.perf_counter() - started, 3), "runner": runner.describe()}


def run_validate(request: dict[str, Any], result_path: Path) -> dict[str, Any]:
    """Validates every file of the request, one after the other, saving results as it goes."""
    result: dict[str, Any] = {"files": {}}
    for entry in request["files"]:
        try:
            result["files"][entry["path"]] = validate_file(Path(entry["path"]), entry["precision"], request)
        except Exception as error:  # one unreadable file must not hide the others' results
            traceback.print_exc()
            result["files"][entry["path"]] = {"error": error_line(error)}
        _write_json(result_path, result)
    return result


def main(argv: list[str] | None = None) -> int:
    """Entry point; returns the exit status."""
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 4 or argv[0] not in MODES:
        print(f"usage: python -m mocar.export.worker {{{','.join(MODES)}}} FORMAT REQUEST.json RESULT.json",
              file=sys.stderr)
        return 2
    mode, _fmt, request_path, result_path = argv[0], argv[1], Path(argv[2]), Path(argv[3])
    try:
        request = json.loads(request_path.read_text(encoding="utf-8"))
        result = run_export(request) if mode == "export" else run_validate(request, result_path)
    except Exception as error:  # reported to the parent as one line; the traceback goes to the log
        traceback.print_exc()
        _write_json(result_path, {"error": error_line(error)})
        return 1
    _write_json(result_path, result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
