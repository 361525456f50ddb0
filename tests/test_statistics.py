"""Parity intervals (mocar.runtime.statistics) against the figures measured for issue 15 and scipy's own."""
import numpy as np
import pytest
from scipy import stats as scipy_stats

from mocar.errors import InputError
from mocar.runtime import statistics


def test_wilson_interval_reproduces_the_measured_demo_figures():
    assert statistics.proportion(1930, 1976).scaled(100).describe() == "97.67 [96.91, 98.25] (n=1976)"
    assert statistics.proportion(185, 186).scaled(100).describe() == "99.46 [97.02, 99.91] (n=186)"
    full = statistics.proportion(186, 186)
    assert full.high == pytest.approx(1.0) and full.low < 0.98  # 100 % on 186 images is not certainty


def test_paired_bootstrap_and_mcnemar():
    reference = np.array([1, 0, 1, 1, 0] * 40, bool)
    candidate = reference.copy()
    candidate[:3] = ~candidate[:3]  # two right answers lost, one gained
    delta = statistics.paired_mean_difference(reference.astype(float), candidate.astype(float))
    assert delta.value == pytest.approx(-1 / 200) and delta.low < delta.value < delta.high and delta.n == 200
    assert statistics.mcnemar_p(reference, candidate) == pytest.approx(scipy_stats.binomtest(1, 3, 0.5).pvalue)
    same = statistics.paired_mean_difference(np.ones(5), np.ones(5))
    assert (same.low, same.high) == (0.0, 0.0)
    assert statistics.straddles(-0.01, 0.002, -0.005) and not statistics.straddles(0.001, 0.01, 0.0)
    with pytest.raises(InputError):
        statistics.proportion(3, 0)
