"""Conformal sets and intervals: exact small cases, and coverage on synthetic data where the truth is known.

Coverage bounds: for split conformal with n_cal calibration and n_test test samples, the test
coverage is 1 - alpha (+ at most 1/(n_cal+1)) with a standard deviation of about
sqrt(alpha (1 - alpha) (1/n_cal + 1/n_test)) (calibration draw + test draw); we allow 3 of them.
"""
import math

import numpy as np
import pytest

from mocar.field import conformal

N_CAL, N_TEST, CLASSES = 2000, 10000, 10


def _bounds(alpha, n_cal=N_CAL, n_test=N_TEST):
    sd = math.sqrt(alpha * (1 - alpha) * (1 / n_cal + 1 / n_test))
    return 1 - alpha - 3 * sd, 1 - alpha + 1 / (n_cal + 1) + 3 * sd


def _calibrated_data(n, seed):
    """A perfectly calibrated classifier: the label is drawn from the predicted probabilities."""
    rng = np.random.default_rng(seed)
    probs = rng.dirichlet(np.ones(CLASSES), n)
    labels = (rng.random(n)[:, None] > np.cumsum(probs, axis=1)).sum(axis=1)
    return probs, np.minimum(labels, CLASSES - 1)


def test_conformal_quantile_rank():
    scores = np.arange(1, 10, dtype=float)  # n = 9
    assert conformal.conformal_quantile(scores, 0.1) == 9.0  # ceil(10 * 0.9) = 9th smallest
    assert conformal.conformal_quantile(scores, 0.2) == 8.0  # ceil(10 * 0.8) = 8
    assert conformal.conformal_quantile(scores, 0.05) is None  # ceil(9.5) = 10 > n


def test_prediction_set_small_cases():
    probs = np.array([0.15, 0.5, 0.05, 0.3])  # ranked 1, 3, 0, 2; cumulative 0.5, 0.8, 0.95, 1.0
    assert conformal.prediction_set(probs, 0.8) == [1, 3]
    assert conformal.prediction_set(probs, 0.3) == [1]  # never empty: the top class stays
    assert conformal.prediction_set(probs, None) == [1, 3, 0, 2]
    assert conformal.prediction_set(probs, 0.8, u=0.0) == [1, 3, 0]  # randomised with u = 0: 0, 0.5, 0.8
    assert conformal.prediction_set(probs, 0.81, lam=0.5, k_reg=1) == [1]  # rank 2 costs 0.8 + 0.5
    assert conformal.prediction_set(np.full(4, 0.25), 0.5) == [0, 1]  # ties: lower index first


@pytest.mark.parametrize("method, randomized", [("aps", False), ("aps", True), ("raps", False)])
def test_class_sets_reach_the_target_coverage(method, randomized):
    probs_cal, y_cal = _calibrated_data(N_CAL, 0)
    probs_test, y_test = _calibrated_data(N_TEST, 1)
    constants = conformal.fit_class_conformal(probs_cal, y_cal, method=method, randomized=randomized)
    report = conformal.set_report(probs_test, y_test, constants)
    for alpha in conformal.ALPHAS:
        low, high = _bounds(alpha)
        assert low <= report[conformal.level_key(1 - alpha)]["coverage"] <= high, (alpha, report)
    sizes = [report[conformal.level_key(1 - a)]["mean_size"] for a in conformal.ALPHAS]
    if not randomized:  # the vectorised report and the per-photo rule agree
        _, vector_sizes = conformal.set_sizes(probs_test[:50], constants, "0.9")
        q = constants["thresholds"]["0.9"]
        assert [len(conformal.prediction_set(p, q, constants["lam"], constants["k_reg"])) for p in probs_test[:50]] == vector_sizes.tolist()
    assert sizes == sorted(sizes) and sizes[0] < sizes[-1] < CLASSES  # higher coverage, larger sets


def test_conformal_repairs_an_overconfident_model_where_naive_sets_fail():
    probs_cal, y_cal = _calibrated_data(N_CAL, 0)
    probs_test, y_test = _calibrated_data(N_TEST, 1)
    sharpen = lambda p: p**3 / (p**3).sum(axis=1, keepdims=True)  # noqa: E731  an overconfident model
    naive = {"method": "aps", "randomized": False, "lam": 0.0, "k_reg": 0, "thresholds": {"0.9": 0.9}}
    naive_coverage = conformal.set_report(sharpen(probs_test), y_test, naive)["0.9"]["coverage"]
    assert naive_coverage < 0.85, naive_coverage  # "classes until 90 % of the mass" undercovers
    constants = conformal.fit_class_conformal(sharpen(probs_cal), y_cal, alphas=(0.1,))
    low, high = _bounds(0.1)
    assert low <= conformal.set_report(sharpen(probs_test), y_test, constants)["0.9"]["coverage"] <= high


def test_year_intervals_cover_and_have_the_laplace_width():
    rng = np.random.default_rng(0)
    true_cal, true_test = rng.uniform(-3000, 1900, N_CAL), rng.uniform(-3000, 1900, N_TEST)
    pred_cal, pred_test = true_cal + rng.laplace(0, 50, N_CAL), true_test + rng.laplace(0, 50, N_TEST)
    q = conformal.fit_year_conformal(pred_cal, true_cal)
    report = conformal.interval_report(pred_test, true_test, q)
    for alpha in conformal.ALPHAS:
        key = conformal.level_key(1 - alpha)
        low, high = _bounds(alpha)
        assert low <= report[key]["coverage"] <= high
        assert q[key] == pytest.approx(50 * math.log(1 / alpha), rel=0.12)  # |Laplace(b)| quantile
        assert report[key]["mean_width"] == pytest.approx(2 * q[key])


def test_mondrian_intervals_adapt_to_each_group():
    rng = np.random.default_rng(1)
    groups = [np.where(rng.random(n) < 0.5, "coins", "tablets") for n in (N_CAL, N_TEST)]
    noise = [np.where(g == "coins", 20.0, 200.0) * rng.normal(size=len(g)) for g in groups]
    true = [rng.uniform(-1000, 1000, len(g)) for g in groups]
    by_group = conformal.fit_year_conformal_by_group(true[0] + noise[0], true[0], groups[0], alphas=(0.1,))
    global_q = conformal.fit_year_conformal(true[0] + noise[0], true[0], alphas=(0.1,))
    assert by_group["coins"]["0.9"] == pytest.approx(20 * 1.645, rel=0.15)
    assert by_group["tablets"]["0.9"] == pytest.approx(200 * 1.645, rel=0.15)
    tablets = groups[1] == "tablets"
    pred, truth = true[1] + noise[1], true[1]
    adaptive = conformal.interval_report(pred[tablets], truth[tablets], global_q, by_group, groups[1][tablets])
    shared = conformal.interval_report(pred[tablets], truth[tablets], global_q)
    low, high = _bounds(0.1, N_CAL / 2, tablets.sum())
    assert low <= adaptive["0.9"]["coverage"] <= high
    assert shared["0.9"]["coverage"] < low  # one global width undercovers the hard group
    assert conformal.year_half_width("0.9", global_q, by_group, "unknown group") == global_q["0.9"]
