"""Intervals for parity figures: how sure a figure measured on n images is (scipy, no hand-written statistics).

A parity figure without its n and interval is not a verdict: on 186 images one flipped prediction
moves top-1 agreement by 0.54 points and the 95 % interval spans ±2–3 points
(docs/toolchain_findings.md). Every figure here comes with ``n`` and a 95 % interval:

* **agreement** (a proportion): the Wilson score interval (``scipy.stats.binomtest(...).proportion_ci``),
  which stays inside [0, 1] and behaves at 100 % agreement, where the normal approximation says ±0;
* **paired differences** (Δtop-1: candidate minus reference correctness per image; ΔMAE: candidate
  minus reference absolute year error per image): a paired percentile bootstrap of the mean
  difference (``scipy.stats.bootstrap``, seeded, so reports are reproducible), plus for Δtop-1 the
  exact McNemar test on the discordant pairs (``scipy.stats.binomtest`` on b of b + c, p = 0.5).

:func:`straddles` says whether an interval contains a policy bound: such a check is "within noise" —
the point estimate passes or fails, but the data cannot tell.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
from scipy import stats

from mocar.errors import InputError

CONFIDENCE = 0.95
BOOTSTRAP_RESAMPLES = 2000
BOOTSTRAP_SEED = 0


@dataclass(frozen=True)
class Estimate:
    """A figure with its 95 % interval and the number of images it was measured on."""

    value: float
    low: float
    high: float
    n: int

    def scaled(self, factor: float) -> Estimate:
        """The same estimate in other units (e.g. a fraction as percent)."""
        return Estimate(self.value * factor, self.low * factor, self.high * factor, self.n)

    def to_dict(self) -> dict[str, float | int]:
        return asdict(self)

    def describe(self, digits: int = 2, unit: str = "") -> str:
        """``97.67% [96.91, 98.25] (n=1976)``."""
        return f"{self.value:.{digits}f}{unit} [{self.low:.{digits}f}, {self.high:.{digits}f}] (n={self.n})"


def proportion(successes: int, n: int, confidence: float = CONFIDENCE) -> Estimate:
    """A proportion with its Wilson score interval.

    Raises:
        InputError: If ``n`` < 1 or ``successes`` is outside [0, n].
    """
    if n < 1 or not 0 <= successes <= n:
        raise InputError(f"a proportion needs 0 <= successes <= n and n >= 1; got {successes} of {n}")
    interval = stats.binomtest(int(successes), int(n)).proportion_ci(confidence_level=confidence, method="wilson")
    return Estimate(successes / n, float(interval.low), float(interval.high), int(n))


def agreement(reference_top1: np.ndarray, candidate_top1: np.ndarray) -> Estimate:
    """Share of images whose top-1 class is the same in both, with its Wilson interval (fraction)."""
    reference_top1, candidate_top1 = np.asarray(reference_top1), np.asarray(candidate_top1)
    if reference_top1.shape != candidate_top1.shape:
        raise InputError(f"top-1 arrays differ in shape: {reference_top1.shape} vs {candidate_top1.shape}")
    return proportion(int(np.sum(reference_top1 == candidate_top1)), len(reference_top1))


def mean_estimate(values: np.ndarray, confidence: float = CONFIDENCE) -> Estimate:
    """Mean of per-image values with a percentile-bootstrap interval (seeded, so reports are reproducible).

    Raises:
        InputError: If ``values`` is empty or not 1-D.
    """
    values = np.asarray(values, np.float64)
    if values.ndim != 1 or len(values) == 0:
        raise InputError(f"a mean needs a non-empty 1-D array; got shape {values.shape}")
    mean = float(np.mean(values))
    if np.all(values == values[0]):  # every resample gives the same mean
        return Estimate(mean, mean, mean, len(values))
    result = stats.bootstrap((values,), np.mean, confidence_level=confidence, n_resamples=BOOTSTRAP_RESAMPLES,
                             method="percentile", random_state=np.random.default_rng(BOOTSTRAP_SEED))
    interval = result.confidence_interval
    return Estimate(mean, float(interval.low), float(interval.high), len(values))


def paired_mean_difference(reference: np.ndarray, candidate: np.ndarray, confidence: float = CONFIDENCE) -> Estimate:
    """Mean of ``candidate - reference`` per image, with a paired percentile-bootstrap interval.

    Raises:
        InputError: If the arrays differ in length or are empty.
    """
    reference, candidate = np.asarray(reference, np.float64), np.asarray(candidate, np.float64)
    if reference.shape != candidate.shape or reference.ndim != 1 or len(reference) == 0:
        raise InputError(f"paired differences need two equal 1-D arrays; got {reference.shape} and {candidate.shape}")
    return mean_estimate(candidate - reference, confidence)


def mcnemar_p(reference_correct: np.ndarray, candidate_correct: np.ndarray) -> float:
    """Exact McNemar test of "both are equally accurate": two-sided binomial test on the discordant pairs."""
    reference_correct, candidate_correct = np.asarray(reference_correct, bool), np.asarray(candidate_correct, bool)
    only_reference = int(np.sum(reference_correct & ~candidate_correct))
    only_candidate = int(np.sum(candidate_correct & ~reference_correct))
    if only_reference + only_candidate == 0:
        return 1.0
    return float(stats.binomtest(only_candidate, only_reference + only_candidate, 0.5).pvalue)


def straddles(low: float | None, high: float | None, bound: float) -> bool:
    """True when ``bound`` lies strictly inside an interval: the data cannot tell on which side the truth lies.

    Strictly: an interval that merely ends at the bound (100 % agreement required, [99.6, 100]
    measured) says nothing the bound does not already say.
    """
    return low is not None and high is not None and low < bound < high
