"""Tests of batch mix-up (mocar.train.mixup)."""
from __future__ import annotations

import pytest
import torch

from mocar.errors import ConfigError
from mocar.train.mixup import mixup_batch

NUM_CLASSES = 5


def _batch(n: int = 8) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    images = torch.arange(n * 3 * 2 * 2, dtype=torch.float32).reshape(n, 3, 2, 2)
    labels = torch.arange(n) % NUM_CLASSES
    years = torch.linspace(-1.0, 1.0, n)
    return images, labels, years


def _mix(alpha: float, seed: int = 0, years: bool = True):  # noqa: ANN202
    images, labels, year_values = _batch()
    generator = torch.Generator().manual_seed(seed)
    return mixup_batch(images, labels, year_values if years else None, NUM_CLASSES, alpha, generator)


def test_alpha_zero_is_identity_with_one_hot_labels() -> None:
    images, labels, years = _batch()
    mixed, soft, mixed_years, lam = mixup_batch(images, labels, years, NUM_CLASSES, 0.0)
    assert lam == 1.0
    assert torch.equal(mixed, images) and torch.equal(mixed_years, years)
    assert torch.equal(soft, torch.nn.functional.one_hot(labels, NUM_CLASSES).float())


def test_shapes_dtypes_and_soft_labels_sum_to_one() -> None:
    mixed, soft, mixed_years, lam = _mix(alpha=0.4)
    assert mixed.shape == (8, 3, 2, 2) and soft.shape == (8, NUM_CLASSES) and mixed_years.shape == (8,)
    assert soft.dtype == torch.float32
    assert torch.allclose(soft.sum(dim=1), torch.ones(8))
    assert 0.0 < lam < 1.0


def test_images_labels_and_years_share_one_lambda_and_one_pairing() -> None:
    images, labels, years = _batch()
    mixed, soft, mixed_years, lam = _mix(alpha=1.0, seed=3)
    one_hot = torch.nn.functional.one_hot(labels, NUM_CLASSES).float()
    # Recover each sample's partner from the images (all rows differ), then check the exact relation.
    partners = []
    for i in range(len(images)):
        residual = (mixed[i] - lam * images[i]) / (1 - lam)
        distances = (images - residual).flatten(1).abs().amax(dim=1)
        partners.append(int(distances.argmin()))
        assert distances.min() < 1e-3
    perm = torch.tensor(partners)
    assert sorted(partners) == list(range(len(images)))  # a permutation of the batch
    assert torch.allclose(soft, lam * one_hot + (1 - lam) * one_hot[perm], atol=1e-6)
    assert torch.allclose(mixed_years, lam * years + (1 - lam) * years[perm], atol=1e-6)
    assert perm.tolist() != list(range(len(images)))  # samples are really paired with others


def test_deterministic_given_generator_and_varies_with_seed() -> None:
    first, second, other = _mix(0.4, seed=7), _mix(0.4, seed=7), _mix(0.4, seed=8)
    assert first[3] == second[3] and torch.equal(first[0], second[0]) and torch.equal(first[1], second[1])
    assert other[3] != first[3]


def test_lambda_follows_beta_distribution() -> None:
    # Beta(0.1, 0.1) puts most mass near 0 and 1; Beta(2, 2) around 0.5 (mean 0.5, variance 0.05).
    generator = torch.Generator().manual_seed(0)
    images, labels, _ = _batch(2)
    draw = lambda alpha: mixup_batch(images, labels, None, NUM_CLASSES, alpha, generator)[3]  # noqa: E731
    small = torch.tensor([draw(0.1) for _ in range(400)])
    wide = torch.tensor([draw(2.0) for _ in range(400)])
    assert ((small < 0.05) | (small > 0.95)).float().mean() > 0.6
    assert abs(wide.mean().item() - 0.5) < 0.05 and abs(wide.var().item() - 0.05) < 0.015


def test_years_none_stays_none() -> None:
    _, _, mixed_years, _ = _mix(0.4, years=False)
    assert mixed_years is None


def test_year_column_shape_is_kept() -> None:
    images, labels, years = _batch()
    _, _, mixed_years, _ = mixup_batch(images, labels, years[:, None], NUM_CLASSES, 0.2)
    assert mixed_years.shape == (8, 1)


def test_invalid_inputs() -> None:
    images, labels, years = _batch()
    with pytest.raises(ConfigError, match="alpha"):
        mixup_batch(images, labels, years, NUM_CLASSES, -0.1)
    with pytest.raises(ValueError, match=r"\[0, 3\)"):
        mixup_batch(images, labels, years, 3, 0.1)
    with pytest.raises(ValueError, match="years have 7 rows"):
        mixup_batch(images, labels, years[:7], NUM_CLASSES, 0.1)
    with pytest.raises(ValueError, match="labels must be"):
        mixup_batch(images, labels[:4], years, NUM_CLASSES, 0.1)
