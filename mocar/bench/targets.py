"""Benchmark targets judged by the one verdict engine, and the tables that report them.

A benchmark states its targets ("int8 at least 1.5x faster than fp32, at most 30 % of its size,
top-1 agreement at least 99 %...") as :class:`Target` s: a name for the reader, a row field, a
bound and a threshold. :func:`judge_row` turns them into a policy (precision -> field ->
{min|max}) and lets :func:`mocar.runtime.policy.evaluate_policy` decide, so a result file and
``mocar bench --check`` cannot disagree on what "met" means (a missing or non-finite value is not met).
What stays here is what the policy does not do: which rows are judged, the margin of each check,
the per-runtime aggregation and the Markdown.

Two sets of targets:

* :class:`Int8Targets` — int8 files against the fp32 file / float model of the same folder, on the
  bench rows themselves (:func:`judge_int8_rows`, aggregated per folder and runtime by
  :func:`runtime_verdicts`). Speed is judged on real runtimes only: CoreML on Linux is a PyTorch
  simulation, its latency means nothing; phone rows (``imported``) are skipped, their latency is
  not comparable to this machine's.
* :class:`StudentTargets` — distilled BatchNorm students against their teacher: the fastest int8
  file of a runtime (:func:`mocar.bench.speedups.summarise`) vs the student's own fp32 file and vs
  the teacher's (:func:`judge_speed`), and the student's float accuracy vs the teacher's
  (:func:`judge_accuracy`).
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

from mocar.bench.speedups import RUNTIMES, RuntimeSummary, finite
from mocar.errors import InputError
from mocar.runtime.policy import CheckResult, Policy, evaluate_policy

OPS = {"min": ">=", "max": "<="}
SPEEDUP_FIELD = "speedup_vs_fp32"
SPEED_TARGET = "speed-up vs fp32"


@dataclass(frozen=True)
class Target:
    """One target: ``metric`` (a row field) must be ``>= threshold`` (bound ``min``) or ``<=`` it (``max``).

    Attributes:
        name: What the reader sees, e.g. ``speed-up vs fp32``.
        metric: The row field judged.
        bound: ``min`` or ``max``.
        threshold: The bound's value.
        unit: Appended to values in verdict texts (``x``, `` %``, `` pt``).
    """

    name: str
    metric: str
    bound: str
    threshold: float
    unit: str = ""

    @property
    def op(self) -> str:
        """``>=`` or ``<=``."""
        return OPS[self.bound]


def target_policy(targets: Sequence[Target], precision: str) -> Policy:
    """The policy of :mod:`mocar.runtime.policy` that states ``targets`` for rows of ``precision``."""
    metrics: dict[str, dict[str, float]] = {}
    for target in targets:
        metrics.setdefault(target.metric, {})[target.bound] = target.threshold
    return {precision: metrics}


def judge_row(row: Mapping[str, Any], targets: Sequence[Target], precision: str
              ) -> list[tuple[Target, CheckResult]]:
    """Every target on one row, decided by :func:`~mocar.runtime.policy.evaluate_policy`.

    Values that are missing, non-numeric or not finite are passed on as missing (not met).

    Returns:
        (target, check) pairs in the order of ``targets``.
    """
    by_key = {(t.metric, t.bound): t for t in targets}
    judged = {"export": str(row.get("export", "")), "precision": precision, "simulated": bool(row.get("simulated")),
              **{t.metric: finite(row.get(t.metric)) for t in targets}}
    checks = evaluate_policy([judged], target_policy(targets, precision))
    return sorted(((by_key[(c.metric, c.bound)], c) for c in checks), key=lambda pair: targets.index(pair[0]))


def margin(check: CheckResult) -> float | None:
    """Distance to the bound: positive when met with room, negative when short by that much."""
    if check.measured is None:
        return None
    return check.measured - check.threshold if check.bound == "min" else check.threshold - check.measured


# ----------------------------------------------------------------------------- int8 files vs fp32
@dataclass(frozen=True)
class Int8Targets:
    """Targets for int8 files, relative to the same folder's float model / fp32 file.

    Attributes:
        min_speedup: int8 p50 latency vs the fp32 file of the same runtime (× faster).
        max_size_ratio: int8 file size / fp32 file size.
        min_agreement: Top-1 agreement with the float reference, percent.
        min_delta_top1: Top-1 change vs the float reference, percentage points.
        max_delta_mae_rel: Year-MAE rise vs the float reference, percent.
        min_cosine_p1: 1st percentile of the embedding cosine to the float reference.
        threads: The thread count whose rows are judged.
    """

    min_speedup: float
    max_size_ratio: float = 0.30
    min_agreement: float = 99.0
    min_delta_top1: float = -0.5
    max_delta_mae_rel: float = 2.0
    min_cosine_p1: float = 0.99
    threads: int = 2

    def targets(self) -> list[Target]:
        """Every target, speed first."""
        return [Target(SPEED_TARGET, SPEEDUP_FIELD, "min", self.min_speedup, "x"),
                Target("size vs fp32", "size_ratio", "max", self.max_size_ratio),
                Target("top-1 agreement %", "agreement", "min", self.min_agreement),
                Target("Δtop-1 pt", "delta_top1", "min", self.min_delta_top1),
                Target("ΔMAE %", "delta_mae_rel", "max", self.max_delta_mae_rel),
                Target("embedding cosine p1", "embedding_cosine_p1", "min", self.min_cosine_p1)]

    def policy(self) -> Policy:
        """The same targets as a parity policy (e.g. for ``mocar bench --policy``)."""
        return target_policy(self.targets(), "int8")


@dataclass
class TargetCheck:
    """One target on one int8 file.

    Attributes:
        folder, export, runtime, flavour: Which file (``runtime`` = the row's format).
        target: The target's name, e.g. ``speed-up vs fp32``.
        value: The measured value (None when the row lacks it).
        threshold: The target's bound; ``op`` says which side is good.
        met: Whether the value is on the good side (False when missing).
        margin: Distance to the bound, positive when met with room, negative when short by that much.
    """

    folder: str
    export: str
    runtime: str
    flavour: str
    target: str
    op: str
    threshold: float
    value: float | None
    met: bool
    margin: float | None


def judge_int8_rows(rows: Sequence[Mapping[str, Any]], targets: Int8Targets) -> list[TargetCheck]:
    """Judges every int8 row at ``targets.threads`` threads against every target.

    The speed-up target applies to real runtimes only (:data:`mocar.bench.speedups.RUNTIMES`, not simulated);
    imported rows (phones) are skipped.

    Args:
        rows: ``bench.json`` rows of :func:`mocar.bench.suite.run`.
        targets: The thresholds.

    Returns:
        One :class:`TargetCheck` per int8 file and target, in row order.
    """
    checks = []
    for row in rows:
        if row.get("precision") != "int8" or row.get("threads") != targets.threads or row.get("imported"):
            continue
        timed = row.get("format") in RUNTIMES and not row.get("simulated")
        judged = [t for t in targets.targets() if timed or t.metric != SPEEDUP_FIELD]
        for target, check in judge_row(row, judged, "int8"):
            checks.append(TargetCheck(folder=str(row.get("folder", "")), export=str(row.get("export", "")),
                                      runtime=str(row.get("format", "")), flavour=str(row.get("flavour", "")),
                                      target=target.name, op=target.op, threshold=target.threshold,
                                      value=check.measured, met=check.passed, margin=margin(check)))
    return checks


def runtime_verdicts(checks: Sequence[TargetCheck]) -> list[dict[str, Any]]:
    """Per folder and runtime: the best int8 speed-up, the files meeting every target, the misses.

    Args:
        checks: Output of :func:`judge_int8_rows`.

    Returns:
        Rows ``{"folder", "runtime", "files", "best_speedup", "best_file", "all_met", "passing_files",
        "misses"}``; ``misses`` maps each file to its failed targets; ``best_speedup`` is the highest
        measured speed-up of any int8 file of that runtime, met or not.
    """
    verdicts: dict[tuple[str, str], dict[str, Any]] = {}
    for check in checks:
        verdict = verdicts.setdefault((check.folder, check.runtime), {
            "folder": check.folder, "runtime": check.runtime, "files": [], "best_speedup": None,
            "best_file": None, "misses": {}})
        if check.export not in verdict["files"]:
            verdict["files"].append(check.export)
            verdict["misses"][check.export] = []
        if not check.met:
            verdict["misses"][check.export].append(check.target)
        if check.target == SPEED_TARGET and check.value is not None and (
                verdict["best_speedup"] is None or check.value > verdict["best_speedup"]):
            verdict["best_speedup"], verdict["best_file"] = check.value, check.export
    for verdict in verdicts.values():
        verdict["passing_files"] = [f for f in verdict["files"] if not verdict["misses"][f]]
        verdict["all_met"] = bool(verdict["passing_files"])
    return list(verdicts.values())


def summary_lines(checks: Sequence[TargetCheck], targets: Int8Targets) -> list[str]:
    """One plain sentence per folder and runtime: met or not, and the speed-up against its target."""
    return _summary_lines(runtime_verdicts(checks), targets)


def _summary_lines(verdicts: Sequence[Mapping[str, Any]], targets: Int8Targets) -> list[str]:
    lines = []
    for v in verdicts:
        verdict = (f"all targets met by {', '.join(v['passing_files'])}" if v["all_met"]
                   else "no int8 file meets every target")
        if v["best_speedup"] is not None:
            gap = v["best_speedup"] - targets.min_speedup
            verdict += (f"; best speed-up {v['best_speedup']:.2f}x ({v['best_file']}), "
                        f"{'above' if gap >= 0 else 'short of'} the {targets.min_speedup:g}x target by {abs(gap):.2f}x")
        lines.append(f"- **{v['folder']} / {v['runtime']}**: {verdict}.")
    return lines


def _fmt(value: float | None, spec: str = ".3g") -> str:
    return "–" if value is None else format(value, spec)


def format_target_tables(checks: Sequence[TargetCheck], targets: Int8Targets) -> str:
    """Markdown: the targets, the per-runtime verdicts, then every check with its margin."""
    verdicts = runtime_verdicts(checks)
    lines = [f"Targets at {targets.threads} threads: speed-up ≥ {targets.min_speedup:g}x (onnxruntime, TFLite), "
             f"size ≤ {targets.max_size_ratio:.0%} of fp32, agreement ≥ {targets.min_agreement:g} %, "
             f"Δtop-1 ≥ {targets.min_delta_top1:g} pt, ΔMAE ≤ +{targets.max_delta_mae_rel:g} %, "
             f"embedding cosine p1 ≥ {targets.min_cosine_p1:g}. CoreML on Linux is a PyTorch simulation: "
             "its int8 file is judged on size and parity only.", "",
             *_summary_lines(verdicts, targets), "",
             "| folder | runtime | int8 files | best speed-up (file) | files meeting every target | misses per file |",
             "|---|---|---:|---|---|---|"]
    for v in verdicts:
        best = "–" if v["best_speedup"] is None else f"{v['best_speedup']:.2f}x ({v['best_file']})"
        misses = "; ".join(f"{f}: {', '.join(m)}" for f, m in v["misses"].items() if m) or "none"
        lines.append(f"| {v['folder']} | {v['runtime']} | {len(v['files'])} | {best} | "
                     f"{', '.join(v['passing_files']) or 'none'} | {misses} |")
    lines += ["", "Every check (margin: distance to the bound, negative = short by that much):", "",
              "| folder | file | target | value | bound | met | margin |", "|---|---|---|---:|---|---|---:|"]
    for c in checks:
        lines.append(f"| {c.folder} | {c.export} | {c.target} | {_fmt(c.value, '.4g')} | {c.op} {c.threshold:g} | "
                     f"{'met' if c.met else 'NOT met'} | {_fmt(c.margin, '+.3g')} |")
    return "\n".join(lines)


# ----------------------------------------------------------------------------- students vs teacher
@dataclass(frozen=True)
class StudentTargets:
    """Targets for a distilled student against its teacher.

    Attributes:
        own_speedup: Student int8 vs student fp32, same runtime (× faster).
        teacher_speedup: Student int8 vs teacher fp32, same runtime (× faster).
        agreement_pct: int8 top-1 agreement with the student's own float model, percent.
        top1_points: Student top-1 at most this many points below the teacher's (float models).
        year_mae_rel_pct: Student year MAE at most this many percent above the teacher's.
    """

    own_speedup: float = 2.5
    teacher_speedup: float = 5.0
    agreement_pct: float = 99.0
    top1_points: float = 2.0
    year_mae_rel_pct: float = 10.0

    def speed_targets(self) -> list[Target]:
        """Targets on a :class:`~mocar.bench.speedups.RuntimeSummary` (its field names)."""
        return [Target("int8 vs own fp32", "speedup_own", "min", self.own_speedup, "x"),
                Target("int8 vs teacher fp32", "speedup_vs_teacher", "min", self.teacher_speedup, "x"),
                Target("int8 top-1 agreement", "int8_agreement_pct", "min", self.agreement_pct, " %")]

    def accuracy_targets(self) -> list[Target]:
        """Targets on the student's float accuracy relative to the teacher's."""
        return [Target("top-1 gap to teacher (points)", "top1_gap_points", "max", self.top1_points, " pt"),
                Target("year MAE above teacher (%)", "year_mae_above_pct", "max", self.year_mae_rel_pct, " %")]

    def agreement_policy(self) -> Policy:
        """The agreement target on bench rows (field ``agreement``): the int8 files that may compete for
        "fastest" in :func:`~mocar.bench.speedups.summarise`."""
        return {"int8": {"agreement": {"min": self.agreement_pct}}}


@dataclass
class Verdict:
    """One target checked on one subject (a student's runtime at a thread count, or the demo student)."""

    target: str
    subject: str
    value: float | None
    threshold: float
    met: bool | None  # None: not measurable (a file is missing)
    detail: str


def verdict(target: Target, subject: str, check: CheckResult) -> Verdict:
    """A :class:`Verdict` with its sentence: met, or by how much (a ratio for speed-ups) it falls short."""
    value, threshold, unit = check.measured, target.threshold, target.unit
    if value is None:
        return Verdict(target.name, subject, None, threshold, None, "not measured (file missing or failed)")
    stated = f"{value:.2f}{unit} (target {'≥' if target.bound == 'min' else '≤'} {threshold:g}{unit})"
    if check.passed:
        detail = f"{stated}: met"
    elif unit == "x" and value > 0:
        detail = f"{stated}: NOT met, {threshold / value:.2f}x short"
    else:
        detail = f"{stated}: NOT met, {abs(threshold - value):.2f}{unit.strip()} off"
    return Verdict(target.name, subject, value, threshold, check.passed, detail)


def judge_speed(summaries: Sequence[RuntimeSummary], targets: StudentTargets = StudentTargets(),
                threads: Sequence[int] | None = None) -> list[Verdict]:
    """The speed and agreement targets for every student (non-teacher) summary, per thread count.

    Args:
        summaries: :func:`mocar.bench.speedups.summarise` rows.
        targets: The thresholds.
        threads: Thread counts to judge (default: every measured one).
    """
    counts = sorted(set(threads) if threads else {s.threads for s in summaries})
    verdicts = []
    for s in sorted((s for s in summaries if not s.is_teacher and s.threads in counts), key=lambda s: s.threads):
        subject = f"{s.folder} {s.runtime} {s.threads}t ({s.int8_flavour or 'no int8'})"
        verdicts += [verdict(t, subject, c) for t, c in judge_row(asdict(s), targets.speed_targets(), "int8")]
    return verdicts


def judge_accuracy(teacher_eval: Mapping[str, Any], student_eval: Mapping[str, Any],
                   targets: StudentTargets = StudentTargets()) -> list[Verdict]:
    """Student top-1 within ``top1_points`` and year MAE within ``year_mae_rel_pct`` of the teacher's.

    Args:
        teacher_eval, student_eval: ``eval_test.json`` of each run (``top1`` as a fraction, ``year_mae``; a
            missing ``year_mae`` leaves that target not measured).

    Raises:
        InputError: If either lacks ``top1`` (naming which run's file).
    """
    for run, evaluation in (("teacher", teacher_eval), ("student", student_eval)):
        if evaluation.get("top1") is None:
            raise InputError(f"the {run}'s eval_test.json has no 'top1' (it holds {sorted(evaluation) or 'nothing'}); "
                             f"write it with `mocar eval --run RUN --split test` on the {run} run")
    teacher_mae, student_mae = teacher_eval.get("year_mae"), student_eval.get("year_mae")
    row = {"export": "demo student", "top1_gap_points": 100.0 * (teacher_eval["top1"] - student_eval["top1"]),
           "year_mae_above_pct": (100.0 * (student_mae - teacher_mae) / teacher_mae
                                  if teacher_mae and student_mae is not None else None)}
    return [verdict(t, "demo student", c) for t, c in judge_row(row, targets.accuracy_targets(), "fp32")]


def format_verdicts(verdicts: Sequence[Verdict]) -> str:
    """Markdown table of verdicts plus a count line."""
    met = sum(1 for v in verdicts if v.met)
    lines = ["| target | subject | result |", "|---|---|---|"]
    lines += [f"| {v.target} | {v.subject} | {v.detail} |" for v in verdicts]
    return "\n".join(lines) + f"\n\n{met} of {len(verdicts)} checks met."
