"""Split conformal prediction: class sets and year intervals with a stated coverage.

Calibrated once on the validation split, applied per photo with a few lines of arithmetic (the
constants are plain JSON and travel in every exported model's metadata).

**Class sets (APS / RAPS).** Sort the probabilities descending (equal ones: lower class index first);
rank r = 1, 2, ...; ``cum_r`` = sum of the r largest. The score of rank r is

    s_r = cum_r - (1 - u) * p_r + lam * max(0, r - k_reg)

with ``u = 1`` (deterministic, the default and what the phone does) or ``u ~ U(0, 1)`` per photo
(randomised; exact coverage, but two runs on one photo may differ). APS is ``lam = 0``; RAPS
(Angelopoulos et al. 2021) penalises long sets with ``lam`` beyond ``k_reg`` classes. The threshold of
a coverage level 1 - alpha is the conformal quantile of the calibration scores of the true classes;
the set holds every rank with ``s_r <= threshold`` and **always the top class** (never empty: this
only adds coverage). A threshold of ``null`` (too few calibration samples for that level) means the
set of all classes.

**Year intervals.** Conformalised absolute residuals: ``q`` = conformal quantile of
``|year_pred - year_true|``; interval ``[pred - q, pred + q]``. The difficulty-adaptive variant is
Mondrian: one ``q`` per *predicted* collection (collections span very different periods), falling
back to the global ``q`` where a collection has too few calibration samples (``null``).

**Conformal quantile** of n scores at level 1 - alpha: the ceil((n + 1)(1 - alpha))-th smallest
score; ``None`` when that rank exceeds n. Coverage on new exchangeable data is then >= 1 - alpha
(and < 1 - alpha + 1/(n + 1) for continuous scores).

Levels are keyed by the coverage written with ``%g`` (``"0.8"``, ``"0.9"``, ``"0.95"``).
"""
from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from mocar.field.errors import CalibrationError

ALPHAS = (0.2, 0.1, 0.05)
METHODS = ("aps", "raps")
RAPS_LAMBDA = 0.01
RAPS_K_REG = 2


# A score equal to its threshold (e.g. a calibration photo that needed the full set: score 1 + RAPS
# penalty) is computed with different last bits by numpy and by a phone's libm; comparing with this
# slack makes both include it. It is far below any real difference between two scores.
SCORE_TOLERANCE = 1e-9


def level_key(level: float) -> str:
    """The JSON key of a coverage level or rate (``0.9`` -> ``"0.9"``)."""
    return f"{round(float(level), 6):g}"


def conformal_quantile(scores: np.ndarray, alpha: float) -> float | None:
    """The ceil((n+1)(1-alpha))-th smallest score, or None when n is too small for alpha."""
    values = np.sort(np.asarray(scores, dtype=np.float64))
    if not 0 < alpha < 1:
        raise CalibrationError(f"alpha={alpha}: expected 0 < alpha < 1")
    rank = math.ceil((len(values) + 1) * (1 - alpha) - 1e-9)
    return float(values[rank - 1]) if rank <= len(values) else None


def _check_probs(probs: np.ndarray, labels: np.ndarray | None = None) -> np.ndarray:
    array = np.asarray(probs, dtype=np.float64)
    if array.ndim != 2 or array.shape[0] == 0:
        raise CalibrationError(f"probabilities have shape {array.shape}; expected [N >= 1, C]")
    if labels is not None:
        labels = np.asarray(labels)
        if labels.shape != (len(array),) or labels.min() < 0 or labels.max() >= array.shape[1]:
            raise CalibrationError(f"labels must be {len(array)} class indices in 0..{array.shape[1] - 1}")
    return array


