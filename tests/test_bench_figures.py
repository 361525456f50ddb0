"""Parity figures with n and intervals, judged by the policy: injected flip rates are judged right."""

import numpy as np
import pytest
from scipy import stats

from mocar.bench.figures import labelled_figures, parity_figures, unlabelled_figures
from mocar.runtime.policy import evaluate_policy, load_policy


def _logits(n: int, classes: int = 8, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    logits = rng.normal(size=(n, classes))
    logits[np.arange(n), rng.integers(0, classes, n)] += 5.0  # a clear winner per image
    return logits


def _flip(logits: np.ndarray, count: int, seed: int = 1) -> np.ndarray:
    """A candidate whose top-1 differs from the reference on exactly ``count`` images."""
    flipped = logits.copy()
    rows = np.random.default_rng(seed).choice(len(logits), count, replace=False)
    winners = logits[rows].argmax(axis=1)
    flipped[rows, (winners + 1) % logits.shape[1]] = logits[rows].max(axis=1) + 1.0
    return flipped


def _agreement_check(row: dict) -> object:
    row = {**row, "export": "model_int8.onnx", "precision": "int8"}
    return next(c for c in evaluate_policy([row], load_policy()) if c.metric == "agreement")


@pytest.mark.parametrize("flips, passes", [(0, True), (5, True), (20, True), (21, False), (40, False)])
def test_an_injected_flip_rate_on_2000_images_is_judged_right(flips, passes):
    reference = _logits(2000)
    row = unlabelled_figures({"logits": reference}, {"logits": _flip(reference, flips)})
    assert row["parity_images"] == 2000
    assert row["agreement"] == pytest.approx(100.0 * (2000 - flips) / 2000)
    interval = stats.binomtest(2000 - flips, 2000).proportion_ci(method="wilson")
    assert (row["agreement_low"], row["agreement_high"]) == pytest.approx((100 * interval.low, 100 * interval.high))
    check = _agreement_check(row)
    assert check.passed is passes and not check.too_few_images


def test_186_images_without_a_single_flip_are_too_few():
    reference = _logits(186)
    check = _agreement_check(unlabelled_figures({"logits": reference}, {"logits": reference.copy()}))
    assert check.within_bound and check.too_few_images and not check.passed


def test_two_flips_in_186_images_are_within_noise_of_99_percent():
    reference = _logits(186)
    row = unlabelled_figures({"logits": reference}, {"logits": _flip(reference, 2)})
    assert row["agreement_low"] < 99.0 < row["agreement_high"]  # 98.92 %: the data cannot tell
    assert _agreement_check(row).within_noise


def test_labelled_figures_match_scipy():
    n = 1500
    reference = _logits(n, seed=3)
    candidate = _flip(reference, 30, seed=4)
    targets = np.where(np.random.default_rng(5).random(n) < 0.7, reference.argmax(1), 0)
    years = np.random.default_rng(6).normal(0, 500, n)
    ref_years, years_out = years + 100.0, years + 110.0
    row = labelled_figures({"logits": reference, "year": ref_years}, {"logits": candidate, "year": years_out},
                           targets, years)
    ref_ok, ok = reference.argmax(1) == targets, candidate.argmax(1) == targets
    assert row["labelled_images"] == n
    assert row["delta_top1"] == pytest.approx(100 * (ok.mean() - ref_ok.mean()))
    assert row["delta_top1_low"] <= row["delta_top1"] <= row["delta_top1_high"]
    b, c = int(np.sum(ref_ok & ~ok)), int(np.sum(ok & ~ref_ok))
    assert row["delta_top1_p"] == pytest.approx(stats.binomtest(c, b + c, 0.5).pvalue)
    assert row["delta_mae"] == pytest.approx(10.0) and row["delta_mae_low"] == row["delta_mae_high"] == pytest.approx(10.0)
    assert row["delta_mae_rel"] == pytest.approx(10.0)  # 110 vs 100 years


def test_parity_and_labelled_figures_use_their_own_images():
    reference = _logits(300, seed=7)
    candidate = _flip(reference, 30, seed=8)
    parity_rows, labelled_rows = np.arange(0, 200), np.arange(200, 300)
    targets = reference[labelled_rows].argmax(1)
    row = parity_figures({"logits": reference}, {"logits": candidate}, parity_rows, labelled_rows, targets, None)
    assert row["parity_images"] == 200 and row["labelled_images"] == 100
    assert row["agreement"] == pytest.approx(100 * np.mean(reference[:200].argmax(1) == candidate[:200].argmax(1)))
    assert row["top1"] == pytest.approx(np.mean(candidate[200:].argmax(1) == targets))
