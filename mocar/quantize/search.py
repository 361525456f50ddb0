"""Accuracy-aware int8: which layers to keep float so that int8 agrees with float often enough, fastest.

A fully int8 file may disagree with the float model on a few per cent of images. Keeping the most
harmful layers float fixes most of that, and the question is which ones and how many. This module
is runtime-independent: a back end (:class:`Quantizer`, e.g. :class:`mocar.quantize.onnx_search.OnnxQuantizer`)
cuts its graph into :class:`LayerGroup` s and builds files; this module ranks and searches.

* :func:`analyze` ranks the groups by the **logit error when only that group is quantised**. That
  ranking matched a true greedy search on the demo models, whereas the per-activation SQNR of a
  fully quantised model did not (issue 15): an activation's SQNR says how noisy it is, not how much
  the noise matters downstream.
* :func:`search_fallback` keeps the first K groups of that ranking float: K=0 (full int8), then K
  grows 1, 2, 4, ... until the agreement target is met and is bisected down to the smallest K that
  meets it (agreement is nearly, not strictly, monotonic in K, so this is a heuristic), plus K+1
  once, since a float/int8 boundary can make one more float group *faster*. Every candidate is
  built, evaluated and timed: speed cannot be predicted from the float set (keeping one stem conv
  float made a file slower than fp32). It always stops: ``budget_s`` and ``max_candidates``.
* Latency is the median of batch-1 runs, timed in alternating chunks with the fp32 file, so the
  speed-up of each candidate is measured under the same machine load (other jobs share the cores).

Agreement is judged on the point estimate by default; every point carries its Wilson interval and
``n``. On the demo, choices made on 650 images held 98.5-99.3 % on 734 others
(benchmarks/results/int8_search_demo.md): differences between neighbouring K are a few images, so a
point-estimate choice sits at the edge. ``criterion="lower"`` asks the Wilson lower bound to meet
the target instead (safe, but it keeps more layers float).
"""
from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from mocar.errors import InputError
from mocar.quantize.errors import QuantizeError
from mocar.runtime.runners import open_runner
from mocar.runtime.statistics import Estimate, agreement, proportion

DEFAULT_BUDGET_S = 900.0
DEFAULT_MAX_CANDIDATES = 12
DEFAULT_RANK_IMAGES = 256
ANALYSIS_SHARE = 0.5  # of budget_s: the ranking may not starve the search of candidates
DEFAULT_LATENCY_RUNS = 200
CRITERIA = ("point", "lower")
LATENCY_CHUNK = 10
WARMUP_RUNS = 10

# (file) -> logits; the default runs the file with mocar's runner for its format.
Predict = Callable[[Path, np.ndarray], np.ndarray]
# (candidate file) -> (candidate p50 ms, fp32 p50 ms measured alongside it).
Timer = Callable[[Path], tuple[float, float]]


@dataclass(frozen=True)
class LayerGroup:
    """Layers that are kept float (or quantised) together.

    Attributes:
        name: Human name, e.g. ``stem`` or ``block2.1``.
        nodes: Runtime node/tensor names of the layers.
    """

    name: str
    nodes: tuple[str, ...]


@dataclass(frozen=True)
class LayerSensitivity:
    """How much quantising one group alone costs.

    Attributes:
        group: The group.
        agreement_alone: Top-1 agreement (fraction) with float when only this group is quantised
            (None: not measured, the analysis's time ran out).
        logit_error_alone: Mean squared logit error vs float in the same setting (None: not measured).
        sqnr_db: Per-activation SQNR in the fully quantised model, where the runtime's debugger gives it.
    """

    group: LayerGroup
    agreement_alone: float | None
    logit_error_alone: float | None
    sqnr_db: float | None = None

    @property
    def measured(self) -> bool:
        """False when the analysis ran out of time before this group (it is then ranked last)."""
        return self.logit_error_alone is not None


@dataclass
class SearchPoint:
    """One tried candidate: the groups kept float, the file, its agreement and latency.

    ``meets_target`` is about agreement only (as the search's criterion judges it); ``speedup`` (fp32 p50 / p50, both timed alternately)
    is what ``min_speedup`` is judged on.
    """

    float_groups: tuple[str, ...]
    path: Path
    agreement: Estimate
    p50_ms: float
    meets_target: bool
    fp32_p50_ms: float | None = None
    logit_error: float | None = None

    @property
    def speedup(self) -> float | None:
        """fp32 p50 over this file's p50, both measured in the same alternating run."""
        return self.fp32_p50_ms / self.p50_ms if self.fp32_p50_ms and self.p50_ms > 0 else None

    def to_dict(self) -> dict[str, Any]:
        return {"float_groups": list(self.float_groups), "file": self.path.name,
                "agreement": self.agreement.to_dict(), "p50_ms": self.p50_ms, "fp32_p50_ms": self.fp32_p50_ms,
                "speedup": self.speedup, "logit_error": self.logit_error, "meets_target": self.meets_target}


