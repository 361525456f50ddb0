"""Parity metrics (mocar.runtime.parity) and validation rules (mocar.export.validate) on hand-made arrays."""
import math

import numpy as np
import pytest

from mocar.errors import InputError
from mocar.runtime import parity
from mocar.runtime.preprocessing import normalize_images
from mocar.export.validate import (
    FloatTolerance,
    Int8Limits,
    ValidationContext,
    check_metadata,
    float_parity,
    int8_parity,
    unexplained_flips,
    validate_outputs,
)


def test_top1_agreement_accuracy_and_margin():
    reference = np.array([[1.0, 0.0], [0.0, 1.0], [2.0, 1.0]])
    candidate = np.array([[1.0, 0.0], [1.0, 0.0], [2.0, 1.5]])
    targets = np.array([0, 1, 1])
    assert parity.top1_agreement(reference, candidate) == pytest.approx(2 / 3)
    assert parity.accuracy(reference, targets) == pytest.approx(2 / 3)
    assert parity.accuracy_delta(reference, candidate, targets) == pytest.approx(1 / 3 - 2 / 3)
    np.testing.assert_allclose(parity.top1_margin(np.array([[3.0, 1.0, 2.0], [0.0, 0.0, 0.0]])), [1.0, 0.0])


def test_absolute_relative_errors_and_tolerance_excess():
    reference = np.array([[-4.0, 2.0], [1.0, 0.0]])
    candidate = np.array([[-4.0, 2.4], [1.0, -0.2]])
    assert parity.max_abs_error(reference, candidate) == pytest.approx(0.4)
    assert parity.mean_abs_error(reference, candidate) == pytest.approx(0.15)
    assert parity.max_relative_error(reference, candidate) == pytest.approx(0.1)  # 0.4 / max|ref| 4
    # worst element: |2.4 - 2| - (0.1 + 0.1 * 2) = 0.1 outside; a looser rtol brings it inside.
    assert parity.tolerance_excess(reference, candidate, rtol=0.1, atol=0.1) == pytest.approx(0.1)
    assert parity.tolerance_excess(reference, candidate, rtol=0.2, atol=0.25) == pytest.approx(-0.05)
    with pytest.raises(InputError, match="shape mismatch"):
        parity.max_abs_error(reference, candidate[:1])


def test_psnr_uses_the_reference_range():
    reference = np.array([0.0, 1.0, 2.0, 3.0])
    noisy = reference + np.array([0.1, -0.1, 0.1, -0.1])  # mse 0.01, peak 3
    assert parity.psnr(reference, noisy) == pytest.approx(10 * math.log10(9 / 0.01))
    assert parity.psnr(reference, reference) == math.inf
    assert parity.psnr(np.full(4, 2.0), np.full(4, 2.1)) == pytest.approx(10 * math.log10(4 / 0.01))


def test_cosine_rows_and_stats():
    reference = np.array([[1.0, 0.0], [0.0, 0.0], [1.0, 1.0], [3.0, 0.0]])
    candidate = np.array([[0.0, 1.0], [0.0, 0.0], [2.0, 2.0], [0.0, 0.0]])
    np.testing.assert_allclose(parity.row_cosine(reference, candidate), [0.0, 1.0, 1.0, 0.0])
    stats = parity.cosine_stats(reference, candidate)
    assert stats["mean"] == pytest.approx(0.5) and stats["min"] == 0.0 and stats["p01"] == pytest.approx(0.0)


def test_year_mae_delta_in_years():
    true_years = np.array([0.0, 100.0])
    assert parity.mean_abs_year_error(np.array([10.0, 90.0]), true_years) == pytest.approx(10.0)
    assert parity.year_mae_delta(np.array([10.0, 90.0]), np.array([0.0, 130.0]), true_years) == pytest.approx(5.0)


def _context(n=4):
    return ValidationContext(targets=np.arange(n) % 2, true_years=np.linspace(-500, 500, n), year_mean=0.0,
                             year_scale=100.0)


