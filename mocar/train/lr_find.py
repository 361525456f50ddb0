"""Learning-rate range test (Smith, "Cyclical Learning Rates", 2017), independent of the model.

:func:`lr_range_test` calls ``step_fn(lr)`` once per step with an exponentially growing learning
rate; ``step_fn`` performs one training step at that lr and returns its loss. The test stops when
the exponentially smoothed loss exceeds ``diverge_factor`` times the best one seen, or when the loss
is not finite.

The test *trains* the model: the caller must save the model and optimiser state before the test
and restore it afterwards (or start the real run from a fresh model).

Suggestion rule (:func:`suggest_lr`): smooth the raw losses with a centred moving average (no lag,
unlike the running average used for the divergence test, whose minimum trails the true one by about
``1 / (1 - smoothing)`` steps), take the learning rate at the minimum of that curve and divide it by
10. The minimum is where training just stops improving; one decade lower is still on the steep,
stable part of the curve. Using the minimum of a smoothed curve rather than the steepest slope keeps
the rule robust to noise (a derivative amplifies it).
"""
from __future__ import annotations

import dataclasses
import math
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from mocar.errors import ConfigError, InputError

SUGGESTION_DIVISOR = 10.0
STOP_COMPLETED = "completed"
STOP_DIVERGED = "diverged"
STOP_NON_FINITE = "non_finite"