@dataclass
class SearchResult:
    """Everything a search tried and what it chose (``chosen`` is None when nothing qualified; ``reason`` says why).

    ``fp32_p50_ms`` is the median of the fp32 timings taken alongside the candidates (0 if none was timed).
    """

    runtime: str
    flavour: str
    target_agreement: float
    images: int
    threads: int
    fp32_p50_ms: float
    sensitivities: list[LayerSensitivity]
    points: list[SearchPoint]
    chosen: SearchPoint | None
    reason: str
    seconds: float
    min_speedup: float | None = None
    criterion: str = "point"

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: paths as file names, estimates as dicts."""
        return {
            "runtime": self.runtime, "flavour": self.flavour, "target_agreement": self.target_agreement,
            "min_speedup": self.min_speedup, "criterion": self.criterion, "images": self.images, "threads": self.threads,
            "fp32_p50_ms": self.fp32_p50_ms, "seconds": round(self.seconds, 2), "reason": self.reason,
            "chosen": self.chosen.to_dict() if self.chosen else None,
            "points": [point.to_dict() for point in self.points],
            "sensitivities": [{"group": s.group.name, "nodes": list(s.group.nodes), "agreement_alone": s.agreement_alone,
                               "logit_error_alone": s.logit_error_alone, "sqnr_db": s.sqnr_db}
                              for s in self.sensitivities],
        }


class Quantizer(Protocol):
    """A back end that can build int8 files with chosen groups kept float."""

    runtime: str
    flavour: str

    def groups(self) -> list[LayerGroup]:
        """The groups a fallback may keep float, in graph order."""
        ...

    def build(self, float_groups: Sequence[LayerGroup], dst: Path) -> Path:
        """An int8 file with these groups kept float."""
        ...

    def build_only(self, group: LayerGroup, dst: Path) -> Path:
        """A file with only this group quantised, everything else float."""
        ...


def runner_logits(threads: int = 1) -> Predict:
    """The default :data:`Predict`: the file's logits from mocar's runner (NCHW float32 in)."""
    def predict(path: Path, images: np.ndarray) -> np.ndarray:
        return open_runner(path, threads).run(images)["logits"]
    return predict


class InterleavedTimer:
    """Times a candidate and the fp32 file in alternating chunks of batch-1 runs (the default :data:`Timer`).

    Alternating puts both files under the same load from other processes, so their ratio is far
    steadier than two separate medians on a shared 2-core machine.
    """

    def __init__(self, fp32_path: Path, image: np.ndarray, threads: int = 1, runs: int = DEFAULT_LATENCY_RUNS,
                 chunk: int = LATENCY_CHUNK) -> None:
        self.image = np.ascontiguousarray(image[None] if image.ndim == 3 else image[:1], np.float32)
        self.threads, self.runs, self.chunk = threads, max(runs, chunk), chunk
        self.fp32 = open_runner(fp32_path, threads)

    def __call__(self, path: Path) -> tuple[float, float]:
        candidate = open_runner(path, self.threads)
        times: dict[str, list[float]] = {"candidate": [], "fp32": []}
        runners = {"candidate": candidate, "fp32": self.fp32}
        for runner in runners.values():
            for _ in range(WARMUP_RUNS):
                runner.run(self.image)
        for _ in range(self.runs // self.chunk):
            for name, runner in runners.items():
                for _ in range(self.chunk):
                    start = time.perf_counter()
                    runner.run(self.image)
                    times[name].append(time.perf_counter() - start)
        return float(np.median(times["candidate"])) * 1000.0, float(np.median(times["fp32"])) * 1000.0


def _check_inputs(images: np.ndarray, reference_logits: np.ndarray) -> None:
    if images.ndim != 4 or len(images) == 0:
        raise InputError(f"images must be a non-empty float32 NCHW batch; got shape {images.shape}")
    if reference_logits.ndim != 2 or len(reference_logits) != len(images):
        raise InputError(f"reference_logits must be (images, classes) = ({len(images)}, C); got {reference_logits.shape}")


def _compare(logits: np.ndarray, reference_logits: np.ndarray) -> tuple[Estimate, float]:
    """Top-1 agreement with the float reference and the mean squared logit error."""
    logits = np.asarray(logits, np.float64)
    if logits.shape != reference_logits.shape:
        raise QuantizeError(f"candidate logits have shape {logits.shape}, the float reference {reference_logits.shape}")
    estimate = agreement(reference_logits.argmax(axis=1), logits.argmax(axis=1))
    return estimate, float(np.mean((logits - reference_logits) ** 2))


def _suffix(quantizer: Quantizer) -> str:
    return getattr(quantizer, "suffix", f".{quantizer.runtime}")


def ranking_subset(images: np.ndarray, count: int | None) -> np.ndarray:
    """Indices of ``count`` images spread evenly over the batch (all of them for None or count >= len)."""
    if count is None or count >= len(images):
        return np.arange(len(images))
    if count < 1:
        raise InputError(f"rank_images must be >= 1; got {count}")
    return np.unique(np.linspace(0, len(images) - 1, count).round().astype(int))


def analyze(quantizer: Quantizer, images: np.ndarray, reference_logits: np.ndarray, work_dir: Path,
            threads: int = 1, predict: Predict | None = None, keep_files: bool = False,
            rank_images: int | None = DEFAULT_RANK_IMAGES, sqnr_images: int | None = None,
            deadline: float | None = None) -> list[LayerSensitivity]:
    """Ranks the groups by the harm of quantising each one alone, most harmful (largest logit error) first.

    One file per group (``build_only``), evaluated on ``rank_images`` of the images spread over the
    batch (None: all): the ranking needs the mean logit error, not an agreement to a tenth of a
    point, and evaluation is most of the cost (49 groups x 692 images of R50x1 at 224 took ~20 min).
    Ties keep graph order, so the ranking is deterministic. Once ``time.perf_counter()`` passes
    ``deadline``, the groups not yet measured follow the measured ones in graph order, marked
    unmeasured (agreement and error None). Where the quantizer offers
    ``activation_sqnr(images, count)`` (the runtime's debugger), that figure is recorded too, for
    comparison only, on ``sqnr_images`` images (None: the back end's default, 0: skipped).
    """
    images, reference_logits = np.asarray(images, np.float32), np.asarray(reference_logits, np.float64)
    _check_inputs(images, reference_logits)
    subset = ranking_subset(images, rank_images)
    images, reference_logits = images[subset], reference_logits[subset]
    predict = predict or runner_logits(threads)
    folder = Path(work_dir) / "sensitivity"
    folder.mkdir(parents=True, exist_ok=True)
    sqnr = _activation_sqnr(quantizer, images, sqnr_images)
    measured, unmeasured = [], []
    for index, group in enumerate(quantizer.groups()):
        if deadline is not None and time.perf_counter() >= deadline:
            unmeasured.append(LayerSensitivity(group, None, None, sqnr.get(group.name)))
            continue
        path = quantizer.build_only(group, folder / f"only_{index:02d}{_suffix(quantizer)}")
        estimate, error = _compare(predict(path, images), reference_logits)
        measured.append(LayerSensitivity(group, estimate.value, error, sqnr.get(group.name)))
        if not keep_files:
            path.unlink(missing_ok=True)
    return sorted(measured, key=lambda s: -s.logit_error_alone) + unmeasured


def _activation_sqnr(quantizer: Quantizer, images: np.ndarray, count: int | None) -> dict[str, float]:
    if not hasattr(quantizer, "activation_sqnr") or count == 0:
        return {}
    return quantizer.activation_sqnr(images) if count is None else quantizer.activation_sqnr(images, count)


@dataclass
class _Trials:
    """The state of one search: tried points by K, the clock and the limits."""

    quantizer: Quantizer
    order: list[LayerGroup]
    images: np.ndarray
    reference_logits: np.ndarray
    target: float
    work_dir: Path
    predict: Predict
    timer: Timer
    budget_s: float
    max_candidates: int
    started: float
    criterion: str = "point"
    confidence: float = 0.95
    tried: dict[int, SearchPoint] = field(default_factory=dict)
    stopped: str = ""

    def can_try(self) -> bool:
        """False (and says why) once the budget or the candidate count is spent."""
        if len(self.tried) >= self.max_candidates:
            self.stopped = f"stopped after max_candidates={self.max_candidates}"
        elif time.perf_counter() - self.started >= self.budget_s:
            self.stopped = f"stopped: budget of {self.budget_s:.0f} s spent after {len(self.tried)} candidate(s)"
        return not self.stopped

    def passes(self, k: int) -> bool | None:
        """Builds, evaluates and times the first ``k`` groups float; None when the search must stop."""
        if k in self.tried:
            return self.tried[k].meets_target
        if not self.can_try():
            return None
        groups = self.order[:k]
        path = self.quantizer.build(groups, self.work_dir / f"float_k{k:02d}{_suffix(self.quantizer)}")
        estimate, error = _compare(self.predict(path, self.images), self.reference_logits)
        p50, fp32_p50 = self.timer(path)
        judged = estimate.value
        if self.criterion == "lower":
            judged = proportion(round(estimate.value * estimate.n), estimate.n, self.confidence).low
        self.tried[k] = SearchPoint(tuple(g.name for g in groups), path, estimate, p50, judged >= self.target,
                                    fp32_p50, error)
        return self.tried[k].meets_target


def _smallest_passing_k(trials: _Trials) -> int | None:
    """K=0, then 1, 2, 4, ... until one passes, then bisection down to the smallest passing K."""
    n = len(trials.order)
    verdict = trials.passes(0)
    if verdict is None or verdict:
        return 0 if verdict else None
    failing, k = 0, 1
    while k <= n:
        verdict = trials.passes(k)
        if verdict is None:
            return None
        if verdict:
            break
        failing, k = k, (min(2 * k, n) if k < n else n + 1)
    if k > n:
        return None
    passing = k
    while passing - failing > 1:
        middle = (failing + passing) // 2
        verdict = trials.passes(middle)
        if verdict is None:
            break
        failing, passing = (failing, middle) if verdict else (middle, passing)
    return passing


def _qualifies(point: SearchPoint, min_speedup: float | None) -> bool:
    return point.meets_target and (min_speedup is None or (point.speedup or 0.0) >= min_speedup)


def _choose(points: list[SearchPoint], min_speedup: float | None, speed_margin: float) -> SearchPoint | None:
    """The fastest qualifying point; within ``speed_margin`` of it, the one with fewest float groups.

    Speed is the alternately timed speed-up where known (steadier than a lone p50 on a shared
    machine), else the p50. The margin keeps timing noise from flipping the choice between two
    files that are equally fast; ties keep the order of trial.
    """
    passing = [p for p in points if _qualifies(p, min_speedup)]
    if not passing:
        return None
    def cost(p: SearchPoint) -> float:
        return 1.0 / p.speedup if p.speedup else p.p50_ms
    fastest = min(cost(p) for p in passing)
    close = [p for p in passing if cost(p) <= fastest * (1.0 + speed_margin)]
    return min(close, key=lambda p: (len(p.float_groups), cost(p)))


def _describe(point: SearchPoint) -> str:
    speed = f" = {point.speedup:.2f}x fp32" if point.speedup else ""
    groups = ", ".join(point.float_groups) or "none"
    return (f"{len(point.float_groups)} float group(s) [{groups}]: agreement {point.agreement.scaled(100).describe(unit='%')}, "
            f"p50 {point.p50_ms:.3f} ms{speed}")


def _reason(points: list[SearchPoint], chosen: SearchPoint | None, target: float, min_speedup: float | None,
            stopped: str, criterion: str = "point") -> str:
    """Why this point, or why none: the best agreement reached and what stopped the search."""
    tail = f" ({stopped})" if stopped else ""
    if chosen is not None:
        passing = sum(_qualifies(p, min_speedup) for p in points)
        return f"fastest of {passing} qualifying of {len(points)} tried: {_describe(chosen)}{tail}"
    if not points:
        return f"no candidate tried{tail}"
    best = max(points, key=lambda p: (p.agreement.value, -len(p.float_groups)))
    if not any(p.meets_target for p in points):
        return f"no candidate reached agreement {target:.2%} ({criterion}); best {_describe(best)}{tail}"
    fastest = max((p for p in points if p.meets_target), key=lambda p: p.speedup or 0.0)
    return f"candidates reach {target:.2%} but none is >= {min_speedup}x fp32; fastest {_describe(fastest)}{tail}"


def search_fallback(quantizer: Quantizer, images: np.ndarray, reference_logits: np.ndarray, target_agreement: float,
                    work_dir: Path, threads: int = 1, budget_s: float = DEFAULT_BUDGET_S,
                    min_speedup: float | None = None, fp32_path: Path | None = None,
                    sensitivities: list[LayerSensitivity] | None = None, latency_runs: int = DEFAULT_LATENCY_RUNS,
                    max_candidates: int = DEFAULT_MAX_CANDIDATES, predict: Predict | None = None,
                    timer: Timer | None = None, speed_margin: float = 0.03, criterion: str = "point",
                    confidence: float = 0.95, rank_images: int | None = DEFAULT_RANK_IMAGES,
                    sqnr_images: int | None = None) -> SearchResult:
    """Finds the fastest int8 file whose top-1 agreement with float on ``images`` is >= the target.

    Args:
        quantizer: The back end (groups, builds).
        images: Float32 NCHW images in the model's input space, *not* the calibration images.
        reference_logits: The float model's logits on ``images``.
        target_agreement: Required top-1 agreement (fraction, point estimate).
        work_dir: Folder for the candidate files (all are kept, for the record and a Pareto plot).
        threads: Threads for evaluation and timing.
        budget_s: Wall-clock budget from the start of the call, checked before each candidate; when
            the ranking is computed here, it gets at most ``ANALYSIS_SHARE`` of it (unmeasured groups go last).
        min_speedup: If given, only candidates at least this much faster than fp32 qualify.
        fp32_path: The float file timed alongside each candidate; defaults to ``quantizer.fp32_path``.
        sensitivities: A ranking from :func:`analyze` (computed here if None).
        latency_runs: Timed batch-1 runs per file and candidate.
        max_candidates: Most candidates to build.
        predict: Logits of a file (default: mocar's runner); tests pass a fake.
        timer: Latency of a file (default: :class:`InterleavedTimer`); tests pass a fake.
        speed_margin: Relative latency difference treated as a tie (fewer float groups wins).
        criterion: ``point`` (the agreement itself meets the target) or ``lower`` (its Wilson lower
            bound at ``confidence`` does).
        confidence: Two-sided confidence of that lower bound (0.8: the bound is exceeded by the true
            agreement with 90 % probability).
        rank_images, sqnr_images: Passed to :func:`analyze` when the ranking is computed here.

    Raises:
        InputError: On a target outside (0, 1], an unknown criterion, bad shapes, or no fp32 file to time against.
    """
    started = time.perf_counter()
    if not 0.0 < target_agreement <= 1.0:
        raise InputError(f"target_agreement is a fraction in (0, 1]; got {target_agreement}")
    if criterion not in CRITERIA:
        raise InputError(f"criterion must be one of {', '.join(CRITERIA)}; got {criterion!r}")
    images, reference_logits = np.asarray(images, np.float32), np.asarray(reference_logits, np.float64)
    _check_inputs(images, reference_logits)
    work_dir = Path(work_dir)
    work_dir.mkdir(parents=True, exist_ok=True)
    if timer is None:
        fp32_path = fp32_path or getattr(quantizer, "fp32_path", None)
        if fp32_path is None:
            raise InputError("search_fallback needs fp32_path (the float file each candidate is timed against)")
        timer = InterleavedTimer(Path(fp32_path), images[0], threads, latency_runs)
    predict = predict or runner_logits(threads)
    if sensitivities is None:
        sensitivities = analyze(quantizer, images, reference_logits, work_dir, threads, predict,
                                rank_images=rank_images, sqnr_images=sqnr_images,
                                deadline=started + ANALYSIS_SHARE * budget_s)
    trials = _Trials(quantizer, [s.group for s in sensitivities], images, reference_logits, target_agreement,
                     work_dir, predict, timer, budget_s, max_candidates, started, criterion, confidence)
    smallest = _smallest_passing_k(trials)
    if smallest is not None and smallest < len(trials.order):
        trials.passes(smallest + 1)  # one more float group: a boundary may make it faster
    points = [trials.tried[k] for k in sorted(trials.tried)]
    chosen = _choose(points, min_speedup, speed_margin)
    fp32_times = [p.fp32_p50_ms for p in points if p.fp32_p50_ms]
    return SearchResult(quantizer.runtime, quantizer.flavour, target_agreement, len(images), threads,
                        float(np.median(fp32_times)) if fp32_times else 0.0, sensitivities, points, chosen,
                        _reason(points, chosen, target_agreement, min_speedup, trials.stopped, criterion),
                        time.perf_counter() - started, min_speedup, criterion)
