"""Tests of the BiT-HyperRule schedule (mocar.train.schedule)."""
from __future__ import annotations

import pytest
import torch

from mocar.errors import ConfigError
from mocar.train.schedule import (
    ResolvedSchedule,
    ScheduleConfig,
    bit_lr,
    bit_mixup_alpha,
    bit_resolution,
    bit_schedule_steps,
    bit_warmup_steps,
    boundary_steps,
    gradient_accumulation_steps,
    make_optimizer,
    scaled_base_lr,
    set_lr,
)


@pytest.mark.parametrize(
    ("dataset_size", "steps"),
    [(1, 500), (19_999, 500), (20_000, 10_000), (499_999, 10_000), (500_000, 20_000), (1_281_167, 20_000)],
)
def test_schedule_steps_thresholds(dataset_size: int, steps: int) -> None:
    assert bit_schedule_steps(dataset_size) == steps


@pytest.mark.parametrize(("dataset_size", "alpha"), [(19_999, 0.0), (20_000, 0.1), (500_000, 0.1)])
def test_mixup_alpha_threshold(dataset_size: int, alpha: float) -> None:
    assert bit_mixup_alpha(dataset_size) == alpha


@pytest.mark.parametrize(
    ("source_size", "expected"),
    [((32, 32), (160, 128)), ((95, 96), (160, 128)), ((96, 96), (512, 480)), ((48, 192), (512, 480)),
     ((224, 224), (512, 480))],
)
def test_resolution_rule(source_size: tuple[int, int], expected: tuple[int, int]) -> None:
    assert bit_resolution(source_size) == expected


@pytest.mark.parametrize("bad", [0, -5, 2.5, True])
def test_rules_reject_bad_dataset_size(bad: object) -> None:
    with pytest.raises(ConfigError, match="dataset_size"):
        bit_schedule_steps(bad)  # type: ignore[arg-type]


def test_resolution_rejects_non_pair() -> None:
    with pytest.raises(ConfigError, match="height, width"):
        bit_resolution((224,))  # type: ignore[arg-type]


def test_warmup_reproduces_bit_schedules() -> None:
    assert [bit_warmup_steps(n) for n in (500, 10_000, 20_000, 10, 1)] == [100, 500, 500, 2, 1]


def test_scaled_base_lr_is_linear() -> None:
    assert scaled_base_lr(512) == pytest.approx(0.003)
    assert scaled_base_lr(128) == pytest.approx(0.00075)
    assert scaled_base_lr(64, base_lr=0.01, base_batch=256) == pytest.approx(0.0025)


def test_bit_lr_at_exact_boundaries_of_10k_schedule() -> None:
    base, total = 0.003, 10_000
    lr = lambda step: bit_lr(step, total, base)  # noqa: E731
    assert boundary_steps(total) == (3000, 6000, 9000)
    assert lr(0) == pytest.approx(base / 500)
    assert lr(249) == pytest.approx(base * 250 / 500)
    assert lr(499) == pytest.approx(base)  # last warm-up step reaches the peak
    assert lr(500) == pytest.approx(base)
    assert lr(2999) == pytest.approx(base)
    assert lr(3000) == pytest.approx(base / 10)
    assert lr(5999) == pytest.approx(base / 10)
    assert lr(6000) == pytest.approx(base / 100)
    assert lr(8999) == pytest.approx(base / 100)
    assert lr(9000) == pytest.approx(base / 1000)
    assert lr(9999) == pytest.approx(base / 1000)


def test_bit_lr_small_schedule_and_custom_boundaries() -> None:
    # BiT's own 500-step schedule: warm-up 100, decays at 200/300/400.
    lr = lambda step: bit_lr(step, 500, 1.0, boundaries=(0.4, 0.6, 0.8))  # noqa: E731
    assert [lr(s) for s in (0, 99, 199, 200, 299, 300, 399, 400, 499)] == pytest.approx(
        [0.01, 1.0, 1.0, 0.1, 0.1, 0.01, 0.01, 0.001, 0.001]
    )


def test_bit_lr_warmup_is_strictly_increasing() -> None:
    values = [bit_lr(step, 20_000, 0.003) for step in range(500)]
    assert all(b > a for a, b in zip(values, values[1:]))
    assert values[-1] == pytest.approx(0.003)


def test_bit_lr_without_warmup_and_other_decay_factor() -> None:
    assert bit_lr(0, 100, 0.5, warmup_steps=0) == pytest.approx(0.5)
    assert bit_lr(95, 100, 0.5, warmup_steps=0, decay_factor=2.0) == pytest.approx(0.5 / 8)