def _reference(n=4):
    logits = np.array([[4.0, 0.0], [0.0, 4.0]] * (n // 2))
    return {"logits": logits, "year": np.linspace(-5, 5, n), "embedding": np.ones((n, 3))}


def test_float_parity_flags_only_the_output_outside_tolerance():
    reference = _reference()
    candidate = {k: v.copy() for k, v in reference.items()}
    candidate["logits"] = candidate["logits"] + 1e-5  # inside 1e-4 x scale 4
    candidate["embedding"][0, 0] += 0.01  # outside 1e-4 x 1 + 1e-3 x 1
    figures, failures = float_parity(reference, candidate, FloatTolerance(rtol=1e-3, atol=1e-4), _context())
    assert len(failures) == 1 and failures[0].startswith("embedding")
    assert figures["outputs"]["logits"]["excess"] < 0 < figures["outputs"]["embedding"]["excess"]
    assert figures["top1_agreement"] == 1.0 and figures["unexplained_flips"] == 0


def test_unexplained_flips_ignore_near_ties():
    reference = np.array([[1.0, 1.00001], [4.0, 0.0]])
    candidate = np.array([[1.00002, 1.0], [0.0, 4.0]])
    assert unexplained_flips(reference, candidate, FloatTolerance(rtol=1e-3, atol=1e-4)) == 1


def test_int8_parity_collects_every_failure():
    reference = _reference()
    candidate = {"logits": reference["logits"][:, ::-1].copy(), "year": reference["year"] + 1.0,
                 "embedding": -reference["embedding"]}
    figures, failures = int8_parity(reference, candidate, Int8Limits(), _context())
    assert figures["top1_agreement"] == 0.0
    assert figures["year_shift_mae"] == pytest.approx(100.0)  # 1 normalised unit x scale 100
    assert figures["embedding_cosine"]["p01"] == pytest.approx(-1.0)
    assert [f.split()[0] for f in failures] == ["top-1", "accuracy", "year", "embedding"]
    _, none = int8_parity(reference, {k: v.copy() for k, v in reference.items()}, Int8Limits(), _context())
    assert none == []


def test_validate_outputs_reports_missing_outputs_and_aligns_shapes():
    reference = _reference()
    candidate = {"logits": reference["logits"], "year": reference["year"].reshape(-1, 1)}
    _, failures = validate_outputs(reference, candidate, "fp32", _context())
    assert failures == ["output 'embedding' missing (file gives ['logits', 'year'])"]
    candidate["embedding"] = reference["embedding"]
    assert validate_outputs(reference, candidate, "fp32", _context())[1] == []


def test_check_metadata_names_changed_fields():
    expected = {"input": {"mean": [0.5] * 3, "std": [0.5] * 3}, "labels": {"names": ["a", "b"]}, "year": None}
    embedded = {"input": {"mean": [0.5] * 3, "std": [0.25] * 3}, "labels": {"names": ["a", "b"]}}
    assert check_metadata(embedded, expected) == ["metadata input.std: file has [0.25, 0.25, 0.25], expected [0.5, 0.5, 0.5]"]


def test_normalize_images_matches_training_preprocessing_bit_for_bit():
    from mocar.data.transforms import DataConfig, to_normalized_tensor

    cfg = DataConfig(input_size=8, resize=8, mean=(0.485, 0.456, 0.406), std=(0.229, 0.224, 0.225))
    images = np.random.default_rng(0).integers(0, 256, (3, 8, 8, 3), dtype=np.uint8)
    expected = np.stack([to_normalized_tensor(image, cfg).numpy() for image in images])
    assert np.array_equal(normalize_images(images, list(cfg.mean), list(cfg.std)), expected)


def test_image_to_input_builds_its_data_config_once_and_matches_evaluation(monkeypatch):
    from PIL import Image

    from mocar.data.transforms import DataConfig, eval_transform
    from mocar.runtime import preprocessing

    built = []

    def counted(**kwargs):
        built.append(kwargs)
        return DataConfig(**kwargs)

    monkeypatch.setattr(preprocessing, "DataConfig", counted)
    prep = preprocessing.Preprocessing(12, (0.485, 0.456, 0.406), (0.229, 0.224, 0.225), "bicubic")
    rng = np.random.default_rng(3)
    for height, width in ((20, 30), (12, 12), (41, 9)):
        image = Image.fromarray(rng.integers(0, 256, (height, width, 3), dtype=np.uint8))
        expected = eval_transform(image, DataConfig(input_size=12, resize=12, mean=prep.mean, std=prep.std,
                                                    interpolation="bicubic")).numpy()
        got = prep.image_to_input(image)
        assert got.dtype == np.float32 and got.tobytes() == expected.tobytes()
    assert len(built) == 1, "one DataConfig per Preprocessing, not one per image"
