"""int8 auto-selection: export every int8 candidate, benchmark each, keep the fastest that passes.

Which int8 recipe is fastest depends on the network and the runtime, and is often surprising
(TOOLCHAIN_NOTES: on GroupNorm networks ONNX S8S8 and TFLite full-integer run *slower* than fp32,
ONNX U8S8 Conv/Gemm-only and TFLite dynamic-range faster), so it is measured, not guessed:

1. :func:`select_int8` exports the fp32 file and every candidate flavour of each runtime with
   :func:`mocar.export.run.export_run` (ONNX: :data:`mocar.export.to_onnx.INT8_FLAVOURS`, i.e. U8S8
   Conv/Gemm-only with MinMax or percentile calibration, U8S8 all ops, S8S8 all ops; TFLite:
   :data:`mocar.export.to_tflite.INT8_FLAVOURS`, i.e. dynamic_range, integer_quant, full_integer_quant,
   integer_quant_float_norm);
2. :func:`select_int8_exports` benchmarks that folder (or any export folder holding several int8
   files, ``mocar bench --select``) on the *validation* split with :func:`mocar.bench.suite.run`,
   so the test split stays unseen by the choice;
3. :func:`select_from_rows` (pure) checks every int8 row against the parity policy and keeps, per
   runtime, the lowest p50 latency among the passing ones, or none, saying why;
4. optionally (``prune=True``, what ``mocar export --int8 auto`` should do) :func:`prune_unselected`
   deletes the losing int8 files and records the choice in ``manifest.json``.

Caveats: the ONNX exporter's recipes always use per-channel weights and MinMax or percentile
calibration; per-tensor weights and entropy calibration are not offered by
:func:`mocar.export.to_onnx.quantize_onnx_int8` and so are not candidates here. Latency is
measured on this machine; a phone may rank candidates differently (import its rows with
``mocar bench --import`` and call :func:`select_from_rows` on them).
"""
from __future__ import annotations

import json
import shutil
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from mocar.bench.policy import Policy, evaluate_policy, load_policy
from mocar.errors import InputError

SELECTION_FILE = "int8_selection.json"


def default_candidates() -> dict[str, tuple[str, ...]]:
    """Every int8 flavour each exporter offers, by format."""
    from mocar.export.to_onnx import INT8_FLAVOURS as ONNX_FLAVOURS
    from mocar.export.to_tflite import INT8_FLAVOURS as TFLITE_FLAVOURS

    return {"onnx": tuple(ONNX_FLAVOURS), "tflite": tuple(TFLITE_FLAVOURS)}


@dataclass
class Candidate:
    """One int8 file as judged by the selection."""

    export: str
    flavour: str | None
    p50_ms: float
    speedup_vs_fp32: float | None
    passed: bool
    failures: list[str] = field(default_factory=list)


@dataclass
class Selection:
    """The verdict for one runtime: the chosen file (or None) and every candidate."""

    format: str
    chosen: str | None
    reason: str
    threads: int
    candidates: list[Candidate]


def _verdict(fmt: str, candidates: list[Candidate], threads: int, min_speedup: float | None) -> Selection:
    passing = [c for c in candidates if c.passed]
    if not passing:
        why = "; ".join(f"{c.export}: {', '.join(c.failures)}" for c in candidates)
        return Selection(fmt, None, f"none of {len(candidates)} int8 candidate(s) meets the policy ({why})",
                         threads, candidates)
    best = min(passing, key=lambda c: c.p50_ms)
    speed = f", {best.speedup_vs_fp32:.2f}x fp32" if best.speedup_vs_fp32 else ""
    reason = (f"fastest of {len(passing)} passing candidate(s) out of {len(candidates)}: {best.export} "
              f"(p50 {best.p50_ms:.3f} ms at {threads} thread(s){speed})")
    if min_speedup is None and best.speedup_vs_fp32 is not None and best.speedup_vs_fp32 < 1.0:
        reason += "; note: slower than fp32 (int8 only saves size here)"
    return Selection(fmt, best.export, reason, threads, candidates)


