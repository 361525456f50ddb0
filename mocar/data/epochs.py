"""Epoch classes for the MaxAvg-Cat head: collection x epoch, epochs cut by Jenks natural breaks.

The paper splits each collection's years into epochs with Jenks natural breaks so that there are 50
classes in all. It does not say how the 50 are shared among collections; this module's rule is:

1. Every collection starts with one epoch.
2. Repeatedly give one more epoch to the collection whose next Jenks partition lowers its total
   within-class sum of squared year deviations (SSD) the most, in absolute years^2. A collection
   can take another epoch only while it has more distinct years than epochs and every class of
   its next partition keeps at least ``min_class_size`` objects; once its next partition would
   make a smaller class it takes no more (we do not look further ahead).
3. Stop at ``total_classes`` or when no collection can take another epoch; the total is then
   smaller and the caller should report it. Ties go to the collection listed first.

Why absolute SSD: it is the quantity Jenks minimises inside a collection, so the greedy steps
descend the one objective "sum of squared year deviations over all classes", treating a year of
spread the same in every collection. A gain relative to each collection's own SSD would give a
small collection spanning 50 years as many epochs as a large one spanning 3,000. Greedy is not
guaranteed to be the global optimum of that objective (Jenks costs need not be convex in k), but
it is deterministic and explainable.

Caveat: a collection with fewer than ``min_class_size`` objects still gets its one class (the size
rule only governs splits); dropping such collections is the caller's decision.
"""
from __future__ import annotations

import numbers
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike

from mocar.data.jenks import JenksSolver
from mocar.errors import ConfigError, InputError


@dataclass(frozen=True)
class EpochClass:
    """One class of the epoch head: a collection and the years ``(begin, end]`` of one epoch.

    The first epoch of a collection also holds objects dated exactly ``begin``.
    """

    index: int
    label: str
    collection: str
    begin: float
    end: float
    count: int


def allocate_epochs(years_by_collection: Mapping[str, ArrayLike], total_classes: int = 50,
                    min_class_size: int = 20) -> dict[str, list[float]]:
    """Choose the number of epochs per collection and return each collection's Jenks breaks.

    Args:
        years_by_collection: collection name -> the year of every object (repeats included).
        total_classes: classes wanted over all collections (the paper uses 50).
        min_class_size: fewest objects allowed in a class created by a split.

    Returns:
        Collection -> Jenks breaks (``epochs + 1`` bounds), in the input's collection order. The
        number of classes is ``sum(len(b) - 1)``: ``total_classes`` when feasible, else fewer.

    Raises:
        ConfigError: ``total_classes`` smaller than the number of collections, or a bad size.
        InputError: no collections, or a collection with no, non-numeric or non-finite years.
    """
    _check_counts(total_classes, min_class_size, len(years_by_collection))
    solvers = {name: _solver_for(name, years) for name, years in years_by_collection.items()}
    n_epochs = dict.fromkeys(solvers, 1)
    while sum(n_epochs.values()) < total_classes:
        gains = {name: _split_gain(solver, n_epochs[name], min_class_size)
                 for name, solver in solvers.items()}
        splittable = {name: gain for name, gain in gains.items() if gain is not None}
        if not splittable:
            break
        n_epochs[max(splittable, key=splittable.__getitem__)] += 1  # max keeps the first on ties
    return {name: solver.breaks(n_epochs[name]) for name, solver in solvers.items()}


def build_epoch_classes(years_by_collection: Mapping[str, ArrayLike], total_classes: int = 50,
                        min_class_size: int = 20) -> list[EpochClass]:
    """The epoch classes, ordered by collection (input order) then by begin; index = position.

    Args and errors as for :func:`allocate_epochs`; ``count`` is the number of objects per class.
    """
    breaks_by_collection = allocate_epochs(years_by_collection, total_classes, min_class_size)
    classes: list[EpochClass] = []
    for name, breaks in breaks_by_collection.items():
        epochs = assign_epoch(np.asarray(years_by_collection[name], dtype=np.float64), breaks)
        counts = np.bincount(epochs, minlength=len(breaks) - 1)
        for begin, end, count in zip(breaks[:-1], breaks[1:], counts):
            label = epoch_label(name, begin, end)
            classes.append(EpochClass(len(classes), label, name, float(begin), float(end), int(count)))
    return classes


def assign_epoch(year: ArrayLike, breaks: ArrayLike, clip: bool = False) -> int | np.ndarray:
    """Index of the epoch ``(b[i], b[i+1]]`` holding each year; the first epoch also holds ``b[0]``.

    Args:
        year: one year or an array of years.
        breaks: Jenks breaks of the collection (at least two non-decreasing bounds).
        clip: put years below ``b[0]`` in the first epoch and above ``b[-1]`` in the last one,
            instead of raising (for objects dated after the classes were built).

    Returns:
        An int for a scalar year, else an int64 array of the year's shape.

    Raises:
        InputError: malformed breaks, a NaN year, or (without ``clip``) a year outside the breaks.
    """
    bounds = np.asarray(breaks, dtype=np.float64)
    well_formed = bounds.ndim == 1 and bounds.size >= 2 and np.isfinite(bounds).all()
    if not well_formed or np.any(np.diff(bounds) < 0):
        raise InputError(f"breaks must be at least two finite, non-decreasing bounds, got {breaks!r}")
    years = np.asarray(year, dtype=np.float64)
    outside = np.isnan(years) if clip else ~((years >= bounds[0]) & (years <= bounds[-1]))
    if outside.any():
        first = years.reshape(-1)[np.flatnonzero(outside.reshape(-1))[0]]
        raise InputError(f"year {first} lies outside the epochs [{bounds[0]:g}, {bounds[-1]:g}]"
                         f"{'' if clip else ' (pass clip=True to put it in the nearest epoch)'}")
    # side="left": a year equal to an inner break belongs to the epoch that break closes.
    index = np.searchsorted(bounds[1:-1], years, side="left").astype(np.int64)
    return int(index) if index.ndim == 0 else index


def epoch_label(collection: str, begin: float, end: float) -> str:
    """``"<collection>, (<begin>, <end>]"``, bounds as integers when integral, else with ``:g``."""
    return f"{collection}, ({_format_bound(begin)}, {_format_bound(end)}]"


def _format_bound(value: float) -> str:
    value = float(value)
    return str(int(value)) if value.is_integer() else f"{value:g}"


def _split_gain(solver: JenksSolver, n_epochs: int, min_class_size: int) -> float | None:
    """SSD saved by one more epoch, or None if that split is impossible or makes a small class."""
    if n_epochs + 1 > solver.max_classes:
        return None
    if min(solver.class_sizes(n_epochs + 1)) < min_class_size:
        return None
    return solver.cost(n_epochs) - solver.cost(n_epochs + 1)


def _solver_for(collection: str, years: ArrayLike) -> JenksSolver:
    try:
        return JenksSolver(years)
    except InputError as error:
        raise InputError(f"collection {collection!r}: {error}") from None


def _check_counts(total_classes: int, min_class_size: int, n_collections: int) -> None:
    if n_collections == 0:
        raise InputError("no collections given: epochs need at least one collection with years")
    for name, value in (("total_classes", total_classes), ("min_class_size", min_class_size)):
        if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
            raise ConfigError(f"{name} must be a positive integer, got {value!r}")
    if total_classes < n_collections:
        raise ConfigError(f"total_classes={total_classes} is smaller than the {n_collections} "
                          f"collections: every collection needs at least one class")
