"""Losses of the two-head network: classification, year regression and their combination.

The classification loss is cross-entropy on hard labels or on soft (mix-up) targets; the year loss
is log-cosh (or L1 / MSE) on the *normalised* year. :class:`MocarLoss` turns a model output
(``ModelOutput(logits, year, embedding)``; ``year`` is ``None`` for classification-only models) and
the targets into ``{"loss", "loss_cls", "loss_reg"}``.

Combination modes (``Lc`` classification loss, ``Lr`` regression loss):

* ``sum``: ``Lc + Lr``
* ``product``: ``Lc * Lr``
* ``both``: ``Lc + Lr + Lc * Lr``
* ``uncertainty``: homoscedastic task-uncertainty weighting, Kendall, Gal & Cipolla (CVPR 2018),
  in the paper's classification/regression form with learnable ``s = log(sigma^2)`` per task::

      L = exp(-s_c) * Lc + 0.5 * s_c  +  0.5 * exp(-s_r) * Lr + 0.5 * s_r

  (Eq. 10 of the paper: ``1/sigma_c^2 Lc + log sigma_c + 1/(2 sigma_r^2) Lr + log sigma_r``.)
  The log-variances start at 0 and live in :class:`UncertaintyWeighting`, whose parameters must be
  given to the optimiser (``MocarLoss.parameters()``). Caveat: the Gaussian derivation assumes an
  L2 regression loss; with log-cosh it is a heuristic weighting. The total can become negative.

Year targets must be finite (rows with an unknown year should be dropped before training).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Protocol

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from mocar.errors import ConfigError, InputError

COMBINATION_MODES = ("sum", "product", "both", "uncertainty")
REGRESSION_LOSSES = ("log_cosh", "l1", "mse")
REDUCTIONS = ("mean", "sum", "none")
_LOG_2 = math.log(2.0)


class ModelOutputLike(Protocol):
    """What :class:`MocarLoss` reads from a model output (``mocar.model``'s ``ModelOutput``)."""

    logits: Tensor
    year: Tensor | None


def _reduce(values: Tensor, reduction: str) -> Tensor:
    if reduction == "mean":
        return values.mean()
    if reduction == "sum":
        return values.sum()
    if reduction == "none":
        return values
    raise ConfigError(f"reduction must be one of {REDUCTIONS}, got {reduction!r}")


def log_cosh(pred: Tensor, target: Tensor, reduction: str = "mean") -> Tensor:
    """Log-cosh regression loss, ``log(cosh(pred - target))``, stable for any difference.

    Uses ``log cosh x = |x| + softplus(-2|x|) - log 2``: no ``cosh`` overflow for large ``|x|`` and,
    thanks to ``|x|``, no cancellation between large opposite terms. Its gradient is ``tanh(x)``.

    Args:
        pred: Predictions.
        target: Targets, same shape as ``pred``.
        reduction: ``"mean"``, ``"sum"`` or ``"none"``.
    """
    if pred.shape != target.shape:
        raise InputError(f"log_cosh: pred shape {tuple(pred.shape)} != target shape {tuple(target.shape)}")
    abs_diff = (pred - target).abs()
    return _reduce(abs_diff + F.softplus(-2.0 * abs_diff) - _LOG_2, reduction)


def soft_cross_entropy(logits: Tensor, target_probs: Tensor, reduction: str = "mean") -> Tensor:
    """Cross-entropy against a probability distribution per sample (e.g. mix-up soft labels).

    Args:
        logits: ``(N, C)`` unnormalised scores.
        target_probs: ``(N, C)`` target probabilities (each row sums to 1).
        reduction: ``"mean"``, ``"sum"`` or ``"none"``.
    """
    if logits.shape != target_probs.shape:
        raise InputError(
            f"soft_cross_entropy: logits shape {tuple(logits.shape)} != "
            f"targets shape {tuple(target_probs.shape)}"
        )
    per_sample = -(target_probs * F.log_softmax(logits, dim=-1)).sum(dim=-1)
    return _reduce(per_sample, reduction)


def classification_loss(logits: Tensor, targets: Tensor) -> Tensor:
    """Mean cross-entropy for hard labels (``(N,)`` integer class ids) or soft targets (``(N, C)``)."""
    if targets.is_floating_point():
        return soft_cross_entropy(logits, targets)
    return F.cross_entropy(logits, targets)


def regression_loss(pred: Tensor, target: Tensor, kind: str = "log_cosh") -> Tensor:
    """Mean regression loss of the given ``kind`` (one of :data:`REGRESSION_LOSSES`)."""
    if kind == "log_cosh":
        return log_cosh(pred, target)
    if kind == "l1":
        return F.l1_loss(pred, target)
    if kind == "mse":
        return F.mse_loss(pred, target)
    raise ConfigError(f"regression loss must be one of {REGRESSION_LOSSES}, got {kind!r}")


class UncertaintyWeighting(nn.Module):
    """Learnable homoscedastic-uncertainty weighting of a classification and a regression loss.

    Holds ``log_var_cls`` and ``log_var_reg`` (``s = log sigma^2``, initialised to 0). See the module
    docstring for the formula. Its parameters must be optimised together with the model's.
    """

    def __init__(self) -> None:
        super().__init__()
        self.log_var_cls = nn.Parameter(torch.zeros(()))
        self.log_var_reg = nn.Parameter(torch.zeros(()))

    def forward(self, loss_cls: Tensor, loss_reg: Tensor) -> Tensor:
        """Weighted total loss."""
        cls_term = torch.exp(-self.log_var_cls) * loss_cls + 0.5 * self.log_var_cls
        reg_term = 0.5 * torch.exp(-self.log_var_reg) * loss_reg + 0.5 * self.log_var_reg
        return cls_term + reg_term


def combine_losses(
    loss_cls: Tensor, loss_reg: Tensor, mode: str, uncertainty: UncertaintyWeighting | None = None
) -> Tensor:
    """Combine the two task losses according to ``mode`` (one of :data:`COMBINATION_MODES`).

    Args:
        loss_cls: Scalar classification loss.
        loss_reg: Scalar regression loss.
        mode: ``"sum"``, ``"product"``, ``"both"`` or ``"uncertainty"``.
        uncertainty: The weighting module; required for ``"uncertainty"``.
    """
    if mode == "sum":
        return loss_cls + loss_reg
    if mode == "product":
        return loss_cls * loss_reg
    if mode == "both":
        return loss_cls + loss_reg + loss_cls * loss_reg
    if mode == "uncertainty":
        if uncertainty is None:
            raise ConfigError("combination mode 'uncertainty' needs an UncertaintyWeighting module")
        return uncertainty(loss_cls, loss_reg)
    raise ConfigError(f"loss combination must be one of {COMBINATION_MODES}, got {mode!r}")


@dataclass(frozen=True)
class LossConfig:
    """How the training loss is built.

    Attributes:
        combination: How classification and regression losses are combined
            (one of :data:`COMBINATION_MODES`); ignored for classification-only models.
        regression: Year regression loss (one of :data:`REGRESSION_LOSSES`).
    """

    combination: str = "sum"
    regression: str = "log_cosh"

    def __post_init__(self) -> None:
        if self.combination not in COMBINATION_MODES:
            raise ConfigError(
                f"loss combination must be one of {COMBINATION_MODES}, got {self.combination!r}"
            )
        if self.regression not in REGRESSION_LOSSES:
            raise ConfigError(f"regression loss must be one of {REGRESSION_LOSSES}, got {self.regression!r}")


class MocarLoss(nn.Module):
    """Training loss for classification-only and hybrid (class + year) models.

    Give ``MocarLoss.parameters()`` to the optimiser as well: in ``uncertainty`` mode it holds the
    learnable log-variances (in the other modes it has no parameters).
    """

    def __init__(self, config: LossConfig | None = None) -> None:
        super().__init__()
        self.config = config or LossConfig()
        is_uncertainty = self.config.combination == "uncertainty"
        self.uncertainty = UncertaintyWeighting() if is_uncertainty else None

    def forward(
        self, output: ModelOutputLike, class_targets: Tensor, year_targets: Tensor | None = None
    ) -> dict[str, Any]:
        """Compute the losses of one batch.

        Args:
            output: Model output with ``logits`` ``(N, C)`` and ``year`` (``(N,)``, ``(N, 1)`` or ``None``).
            class_targets: ``(N,)`` class ids or ``(N, C)`` soft labels.
            year_targets: ``(N,)`` or ``(N, 1)`` normalised years; required when ``output.year`` is set,
                ignored when it is ``None``.

        Returns:
            ``{"loss": total, "loss_cls": Lc, "loss_reg": Lr or None}`` (scalar tensors); for a
            classification-only model ``loss`` is ``Lc`` and ``loss_reg`` is ``None``.
        """
        loss_cls = classification_loss(output.logits, class_targets)
        if output.year is None:
            return {"loss": loss_cls, "loss_cls": loss_cls, "loss_reg": None}
        if year_targets is None:
            raise InputError("the model predicts a year but no year targets were given")
        pred_year = output.year.reshape(-1)
        target_year = year_targets.reshape(-1).to(pred_year.dtype)
        if pred_year.numel() != target_year.numel():
            raise InputError(
                f"year prediction has {pred_year.numel()} values but year targets have {target_year.numel()}"
            )
        loss_reg = regression_loss(pred_year, target_year, self.config.regression)
        total = combine_losses(loss_cls, loss_reg, self.config.combination, self.uncertainty)
        return {"loss": total, "loss_cls": loss_cls, "loss_reg": loss_reg}
