"""The held-out-collection benchmark's alternative OOD scores and their comparison (mocar.bench.ood_scores)."""
import numpy as np
import pytest

from mocar.bench.ood_scores import EmbeddingScores, compare_scores


def test_alternative_scores_rank_a_far_point_above_the_known_ones():
    rng = np.random.default_rng(0)
    labels = np.repeat([0, 1, 2], 40)
    centres = np.array([[5.0, 0, 0, 1], [0, 5.0, 0, 1], [0, 0, 5.0, 1]])
    train = centres[labels] + 0.3 * rng.normal(size=(120, 4))
    scores = EmbeddingScores(train, labels)
    near = scores(scores.class_means)  # the fitted class means themselves
    np.testing.assert_allclose(near["mahalanobis"], 0.0, atol=1e-9)
    far = scores(np.array([[3.0, 3.0, 3.0, 1.0], [0.0, 0.0, 0.0, 8.0]]))
    assert far["mahalanobis"].min() > 10 * near["mahalanobis"].max()
    assert far["knn10_centred"].min() > near["knn10_centred"].max()  # unlike every training direction


def test_compare_scores_separates_and_counts_alarms():
    val = {"s": np.linspace(0.0, 1.0, 200)}
    known = {"s": np.linspace(0.0, 1.0, 100)}
    held = {"s": np.array([2.0, 3.0, 0.5, 4.0])}
    (row,) = compare_scores(val, known, held, {"s": held["s"][:2]})
    assert row["score"] == "s" and row["auroc_test_only"] == 1.0
    assert row["auroc"] == pytest.approx((3 * 100 + 50) / 400)  # 0.5 outranks half of the known scores
    assert row["detected@0.05"] == 0.75 and row["false_alarm@0.05"] == pytest.approx(0.05, abs=0.02)
