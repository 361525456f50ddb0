"""The flat bench row schema, and loading rows measured elsewhere (a phone) into a report.

Every row of ``bench.json`` (``rows``) is one export x thread count. :data:`FIELDS` lists every
field with its type and meaning; ``docs/bench_rows.md`` shows the same list for app developers.
Groups:

* identity — ``folder`` (source: export folder label, or the device of an imported row),
  ``model``, ``export`` (file name), ``format`` (runtime: torch, onnx, tflite, coreml, ...),
  ``precision`` (fp32/fp16/int8), ``flavour``, ``status``, ``simulated``, ``imported``, ``threads``,
  ``input_size``;
* size — ``size_mb``;
* latency — ``p50_ms``, ``p90_ms``, ``mean_ms``, ``min_ms``, ``max_ms``, ``std_ms``, ``timed_runs``,
  ``throughput_ips``, ``load_s``, ``peak_memory_mb`` (a phone tool's own figure), ``peak_rss_mb`` and
  ``baseline_rss_mb`` (desktop: a fresh child process, see :mod:`mocar.bench.memory`);
* machine — ``cpu``, ``cores``, ``python``, ``system``, ``load_1m``, ``device``, ``os``, ``runtime``,
  ``runtime_version``, ``delegate``;
* parity (vs the float reference; left out by an app that cannot compute them) — ``parity_set``,
  ``parity_images`` and ``labelled_images`` (the n behind each figure), ``top1``, ``delta_top1``
  (+ ``_low``/``_high`` 95 % interval, ``_p`` McNemar), ``agreement`` (+ ``_low``/``_high``),
  ``year_mae``, ``delta_mae`` and ``delta_mae_rel`` (+ intervals), ``year_shift``, ``psnr_logits``,
  ``max_abs_logits``, ``embedding_cosine_mean``, ``embedding_cosine_p1``, ``retrieval_overlap5``;
* computed by ``mocar bench`` (recomputed if present) — ``size_ratio``, ``speedup_vs_fp32``,
  ``delta_top1_vs_first``, ``speedup_vs_first``, ``size_ratio_vs_first``.

An *import file* (``mocar bench --import phone.json``) is either a JSON list of rows or an object
``{"device": ..., "os": ..., "rows": [...]}`` whose other top-level fields are defaults for every
row. Required per row: ``export``, ``format``, ``precision``, ``threads``, ``device`` and a central
latency, ``p50_ms`` or ``mean_ms`` (LiteRT's ``benchmark_model`` prints a mean, not a median: its rows
carry ``mean_ms`` and no ``p50_ms``; speed-ups compare medians with medians and means with means).
Unknown fields are errors (a typo such as ``p50`` would otherwise vanish silently).
Imported rows get ``imported: true``, ``folder`` = their device, ``status: imported``, and are
never checked against the parity policy (they usually carry no parity figures).
"""
from __future__ import annotations

import difflib
import json
import math
from pathlib import Path
from typing import Any

from mocar.errors import InputError

REFERENCE_FILE = "model.pt"
PRECISIONS = ("fp32", "fp16", "int8")
_TEXT, _INT, _NUMBER, _BOOL = "text", "integer", "number", "boolean"
_EXPECTED = {_TEXT: "a string", _INT: "an integer", _NUMBER: "a finite number", _BOOL: "true or false"}

