"""How well each OOD score tells a never-seen collection from the known ones (the held-out benchmark).

:func:`scores_of` computes every score of :mod:`mocar.field.ood` (``knnK`` for several K, ``energy``,
``msp``) plus two alternatives mocar does not ship (:class:`EmbeddingScores`) on one set of model
outputs; :func:`compare_scores` reports per score the AUROC of held-out against known images
(scikit-learn; held-out = positive) and, at the thresholds calibrated on the known validation split
(:func:`mocar.field.ood.fit_ood_thresholds`), the false-alarm rate on known test images and the
share of held-out images flagged.
"""
from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.metrics import roc_auc_score

from mocar.field import ood
from mocar.field.index import ReferenceIndex

KNN_KS = (1, 5, 10)


class EmbeddingScores:
    """Two alternatives mocar does not ship, fitted on the known training embeddings, to compare with knn:

    * ``knn10_centred``: knn10 after subtracting the training mean before the cosine (exact float64
      search; post-ReLU embeddings share a large common component that centring removes);
    * ``mahalanobis``: the smallest Mahalanobis distance to a class mean, with one shared
      covariance (shrunk by 1e-3 of its mean variance so that it inverts).
    """

    def __init__(self, embeddings: np.ndarray, labels: np.ndarray) -> None:
        train = embeddings.astype(np.float64)
        self.mean = train.mean(0)
        self.references = self._unit(train - self.mean)
        classes = np.unique(labels)
        self.class_means = np.stack([train[labels == c].mean(0) for c in classes])
        residuals = train - self.class_means[np.searchsorted(classes, labels)]
        covariance = residuals.T @ residuals / len(train)
        shrink = 1e-3 * np.trace(covariance) / len(covariance)
        self.precision = np.linalg.inv(covariance + shrink * np.eye(len(covariance)))

    @staticmethod
    def _unit(x: np.ndarray) -> np.ndarray:
        return x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)

    def __call__(self, embeddings: np.ndarray) -> dict[str, np.ndarray]:
        """Both scores per row of ``embeddings`` (higher = more unusual)."""
        queries = embeddings.astype(np.float64)
        sims = np.sort(self._unit(queries - self.mean) @ self.references.T, axis=1)[:, ::-1]
        diffs = queries[:, None, :] - self.class_means[None]
        distances = np.einsum("nkd,de,nke->nk", diffs, self.precision, diffs).min(1)
        return {"knn10_centred": 1.0 - sims[:, :10].mean(1), "mahalanobis": distances}


def scores_of(outputs: Any, index: ReferenceIndex, alternatives: EmbeddingScores) -> dict[str, np.ndarray]:
    """Every OOD score of one set of model outputs (``.logits``, ``.embeddings``; higher = more unusual)."""
    _, sims = index.search(outputs.embeddings, k=max(KNN_KS))
    scores = {f"knn{k}": ood.knn_score(sims, k) for k in KNN_KS}
    scores["energy"] = ood.energy_score(outputs.logits)
    scores["msp"] = ood.msp_score(outputs.logits)
    return {**scores, **alternatives(outputs.embeddings)}


def compare_scores(val: dict[str, np.ndarray], known: dict[str, np.ndarray], held: dict[str, np.ndarray],
                   held_test: dict[str, np.ndarray]) -> list[dict[str, Any]]:
    """AUROC and calibrated false-alarm / detection rates per score.

    Args:
        val: Scores of the known validation split (calibrates the thresholds).
        known: Scores of the known test split (negatives).
        held: Scores of every held-out image (positives).
        held_test: Scores of the held-out images of the test split only.

    Returns:
        One row per score: ``auroc``, ``auroc_test_only`` and ``false_alarm@RATE`` / ``detected@RATE``
        for every calibrated rate (None where the split is too small to calibrate that rate).
    """
    rows = []
    for name in val:
        def auroc(positives: np.ndarray) -> float:
            truth = np.r_[np.zeros(len(known[name])), np.ones(len(positives))]
            return float(roc_auc_score(truth, np.r_[known[name], positives]))

        row = {"score": name, "auroc": auroc(held[name]), "auroc_test_only": auroc(held_test[name])}
        for rate, threshold in ood.fit_ood_thresholds(val[name]).items():
            row[f"false_alarm@{rate}"] = None if threshold is None else float(np.mean(known[name] > threshold))
            row[f"detected@{rate}"] = None if threshold is None else float(np.mean(held[name] > threshold))
        rows.append(row)
    return rows
