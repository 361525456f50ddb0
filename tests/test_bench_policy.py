"""Tests for the parity policy gate and its JUnit output."""

import xml.etree.ElementTree as ET

import pytest

from mocar.bench.junit import write_junit
from mocar.runtime.policy import evaluate_policy, load_policy
from mocar.errors import ConfigError


def _int8_row(agreement: float, parity_images: int = 1500, labelled_images: int = 1200) -> dict:
    return {"export": "model_int8.onnx", "precision": "int8", "agreement": agreement,
            "delta_top1": -0.2, "delta_mae_rel": 1.0, "embedding_cosine_p1": 0.995,
            "retrieval_overlap5": 0.95, "simulated": False, "parity_images": parity_images,
            "labelled_images": labelled_images}


def test_default_policy_has_brief_thresholds():
    policy = load_policy()
    assert policy["fp32"]["agreement"]["min"] == 100.0
    assert policy["fp16"]["agreement"]["min"] == 99.5
    assert policy["int8"]["delta_top1"]["min"] == -0.5
    assert policy["int8"]["retrieval_overlap5"]["min"] == 0.9


def test_low_retrieval_overlap_fails_int8():
    row = {**_int8_row(agreement=100.0), "retrieval_overlap5": 0.85}
    failed = [r for r in evaluate_policy([row], load_policy()) if not r.passed]
    assert [(r.metric, r.measured) for r in failed] == [("retrieval_overlap5", 0.85)]


def test_violation_gives_failing_junit_case(tmp_path):
    results = evaluate_policy([_int8_row(agreement=98.0)], load_policy())
    failed = [r for r in results if not r.passed]
    assert [r.metric for r in failed] == ["agreement"]
    root = ET.parse(write_junit(results, tmp_path / "junit.xml")).getroot()
    assert root.get("failures") == "1"
    messages = [f.get("message") for f in root.iter("failure")]
    assert "98.0" in messages[0] and "99.0" in messages[0]


def test_pass_gives_no_failures(tmp_path):
    results = evaluate_policy([_int8_row(agreement=99.5)], load_policy())
    assert len(results) == 5 and all(r.passed for r in results)
    root = ET.parse(write_junit(results, tmp_path / "junit.xml")).getroot()
    assert root.get("failures") == "0"


def test_missing_metric_fails():
    row = _int8_row(agreement=100.0)
    del row["embedding_cosine_p1"]
    failed = [r for r in evaluate_policy([row], load_policy()) if not r.passed]
    assert [r.metric for r in failed] == ["embedding_cosine_p1"]


def test_bad_rule_raises(tmp_path):
    path = tmp_path / "p.yaml"
    path.write_text("int8:\n  agreement: 99\n")
    with pytest.raises(ConfigError, match="int8.agreement"):
        load_policy(path)


def test_raise_on_violations_names_export():
    from mocar.runtime.errors import PolicyViolation
    from mocar.runtime.policy import raise_on_violations

    policy = load_policy()
    raise_on_violations(evaluate_policy([_int8_row(agreement=99.5)], policy))
    with pytest.raises(PolicyViolation, match="model_int8.onnx: agreement = 98.0") as info:
        raise_on_violations(evaluate_policy([_int8_row(agreement=98.0)], policy))
    assert len(info.value.failures) == 1


def test_default_policy_needs_1000_images():
    assert load_policy()["min_images"] == 1000


def test_a_186_image_run_is_too_few_images_even_at_full_agreement():
    results = evaluate_policy([_int8_row(agreement=100.0, parity_images=186, labelled_images=186)], load_policy())
    assert results and all(r.within_bound for r in results)  # every point estimate is fine...
    assert all(not r.passed and r.too_few_images for r in results)  # ...but 186 images cannot tell
    assert "too few images (186 < 1000)" in results[0].describe()


def test_labelled_figures_count_labelled_images():
    results = evaluate_policy([_int8_row(agreement=99.5, parity_images=1500, labelled_images=186)], load_policy())
    too_few = {r.metric for r in results if r.too_few_images}
    assert too_few == {"delta_top1", "delta_mae_rel"}


def test_a_row_without_its_image_count_fails():
    row = _int8_row(agreement=99.5)
    del row["parity_images"]
    failed = {r.metric for r in evaluate_policy([row], load_policy()) if not r.passed}
    assert failed == {"agreement", "embedding_cosine_p1", "retrieval_overlap5"}


def test_an_interval_around_the_bound_is_within_noise_but_judged_on_the_estimate():
    row = {**_int8_row(agreement=99.3), "agreement_low": 98.6, "agreement_high": 99.7}
    check = next(r for r in evaluate_policy([row], load_policy()) if r.metric == "agreement")
    assert check.passed and check.within_noise and "within noise" in check.describe()
    row = {**row, "agreement": 98.9, "agreement_low": 98.2, "agreement_high": 99.4}
    check = next(r for r in evaluate_policy([row], load_policy()) if r.metric == "agreement")
    assert not check.passed and check.within_noise
    clear = {**row, "agreement": 99.8, "agreement_low": 99.4, "agreement_high": 99.95}
    assert not next(r for r in evaluate_policy([clear], load_policy()) if r.metric == "agreement").within_noise


def test_min_images_must_be_a_whole_number(tmp_path):
    path = tmp_path / "p.yaml"
    path.write_text("min_images: -3\nint8:\n  agreement: {min: 99}\n")
    with pytest.raises(ConfigError, match="min_images"):
        load_policy(path)
    path.write_text("min_images: 50\nint8:\n  agreement: {min: 99}\n")
    check = evaluate_policy([_int8_row(agreement=99.5, parity_images=60)], load_policy(path))[0]
    assert check.passed and check.min_images == 50
