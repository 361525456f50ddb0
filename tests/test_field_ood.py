"""OOD scores and thresholds: known values, calibrated false-alarm rate, warnings above the threshold only."""
import math

import numpy as np
import pytest

from mocar.field import ood


def test_scores_have_the_documented_values():
    sims = np.array([[0.9, 0.7, 0.5], [0.2, 0.2, 0.1]])
    np.testing.assert_allclose(ood.knn_score(sims, 1), [0.1, 0.8])
    np.testing.assert_allclose(ood.knn_score(sims, 3), [0.3, 1 - 0.5 / 3])
    logits = np.array([[0.0, 0.0], [10.0, -10.0]])
    np.testing.assert_allclose(ood.energy_score(logits), [-math.log(2), -(10 + math.log(1 + math.exp(-20)))])
    np.testing.assert_allclose(ood.msp_score(logits), [0.5, 1 - 1 / (1 + math.exp(-20))])
    with pytest.raises(ood.CalibrationError, match="top 5"):
        ood.knn_score(sims, 5)


def test_false_alarm_rate_matches_the_target_on_new_in_distribution_data():
    rng = np.random.default_rng(0)
    calibration, fresh = rng.normal(size=5000), rng.normal(size=20000)
    thresholds = ood.fit_ood_thresholds(calibration)
    rates = ood.false_alarm_report(fresh, thresholds)
    for key, rate in (("0.05", 0.05), ("0.01", 0.01)):
        sd = math.sqrt(rate * (1 - rate) * (1 / 5000 + 1 / 20000))
        assert abs(rates[key] - rate) <= 3 * sd + 1 / 5001, (key, rates[key])
    assert ood.false_alarm_report(calibration, thresholds)["0.05"] == pytest.approx(0.05, abs=0.002)
    assert thresholds["0.05"] == pytest.approx(1.645, abs=0.08)


def test_verdict_flags_scores_above_the_threshold_only():
    record = ood.ood_calibration("knn", np.linspace(0.0, 0.3, 1000), "val", k=1)
    threshold = record["thresholds"]["0.05"]
    above = ood.ood_verdict(threshold + 1e-6, record)
    below = ood.ood_verdict(threshold - 1e-6, record)
    assert above["unlike_references"] and not below["unlike_references"]
    assert above["score_name"] == "knn1" and above["false_alarm_rate"] == 0.05
    assert ood.ood_verdict(threshold - 1e-6, record, rate="0.01")["threshold"] > threshold


def test_too_few_calibration_samples_give_no_threshold():
    record = ood.ood_calibration("energy", np.arange(20.0), "val")  # 0.01 needs n >= 99
    assert record["thresholds"]["0.01"] is None and record["thresholds"]["0.05"] == 19.0
    assert ood.ood_verdict(100.0, record, rate="0.01") is None
