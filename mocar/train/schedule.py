"""BiT-HyperRule: training length, resolution, mix-up and learning-rate schedule from dataset size.

Kolesnikov et al., "Big Transfer (BiT)" (2020) fine-tune every task with one rule that depends only on
the number of training images and their original size. This module restates that rule as small pure
functions, plus a typed :class:`ScheduleConfig` whose unset fields are filled from the rule.

Choices and caveats (where this module departs from, or fills a gap in, BiT's reference code):

* Steps are *optimiser updates* at the effective batch size (BiT: 512). With a micro-batch that fits
  in memory, :func:`gradient_accumulation_steps` gives the number of forward/backward passes per
  update so that the effective batch stays the same.
* Warm-up: ``min(500, round(0.2 * total_steps))`` updates by default. This reproduces BiT's three
  schedules exactly (100 of 500, 500 of 10k, 500 of 20k) and keeps warm-up short for custom lengths.
* Warm-up is linear from ``base_lr / warmup_steps`` at step 0 to ``base_lr`` at step
  ``warmup_steps - 1`` (BiT starts at exactly 0, which wastes the first update).
* Decay: the lr is divided by ``decay_factor`` (10) at 30 %, 60 % and 90 % of the total steps.
  BiT's 10k and 20k schedules use exactly these points; its 500-step schedule uses 40/60/80 %
  (pass ``boundaries=(0.4, 0.6, 0.8)`` to reproduce it).
* Steps are numbered ``0 .. total_steps - 1``; asking for the lr of step ``total_steps`` or later
  raises (training is over), rather than returning ``None`` as BiT does.
* Weight decay defaults to 0: BiT fine-tunes without weight decay (neither towards zero nor towards
  the pre-trained weights).
* An explicit ``base_lr`` is used as given; only the default one (0.003 at batch 512) is scaled
  linearly to the effective batch size.
"""
from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import torch

from mocar.errors import ConfigError

#: BiT's reference learning rate and the batch size it belongs to.
BIT_BASE_LR = 0.003
BIT_BASE_BATCH = 512
#: Dataset-size thresholds of the rule (number of training images).
SMALL_DATASET_IMAGES = 20_000
LARGE_DATASET_IMAGES = 500_000
#: Images with a smaller area (pixels) than this count as "small" for the resolution rule.
SMALL_IMAGE_AREA = 96 * 96
MAX_WARMUP_STEPS = 500
WARMUP_FRACTION = 0.2
DEFAULT_BOUNDARIES = (0.3, 0.6, 0.9)
DEFAULT_DECAY_FACTOR = 10.0


