"""The parity figures of one file against its float reference, each with its n and 95 % interval.

Unlabelled figures (agreement, PSNR, embedding cosine, overlap@5 of nearest neighbours, year shift)
come from the parity images; labelled ones (top-1, Δtop-1, year MAE, ΔMAE) from the labelled images
(:mod:`mocar.bench.parity_set`). Intervals (:mod:`mocar.runtime.statistics`): Wilson for agreement,
a paired bootstrap for Δtop-1 and ΔMAE, plus the exact McNemar p-value for Δtop-1. Field names are
those of :mod:`mocar.bench.rows` (``agreement_low``/``agreement_high``, ``parity_images``, ...).
"""
from __future__ import annotations

from typing import Any

import numpy as np

from mocar.bench.retrieval import neighbour_overlap
from mocar.runtime import parity, statistics

RETRIEVAL_K = 5


def _with_interval(name: str, estimate: statistics.Estimate, factor: float = 1.0) -> dict[str, float]:
    scaled = estimate.scaled(factor)
    return {name: scaled.value, f"{name}_low": scaled.low, f"{name}_high": scaled.high}


def unlabelled_figures(ref: dict[str, np.ndarray], out: dict[str, np.ndarray]) -> dict[str, Any]:
    """Agreement (percent, Wilson interval), logit PSNR and max error, embedding cosine, overlap@5,
    mean absolute year shift — all on the same images, no labels."""
    agreement = statistics.agreement(parity.top1(ref["logits"]), parity.top1(out["logits"]))
    row: dict[str, Any] = {"parity_images": agreement.n, **_with_interval("agreement", agreement, 100.0),
                           "psnr_logits": parity.psnr(ref["logits"], out["logits"]),
                           "max_abs_logits": parity.max_abs_error(ref["logits"], out["logits"])}
    if "embedding" in out and "embedding" in ref:
        cosine = parity.cosine_stats(ref["embedding"], out["embedding"])
        row.update({"embedding_cosine_mean": cosine["mean"], "embedding_cosine_p1": cosine["p01"]})
        if len(out["logits"]) > RETRIEVAL_K:
            row[f"retrieval_overlap{RETRIEVAL_K}"] = neighbour_overlap(ref["embedding"], out["embedding"], RETRIEVAL_K)
    if "year" in out and "year" in ref:
        row["year_shift"] = parity.mean_abs_error(ref["year"], out["year"])
    return row


def labelled_figures(ref: dict[str, np.ndarray], out: dict[str, np.ndarray], targets: np.ndarray,
                     years: np.ndarray | None) -> dict[str, Any]:
    """Top-1 and Δtop-1 (points, bootstrap interval, McNemar p); with years, year MAE and ΔMAE
    (years and percent of the reference's MAE, bootstrap intervals)."""
    ref_correct = parity.top1(ref["logits"]) == targets
    correct = parity.top1(out["logits"]) == targets
    delta = statistics.paired_mean_difference(ref_correct, correct)
    row: dict[str, Any] = {"labelled_images": len(targets), "top1": float(np.mean(correct)),
                           **_with_interval("delta_top1", delta, 100.0),
                           "delta_top1_p": statistics.mcnemar_p(ref_correct, correct)}
    if years is not None and "year" in out:
        ref_error, error = np.abs(ref["year"] - years), np.abs(out["year"] - years)
        delta_mae = statistics.paired_mean_difference(ref_error, error)
        ref_mae = float(np.mean(ref_error))
        row.update({"year_mae": float(np.mean(error)), **_with_interval("delta_mae", delta_mae),
                    **_with_interval("delta_mae_rel", delta_mae, 100.0 / ref_mae if ref_mae else 0.0)})
    return row


def subset(outputs: dict[str, np.ndarray], rows: np.ndarray) -> dict[str, np.ndarray]:
    """Every output restricted to some images."""
    return {name: value[rows] for name, value in outputs.items()}


def parity_figures(ref: dict[str, np.ndarray], out: dict[str, np.ndarray], parity_rows: np.ndarray,
                   labelled_rows: np.ndarray, targets: np.ndarray | None, years: np.ndarray | None) -> dict[str, Any]:
    """All figures of one file: unlabelled ones on ``parity_rows``, labelled ones on ``labelled_rows``
    (``targets``/``years`` aligned with those; no labelled figures without targets)."""
    row = unlabelled_figures(subset(ref, parity_rows), subset(out, parity_rows))
    if targets is not None and len(labelled_rows):
        row.update(labelled_figures(subset(ref, labelled_rows), subset(out, labelled_rows), targets, years))
    return row


def flipped(ids: list[str], ref_logits: np.ndarray, logits: np.ndarray, labels: list[str]) -> list[dict[str, Any]]:
    """Images whose top-1 changed, most confident reference first."""
    a, b = parity.top1(ref_logits), parity.top1(logits)
    margin = parity.top1_margin(ref_logits)
    order = [int(i) for i in np.argsort(-margin) if a[i] != b[i]]
    return [{"id": ids[i], "reference": labels[a[i]], "export": labels[b[i]], "reference_margin": float(margin[i])}
            for i in order]