def rank_scores(probs: np.ndarray, lam: float = 0.0, k_reg: int = 0, u: np.ndarray | float = 1.0
                ) -> tuple[np.ndarray, np.ndarray]:
    """Per row: the class order (best first) and the score s_r of each rank (see the module docstring)."""
    order = np.argsort(-probs, axis=1, kind="stable")
    sorted_probs = np.take_along_axis(probs, order, axis=1)
    ranks = np.arange(1, probs.shape[1] + 1)
    u = np.asarray(u, dtype=np.float64).reshape(-1, 1) if np.ndim(u) else u
    scores = np.cumsum(sorted_probs, axis=1) - (1 - u) * sorted_probs + lam * np.maximum(0, ranks - k_reg)
    return order, scores


def fit_class_conformal(probs_val: np.ndarray, y_val: np.ndarray, alphas: Sequence[float] = ALPHAS,
                        method: str = "aps", lam: float = RAPS_LAMBDA, k_reg: int = RAPS_K_REG,
                        randomized: bool = False, seed: int = 0) -> dict[str, Any]:
    """Thresholds of APS/RAPS prediction sets, calibrated on held-out probabilities.

    Args:
        probs_val: Softmax probabilities [N, C] of the calibration split.
        y_val: True class indices [N].
        alphas: Miscoverage levels; keys of ``thresholds`` are the coverages ``1 - alpha``.
        method: ``aps`` (lam = k_reg = 0) or ``raps`` (uses ``lam``/``k_reg``).
        randomized: Draw u ~ U(0, 1) per sample (seeded) instead of u = 1.
        seed: Seed of the randomisation.

    Returns:
        Plain JSON: ``method, randomized, lam, k_reg, always_include_top1, n, thresholds {level: q|None}``.
    """
    if method not in METHODS:
        raise CalibrationError(f"method {method!r}: expected one of {METHODS}")
    probs = _check_probs(probs_val, y_val)
    lam, k_reg = (float(lam), int(k_reg)) if method == "raps" else (0.0, 0)
    u = np.random.default_rng(seed).random(len(probs)) if randomized else 1.0
    order, scores = rank_scores(probs, lam, k_reg, u)
    true_rank = np.argmax(order == np.asarray(y_val)[:, None], axis=1)
    true_scores = scores[np.arange(len(probs)), true_rank]
    return {"method": method, "randomized": bool(randomized), "lam": lam, "k_reg": k_reg,
            "always_include_top1": True, "n": int(len(probs)),
            "thresholds": {level_key(1 - a): conformal_quantile(true_scores, a) for a in alphas}}


def prediction_set(probs: np.ndarray, threshold: float | None, lam: float = 0.0, k_reg: int = 0,
                   u: float = 1.0) -> list[int]:
    """Class indices in the set of one probability vector [C], most likely first."""
    vector = np.asarray(probs, dtype=np.float64).reshape(1, -1)
    order, scores = rank_scores(vector, lam, k_reg, u)
    if threshold is None:
        return order[0].tolist()
    size = max(1, int(np.sum(scores[0] <= threshold + SCORE_TOLERANCE)))  # scores rise with the rank: a prefix
    return order[0, :size].tolist()


def prediction_sets(probs: np.ndarray, constants: dict[str, Any], u: float = 1.0) -> dict[str, list[int]]:
    """Every level's set for one probability vector, with the constants of :func:`fit_class_conformal`."""
    return {level: prediction_set(probs, q, constants["lam"], constants["k_reg"], u)
            for level, q in constants["thresholds"].items()}


def set_sizes(probs: np.ndarray, constants: dict[str, Any], level: str, u: np.ndarray | float = 1.0
              ) -> tuple[np.ndarray, np.ndarray]:
    """Vectorised :func:`prediction_set` for many rows: (class order [N, C], set size [N])."""
    order, scores = rank_scores(np.asarray(probs, dtype=np.float64), constants["lam"], constants["k_reg"], u)
    threshold = constants["thresholds"][level]
    if threshold is None:
        return order, np.full(len(order), order.shape[1])
    return order, np.maximum(1, (scores <= threshold + SCORE_TOLERANCE).sum(axis=1))


