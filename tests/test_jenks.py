"""Our Fisher-Jenks breaks must equal jenkspy's, tie resolution included, and be fast on many years."""
from __future__ import annotations

import time

import jenkspy
import numpy as np
import pandas as pd
import pytest

from mocar.data.jenks import FULL_SCAN_MAX_UNIQUE, JenksSolver, jenks_breaks
from mocar.errors import InputError

MAX_CLASSES = 10


def _dataset(kind: str, seed: int) -> np.ndarray:
    """Seeded data sets of the shapes Jenks meets here: years with many ties, floats, mixtures."""
    rng = np.random.default_rng(seed)
    n = int(rng.integers(2, 500))
    if kind == "integer_years":
        return rng.integers(-500, 300, n).astype(np.float64)
    if kind == "half_integer_years":
        return rng.integers(-6000, 2000, n) / 2.0
    if kind == "normal_floats":
        return rng.normal(0.0, 1.0, n)
    if kind == "uniform_floats":
        return rng.uniform(-1e3, 1e3, n)
    if kind == "mixture":
        centres = rng.uniform(-3000, 1900, 4)
        return np.round(rng.normal(rng.choice(centres, n), rng.uniform(5, 200))).astype(np.float64)
    if kind == "heavy_duplicates":
        return rng.choice(rng.integers(-50, 50, 12), n).astype(np.float64)
    if kind == "small_n":
        return rng.integers(0, 6, int(rng.integers(1, 12))).astype(np.float64)
    raise ValueError(kind)


def _reference(values: np.ndarray, n_classes: int) -> list[float]:
    return [float(b) for b in jenkspy.jenks_breaks(values, n_classes=n_classes)]


KINDS = ["integer_years", "half_integer_years", "normal_floats", "uniform_floats", "mixture",
         "heavy_duplicates", "small_n"]


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("seed", range(6))
def test_identical_to_jenkspy_on_random_data(kind: str, seed: int) -> None:
    values = _dataset(kind, seed)
    full_scan = JenksSolver(values, full_scan_max_unique=values.size)
    divide_and_conquer = JenksSolver(values, full_scan_max_unique=0)
    for n_classes in range(1, min(MAX_CLASSES, np.unique(values).size) + 1):
        expected = _reference(values, n_classes)
        assert jenks_breaks(values, n_classes) == expected
        assert full_scan.breaks(n_classes) == expected
        assert divide_and_conquer.breaks(n_classes) == expected


@pytest.mark.parametrize("values", [
    np.arange(12.0),                                    # equally spaced: exact ties everywhere
    np.concatenate([np.arange(6.0), -np.arange(6.0)]),  # symmetric
    np.repeat([0.0, 1.0, 2.0, 3.0], [3, 1, 1, 3]),       # symmetric with repeats
    np.tile(np.arange(5.0) * 0.5, 3),                   # half-integers, equal counts
    np.array([0.0, 0.0, 0.0, 1.0]),
])
def test_ties_resolved_like_jenkspy_for_every_class_count(values: np.ndarray) -> None:
    for n_classes in range(1, np.unique(values).size + 1):
        expected = _reference(values, n_classes)
        assert jenks_breaks(values, n_classes) == expected
        assert JenksSolver(values, full_scan_max_unique=0).breaks(n_classes) == expected


def test_default_path_above_full_scan_size_matches_jenkspy() -> None:
    rng = np.random.default_rng(7)
    years = np.round(rng.normal(rng.choice([-2500, -400, 300, 1500], 5000), 300) * 2) / 2
    assert np.unique(years).size > FULL_SCAN_MAX_UNIQUE  # exercises divide and conquer
    for n_classes in (2, 7):
        assert jenks_breaks(years, n_classes) == _reference(years, n_classes)


def test_documented_example_and_return_convention() -> None:
    values = [1.3, 7.1, 7.3, 2.3, 3.9, 4.1, 7.8, 1.2, 4.3, 7.3, 5.0, 4.3]
    breaks = jenks_breaks(values, 3)
    assert breaks == [1.2, 2.3, 5.0, 7.8]
    assert all(type(b) is float for b in breaks)


@pytest.mark.parametrize("values", [[5], [5, 5, 5], [3, 1, 2]])
def test_one_class_gives_min_and_max(values: list[int]) -> None:
    assert jenks_breaks(values, 1) == [float(min(values)), float(max(values))]
    assert jenks_breaks(values, 1) == _reference(np.array(values), 1)


def test_as_many_classes_as_distinct_values() -> None:
    values = [4, 1, 1, 9, 4, 2]
    assert jenks_breaks(values, 4) == [1.0, 1.0, 2.0, 4.0, 9.0]


@pytest.mark.parametrize("values", [[3, 1, 2, 2], (3, 1, 2, 2), np.array([3, 1, 2, 2], dtype=np.int32),
                                    pd.Series([3.0, 1.0, 2.0, 2.0]), (v for v in [3, 1, 2, 2])])
def test_accepts_common_containers(values) -> None:
    assert jenks_breaks(values, 2) == [1.0, 2.0, 3.0]


def test_solver_costs_and_sizes_match_the_partition() -> None:
    rng = np.random.default_rng(3)
    values = rng.integers(0, 40, 300).astype(np.float64)
    solver = JenksSolver(values)
    costs = [solver.cost(k) for k in range(1, 9)]
    assert all(a > b for a, b in zip(costs, costs[1:]))
    for k in (1, 4, 8):
        breaks = solver.breaks(k)
        bins = np.searchsorted(breaks[1:-1], values, side="left")
        groups = [values[bins == i] for i in range(k)]
        assert solver.class_sizes(k) == [g.size for g in groups]
        ssd = sum(float(((g - g.mean()) ** 2).sum()) for g in groups)
        assert solver.cost(k) == pytest.approx(ssd, rel=1e-9, abs=1e-6)


def test_140k_years_take_under_a_second() -> None:
    rng = np.random.default_rng(11)
    years = np.round(rng.normal(rng.uniform(-3000, 1900, 140_000 // 10).repeat(10), 80) * 2) / 2
    start = time.perf_counter()
    breaks = jenks_breaks(years, 7)
    elapsed = time.perf_counter() - start
    assert len(breaks) == 8 and breaks[0] == years.min() and breaks[-1] == years.max()
    assert elapsed < 1.0


@pytest.mark.parametrize("values, n_classes, message", [
    ([1, 2, 3], 0, "between 1 and"),
    ([1, 2, 2], 3, "2 distinct"),
    ([1, 2, 3], 2.5, "must be an integer"),
    ([1, 2, 3], True, "must be an integer"),
    ([], 2, "empty"),
    ([1.0, float("nan"), 3.0], 2, "position 1"),
    ([1.0, 2.0, float("inf")], 2, "finite"),
    ([[1, 2], [3, 4]], 2, "1-D"),
    ("123", 2, "sequence of numbers"),
    (["a", "b"], 2, "numbers"),
    ([True, False], 2, "booleans"),
    (7, 2, "sequence of numbers"),
])
def test_bad_input_raises_clear_error(values, n_classes, message: str) -> None:
    with pytest.raises(InputError, match=message):
        jenks_breaks(values, n_classes)


def test_integral_float_class_count_accepted_like_jenkspy() -> None:
    assert jenks_breaks([1, 2, 3, 10], 2.0) == _reference(np.array([1, 2, 3, 10]), 2)