def _require_positive_int(name: str, value: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise ConfigError(f"{name} must be a positive integer, got {value!r}")


def bit_schedule_steps(dataset_size: int) -> int:
    """Number of optimiser updates for a dataset of ``dataset_size`` training images.

    Args:
        dataset_size: Number of training images.

    Returns:
        500 below 20k images, 10k below 500k images, 20k otherwise.
    """
    _require_positive_int("dataset_size", dataset_size)
    if dataset_size < SMALL_DATASET_IMAGES:
        return 500
    if dataset_size < LARGE_DATASET_IMAGES:
        return 10_000
    return 20_000


def bit_warmup_steps(total_steps: int) -> int:
    """Default linear warm-up length: ``min(500, round(0.2 * total_steps))``, at least 1."""
    _require_positive_int("total_steps", total_steps)
    return max(1, min(MAX_WARMUP_STEPS, round(WARMUP_FRACTION * total_steps)))


def bit_resolution(source_size: tuple[int, int]) -> tuple[int, int]:
    """Resize and crop size for training images of original size ``(height, width)``.

    Args:
        source_size: Typical original image size of the dataset, ``(height, width)`` in pixels.

    Returns:
        ``(resize, crop)``: (160, 128) for images smaller than 96x96 pixels in area, else (512, 480).
    """
    if len(source_size) != 2:
        raise ConfigError(f"source_size must be (height, width), got {source_size!r}")
    height, width = source_size
    _require_positive_int("image height", height)
    _require_positive_int("image width", width)
    return (160, 128) if height * width < SMALL_IMAGE_AREA else (512, 480)


def bit_mixup_alpha(dataset_size: int) -> float:
    """Mix-up Beta(alpha, alpha) parameter: 0 (no mix-up) below 20k images, 0.1 otherwise."""
    _require_positive_int("dataset_size", dataset_size)
    return 0.0 if dataset_size < SMALL_DATASET_IMAGES else 0.1


def scaled_base_lr(batch_size: int, base_lr: float = BIT_BASE_LR, base_batch: int = BIT_BASE_BATCH) -> float:
    """Scale ``base_lr``, tuned for ``base_batch``, linearly to ``batch_size`` (Goyal et al. 2017)."""
    _require_positive_int("batch_size", batch_size)
    _require_positive_int("base_batch", base_batch)
    if base_lr <= 0:
        raise ConfigError(f"base_lr must be positive, got {base_lr!r}")
    return base_lr * batch_size / base_batch


def boundary_steps(total_steps: int, boundaries: Iterable[float] = DEFAULT_BOUNDARIES) -> tuple[int, ...]:
    """Steps at which the lr is decayed: ``round(fraction * total_steps)`` for each fraction.

    Raises:
        ConfigError: If the fractions are not strictly increasing inside (0, 1).
    """
    _require_positive_int("total_steps", total_steps)
    fractions = tuple(float(fraction) for fraction in boundaries)
    increasing = all(a < b for a, b in zip(fractions, fractions[1:]))
    if not increasing or any(not 0.0 < fraction < 1.0 for fraction in fractions):
        raise ConfigError(
            f"boundaries must be strictly increasing fractions inside (0, 1), got {fractions!r}"
        )
    return tuple(round(fraction * total_steps) for fraction in fractions)


def bit_lr(
    step: int,
    total_steps: int,
    base_lr: float,
    warmup_steps: int | None = None,
    boundaries: Iterable[float] = DEFAULT_BOUNDARIES,
    decay_factor: float = DEFAULT_DECAY_FACTOR,
) -> float:
    """Learning rate of optimiser update ``step`` (0-based) under the BiT schedule.

    Args:
        step: Update index, ``0 <= step < total_steps``.
        total_steps: Number of updates of the whole run.
        base_lr: Peak learning rate, reached at the end of warm-up.
        warmup_steps: Linear warm-up length; ``None`` uses :func:`bit_warmup_steps`, 0 disables it.
        boundaries: Fractions of ``total_steps`` at which the lr is divided by ``decay_factor``.
        decay_factor: Divisor applied at each boundary.

    Returns:
        The learning rate for this update.

    Raises:
        ConfigError: If ``step`` is outside ``[0, total_steps)``.
        ConfigError: If the schedule itself is inconsistent (e.g. warm-up longer than the first
            decay boundary).
    """
    decay_steps = boundary_steps(total_steps, boundaries)
    warmup = bit_warmup_steps(total_steps) if warmup_steps is None else warmup_steps
    if isinstance(warmup, bool) or not isinstance(warmup, int) or warmup < 0:
        raise ConfigError(f"warmup_steps must be a non-negative integer, got {warmup!r}")
    if decay_steps and warmup > decay_steps[0]:
        raise ConfigError(
            f"warmup_steps={warmup} is longer than the first decay boundary (step {decay_steps[0]} "
            f"of {total_steps}); shorten the warm-up or move the boundaries"
        )
    if base_lr <= 0 or decay_factor <= 0:
        raise ConfigError(f"base_lr and decay_factor must be positive, got {base_lr!r}, {decay_factor!r}")
    if not 0 <= step < total_steps:
        raise ConfigError(f"step {step} is outside the schedule's range [0, {total_steps})")
    if step < warmup:
        return base_lr * (step + 1) / warmup
    decays_passed = sum(step >= boundary for boundary in decay_steps)
    return base_lr / decay_factor**decays_passed


def gradient_accumulation_steps(effective_batch: int, micro_batch: int) -> int:
    """Forward/backward passes per optimiser update so that ``micro_batch`` adds up to ``effective_batch``.

    Raises:
        ConfigError: If ``micro_batch`` does not divide ``effective_batch`` (the effective batch, and
            with it the scaled learning rate, would silently change); the message lists valid sizes.
    """
    _require_positive_int("effective batch size", effective_batch)
    _require_positive_int("micro-batch size", micro_batch)
    if micro_batch > effective_batch or effective_batch % micro_batch:
        divisors = [d for d in range(1, effective_batch + 1) if effective_batch % d == 0]
        fitting = [d for d in divisors if d <= micro_batch] or divisors[:1]
        raise ConfigError(
            f"micro-batch {micro_batch} does not divide the effective batch {effective_batch}; "
            f"use a divisor such as {fitting[-3:]}"
        )
    return effective_batch // micro_batch


@dataclass(frozen=True)
class ResolvedSchedule:
    """A fully specified training schedule (every value concrete), as used by the training loop.

    Attributes:
        total_steps: Optimiser updates of the whole run.
        warmup_steps: Linear warm-up updates.
        base_lr: Peak learning rate (for ``batch_size``).
        batch_size: Effective batch size per optimiser update.
        micro_batch_size: Images per forward/backward pass.
        accumulation_steps: Micro-batches per update (``batch_size // micro_batch_size``).
        boundaries: Fractions of ``total_steps`` at which the lr is divided by ``decay_factor``.
        decay_factor: Divisor at each boundary.
        momentum: SGD momentum.
        weight_decay: SGD weight decay.
        mixup_alpha: Mix-up Beta parameter (0 disables mix-up).
        resize_size: Side the images are resized to before the random crop.
        input_size: Training crop side (the network's input size).
    """

    total_steps: int
    warmup_steps: int
    base_lr: float
    batch_size: int
    micro_batch_size: int
    accumulation_steps: int
    boundaries: tuple[float, ...]
    decay_factor: float
    momentum: float
    weight_decay: float
    mixup_alpha: float
    resize_size: int
    input_size: int

    def lr_at(self, step: int) -> float:
        """Learning rate of optimiser update ``step`` (see :func:`bit_lr`)."""
        return bit_lr(
            step, self.total_steps, self.base_lr, self.warmup_steps, self.boundaries, self.decay_factor
        )

    def to_dict(self) -> dict[str, Any]:
        """Plain dict for JSON/YAML (saved next to every run and inside checkpoints)."""
        return dataclasses.asdict(self)


@dataclass(frozen=True)
class ScheduleConfig:
    """User overrides of the BiT-HyperRule; ``None`` fields are filled by :meth:`resolve`.

    Attributes:
        total_steps: Optimiser updates; default from :func:`bit_schedule_steps`.
        warmup_steps: Warm-up updates; default from :func:`bit_warmup_steps`.
        base_lr: Peak lr used as given; default ``scaled_base_lr(batch_size, reference_lr, reference_batch)``.
        batch_size: Effective batch per update; default ``reference_batch`` (512, as BiT).
        accumulation_steps: Micro-batches per update; default derived from the micro-batch size.
        boundaries: Decay points as fractions of ``total_steps``.
        decay_factor: Divisor at each boundary.
        momentum: SGD momentum.
        weight_decay: SGD weight decay (0 as in BiT fine-tuning).
        mixup_alpha: Mix-up Beta parameter; default from :func:`bit_mixup_alpha`.
        resize_size: Resize side; default from :func:`bit_resolution`.
        input_size: Crop side; default from :func:`bit_resolution`.
        reference_lr: Learning rate known to work at ``reference_batch``.
        reference_batch: Batch size ``reference_lr`` was tuned for.
    """

    total_steps: int | None = None
    warmup_steps: int | None = None
    base_lr: float | None = None
    batch_size: int | None = None
    accumulation_steps: int | None = None
    boundaries: tuple[float, ...] = DEFAULT_BOUNDARIES
    decay_factor: float = DEFAULT_DECAY_FACTOR
    momentum: float = 0.9
    weight_decay: float = 0.0
    mixup_alpha: float | None = None
    resize_size: int | None = None
    input_size: int | None = None
    reference_lr: float = BIT_BASE_LR
    reference_batch: int = BIT_BASE_BATCH

    def __post_init__(self) -> None:
        # YAML and JSON give lists; keep the frozen config hashable and comparable.
        object.__setattr__(self, "boundaries", tuple(float(b) for b in self.boundaries))

    def resolve(
        self, dataset_size: int, source_size: tuple[int, int], micro_batch_size: int | None = None
    ) -> ResolvedSchedule:
        """Fill every unset value from the BiT-HyperRule.

        Args:
            dataset_size: Number of training images.
            source_size: Typical original image size ``(height, width)``.
            micro_batch_size: Images one forward/backward pass can hold in memory. ``None`` means
                the whole effective batch (or ``batch_size // accumulation_steps`` when set).

        Returns:
            The concrete schedule.

        Raises:
            ConfigError: If values are inconsistent (e.g. a micro-batch that does not divide the batch).
        """
        batch_size = self.reference_batch if self.batch_size is None else self.batch_size
        micro = micro_batch_size
        if micro is None:
            micro = batch_size // self.accumulation_steps if self.accumulation_steps else batch_size
        accumulation = gradient_accumulation_steps(batch_size, micro)
        if self.accumulation_steps is not None and self.accumulation_steps != accumulation:
            raise ConfigError(
                f"accumulation_steps={self.accumulation_steps} contradicts batch_size={batch_size} "
                f"with micro-batch {micro} (needs {accumulation})"
            )
        total_steps = bit_schedule_steps(dataset_size) if self.total_steps is None else self.total_steps
        resize, crop = bit_resolution(source_size)
        schedule = ResolvedSchedule(
            total_steps=total_steps,
            warmup_steps=bit_warmup_steps(total_steps) if self.warmup_steps is None else self.warmup_steps,
            base_lr=(
                scaled_base_lr(batch_size, self.reference_lr, self.reference_batch)
                if self.base_lr is None
                else self.base_lr
            ),
            batch_size=batch_size,
            micro_batch_size=micro,
            accumulation_steps=accumulation,
            boundaries=self.boundaries,
            decay_factor=self.decay_factor,
            momentum=self.momentum,
            weight_decay=self.weight_decay,
            mixup_alpha=bit_mixup_alpha(dataset_size) if self.mixup_alpha is None else self.mixup_alpha,
            resize_size=resize if self.resize_size is None else self.resize_size,
            input_size=crop if self.input_size is None else self.input_size,
        )
        schedule.lr_at(0)  # validates warm-up, boundaries and lr once, before any training starts
        if schedule.input_size > schedule.resize_size:
            raise ConfigError(f"input_size {schedule.input_size} exceeds resize_size {schedule.resize_size}")
        return schedule


def make_optimizer(
    params: Iterable[torch.nn.Parameter] | Iterable[dict[str, Any]], schedule: ResolvedSchedule
) -> torch.optim.SGD:
    """SGD with the schedule's momentum and weight decay, starting at the lr of step 0.

    Pass the parameters of the loss module too when it has learnable weights
    (:class:`mocar.train.losses.UncertaintyWeighting`).
    """
    return torch.optim.SGD(
        params, lr=schedule.lr_at(0), momentum=schedule.momentum, weight_decay=schedule.weight_decay
    )


def set_lr(optimizer: torch.optim.Optimizer, lr: float) -> None:
    """Set the learning rate of every parameter group (call once per update with ``schedule.lr_at(step)``)."""
    for group in optimizer.param_groups:
        group["lr"] = lr