@dataclass
class LrFindResult:
    """Outcome of a range test.

    Attributes:
        lrs: Learning rate of each recorded step.
        losses: Raw loss of each recorded step.
        smoothed_losses: Bias-corrected exponential moving average of the losses.
        suggested_lr: Result of :func:`suggest_lr` on ``lrs`` and ``losses``.
        stop_reason: ``"completed"``, ``"diverged"`` or ``"non_finite"``.
        settings: The test's arguments (lr_min, lr_max, num_steps, smoothing, diverge_factor).
    """

    lrs: list[float]
    losses: list[float]
    smoothed_losses: list[float]
    suggested_lr: float
    stop_reason: str
    settings: dict[str, float] = dataclasses.field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """Plain dict for JSON."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> LrFindResult:
        """Inverse of :meth:`to_dict` (e.g. to re-plot a saved result)."""
        return cls(**data)


def _centred_moving_average(values: np.ndarray, window: int) -> np.ndarray:
    kernel = np.ones(window)
    sums = np.convolve(values, kernel, mode="same")
    counts = np.convolve(np.ones_like(values), kernel, mode="same")  # fewer points at the edges
    return sums / counts


def suggest_lr(lrs: Sequence[float], losses: Sequence[float], window: int | None = None) -> float:
    """Suggested base learning rate: lr at the minimum of the centred-smoothed loss, divided by 10.

    Args:
        lrs: Learning rates, increasing.
        losses: Raw loss at each learning rate.
        window: Moving-average width in steps; default ``max(3, len(losses) // 10)`` made odd.

    Returns:
        The suggested learning rate. Warns when the minimum is the first point (the loss never
        decreased: lower ``lr_min``).
    """
    if len(lrs) != len(losses) or len(lrs) == 0:
        raise InputError(f"need as many lrs as losses (at least one), got {len(lrs)} and {len(losses)}")
    values = np.asarray(losses, dtype=float)
    if not np.all(np.isfinite(values)):
        raise InputError("losses must be finite; drop the non-finite tail first")
    if window is not None and window < 1:
        raise ConfigError(f"window must be a positive number of steps, got {window!r}")
    width = window if window is not None else max(3, len(values) // 10)
    largest_odd = len(values) if len(values) % 2 else len(values) - 1
    width = min(width | 1, largest_odd)  # odd, so the average is centred on each point
    best = int(np.argmin(_centred_moving_average(values, width)))
    if best == 0 and len(values) > 1:
        warnings.warn("lr range test: the loss never decreased; try a lower lr_min", stacklevel=2)
    return float(lrs[best]) / SUGGESTION_DIVISOR


def _check_settings(
    lr_min: float, lr_max: float, num_steps: int, smoothing: float, diverge_factor: float
) -> None:
    if not 0 < lr_min < lr_max:
        raise ConfigError(f"need 0 < lr_min < lr_max, got lr_min={lr_min!r} lr_max={lr_max!r}")
    if num_steps < 2:
        raise ConfigError(f"num_steps must be at least 2, got {num_steps!r}")
    if not 0 <= smoothing < 1:
        raise ConfigError(f"smoothing must be in [0, 1), got {smoothing!r}")
    if diverge_factor <= 1:
        raise ConfigError(f"diverge_factor must be > 1, got {diverge_factor!r}")


def lr_range_test(
    step_fn: Callable[[float], float],
    lr_min: float = 1e-6,
    lr_max: float = 1.0,
    num_steps: int = 100,
    smoothing: float = 0.98,
    diverge_factor: float = 4.0,
) -> LrFindResult:
    """Run the range test (see the module docstring; restoring the model is the caller's job).

    Args:
        step_fn: Performs one training step at the given lr and returns the loss.
        lr_min: First learning rate.
        lr_max: Last learning rate (reached at step ``num_steps - 1``).
        num_steps: Maximum number of steps; the lr grows by ``(lr_max/lr_min)**(1/(num_steps-1))``.
        smoothing: Exponential-moving-average factor of the divergence test.
        diverge_factor: Stop once the smoothed loss exceeds this multiple of the best smoothed loss.

    Returns:
        The recorded curve and the suggestion.
    """
    _check_settings(lr_min, lr_max, num_steps, smoothing, diverge_factor)
    growth = (lr_max / lr_min) ** (1.0 / (num_steps - 1))
    lrs: list[float] = []
    losses: list[float] = []
    smoothed: list[float] = []
    running, best, stop_reason = 0.0, math.inf, STOP_COMPLETED
    for step in range(num_steps):
        lr = lr_min * growth**step
        loss = float(step_fn(lr))
        if not math.isfinite(loss):
            stop_reason = STOP_NON_FINITE
            break
        running = smoothing * running + (1.0 - smoothing) * loss
        smooth_loss = running / (1.0 - smoothing ** (step + 1))  # bias correction of the zero start
        lrs.append(lr)
        losses.append(loss)
        smoothed.append(smooth_loss)
        best = min(best, smooth_loss)
        if step > 0 and smooth_loss > diverge_factor * best:
            stop_reason = STOP_DIVERGED
            break
    if not lrs:
        raise InputError(f"the first step at lr={lr_min:g} already gave a non-finite loss; lower lr_min")
    settings = {
        "lr_min": lr_min, "lr_max": lr_max, "num_steps": num_steps,
        "smoothing": smoothing, "diverge_factor": diverge_factor,
    }
    return LrFindResult(lrs, losses, smoothed, suggest_lr(lrs, losses), stop_reason, settings)


def plot_lr_find(result: LrFindResult, path: str | Path) -> Path:
    """Write a PNG of loss against learning rate (log scale) with the suggestion marked.

    Uses matplotlib's Agg canvas directly, so it neither needs a display nor changes pyplot's backend.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    figure = Figure(figsize=(6, 4), dpi=100)
    FigureCanvasAgg(figure)
    axes = figure.add_subplot()
    axes.plot(result.lrs, result.losses, color="0.7", linewidth=1, label="loss")
    axes.plot(result.lrs, result.smoothed_losses, color="C0", label="smoothed loss (EMA)")
    axes.axvline(
        result.suggested_lr, color="C3", linestyle="--", label=f"suggested lr {result.suggested_lr:.2e}"
    )
    axes.set_xscale("log")
    axes.set_xlabel("learning rate")
    axes.set_ylabel("loss")
    axes.set_title(f"LR range test ({result.stop_reason}, {len(result.lrs)} steps)")
    axes.legend()
    figure.tight_layout()
    figure.savefig(out, format="png")
    return out