def select_from_rows(rows: Sequence[dict[str, Any]], policy: Policy, threads: int | None = None,
                     min_speedup: float | None = None) -> dict[str, Selection]:
    """Per runtime, the fastest int8 row that meets ``policy`` (pure; rows as written by ``mocar bench``).

    Args:
        rows: Bench rows (one per file x thread count); int8 rows are the candidates.
        policy: Parity policy (:func:`mocar.bench.policy.load_policy`); its ``int8`` section applies.
        threads: Thread count whose latency decides (default: the largest in the rows).
        min_speedup: Also require ``speedup_vs_fp32 >= min_speedup`` (e.g. 1.0: never slower than fp32).

    Returns:
        ``{format: Selection}`` for every format with at least one int8 row.

    Raises:
        InputError: If no int8 row was measured at ``threads``.
    """
    threads = threads or max(r["threads"] for r in rows)
    int8 = [r for r in rows if r["precision"] == "int8" and r["threads"] == threads and r.get("p50_ms")]
    if not int8:
        raise InputError(f"no int8 file was benchmarked at {threads} thread(s): nothing to select from")
    selections = {}
    for fmt in dict.fromkeys(r["format"] for r in int8):
        candidates = []
        for row in (r for r in int8 if r["format"] == fmt):
            checks = evaluate_policy([{**row, "precision": "int8"}], policy)
            failures = [c.describe().split(": ", 1)[1] for c in checks if not c.passed]
            if min_speedup is not None and (row.get("speedup_vs_fp32") or 0.0) < min_speedup:
                failures.append(f"speedup_vs_fp32 = {row.get('speedup_vs_fp32')} (required >= {min_speedup})")
            candidates.append(Candidate(row["export"], row.get("flavour"), row["p50_ms"], row.get("speedup_vs_fp32"),
                                        not failures, failures))
        selections[fmt] = _verdict(fmt, candidates, threads, min_speedup)
    return selections


def format_selection(selections: Mapping[str, Selection]) -> str:
    """Markdown: one table of every candidate per runtime, the chosen one marked, and the reason."""
    lines = []
    for fmt, selection in selections.items():
        lines += [f"## {fmt}: {selection.chosen or 'no int8 file'}", "", selection.reason, "",
                  "| candidate | flavour | p50 ms | × fp32 | verdict |", "|---|---|---|---|---|"]
        for c in sorted(selection.candidates, key=lambda c: c.p50_ms):
            verdict = "**chosen**" if c.export == selection.chosen else ("pass" if c.passed else
                                                                        "fail: " + "; ".join(c.failures))
            speed = f"{c.speedup_vs_fp32:.2f}" if c.speedup_vs_fp32 else "–"
            lines.append(f"| {c.export} | {c.flavour or '–'} | {c.p50_ms:.3f} | {speed} | {verdict} |")
        lines.append("")
    return "\n".join(lines)


def write_selection(selections: Mapping[str, Selection], out: Path, context: dict[str, Any]) -> Path:
    """Writes ``int8_selection.json`` (and ``.md``) into ``out``; returns the JSON path."""
    out.mkdir(parents=True, exist_ok=True)
    payload = {**context, "selections": {fmt: asdict(s) for fmt, s in selections.items()}}
    path = out / SELECTION_FILE
    path.write_text(json.dumps(payload, indent=2, default=str, ensure_ascii=False) + "\n", encoding="utf-8")
    (out / "int8_selection.md").write_text(f"# int8 selection ({context.get('split')} split)\n\n"
                                           + format_selection(selections), encoding="utf-8")
    return path


