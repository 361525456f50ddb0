"""What bench rows say about speed: fp32 against the fastest int8 file per runtime, thread scaling, load.

Pure functions over the flat rows of ``mocar bench`` (:data:`mocar.bench.rows.FIELDS`), shared by
the benchmark scripts that record results from them:

* :func:`summarise` — per folder x runtime x thread count, the fp32 file against the fastest int8
  file (optionally only among the int8 files that pass a policy of :mod:`mocar.runtime.policy`),
  with the speed-up over its own fp32 file and over a baseline folder's (a teacher's) fp32 file;
* :func:`thread_scaling` — files timed at several thread counts, and whether more threads made
  them *slower* (on an idle 2-core machine a second thread never doubles the latency: when many
  files get slower, other processes held a core while they were timed);
* :func:`rows_load` — the 1-minute load averages the rows were timed under.
"""
from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from mocar.runtime.policy import Policy, evaluate_policy

RUNTIMES = ("onnx", "tflite")  # CoreML rows are simulated on Linux: their latency is not a runtime's


def finite(value: Any) -> float | None:
    """A finite float, or None for missing / non-numeric / boolean / NaN / infinite values."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        return None
    return float(value)


@dataclass
class RuntimeSummary:
    """One folder x runtime x thread count: fp32 vs its fastest int8 file, and vs the baseline's fp32."""

    folder: str
    model: str
    runtime: str
    threads: int
    fp32_p50_ms: float | None
    fp32_mb: float | None
    int8_p50_ms: float | None
    int8_flavour: str | None
    int8_mb: float | None
    int8_agreement_pct: float | None
    speedup_own: float | None
    speedup_vs_teacher: float | None
    is_teacher: bool


def _ratio(numerator: float | None, denominator: float | None) -> float | None:
    return numerator / denominator if numerator and denominator else None


def _pick(rows: Sequence[Mapping[str, Any]], folder: str, runtime: str, threads: int, precision: str
          ) -> list[Mapping[str, Any]]:
    return [r for r in rows if r.get("folder") == folder and r.get("format") == runtime
            and r.get("threads") == threads and r.get("precision") == precision and r.get("p50_ms")]


def _passes(row: Mapping[str, Any], policy: Policy | None) -> bool:
    return policy is None or all(check.passed for check in evaluate_policy([dict(row)], policy))


def summarise(rows: Sequence[Mapping[str, Any]], teacher: str, runtimes: Sequence[str] = RUNTIMES,
              policy: Policy | None = None) -> list[RuntimeSummary]:
    """Per folder x runtime x threads: fp32 p50, fastest int8 p50 and flavour, the speed-ups, sizes, agreement.

    Args:
        rows: ``mocar bench`` rows (``bench.json["rows"]``).
        teacher: The baseline folder's label (the "vs teacher" speed-up; listed first).
        runtimes: Runtimes (``format`` values) to summarise, in this order.
        policy: Only int8 files that pass this policy compete for "fastest" (e.g. ``{"int8":
            {"agreement": {"min": 99.0}}}``); ``None`` lets every int8 file compete.
    """
    first = {}
    for i, row in enumerate(rows):
        first.setdefault(row.get("folder"), i)
    keys = sorted({(r["folder"], r["format"], r["threads"]) for r in rows if r.get("format") in runtimes},
                  key=lambda k: (k[0] != teacher, first[k[0]], list(runtimes).index(k[1]), k[2]))
    summaries = []
    for folder, runtime, threads in keys:
        fp32 = next(iter(_pick(rows, folder, runtime, threads, "fp32")), None)
        candidates = [r for r in _pick(rows, folder, runtime, threads, "int8") if _passes(r, policy)]
        int8 = min(candidates, key=lambda r: r["p50_ms"], default=None)
        teacher_fp32 = next(iter(_pick(rows, teacher, runtime, threads, "fp32")), None)

        def get(row: Mapping[str, Any] | None, key: str) -> Any:
            return row.get(key) if row else None

        summaries.append(RuntimeSummary(
            folder, get(fp32, "model") or get(int8, "model") or folder, runtime, threads, get(fp32, "p50_ms"),
            get(fp32, "size_mb"), get(int8, "p50_ms"), get(int8, "flavour"), get(int8, "size_mb"),
            get(int8, "agreement"), _ratio(get(fp32, "p50_ms"), get(int8, "p50_ms")),
            _ratio(get(teacher_fp32, "p50_ms"), get(int8, "p50_ms")), folder == teacher))
    return summaries