# field -> (type, group, meaning)
FIELDS: dict[str, tuple[str, str, str]] = {
    "folder": (_TEXT, "identity", "export folder label; for imported rows the device (set by mocar)"),
    "model": (_TEXT, "identity", "network, e.g. 'mocar_tiny · bit_tiny' (preset · backbone)"),
    "export": (_TEXT, "identity", "model file name, e.g. model_int8_dynamic_range.tflite"),
    "format": (_TEXT, "identity", "runtime: torch, onnx, tflite, coreml (or another name for other runtimes)"),
    "precision": (_TEXT, "identity", "fp32, fp16 or int8"),
    "flavour": (_TEXT, "identity", "quantisation flavour, e.g. u8s8_conv, dynamic_range, float"),
    "status": (_TEXT, "identity", "manifest status (ok, parity_failed), 'reference' or 'imported'"),
    "simulated": (_BOOL, "identity", "true when the outputs come from a stand-in (CoreML on Linux)"),
    "imported": (_BOOL, "identity", "true for rows measured elsewhere (set by mocar)"),
    "threads": (_INT, "identity", "CPU threads of the runtime (>= 1)"),
    "input_size": (_INT, "identity", "side of the square model input in pixels (from the file's metadata)"),
    "size_mb": (_NUMBER, "size", "file size in MB (10^6 bytes)"),
    "p50_ms": (_NUMBER, "latency", "median batch-1 latency in ms (> 0; empty where the tool reports no median)"),
    "p90_ms": (_NUMBER, "latency", "90th-percentile latency in ms"),
    "mean_ms": (_NUMBER, "latency", "mean batch-1 latency in ms (the central value benchmark_model reports)"),
    "min_ms": (_NUMBER, "latency", "fastest run in ms"),
    "max_ms": (_NUMBER, "latency", "slowest timed run in ms"),
    "std_ms": (_NUMBER, "latency", "standard deviation of the timed runs in ms"),
    "timed_runs": (_INT, "latency", "number of timed runs behind the latency figures"),
    "throughput_ips": (_NUMBER, "latency", "images per second at batch 1 (1000 / p50_ms, or / mean_ms without p50)"),
    "load_s": (_NUMBER, "latency", "seconds to load the model file (benchmark_model: its 'Init' time)"),
    "peak_memory_mb": (_NUMBER, "latency", "peak memory in MB as a phone tool reports it (benchmark_model "
                       "'Peak memory footprint ... overall', approximate)"),
    "peak_rss_mb": (_NUMBER, "latency", "peak RSS in MB of a fresh process that loaded the file and ran the "
                    "timed loop (desktop; includes the runtime's imports and the decoded images)"),
    "baseline_rss_mb": (_NUMBER, "latency", "peak RSS in MB of that process after the same imports and images, "
                        "before loading the file (subtract it for the model's own share)"),
    "cpu": (_TEXT, "machine", "CPU model"),
    "cores": (_INT, "machine", "CPU cores"),
    "python": (_TEXT, "machine", "Python version (desktop rows)"),
    "system": (_TEXT, "machine", "operating system family"),
    "load_1m": (_NUMBER, "machine", "1-minute load average when the row was timed (a busy machine skews latency)"),
    "device": (_TEXT, "machine", "device model, e.g. 'Pixel 7' (required in imported rows)"),
    "os": (_TEXT, "machine", "OS and version, e.g. 'Android 14'"),
    "runtime": (_TEXT, "machine", "runtime library, e.g. 'LiteRT'"),
    "runtime_version": (_TEXT, "machine", "runtime library version"),
    "delegate": (_TEXT, "machine", "accelerator/delegate, e.g. xnnpack, gpu, nnapi"),
    "parity_set": (_TEXT, "parity", "which images the parity figures come from: report (every prepared image "
                   "outside calibration and int8 selection), selection, sample (--parity-images) or folder"),
    "parity_images": (_INT, "parity", "number of images behind agreement, PSNR, cosine, overlap and year shift"),
    "labelled_images": (_INT, "parity", "number of labelled images behind top-1, delta_top1, year MAE and ΔMAE"),
    "top1": (_NUMBER, "parity", "top-1 accuracy on the labelled images, fraction in [0, 1]"),
    "delta_top1": (_NUMBER, "parity", "top-1 minus the reference's, percentage points"),
    "delta_top1_low": (_NUMBER, "parity", "95 % interval of delta_top1, lower end (paired bootstrap), points"),
    "delta_top1_high": (_NUMBER, "parity", "95 % interval of delta_top1, upper end, points"),
    "delta_top1_p": (_NUMBER, "parity", "exact McNemar p-value of 'as accurate as the reference'"),
    "agreement": (_NUMBER, "parity", "same top-1 as the reference, percent of the parity images"),
    "agreement_low": (_NUMBER, "parity", "95 % Wilson interval of agreement, lower end, percent"),
    "agreement_high": (_NUMBER, "parity", "95 % Wilson interval of agreement, upper end, percent"),
    "year_mae": (_NUMBER, "parity", "year mean absolute error, years"),
    "delta_mae": (_NUMBER, "parity", "year MAE minus the reference's, years"),
    "delta_mae_low": (_NUMBER, "parity", "95 % interval of delta_mae, lower end (paired bootstrap), years"),
    "delta_mae_high": (_NUMBER, "parity", "95 % interval of delta_mae, upper end, years"),
    "delta_mae_rel": (_NUMBER, "parity", "year MAE change relative to the reference's, percent"),
    "delta_mae_rel_low": (_NUMBER, "parity", "95 % interval of delta_mae_rel, lower end, percent"),
    "delta_mae_rel_high": (_NUMBER, "parity", "95 % interval of delta_mae_rel, upper end, percent"),
    "year_shift": (_NUMBER, "parity", "mean absolute difference of the predicted year from the reference's, years "
                   "(parity images, no labels)"),
    "psnr_logits": (_NUMBER, "parity", "PSNR of the logits vs the reference, dB"),
    "max_abs_logits": (_NUMBER, "parity", "largest absolute logit difference"),
    "embedding_cosine_mean": (_NUMBER, "parity", "mean cosine of the embedding vs the reference"),
    "embedding_cosine_p1": (_NUMBER, "parity", "1st percentile of that cosine"),
    "retrieval_overlap5": (_NUMBER, "parity", "overlap@5 of nearest neighbours with the reference's, [0, 1]"),
    "size_ratio": (_NUMBER, "computed", "size / the fp32 file of the same source and runtime"),
    "speedup_vs_fp32": (_NUMBER, "computed", "p50 of that fp32 file / this p50"),
    "delta_top1_vs_first": (_NUMBER, "computed", "top-1 minus the first folder's reference's, points"),
    "speedup_vs_first": (_NUMBER, "computed", "p50 of the first folder's fp32 file (same runtime) / this p50"),
    "size_ratio_vs_first": (_NUMBER, "computed", "size / that first-folder fp32 file's size"),
}
REQUIRED_IMPORT_FIELDS = ("export", "format", "precision", "threads", "device")
CENTRAL_LATENCY_FIELDS = ("p50_ms", "mean_ms")  # an imported row needs at least one of them


