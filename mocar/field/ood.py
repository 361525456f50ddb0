""""Unlike anything in the reference collection": out-of-distribution scores and calibrated thresholds.

A photo of an object from a collection the model never saw still gets a confident-looking top-1
label. These scores flag such photos; higher always means *more unusual*:

* ``knn``: ``1 - mean of the k largest cosine similarities`` to the reference index (k = 1: distance
  to the nearest reference). Needs the index; calibrated when the index is built. **The shipped score.**
* ``energy``: ``-logsumexp(logits)`` (Liu et al. 2020). Needs only the model.
* ``msp``: ``1 - max softmax probability`` (Hendrycks & Gimpel 2017). Needs only the model.

Measured on a tiny MOCaR model with one demo collection held out (``benchmarks/ood_heldout.py``,
PCA-128 int8 index): knn AUROC 0.64 / 0.68 / 0.69 for k = 1 / 5 / 10, energy 0.27 and msp 0.28 — the
model is *more* confident on the unseen collection — so only ``knn`` is calibrated and used by
``mocar predict``, with k = 10 (averaging over neighbours also damps the int8 rounding of single
similarities).

**Threshold**: for a tolerated false-alarm rate ``a`` on in-distribution photos, the conformal
quantile (:func:`mocar.field.conformal.conformal_quantile`) of the calibration scores at ``alpha = a``;
a photo is flagged when ``score > threshold``. On new in-distribution photos the false-alarm rate is
then at most ``a`` (and about ``a`` for large calibration sets). ``benchmarks/ood_heldout.py``
measures how well each score separates a held-out collection.
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from mocar.field.conformal import conformal_quantile, level_key
from mocar.field.errors import CalibrationError

SCORES = ("knn", "energy", "msp")
FALSE_ALARM_RATES = (0.05, 0.01)
DEFAULT_RATE = 0.05
DEFAULT_KNN_K = 10


def knn_score(top_similarities: np.ndarray, k: int = DEFAULT_KNN_K) -> np.ndarray:
    """``1 - mean`` of the ``k`` largest similarities per row ([N, >=k], best first, as a search returns)."""
    sims = np.asarray(top_similarities, dtype=np.float64)
    if sims.ndim != 2 or sims.shape[1] < k:
        raise CalibrationError(f"need the top {k} similarities per row; got shape {sims.shape}")
    return 1.0 - sims[:, :k].mean(axis=1)


def energy_score(logits: np.ndarray) -> np.ndarray:
    """``-logsumexp(logits)`` per row (numerically stable)."""
    values = np.asarray(logits, dtype=np.float64)
    peak = values.max(axis=1)
    return -(peak + np.log(np.exp(values - peak[:, None]).sum(axis=1)))


def msp_score(logits: np.ndarray) -> np.ndarray:
    """``1 - max softmax`` per row."""
    values = np.asarray(logits, dtype=np.float64)
    shifted = np.exp(values - values.max(axis=1, keepdims=True))
    return 1.0 - shifted.max(axis=1) / shifted.sum(axis=1)


def fit_ood_thresholds(scores_in: np.ndarray, rates: Sequence[float] = FALSE_ALARM_RATES) -> dict[str, float | None]:
    """Threshold per tolerated false-alarm rate (key ``"0.05"``...; None = too few samples for it)."""
    scores = np.asarray(scores_in, dtype=np.float64).reshape(-1)
    if scores.size == 0 or not np.isfinite(scores).all():
        raise CalibrationError(f"need finite in-distribution scores; got {scores.size} values with non-finite ones")
    return {level_key(rate): conformal_quantile(scores, rate) for rate in rates}


def ood_calibration(score: str, scores_in: np.ndarray, split: str, k: int | None = None,
                    rates: Sequence[float] = FALSE_ALARM_RATES, default_rate: float = DEFAULT_RATE) -> dict[str, Any]:
    """The plain-JSON record stored with an index (``knn``) or in calibration.json (``energy``/``msp``)."""
    if score not in SCORES:
        raise CalibrationError(f"score {score!r}: expected one of {SCORES}")
    thresholds = fit_ood_thresholds(scores_in, rates)
    return {"score": score, "k": k if score == "knn" else None, "split": split, "n": int(np.size(scores_in)),
            "thresholds": thresholds, "default_rate": level_key(default_rate),
            "rule": "flag a photo as unlike the references when score > thresholds[rate]"}


def ood_verdict(score: float, record: dict[str, Any], rate: str | None = None) -> dict[str, Any] | None:
    """Whether one photo's score exceeds the record's threshold at ``rate`` (default: the record's).

    Returns:
        ``{score_name, score, threshold, false_alarm_rate, unlike_references}``, or None when the
        record has no usable threshold at that rate (too few calibration samples).
    """
    rate = rate or record["default_rate"]
    threshold = record["thresholds"].get(rate)
    if threshold is None:
        return None
    name = f"knn{record['k']}" if record["score"] == "knn" else record["score"]
    return {"score_name": name, "score": float(score), "threshold": float(threshold),
            "false_alarm_rate": float(rate), "unlike_references": bool(score > threshold)}


def false_alarm_report(scores_in: np.ndarray, thresholds: dict[str, float | None]) -> dict[str, float | None]:
    """Share of in-distribution scores above each threshold (the empirical false-alarm rate)."""
    scores = np.asarray(scores_in, dtype=np.float64)
    return {rate: (None if t is None else float(np.mean(scores > t))) for rate, t in thresholds.items()}