def set_report(probs: np.ndarray, labels: np.ndarray, constants: dict[str, Any], seed: int = 1) -> dict[str, Any]:
    """Empirical coverage and mean/median set size per level on labelled data (e.g. the test split)."""
    probs = _check_probs(probs, labels)
    u = np.random.default_rng(seed).random(len(probs)) if constants["randomized"] else 1.0
    report = {}
    for level in constants["thresholds"]:
        order, sizes = set_sizes(probs, constants, level, u)
        true_rank = np.argmax(order == np.asarray(labels)[:, None], axis=1)
        report[level] = {"coverage": float(np.mean(true_rank < sizes)), "mean_size": float(sizes.mean()),
                         "median_size": float(np.median(sizes)), "n": int(len(sizes))}
    return report


def _residuals(year_pred: np.ndarray, year_true: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    pred, true = np.asarray(year_pred, np.float64).reshape(-1), np.asarray(year_true, np.float64).reshape(-1)
    if pred.shape != true.shape:
        raise CalibrationError(f"{pred.size} predicted years but {true.size} true years; expected equal")
    known = np.isfinite(true) & np.isfinite(pred)
    if not known.any():
        raise CalibrationError("no sample has both a predicted and a true year")
    return np.abs(pred - true), known


def fit_year_conformal(year_pred_val: np.ndarray, year_true_val: np.ndarray,
                       alphas: Sequence[float] = ALPHAS) -> dict[str, float | None]:
    """Half-widths q per level: interval ``[pred - q, pred + q]`` (samples without a true year are skipped)."""
    residuals, known = _residuals(year_pred_val, year_true_val)
    return {level_key(1 - a): conformal_quantile(residuals[known], a) for a in alphas}


def fit_year_conformal_by_group(year_pred_val: np.ndarray, year_true_val: np.ndarray, groups: np.ndarray,
                                alphas: Sequence[float] = ALPHAS) -> dict[str, dict[str, float | None]]:
    """Mondrian half-widths: one :func:`fit_year_conformal` per group (e.g. the predicted collection)."""
    residuals, known = _residuals(year_pred_val, year_true_val)
    groups = np.asarray(groups).astype(str)
    return {str(g): {level_key(1 - a): conformal_quantile(residuals[known & (groups == g)], a) for a in alphas}
            for g in np.unique(groups[known])}


def year_half_width(level: str, global_q: dict[str, float | None],
                    by_group: dict[str, dict[str, float | None]] | None = None,
                    group: str | None = None) -> float | None:
    """The q of one prediction: its group's when known and defined, else the global one (None = unbounded)."""
    group_q = (by_group or {}).get(str(group), {}).get(level) if group is not None else None
    return group_q if group_q is not None else global_q.get(level)


def interval_report(year_pred: np.ndarray, year_true: np.ndarray, global_q: dict[str, float | None],
                    by_group: dict[str, dict[str, float | None]] | None = None,
                    groups: np.ndarray | None = None) -> dict[str, Any]:
    """Empirical coverage and mean width (years) per level; unbounded intervals count as covering."""
    residuals, known = _residuals(year_pred, year_true)
    labels = np.asarray(groups).astype(str) if groups is not None else np.full(len(residuals), None)
    report = {}
    for level in global_q:
        q = np.array([year_half_width(level, global_q, by_group, g) for g in labels[known]], dtype=object)
        bounded = np.array([v is not None for v in q])
        widths = np.array([2 * v for v in q[bounded]], dtype=np.float64)
        covered = np.array([v is None or r <= v for r, v in zip(residuals[known], q)])
        report[level] = {"coverage": float(covered.mean()), "mean_width": float(widths.mean()) if len(widths) else None,
                         "median_width": float(np.median(widths)) if len(widths) else None,
                         "unbounded": int((~bounded).sum()), "n": int(known.sum())}
    return report
