"""Tests of the learning-rate range test (mocar.train.lr_find)."""
from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from mocar.errors import ConfigError
from mocar.train.lr_find import LrFindResult, lr_range_test, plot_lr_find, suggest_lr

BOWL_MINIMUM_LR = 1e-2


def bowl_loss(lr: float) -> float:
    """Quadratic bowl in log10(lr) with its minimum (loss 1) at lr = 1e-2."""
    return (math.log10(lr) - math.log10(BOWL_MINIMUM_LR)) ** 2 + 1.0


def test_lrs_grow_exponentially_from_min_to_max() -> None:
    result = lr_range_test(bowl_loss, lr_min=1e-6, lr_max=1.0, num_steps=100)
    assert result.stop_reason == "completed" and len(result.lrs) == 100
    assert result.lrs[0] == pytest.approx(1e-6) and result.lrs[-1] == pytest.approx(1.0)
    ratios = np.diff(np.log(result.lrs))
    assert np.allclose(ratios, math.log(1e6) / 99)


def test_suggestion_on_noise_free_bowl_is_a_decade_below_the_minimum() -> None:
    result = lr_range_test(bowl_loss, lr_min=1e-6, lr_max=1.0, num_steps=100)
    # One lr step is 6/99 decades; the centred average keeps the minimum in place.
    assert abs(math.log10(result.suggested_lr) - math.log10(BOWL_MINIMUM_LR / 10)) < 0.07


@pytest.mark.parametrize("seed", [0, 1, 2, 3, 4])
def test_suggestion_is_robust_to_noise(seed: int) -> None:
    rng = np.random.default_rng(seed)
    noisy = lambda lr: bowl_loss(lr) + rng.normal(0.0, 0.3)  # noqa: E731
    result = lr_range_test(noisy, lr_min=1e-6, lr_max=1.0, num_steps=100)
    assert abs(math.log10(result.suggested_lr) - math.log10(BOWL_MINIMUM_LR / 10)) < 0.35


def test_smoothed_loss_is_bias_corrected() -> None:
    with pytest.warns(UserWarning, match="never decreased"):  # a flat loss has its minimum at step 0
        result = lr_range_test(lambda lr: 2.5, num_steps=10)
    assert result.smoothed_losses == pytest.approx([2.5] * 10)  # not 0.05 at the first step


def test_stops_early_when_loss_diverges() -> None:
    calls: list[float] = []

    def exploding(lr: float) -> float:
        calls.append(lr)
        # Gentle bowl with its minimum at 1e-3, then a blow-up past it.
        return 1.0 + (math.log10(lr) + 3.0) ** 2 / 10 if lr < 1e-3 else 1.0 + (lr / 1e-3) ** 2

    result = lr_range_test(exploding, lr_min=1e-6, lr_max=1.0, num_steps=100, diverge_factor=4.0)
    assert result.stop_reason == "diverged"
    assert 50 < len(result.lrs) < 100 and len(calls) == len(result.lrs)
    assert result.smoothed_losses[-1] > 4.0 * min(result.smoothed_losses)
    # ... and it stopped at the first crossing.
    assert result.smoothed_losses[-2] <= 4.0 * min(result.smoothed_losses[:-1])
    assert abs(math.log10(result.suggested_lr) - math.log10(1e-4)) < 0.3


def test_stops_on_non_finite_loss_without_recording_it() -> None:
    result = lr_range_test(lambda lr: math.nan if lr > 1e-2 else 1.0 / (1.0 + lr), num_steps=50)
    assert result.stop_reason == "non_finite"
    assert all(math.isfinite(loss) for loss in result.losses) and max(result.lrs) <= 1e-2


def test_suggest_lr_errors_and_warning() -> None:
    with pytest.raises(ValueError, match="as many lrs as losses"):
        suggest_lr([1e-3, 1e-2], [1.0])
    with pytest.raises(ValueError, match="finite"):
        suggest_lr([1e-3, 1e-2], [1.0, math.inf])
    with pytest.warns(UserWarning, match="never decreased"):
        assert suggest_lr([1e-3, 1e-2, 1e-1], [1.0, 2.0, 3.0]) == pytest.approx(1e-4)


@pytest.mark.parametrize(
    "kwargs",
    [{"lr_min": 1.0, "lr_max": 0.1}, {"num_steps": 1}, {"smoothing": 1.0}, {"diverge_factor": 1.0}],
)
def test_invalid_settings(kwargs: dict) -> None:
    with pytest.raises(ConfigError):
        lr_range_test(bowl_loss, **kwargs)


def test_on_a_tiny_torch_regression() -> None:
    torch.manual_seed(0)
    inputs = torch.randn(256, 4)
    targets = inputs @ torch.tensor([[1.5], [-2.0], [0.5], [3.0]]) + 0.1 * torch.randn(256, 1)
    model = torch.nn.Linear(4, 1)
    initial_state = {k: v.clone() for k, v in model.state_dict().items()}
    optimizer = torch.optim.SGD(model.parameters(), lr=1e-5)
    generator = torch.Generator().manual_seed(0)

    def train_step(lr: float) -> float:
        for group in optimizer.param_groups:
            group["lr"] = lr
        batch = torch.randint(0, len(inputs), (32,), generator=generator)
        loss = torch.nn.functional.mse_loss(model(inputs[batch]), targets[batch])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        return loss.item()

    result = lr_range_test(train_step, lr_min=1e-5, lr_max=10.0, num_steps=100)
    assert result.stop_reason in {"diverged", "non_finite"}  # plain SGD cannot survive lr = 10
    assert math.isfinite(result.suggested_lr) and 1e-4 < result.suggested_lr < 1.0
    # The suggestion actually trains: restore the model (the caller's job) and fit with it.
    model.load_state_dict(initial_state)
    optimizer = torch.optim.SGD(model.parameters(), lr=result.suggested_lr)
    start = torch.nn.functional.mse_loss(model(inputs), targets).item()
    for _ in range(300):
        train_step(result.suggested_lr)
    assert torch.nn.functional.mse_loss(model(inputs), targets).item() < 0.1 * start


def test_plot_writes_a_valid_png(tmp_path: Path) -> None:
    result = lr_range_test(bowl_loss, num_steps=60)
    path = plot_lr_find(result, tmp_path / "sub" / "lr_find.png")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    with Image.open(path) as image:
        image.verify()
    with Image.open(path) as image:
        assert image.size == (600, 400)


def test_result_round_trips_through_json() -> None:
    result = lr_range_test(bowl_loss, num_steps=20)
    restored = LrFindResult.from_dict(json.loads(json.dumps(result.to_dict())))
    assert restored == result
    assert restored.settings["num_steps"] == 20