@pytest.mark.parametrize("step", [-1, 10_000, 10_001])
def test_bit_lr_rejects_steps_outside_schedule(step: int) -> None:
    with pytest.raises(ValueError, match="outside"):
        bit_lr(step, 10_000, 0.003)


def test_bit_lr_rejects_warmup_past_first_boundary() -> None:
    with pytest.raises(ConfigError, match="warmup_steps=400"):
        bit_lr(0, 1000, 0.1, warmup_steps=400)


@pytest.mark.parametrize("boundaries", [(0.6, 0.3), (0.0, 0.5), (0.5, 1.0)])
def test_boundaries_must_be_increasing_fractions(boundaries: tuple[float, ...]) -> None:
    with pytest.raises(ConfigError, match="boundaries"):
        boundary_steps(100, boundaries)


def test_gradient_accumulation_steps() -> None:
    assert gradient_accumulation_steps(512, 64) == 8
    assert gradient_accumulation_steps(512, 512) == 1
    with pytest.raises(ConfigError, match=r"micro-batch 48 does not divide.*\[8, 16, 32\]"):
        gradient_accumulation_steps(512, 48)
    with pytest.raises(ConfigError, match="does not divide"):
        gradient_accumulation_steps(64, 128)


def test_resolve_fills_every_value_from_the_rule() -> None:
    schedule = ScheduleConfig().resolve(dataset_size=30_000, source_size=(300, 400), micro_batch_size=32)
    assert schedule == ResolvedSchedule(
        total_steps=10_000, warmup_steps=500, base_lr=pytest.approx(0.003), batch_size=512,
        micro_batch_size=32, accumulation_steps=16, boundaries=(0.3, 0.6, 0.9), decay_factor=10.0,
        momentum=0.9, weight_decay=0.0, mixup_alpha=0.1, resize_size=512, input_size=480,
    )


def test_resolve_keeps_overrides_and_scales_default_lr() -> None:
    config = ScheduleConfig(total_steps=1000, batch_size=64, mixup_alpha=0.2, resize_size=256, input_size=224,
                            boundaries=[0.5, 0.75])  # type: ignore[arg-type]  # as read from YAML
    schedule = config.resolve(dataset_size=5_000, source_size=(64, 64))
    assert (schedule.total_steps, schedule.warmup_steps, schedule.accumulation_steps) == (1000, 200, 1)
    assert schedule.base_lr == pytest.approx(0.003 * 64 / 512)
    assert (schedule.mixup_alpha, schedule.resize_size, schedule.input_size) == (0.2, 256, 224)
    assert schedule.boundaries == (0.5, 0.75)
    assert schedule.lr_at(750) == pytest.approx(schedule.base_lr / 100)
    explicit = ScheduleConfig(base_lr=0.05, batch_size=64).resolve(5_000, (64, 64))
    assert explicit.base_lr == 0.05  # an explicit lr is not rescaled


def test_resolve_rejects_inconsistent_values() -> None:
    with pytest.raises(ConfigError, match="accumulation_steps=4 contradicts"):
        ScheduleConfig(accumulation_steps=4).resolve(1000, (64, 64), micro_batch_size=64)
    with pytest.raises(ConfigError, match="input_size 300 exceeds"):
        ScheduleConfig(input_size=300, resize_size=256).resolve(1000, (64, 64))
    assert ScheduleConfig(accumulation_steps=4).resolve(1000, (64, 64)).micro_batch_size == 128


def test_schedule_to_dict_round_trip() -> None:
    schedule = ScheduleConfig().resolve(1000, (64, 64))
    assert ResolvedSchedule(**schedule.to_dict()) == schedule


def test_optimizer_follows_schedule() -> None:
    schedule = ScheduleConfig(total_steps=100).resolve(1000, (64, 64), micro_batch_size=128)
    weight = torch.nn.Parameter(torch.ones(3))
    optimizer = make_optimizer([weight], schedule)
    assert isinstance(optimizer, torch.optim.SGD)
    group = optimizer.param_groups[0]
    assert (group["momentum"], group["weight_decay"]) == (0.9, 0.0)
    assert group["lr"] == pytest.approx(schedule.base_lr / 20)
    set_lr(optimizer, schedule.lr_at(95))
    assert group["lr"] == pytest.approx(schedule.base_lr / 1000)
