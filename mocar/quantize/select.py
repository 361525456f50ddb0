"""The int8 choice, given measurements: per runtime, the fastest int8 file that meets the parity policy.

Pure functions over bench rows (``mocar bench`` writes them; a phone's imported rows work the same):
:func:`select_from_rows` judges every int8 row with the policy (:mod:`mocar.runtime.policy`) and
keeps the lowest p50 latency among the passing ones, or none, saying why; :func:`prune_unselected`
removes the losing files from an export folder and records the choice in its manifest. The
measuring (export every candidate, benchmark them on the validation split) is
:mod:`mocar.bench.int8_select`.
"""
from __future__ import annotations

import json
import math
import shutil
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from mocar.errors import InputError
from mocar.runtime.policy import Policy, evaluate_policy
from mocar.utils.io import atomic_write_text

SELECTION_FILE = "int8_selection.json"


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


def _timed(row: dict[str, Any]) -> bool:
    """A usable latency: a NaN (truthy) from a failed timing must never win the choice."""
    p50 = row.get("p50_ms")
    return isinstance(p50, (int, float)) and math.isfinite(p50) and p50 > 0


def select_from_rows(rows: Sequence[dict[str, Any]], policy: Policy, threads: int | None = None,
                     min_speedup: float | None = None, min_images: int | None = None) -> dict[str, Selection]:
    """Per runtime, the fastest int8 row that meets ``policy`` (pure; rows as written by ``mocar bench``).

    Args:
        rows: Bench rows (one per file x thread count); int8 rows are the candidates.
        policy: Parity policy (:func:`mocar.runtime.policy.load_policy`); its ``int8`` section applies.
        threads: Thread count whose latency decides (default: the largest in the rows).
        min_speedup: Also require ``speedup_vs_fp32 >= min_speedup`` (e.g. 1.0: never slower than fp32).
        min_images: Overrides the policy's ``min_images`` (the selection passes 0: it ranks candidates on
            the selection images there are; the gate on enough images is ``mocar bench --check``).

    Returns:
        ``{format: Selection}`` for every format with at least one int8 row.

    Raises:
        InputError: If no int8 row was measured at ``threads``.
    """
    threads = threads or max(r["threads"] for r in rows)
    int8 = [r for r in rows if r["precision"] == "int8" and r["threads"] == threads and _timed(r)]
    if not int8:
        raise InputError(f"no int8 file was benchmarked at {threads} thread(s): nothing to select from")
    selections = {}
    for fmt in dict.fromkeys(r["format"] for r in int8):
        candidates = []
        for row in (r for r in int8 if r["format"] == fmt):
            checks = evaluate_policy([{**row, "precision": "int8"}], policy, min_images)
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


def _read_manifest(path: Path) -> dict[str, Any]:
    """An export folder's manifest, checked to hold a ``files`` list of entries.

    Raises:
        InputError: Naming the manifest if it is missing, not JSON or has no such list.
    """
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as err:
        raise InputError(f"{path}: not found; prune only a `mocar export` folder") from err
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise InputError(f"{path}: not valid JSON ({err})") from err
    files = manifest.get("files") if isinstance(manifest, dict) else None
    if not isinstance(files, list) or not all(isinstance(entry, dict) for entry in files):
        raise InputError(f"{path}: expected an object with a 'files' list of entries (as `mocar export` writes)")
    return manifest


def prune_unselected(exports_dir: str | Path, selections: Mapping[str, Selection]) -> list[str]:
    """Deletes the int8 candidates that were not chosen and records the choice in ``manifest.json``.

    For a runtime where no candidate passed, all its int8 files go (shipping none is the verdict).
    Files of runtimes without a selection are untouched. The manifest is read and checked first:
    if it is missing or unreadable, no file is deleted.

    Returns:
        The deleted file names.

    Raises:
        InputError: If ``manifest.json`` is missing or not a manifest (nothing is deleted then).
    """
    exports_dir = Path(exports_dir)
    manifest_path = exports_dir / "manifest.json"
    manifest = _read_manifest(manifest_path)
    losers = {c.export for s in selections.values() for c in s.candidates if c.export != s.chosen}
    manifest["files"] = [e for e in manifest["files"] if e.get("file") not in losers]
    manifest["int8_selection"] = {fmt: {"chosen": s.chosen, "reason": s.reason, "removed": sorted(
        c.export for c in s.candidates if c.export != s.chosen)} for fmt, s in selections.items()}
    for name in sorted(losers):
        target = exports_dir / name
        if target.is_dir():  # a package format stores a folder
            shutil.rmtree(target)
        else:
            target.unlink(missing_ok=True)
    atomic_write_text(manifest_path, json.dumps(manifest, indent=2, ensure_ascii=False) + "\n")
    return sorted(losers)
