"""The held-out-collection benchmark's alternative OOD scores, on known geometry."""
import numpy as np

from benchmark_scripts import load_benchmark


def test_alternative_scores_rank_a_far_point_above_the_known_ones():
    bench = load_benchmark("ood_heldout")
    rng = np.random.default_rng(0)
    labels = np.repeat([0, 1, 2], 40)
    centres = np.array([[5.0, 0, 0, 1], [0, 5.0, 0, 1], [0, 0, 5.0, 1]])
    train = centres[labels] + 0.3 * rng.normal(size=(120, 4))
    scores = bench.EmbeddingScores(train, labels)
    near = scores(scores.class_means)  # the fitted class means themselves
    np.testing.assert_allclose(near["mahalanobis"], 0.0, atol=1e-9)
    far = scores(np.array([[3.0, 3.0, 3.0, 1.0], [0.0, 0.0, 0.0, 8.0]]))
    assert far["mahalanobis"].min() > 10 * near["mahalanobis"].max()
    assert far["knn10_centred"].min() > near["knn10_centred"].max()  # unlike every training direction
