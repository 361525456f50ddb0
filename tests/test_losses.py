"""Tests of the training losses (mocar.train.losses), against values computed by hand."""
from __future__ import annotations

import math
from typing import NamedTuple

import pytest
import torch

from mocar.errors import ConfigError
from mocar.train.losses import (
    LossConfig,
    MocarLoss,
    UncertaintyWeighting,
    classification_loss,
    combine_losses,
    log_cosh,
    regression_loss,
    soft_cross_entropy,
)

# Worked example used throughout. Sample 0: logits (0, ln 3, 0) -> softmax (1/5, 3/5, 1/5), label 1
# -> CE ln(5/3). Sample 1: logits (0, 0, 0), label 2 -> CE ln 3. Mean: (ln(5/3) + ln 3) / 2 = ln(5) / 2.
LOGITS = torch.tensor([[0.0, math.log(3.0), 0.0], [0.0, 0.0, 0.0]], dtype=torch.float64)
LABELS = torch.tensor([1, 2])
LOSS_CLS = math.log(5.0) / 2
# Years: predictions (0, 1) against targets (0, 0) -> log-cosh mean (0 + ln cosh 1) / 2.
YEAR_PRED = torch.tensor([0.0, 1.0], dtype=torch.float64)
YEAR_TARGET = torch.tensor([0.0, 0.0], dtype=torch.float64)
LOSS_REG = math.log((math.e + 1 / math.e) / 2) / 2


class FakeOutput(NamedTuple):
    """Stands in for mocar.model's ModelOutput(logits, year, embedding)."""

    logits: torch.Tensor
    year: torch.Tensor | None
    embedding: torch.Tensor | None = None


def test_log_cosh_matches_naive_formula_for_small_values() -> None:
    pred = torch.linspace(-3, 3, 25, dtype=torch.float64)
    target = torch.full_like(pred, 0.25)
    naive = torch.log(torch.cosh(pred - target))
    assert torch.allclose(log_cosh(pred, target, reduction="none"), naive, atol=1e-12)
    assert log_cosh(YEAR_PRED, YEAR_TARGET).item() == pytest.approx(LOSS_REG, rel=1e-12)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_log_cosh_does_not_overflow_for_large_differences(dtype: torch.dtype) -> None:
    pred = torch.tensor([1e4, -1e4], dtype=dtype, requires_grad=True)
    target = torch.zeros(2, dtype=dtype)
    assert torch.isinf(torch.log(torch.cosh(pred.detach()))).all()  # the naive formula overflows
    values = log_cosh(pred, target, reduction="none")
    assert values.tolist() == pytest.approx([1e4 - math.log(2)] * 2, rel=1e-6)
    values.sum().backward()
    assert pred.grad.tolist() == pytest.approx([1.0, -1.0])  # d/dx log cosh x = tanh x


def test_log_cosh_gradient_is_tanh() -> None:
    diff = torch.tensor([-2.0, -0.3, 0.0, 0.7, 5.0], dtype=torch.float64, requires_grad=True)
    log_cosh(diff, torch.zeros_like(diff), reduction="sum").backward()
    assert torch.allclose(diff.grad, torch.tanh(diff.detach()), atol=1e-12)


def test_log_cosh_reductions_and_errors() -> None:
    assert log_cosh(YEAR_PRED, YEAR_TARGET, reduction="sum").item() == pytest.approx(2 * LOSS_REG)
    with pytest.raises(ConfigError, match="reduction"):
        log_cosh(YEAR_PRED, YEAR_TARGET, reduction="max")
    with pytest.raises(ValueError, match="shape"):
        log_cosh(YEAR_PRED, YEAR_TARGET[:1])


def test_cross_entropy_hand_value_and_soft_equals_hard_for_one_hot() -> None:
    assert classification_loss(LOGITS, LABELS).item() == pytest.approx(LOSS_CLS, rel=1e-12)
    one_hot = torch.nn.functional.one_hot(LABELS, 3).to(torch.float64)
    assert soft_cross_entropy(LOGITS, one_hot).item() == pytest.approx(LOSS_CLS, rel=1e-12)
    assert classification_loss(LOGITS, one_hot).item() == pytest.approx(LOSS_CLS, rel=1e-12)


def test_soft_cross_entropy_on_mixed_target() -> None:
    target = torch.tensor([[0.5, 0.5, 0.0]], dtype=torch.float64)
    expected = 0.5 * math.log(5.0) + 0.5 * math.log(5.0 / 3.0)  # -(0.5 ln 1/5 + 0.5 ln 3/5)
    assert soft_cross_entropy(LOGITS[:1], target).item() == pytest.approx(expected, rel=1e-12)
    with pytest.raises(ValueError, match="shape"):
        soft_cross_entropy(LOGITS, target)


def test_other_regression_losses() -> None:
    assert regression_loss(YEAR_PRED, YEAR_TARGET, "l1").item() == pytest.approx(0.5)
    assert regression_loss(YEAR_PRED + 1, YEAR_TARGET, "mse").item() == pytest.approx((1 + 4) / 2)
    with pytest.raises(ConfigError, match="regression loss"):
        regression_loss(YEAR_PRED, YEAR_TARGET, "huber")


