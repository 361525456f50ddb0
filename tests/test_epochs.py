"""Epoch classes: labels, allocation of the class budget, the size rule and year assignment."""
from __future__ import annotations

import numpy as np
import pytest

from mocar.data.epochs import (EpochClass, allocate_epochs, assign_epoch, build_epoch_classes,
                               epoch_label)
from mocar.data.jenks import JenksSolver, jenks_breaks
from mocar.errors import ConfigError, InputError


def _collections(seed: int = 0, n_collections: int = 4, size: int = 1500) -> dict[str, np.ndarray]:
    """Seeded collections of integer and half-integer years around a few dense periods each."""
    rng = np.random.default_rng(seed)
    collections = {}
    for i in range(n_collections):
        centres = rng.uniform(-3000, 1900, 3)
        years = rng.normal(rng.choice(centres, size), rng.uniform(20, 200))
        collections[f"Collection {i}"] = np.round(years * 2) / 2
    return collections


@pytest.mark.parametrize("begin, end, expected", [
    (-480, -323, "Antikensammlung, (-480, -323]"),
    (-480.0, -323.0, "Antikensammlung, (-480, -323]"),
    (np.float64(-480.5), np.int64(12), "Antikensammlung, (-480.5, 12]"),
    (0.25, 1999.5, "Antikensammlung, (0.25, 1999.5]"),
])
def test_label_format(begin, end, expected: str) -> None:
    assert epoch_label("Antikensammlung", begin, end) == expected


def test_total_classes_reached_when_feasible() -> None:
    collections = _collections()
    breaks = allocate_epochs(collections, total_classes=20, min_class_size=20)
    assert sum(len(b) - 1 for b in breaks.values()) == 20
    assert list(breaks) == list(collections)
    for name, bounds in breaks.items():  # each collection's bounds are its Jenks breaks
        assert bounds == jenks_breaks(collections[name], len(bounds) - 1)


def test_min_class_size_respected_for_every_split_collection() -> None:
    collections = _collections(seed=1, size=400)
    classes = build_epoch_classes(collections, total_classes=40, min_class_size=35)
    assert len(classes) <= 40
    assert min(c.count for c in classes) >= 35
    # Each collection stopped only because its next Jenks partition breaks the rule or the budget.
    if len(classes) < 40:
        for name, years in collections.items():
            k = sum(c.collection == name for c in classes)
            solver = JenksSolver(years)
            assert k == solver.max_classes or min(solver.class_sizes(k + 1)) < 35


def test_fewer_classes_when_collections_are_tiny() -> None:
    collections = {"big": np.arange(100.0), "tiny": np.array([1.0, 2.0, 3.0]), "one": np.array([5.0])}
    classes = build_epoch_classes(collections, total_classes=50, min_class_size=20)
    per_collection = {name: sum(c.collection == name for c in classes) for name in collections}
    assert per_collection == {"big": 5, "tiny": 1, "one": 1}
    assert [c.count for c in classes if c.collection == "big"] == [20] * 5
    assert classes[-1].label == "one, (5, 5]" and classes[-1].count == 1


def test_budget_goes_to_the_largest_absolute_reduction() -> None:
    # "wide" has three far-apart clusters, "narrow" spans ten years: the budget should go to "wide".
    rng = np.random.default_rng(2)
    wide = np.concatenate([rng.integers(c - 5, c + 5, 100) for c in (-2000, 0, 1500)]).astype(float)
    narrow = rng.integers(1000, 1010, 300).astype(float)
    breaks = allocate_epochs({"narrow": narrow, "wide": wide}, total_classes=4, min_class_size=20)
    assert [len(b) - 1 for b in breaks.values()] == [1, 3]
    assert breaks["wide"][1:3] == [-1996.0, 4.0]


def test_every_year_in_exactly_one_class_of_its_collection() -> None:
    collections = _collections(seed=3)
    classes = build_epoch_classes(collections, total_classes=17, min_class_size=20)
    for name, years in collections.items():
        own = [c for c in classes if c.collection == name]
        first = own[0]
        member = np.array([(years > c.begin) & (years <= c.end) | ((c is first) & (years == c.begin))
                           for c in own])
        assert (member.sum(axis=0) == 1).all()
        assert [c.count for c in own] == member.sum(axis=1).tolist()
        bounds = [own[0].begin] + [c.end for c in own]
        assert np.array_equal(assign_epoch(years, bounds), member.argmax(axis=0))


def test_classes_ordered_and_indexed_by_position() -> None:
    collections = _collections(seed=4)
    classes = build_epoch_classes(collections, total_classes=13, min_class_size=20)
    assert [c.index for c in classes] == list(range(13))
    order = [c.collection for c in classes]
    assert sorted(order, key=list(collections).index) == order
    for a, b in zip(classes, classes[1:]):
        if a.collection == b.collection:
            assert a.end == b.begin and a.begin < b.begin
    assert all(isinstance(c, EpochClass) and c.label == epoch_label(c.collection, c.begin, c.end)
               for c in classes)


def test_deterministic() -> None:
    first = build_epoch_classes(_collections(seed=5), total_classes=25, min_class_size=20)
    second = build_epoch_classes(_collections(seed=5), total_classes=25, min_class_size=20)
    assert first == second


def test_assign_epoch_bounds_and_scalars() -> None:
    breaks = [-480.0, -323.0, 100.5, 400.0]
    assert assign_epoch(-480.0, breaks) == 0 and isinstance(assign_epoch(-480.0, breaks), int)
    years = np.array([-480.0, -323.0, -322.5, 100.5, 101.0, 400.0])
    assert assign_epoch(years, breaks).tolist() == [0, 0, 1, 1, 2, 2]
    assert assign_epoch(years.reshape(2, 3), breaks).shape == (2, 3)
    assert assign_epoch(np.array([-1000.0, 5000.0]), breaks, clip=True).tolist() == [0, 2]
    with pytest.raises(InputError, match="year 5000.0 lies outside"):
        assign_epoch([1.0, 5000.0], breaks)
    with pytest.raises(InputError, match="nan"):
        assign_epoch(float("nan"), breaks, clip=True)
    with pytest.raises(InputError, match="non-decreasing"):
        assign_epoch(1.0, [3.0, 2.0, 5.0])


@pytest.mark.parametrize("collections, total, min_size, error, message", [
    ({}, 50, 20, InputError, "no collections"),
    ({"a": [1.0], "b": [2.0]}, 1, 20, ConfigError, "smaller than the 2 collections"),
    ({"a": [1.0, 2.0]}, 5, 0, ConfigError, "min_class_size"),
    ({"a": [1.0, 2.0]}, 2.5, 20, ConfigError, "total_classes"),
    ({"a": [1.0, float("nan")]}, 5, 1, InputError, "collection 'a'.*finite"),
    ({"a": []}, 5, 1, InputError, "collection 'a'.*empty"),
])
def test_bad_arguments_raise(collections, total, min_size, error, message: str) -> None:
    with pytest.raises(error, match=message):
        allocate_epochs(collections, total_classes=total, min_class_size=min_size)
