"""Parity metrics between a reference model's outputs and another file's outputs (pure numpy).

Used by the export validation (every exported file against the float PyTorch model) and by the
benchmark reports, so both quote the same numbers. All functions take arrays with the images on
the first axis, in the same order for reference and candidate.

Conventions:
* errors are ``candidate - reference``; "relative" errors are relative to the reference output's
  largest magnitude over the whole set (one scale per output), so a near-zero element cannot blow
  them up;
* PSNR uses the reference's dynamic range (max - min) as the peak; identical arrays give ``inf``;
* accuracy/agreement are fractions in [0, 1]; deltas are candidate minus reference, so a negative
  accuracy delta and a positive year-MAE delta are losses.
"""
from __future__ import annotations

import numpy as np

from mocar.errors import InputError

_EPS = 1e-12


def _pair(reference: np.ndarray, candidate: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    reference, candidate = np.asarray(reference, np.float64), np.asarray(candidate, np.float64)
    if reference.shape != candidate.shape:
        raise InputError(f"shape mismatch: reference {reference.shape} vs candidate {candidate.shape}")
    return reference, candidate


def top1(logits: np.ndarray) -> np.ndarray:
    """Index of the highest score per row (first one on ties, like ``np.argmax``)."""
    return np.asarray(logits).argmax(axis=1)


def top1_agreement(reference_logits: np.ndarray, logits: np.ndarray) -> float:
    """Fraction of images whose top-1 class is the same in both."""
    reference_logits, logits = _pair(reference_logits, logits)
    return float(np.mean(top1(reference_logits) == top1(logits)))


def top1_margin(logits: np.ndarray) -> np.ndarray:
    """Gap between the best and the second-best score per row (0 for a single class)."""
    logits = np.asarray(logits, np.float64)
    if logits.shape[1] < 2:
        return np.zeros(len(logits))
    top_two = np.sort(logits, axis=1)[:, -2:]
    return top_two[:, 1] - top_two[:, 0]


def accuracy(logits: np.ndarray, targets: np.ndarray) -> float:
    """Top-1 accuracy against ground-truth class indices."""
    return float(np.mean(top1(logits) == np.asarray(targets)))


def accuracy_delta(reference_logits: np.ndarray, logits: np.ndarray, targets: np.ndarray) -> float:
    """Candidate accuracy minus reference accuracy (negative = the candidate is worse)."""
    return accuracy(logits, targets) - accuracy(reference_logits, targets)


def max_abs_error(reference: np.ndarray, candidate: np.ndarray) -> float:
    """Largest absolute element-wise difference."""
    reference, candidate = _pair(reference, candidate)
    return float(np.max(np.abs(candidate - reference))) if reference.size else 0.0


def mean_abs_error(reference: np.ndarray, candidate: np.ndarray) -> float:
    """Mean absolute element-wise difference."""
    reference, candidate = _pair(reference, candidate)
    return float(np.mean(np.abs(candidate - reference))) if reference.size else 0.0


def output_scale(reference: np.ndarray) -> float:
    """Largest magnitude of an output over the set (the scale relative errors refer to)."""
    reference = np.asarray(reference, np.float64)
    return float(np.max(np.abs(reference))) if reference.size else 0.0


def max_relative_error(reference: np.ndarray, candidate: np.ndarray) -> float:
    """Largest absolute difference divided by the reference's :func:`output_scale`."""
    return max_abs_error(reference, candidate) / max(output_scale(reference), _EPS)


def tolerance_excess(reference: np.ndarray, candidate: np.ndarray, rtol: float, atol: float) -> float:
    """How far the worst element lies outside ``|c - r| <= atol + rtol * |r|`` (<= 0: all inside).

    This is ``numpy.allclose``'s criterion, returned as a margin so that a report can say by how
    much a file missed.
    """
    reference, candidate = _pair(reference, candidate)
    if not reference.size:
        return 0.0
    return float(np.max(np.abs(candidate - reference) - (atol + rtol * np.abs(reference))))


def psnr(reference: np.ndarray, candidate: np.ndarray) -> float:
    """Peak signal-to-noise ratio in dB, with the reference's dynamic range as the peak.

    Falls back to the largest magnitude as the peak when the reference is constant; returns
    ``inf`` for identical arrays.
    """
    reference, candidate = _pair(reference, candidate)
    mse = float(np.mean((candidate - reference) ** 2)) if reference.size else 0.0
    if mse == 0.0:
        return float("inf")
    peak = float(np.ptp(reference)) or output_scale(reference)
    return float(10.0 * np.log10(max(peak, _EPS) ** 2 / mse))


def row_cosine(reference: np.ndarray, candidate: np.ndarray) -> np.ndarray:
    """Cosine similarity of each row pair; two zero rows count as identical (1), one zero row as 0."""
    reference, candidate = _pair(reference, candidate)
    reference, candidate = reference.reshape(len(reference), -1), candidate.reshape(len(candidate), -1)
    norms = np.linalg.norm(reference, axis=1) * np.linalg.norm(candidate, axis=1)
    both_zero = (np.linalg.norm(reference, axis=1) < _EPS) & (np.linalg.norm(candidate, axis=1) < _EPS)
    cosine = np.sum(reference * candidate, axis=1) / np.maximum(norms, _EPS)
    return np.where(both_zero, 1.0, cosine)


def cosine_stats(reference: np.ndarray, candidate: np.ndarray) -> dict[str, float]:
    """Mean, 1st percentile and minimum of the per-row cosine similarity."""
    cosine = row_cosine(reference, candidate)
    return {"mean": float(np.mean(cosine)), "p01": float(np.percentile(cosine, 1)), "min": float(np.min(cosine))}


def mean_abs_year_error(years: np.ndarray, true_years: np.ndarray) -> float:
    """Mean absolute error in calendar years."""
    return mean_abs_error(true_years, years)


def year_mae_delta(reference_years: np.ndarray, years: np.ndarray, true_years: np.ndarray) -> float:
    """Candidate year MAE minus reference year MAE, in years (positive = the candidate is worse)."""
    return mean_abs_year_error(years, true_years) - mean_abs_year_error(reference_years, true_years)


def output_error_stats(reference: np.ndarray, candidate: np.ndarray) -> dict[str, float]:
    """The element-wise error figures of one output: max/mean abs, max relative, PSNR."""
    return {
        "max_abs": max_abs_error(reference, candidate),
        "mean_abs": mean_abs_error(reference, candidate),
        "max_rel": max_relative_error(reference, candidate),
        "psnr_db": psnr(reference, candidate),
    }