@pytest.mark.parametrize(
    ("mode", "expected"),
    [
        ("sum", LOSS_CLS + LOSS_REG),
        ("product", LOSS_CLS * LOSS_REG),
        ("both", LOSS_CLS + LOSS_REG + LOSS_CLS * LOSS_REG),
        ("uncertainty", LOSS_CLS + 0.5 * LOSS_REG),  # log-variances start at 0
    ],
)
def test_combination_modes(mode: str, expected: float) -> None:
    loss_cls, loss_reg = torch.tensor(LOSS_CLS), torch.tensor(LOSS_REG)
    weighting = UncertaintyWeighting() if mode == "uncertainty" else None
    assert combine_losses(loss_cls, loss_reg, mode, weighting).item() == pytest.approx(expected, rel=1e-6)


def test_uncertainty_weighting_with_set_log_variances() -> None:
    weighting = UncertaintyWeighting()
    with torch.no_grad():
        weighting.log_var_cls.fill_(math.log(2.0))
        weighting.log_var_reg.fill_(math.log(4.0))
    # exp(-ln 2) Lc + 0.5 ln 2 + 0.5 exp(-ln 4) Lr + 0.5 ln 4 = Lc/2 + Lr/8 + 1.5 ln 2
    expected = LOSS_CLS / 2 + LOSS_REG / 8 + 1.5 * math.log(2.0)
    value = weighting(torch.tensor(LOSS_CLS), torch.tensor(LOSS_REG))
    assert value.item() == pytest.approx(expected, rel=1e-6)


def test_combination_errors() -> None:
    with pytest.raises(ConfigError, match="needs an UncertaintyWeighting"):
        combine_losses(torch.tensor(1.0), torch.tensor(1.0), "uncertainty")
    with pytest.raises(ConfigError, match="one of"):
        combine_losses(torch.tensor(1.0), torch.tensor(1.0), "mean")
    with pytest.raises(ConfigError, match="combination"):
        LossConfig(combination="weighted")
    with pytest.raises(ConfigError, match="regression"):
        LossConfig(regression="huber")


def test_mocar_loss_hybrid_model_and_year_shapes() -> None:
    loss_fn = MocarLoss(LossConfig(combination="both"))
    output = FakeOutput(LOGITS, YEAR_PRED.reshape(2, 1))  # heads often return (N, 1)
    losses = loss_fn(output, LABELS, YEAR_TARGET)
    assert losses["loss_cls"].item() == pytest.approx(LOSS_CLS, rel=1e-9)
    assert losses["loss_reg"].item() == pytest.approx(LOSS_REG, rel=1e-9)
    assert losses["loss"].item() == pytest.approx(LOSS_CLS + LOSS_REG + LOSS_CLS * LOSS_REG, rel=1e-9)
    assert list(loss_fn.parameters()) == []


def test_mocar_loss_classification_only_model() -> None:
    losses = MocarLoss(LossConfig(combination="product"))(FakeOutput(LOGITS, None), LABELS, YEAR_TARGET)
    assert losses["loss_reg"] is None
    assert losses["loss"].item() == pytest.approx(LOSS_CLS, rel=1e-9)
    assert losses["loss"] is losses["loss_cls"]


def test_mocar_loss_accepts_soft_labels() -> None:
    soft = torch.tensor([[0.5, 0.5, 0.0], [0.0, 0.0, 1.0]], dtype=torch.float64)
    losses = MocarLoss()(FakeOutput(LOGITS, YEAR_PRED), soft, YEAR_TARGET)
    expected_cls = (0.5 * math.log(5.0) + 0.5 * math.log(5.0 / 3.0) + math.log(3.0)) / 2
    assert losses["loss"].item() == pytest.approx(expected_cls + LOSS_REG, rel=1e-9)


def test_mocar_loss_rejects_missing_or_mismatched_years() -> None:
    loss_fn = MocarLoss()
    with pytest.raises(ValueError, match="no year targets"):
        loss_fn(FakeOutput(LOGITS, YEAR_PRED), LABELS)
    with pytest.raises(ValueError, match="2 values but year targets have 3"):
        loss_fn(FakeOutput(LOGITS, YEAR_PRED), LABELS, torch.zeros(3))


def test_gradients_reach_uncertainty_parameters_and_both_heads() -> None:
    loss_fn = MocarLoss(LossConfig(combination="uncertainty"))
    params = dict(loss_fn.named_parameters())
    assert set(params) == {"uncertainty.log_var_cls", "uncertainty.log_var_reg"}
    logits = LOGITS.float().clone().requires_grad_(True)
    year = YEAR_PRED.float().clone().requires_grad_(True)
    loss_fn(FakeOutput(logits, year), LABELS, YEAR_TARGET.float())["loss"].backward()
    # dL/ds_c = -exp(-s_c) Lc + 0.5 = 0.5 - Lc at s = 0; dL/ds_r = -0.5 exp(-s_r) Lr + 0.5 = 0.5 - 0.5 Lr.
    assert params["uncertainty.log_var_cls"].grad.item() == pytest.approx(0.5 - LOSS_CLS, rel=1e-5)
    assert params["uncertainty.log_var_reg"].grad.item() == pytest.approx(0.5 - 0.5 * LOSS_REG, rel=1e-5)
    assert logits.grad.abs().sum() > 0 and year.grad.abs().sum() > 0
    # One optimiser step moves the log-variances: they are trainable, not constants.
    optimizer = torch.optim.SGD(loss_fn.parameters(), lr=0.1)
    optimizer.step()
    assert params["uncertainty.log_var_cls"].item() == pytest.approx(-0.1 * (0.5 - LOSS_CLS), rel=1e-5)