def _type_ok(kind: str, value: Any) -> bool:
    if kind == _TEXT:
        return isinstance(value, str)
    if kind == _BOOL:
        return isinstance(value, bool)
    if kind == _INT:
        return isinstance(value, int) and not isinstance(value, bool)
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _field_error(where: str, name: str) -> str:
    close = difflib.get_close_matches(name, FIELDS, n=1)
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    return f"{where}: unknown field {name!r}{hint}; valid fields: {', '.join(FIELDS)}"


def validate_row(row: Any, where: str) -> dict[str, Any]:
    """Checks one imported row and returns it labelled as imported.

    Args:
        row: The decoded JSON value.
        where: Its location for messages, e.g. ``phone.json row 3``.

    Raises:
        InputError: Naming ``where``, the field and what is valid.
    """
    if not isinstance(row, dict):
        raise InputError(f"{where}: expected an object of bench fields, got {type(row).__name__}")
    where = f"{where} ({row['export']!r})" if isinstance(row.get("export"), str) else where
    for name, value in row.items():
        if name not in FIELDS:
            raise InputError(_field_error(where, name))
        kind = FIELDS[name][0]
        if value is not None and not _type_ok(kind, value):
            raise InputError(f"{where}: field {name!r} must be {_EXPECTED[kind]}, got {value!r}")
    missing = [name for name in REQUIRED_IMPORT_FIELDS if row.get(name) is None]
    if missing:
        raise InputError(f"{where}: missing required field(s) {', '.join(missing)} "
                         f"(required: {', '.join(REQUIRED_IMPORT_FIELDS)})")
    if row["precision"] not in PRECISIONS:
        raise InputError(f"{where}: field 'precision' is {row['precision']!r}; valid: {', '.join(PRECISIONS)}")
    if all(row.get(name) is None for name in CENTRAL_LATENCY_FIELDS):
        raise InputError(f"{where}: missing a central latency: give p50_ms (median) or mean_ms (mean)")
    bad = {name: row[name] for name in CENTRAL_LATENCY_FIELDS if row.get(name) is not None and row[name] <= 0}
    if row["threads"] < 1 or bad:
        raise InputError(f"{where}: need threads >= 1, p50_ms > 0 and mean_ms > 0 where given, "
                         f"got threads={row['threads']}"
                         + "".join(f", {name}={value}" for name, value in bad.items()))
    labelled = {**row, "folder": row["device"], "imported": True, "status": "imported"}
    labelled.setdefault("simulated", False)
    labelled.setdefault("model", None)
    return labelled