def cell(value: Any, digits: int = 2, suffix: str = "") -> str:
    """A table cell: ``-`` for None, floats with ``digits`` decimals and ``suffix``, anything else as text."""
    if value is None:
        return "-"
    return f"{value:.{digits}f}{suffix}" if isinstance(value, float) else str(value)


def format_summary_table(summaries: Sequence[RuntimeSummary]) -> str:
    """Markdown table of :func:`summarise` rows."""
    lines = ["| model | runtime | threads | fp32 p50 ms | best int8 p50 ms | int8 flavour | int8 vs own fp32 "
             "| int8 vs teacher fp32 | fp32 MB | int8 MB | int8 agreement % |", "|---" * 11 + "|"]
    for s in summaries:
        name = f"{s.model} (teacher)" if s.is_teacher else s.model
        lines.append(f"| {name} | {s.runtime} | {s.threads} | {cell(s.fp32_p50_ms)} | {cell(s.int8_p50_ms)} "
                     f"| {cell(s.int8_flavour)} | {cell(s.speedup_own, 2, 'x')} "
                     f"| {cell(s.speedup_vs_teacher, 2, 'x')} "
                     f"| {cell(s.fp32_mb, 1)} | {cell(s.int8_mb, 1)} | {cell(s.int8_agreement_pct, 1)} |")
    return "\n".join(lines)


@dataclass(frozen=True)
class ThreadScaling:
    """One file timed at several thread counts: its median at the fewest and at the most threads."""

    folder: str
    export: str
    few_threads: int
    few_ms: float
    many_threads: int
    many_ms: float

    @property
    def slower(self) -> bool:
        """More threads, higher median: a sign that other processes held a core."""
        return self.many_ms > self.few_ms


def thread_scaling(rows: Sequence[Mapping[str, Any]]) -> list[ThreadScaling]:
    """Every file (folder, export) timed at two or more thread counts, in the order of the rows."""
    by_file: dict[tuple[str, str], dict[int, float]] = {}
    for r in rows:
        if finite(r.get("p50_ms")) and r.get("folder") is not None:
            by_file.setdefault((r["folder"], r["export"]), {})[r["threads"]] = r["p50_ms"]
    return [ThreadScaling(folder, export, min(t), t[min(t)], max(t), t[max(t)])
            for (folder, export), t in by_file.items() if len(t) > 1]


def slower_count(rows: Sequence[Mapping[str, Any]]) -> tuple[int, int]:
    """(files slower at their largest than at their smallest thread count, files timed at several)."""
    scaling = thread_scaling(rows)
    return sum(s.slower for s in scaling), len(scaling)


def thread_contention(rows: Sequence[Mapping[str, Any]]) -> list[str]:
    """One line per file that was slower at its largest thread count than at its smallest."""
    return [f"{s.folder}/{s.export}: {s.few_ms:.1f} ms at {s.few_threads} thread{'s' * (s.few_threads != 1)}, "
            f"{s.many_ms:.1f} ms at {s.many_threads}" for s in thread_scaling(rows) if s.slower]


def rows_load(rows: Sequence[Mapping[str, Any]]) -> str:
    """The 1-minute load averages recorded in the rows, as ``min–max`` per folder."""
    per_folder: dict[str, list[float]] = {}
    for row in rows:
        if finite(row.get("load_1m")) is not None:
            per_folder.setdefault(str(row.get("folder")), []).append(float(row["load_1m"]))
    return "; ".join(f"{folder}: {min(v):.2f}–{max(v):.2f}" for folder, v in per_folder.items()) or "not recorded"