def prune_unselected(exports_dir: str | Path, selections: Mapping[str, Selection]) -> list[str]:
    """Deletes the int8 candidates that were not chosen and records the choice in ``manifest.json``.

    For a runtime where no candidate passed, all its int8 files go (shipping none is the verdict).
    Files of runtimes without a selection are untouched.

    Returns:
        The deleted file names.
    """
    exports_dir = Path(exports_dir)
    manifest_path = exports_dir / "manifest.json"
    manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    losers = {c.export for s in selections.values() for c in s.candidates if c.export != s.chosen}
    for name in sorted(losers):
        target = exports_dir / name
        if target.is_dir():  # a package format stores a folder
            shutil.rmtree(target)
        else:
            target.unlink(missing_ok=True)
    manifest["files"] = [e for e in manifest["files"] if e.get("file") not in losers]
    manifest["int8_selection"] = {fmt: {"chosen": s.chosen, "reason": s.reason, "removed": sorted(
        c.export for c in s.candidates if c.export != s.chosen)} for fmt, s in selections.items()}
    manifest_path.write_text(json.dumps(manifest, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return sorted(losers)


def select_int8_exports(exports_dir: str | Path, data_dir: str | Path | None = None, policy: str | Path | None = None,
                        split: str = "val", threads: tuple[int, ...] = (2,), runs: int = 30, warmup: int = 3,
                        out: str | Path | None = None, min_speedup: float | None = None,
                        progress: bool = True) -> dict[str, Selection]:
    """Benchmarks an export folder holding several int8 files and selects per runtime (``mocar bench --select``).

    Writes the full bench report and ``int8_selection.json``/``.md`` into ``out`` (default
    ``EXPORTS/int8_selection``).
    """
    from mocar.bench.suite import run

    out = Path(out or Path(exports_dir) / "int8_selection")
    result = run(exports_dir, data_dir, split, threads, runs, warmup, policy=policy, out=out, progress=progress)
    selections = select_from_rows(result["rows"], load_policy(policy), max(threads), min_speedup)
    write_selection(selections, out, {"exports": str(exports_dir), "split": split, "threads": max(threads),
                                      "runs": runs, "policy": str(policy or "default"), "min_speedup": min_speedup})
    return selections


def select_int8(run_dir: str | Path, out_dir: str | Path, data_dir: str | Path | None = None,
                candidates: Mapping[str, Sequence[str]] | None = None, policy: str | Path | None = None,
                split: str = "val", threads: tuple[int, ...] = (2,), runs: int = 30, calib_images: int = 300,
                img_size: int | None = None, min_speedup: float | None = None, prune: bool = False,
                progress: bool = True) -> dict[str, Selection]:
    """Exports every int8 candidate of a trained run, benchmarks them, keeps the fastest passing per runtime.

    Args:
        run_dir: Trained run folder.
        out_dir: Export folder to write (fp32 + all candidates, ``manifest.json``, ``int8_selection/``).
        data_dir: Prepared data folder, if it moved since training.
        candidates: ``{format: [flavour, ...]}`` (default :func:`default_candidates`: all of them).
        policy: Parity policy YAML (default: the packaged one).
        split: Split the choice is made on (validation by default; keep the test split unseen).
        threads: Thread counts to time; the largest decides.
        runs: Timed batch-1 runs per file.
        calib_images: Calibration images for the calibrated flavours.
        img_size: Input side (default: the run's).
        min_speedup: Optionally reject candidates slower than ``min_speedup`` x fp32.
        prune: Delete the int8 files not chosen (:func:`prune_unselected`), leaving fp32 + the winners.
        progress: Print progress.

    Returns:
        ``{format: Selection}``; also written to ``out_dir/int8_selection/int8_selection.json``.

    Raises:
        InputError: On an unknown format or flavour.
    """
    from mocar.export.run import export_run

    offered = default_candidates()
    candidates = {fmt: tuple(flavours) for fmt, flavours in (candidates or offered).items()}
    for fmt, flavours in candidates.items():
        unknown = [f for f in flavours if f not in offered.get(fmt, ())] if fmt in offered else [fmt]
        if unknown or not flavours:
            raise InputError(f"int8 candidates {fmt}: {unknown or 'none given'} not offered; valid: "
                             + "; ".join(f"{k}: {', '.join(v)}" for k, v in offered.items()))
    options = {"onnx_int8_flavours": list(candidates.get("onnx", ())),
               "tflite_int8_flavours": list(candidates.get("tflite", ()))}
    export_run(run_dir, out_dir, formats=list(candidates), precisions=["fp32", "int8"], img_size=img_size,
               calib_images=calib_images, progress=progress, data=None if data_dir is None else str(data_dir),
               options=options)
    selections = select_int8_exports(out_dir, data_dir, policy, split, threads, runs,
                                     out=Path(out_dir) / "int8_selection", min_speedup=min_speedup, progress=progress)
    if prune:
        prune_unselected(out_dir, selections)
    return selections