def comparable_latencies(base: dict[str, Any], row: dict[str, Any]) -> tuple[float, float] | None:
    """The same central statistic of two rows: medians if both have one, else means, else None.

    A median is never compared with a mean (a phone's ``benchmark_model`` rows carry only means).
    """
    for name in CENTRAL_LATENCY_FIELDS:
        if base.get(name) and row.get(name):
            return float(base[name]), float(row[name])
    return None


def model_label(metadata: dict[str, Any]) -> str:
    """``preset · backbone`` (or whichever of them the metadata has) of an exported model."""
    model = metadata.get("model") or {}
    parts = [str(model[key]) for key in ("preset", "backbone") if model.get(key)]
    return " · ".join(dict.fromkeys(parts)) or str(model.get("name") or model.get("architecture") or "unknown model")


def parse_imported_rows(data: Any, where: str) -> list[dict[str, Any]]:
    """Validates the decoded JSON of an import file (see the module docstring for its two shapes).

    Args:
        data: The decoded JSON value.
        where: Its source for messages (a file, or e.g. ``POST /bench_rows``); rows are named ``WHERE row N``.

    Raises:
        InputError: Naming ``where`` if the value has the wrong shape or any row is invalid.
    """
    defaults: dict[str, Any] = {}
    if isinstance(data, dict):
        if not isinstance(data.get("rows"), list):
            raise InputError(f"{where}: an object must hold a 'rows' list (or give a JSON list of rows)")
        defaults = {k: v for k, v in data.items() if k != "rows"}
        data = data["rows"]
    if not isinstance(data, list) or not data:
        raise InputError(f"{where}: expected a non-empty list of rows or {{'rows': [...]}}")
    for name in defaults:
        if name not in FIELDS:
            raise InputError(_field_error(f"{where} (top level)", name))
    return [validate_row({**defaults, **row} if isinstance(row, dict) else row, f"{where} row {i + 1}")
            for i, row in enumerate(data)]


def decode_json_bytes(raw: bytes, where: str) -> Any:
    """UTF-8 JSON text -> its value (an import file's bytes, or a POSTed body).

    Raises:
        InputError: Naming ``where`` and the position if the bytes are not UTF-8 or not JSON.
    """
    try:
        return json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError as err:
        raise InputError(f"{where}: not UTF-8 text ({err.reason} at byte {err.start})") from err
    except json.JSONDecodeError as err:
        raise InputError(f"{where}: not valid JSON ({err.msg} at line {err.lineno}, column {err.colno})") from err


def load_imported_rows(path: str | Path) -> list[dict[str, Any]]:
    """Reads an import file and validates it with :func:`parse_imported_rows`.

    Raises:
        InputError: If the file is missing, not JSON, has the wrong shape or any invalid row.
    """
    path = Path(path)
    try:
        raw = path.read_bytes()
    except FileNotFoundError as err:
        raise InputError(f"{path}: import file not found") from err
    return parse_imported_rows(decode_json_bytes(raw, str(path)), str(path))
