"""Exact Fisher-Jenks natural breaks that agree with jenkspy but scale to 100k+ values.

jenkspy (0.4.x) runs Fisher's dynamic programme over every sorted value: O(k * n^2), ~40 s for
140k years. Years repeat a lot (integers and half-integers), so this module runs the same programme
over the *distinct* values weighted by their counts, with prefix sums of w, w*x and w*x^2, and
finds each level's row minima by divide and conquer over the monotone optimal split points:
O(k * u log u) for u distinct values (plus an O(u) exact scan of the last row of every level).

Agreement with jenkspy, and its limits:
- jenkspy scores a class as ``ss - s * s / w`` (sum of squares minus squared sum over count) in
  float64 and, among equal scores, keeps the candidate whose last class starts at the smallest
  index (its ``>=`` update while the start index decreases). We use the same formula, the same
  operation order and the same tie rule, so equal-cost (tied) solutions resolve the same way.
- For integers and multiples of 1/2, 1/4, ... (years, midpoints of year ranges) every partial sum
  is exact, so our class scores are bit-identical to jenkspy's and the breaks are identical,
  provided (a) jenkspy's own optimum does not cut a run of equal values into two classes (never
  optimal in exact arithmetic when the data has at least ``n_classes`` distinct values; only a
  float rounding tie could do it) and (b), for more than ``FULL_SCAN_MAX_UNIQUE`` distinct values,
  the optimal split points of the intermediate levels are monotone in float arithmetic (true in
  exact arithmetic; could fail only where two split points tie to within float rounding, about
  1e-16 of the data's sum of squares). Below that size every candidate is scanned and (b) is moot.
- For arbitrary floats jenkspy sums values one by one while we use prefix sums: class scores can
  differ in the last bits, so results can differ only where two partitions score within float
  rounding of each other.

Differences in the API: the breaks are Python floats (jenkspy returns numpy scalars of the input
dtype, equal in value), and bad input raises :class:`mocar.errors.InputError` with the offending
value (jenkspy raises ``ValueError``/``TypeError``). ``n_classes=1`` is allowed, as in jenkspy,
and gives ``[min, max]``.
"""
from __future__ import annotations

import numbers
from collections.abc import Iterable

import numpy as np

from mocar.errors import InputError

#: Up to this many distinct values every level scans all candidate split points (exact, O(k*u^2)).
FULL_SCAN_MAX_UNIQUE = 200
#: Candidate (row, split) pairs evaluated per numpy batch; bounds memory to a few tens of MB.
_BATCH_PAIRS = 2_000_000


def jenks_breaks(values: Iterable[float], n_classes: int) -> list[float]:
    """Fisher-Jenks natural breaks, with jenkspy's return convention and results.

    Args:
        values: 1-D finite numbers (list, tuple, numpy array, pandas Series).
        n_classes: number of classes, from 1 to the number of distinct values.

    Returns:
        ``n_classes + 1`` bounds: the minimum, the largest value of each class but the last, and
        the maximum. Class i holds the values in ``(b[i], b[i+1]]``; the first also holds ``b[0]``.

    Raises:
        InputError: empty, non-numeric, non-finite or multi-dimensional values, or a number of
            classes that is not an integer between 1 and the number of distinct values.
    """
    return JenksSolver(values).breaks(n_classes)


class JenksSolver:
    """The weighted Fisher-Jenks programme for one data set; levels are computed on demand.

    One solver answers every number of classes: ``breaks(k)``, ``cost(k)`` and ``class_sizes(k)``
    reuse the levels already computed, so scanning k = 1..K costs the same as solving for K.
    """

    def __init__(self, values: Iterable[float], full_scan_max_unique: int = FULL_SCAN_MAX_UNIQUE):
        """Sort and count the values and build prefix sums.

        Args:
            values: 1-D finite numbers.
            full_scan_max_unique: scan every split point (no monotonicity shortcut) up to this many
                distinct values; exposed for tests.
        """
        self.unique_values, counts = np.unique(_as_finite_1d(values), return_counts=True)
        weights = counts.astype(np.float64)
        self._full_scan = self.unique_values.size <= full_scan_max_unique
        self._cum_weight = _prefix_sum(weights)
        self._cum_sum = _prefix_sum(weights * self.unique_values)
        self._cum_squares = _prefix_sum(weights * (self.unique_values * self.unique_values))
        all_ends = np.arange(self.unique_values.size)
        # Level j holds, for every prefix ending at distinct value b, the best score with j+1
        # classes and the index of the distinct value that starts the last class.
        self._scores = [self._class_score(np.zeros_like(all_ends), all_ends)]
        self._last_starts = [np.zeros_like(all_ends)]

    @property
    def max_classes(self) -> int:
        """The largest valid number of classes: the number of distinct values."""
        return int(self.unique_values.size)

    def breaks(self, n_classes: int) -> list[float]:
        """Bounds of the optimal ``n_classes`` classes (see :func:`jenks_breaks`)."""
        starts = self._class_starts(n_classes)
        inner = [float(self.unique_values[start - 1]) for start in starts[1:]]
        return [float(self.unique_values[0]), *inner, float(self.unique_values[-1])]

    def cost(self, n_classes: int) -> float:
        """Total within-class sum of squared deviations of the optimum (jenkspy's float score)."""
        n_classes = self._check_n_classes(n_classes)
        self._compute_levels(n_classes)
        return float(self._scores[n_classes - 1][-1])

    def class_sizes(self, n_classes: int) -> list[int]:
        """How many values (with repeats) fall in each of the optimal ``n_classes`` classes."""
        bounds = [*self._class_starts(n_classes), self.max_classes]
        cum = self._cum_weight
        return [int(round(cum[end] - cum[start])) for start, end in zip(bounds[:-1], bounds[1:])]

    def _class_starts(self, n_classes: int) -> list[int]:
        """Index of the first distinct value of every class, by backtracking the programme."""
        n_classes = self._check_n_classes(n_classes)
        self._compute_levels(n_classes)
        starts, end = [], self.max_classes - 1
        for level in range(n_classes - 1, 0, -1):
            start = int(self._last_starts[level][end])
            starts.append(start)
            end = start - 1
        return [0, *reversed(starts)]

    def _check_n_classes(self, n_classes: int) -> int:
        if isinstance(n_classes, float) and n_classes.is_integer():
            n_classes = int(n_classes)  # jenkspy accepts 3.0
        if isinstance(n_classes, bool) or not isinstance(n_classes, numbers.Integral):
            raise InputError(f"n_classes must be an integer, got {n_classes!r}")
        if not 1 <= n_classes <= self.max_classes:
            raise InputError(
                f"n_classes={n_classes} is invalid for data with {self.max_classes} distinct "
                f"value(s): it must be between 1 and the number of distinct values")
        return int(n_classes)

    def _class_score(self, first: np.ndarray, last: np.ndarray) -> np.ndarray:
        """jenkspy's score of the class spanning distinct values first..last (inclusive).

        Same formula and operation order as jenkspy's C loop (``ss - (s * s) / w``), which is what
        makes the scores bit-identical for integer and half-integer data.
        """
        w = self._cum_weight[last + 1] - self._cum_weight[first]
        s = self._cum_sum[last + 1] - self._cum_sum[first]
        ss = self._cum_squares[last + 1] - self._cum_squares[first]
        return ss - (s * s) / w

    def _compute_levels(self, n_classes: int) -> None:
        while len(self._scores) < n_classes:
            level = len(self._scores)
            scores = np.full(self.max_classes, np.inf)
            last_starts = np.full(self.max_classes, -1, dtype=np.intp)
            if self._full_scan:
                self._scan_all_rows(level, scores, last_starts)
            else:
                self._divide_and_conquer(level, scores, last_starts)
                # The last row is the answer for this many classes: scan it exactly.
                last = np.array([self.max_classes - 1])
                best_start, best = self._row_minima(level, last, np.array([level]), last)
                scores[last], last_starts[last] = best, best_start
            self._scores.append(scores)
            self._last_starts.append(last_starts)

    def _scan_all_rows(self, level: int, scores: np.ndarray, last_starts: np.ndarray) -> None:
        """Every prefix end b >= level, every start of the last class in level..b."""
        rows = np.arange(level, self.max_classes)
        rows_per_batch = max(1, _BATCH_PAIRS // max(1, self.max_classes))
        for begin in range(0, rows.size, rows_per_batch):
            batch = rows[begin:begin + rows_per_batch]
            best_start, best = self._row_minima(level, batch, np.full_like(batch, level), batch)
            scores[batch], last_starts[batch] = best, best_start

    def _divide_and_conquer(self, level: int, scores: np.ndarray, last_starts: np.ndarray) -> None:
        """Row minima using that the optimal last-class start never decreases with the prefix end.

        Every recursion depth is one vectorised batch: each pending task (a range of rows and the
        range their optimal starts must lie in) solves its middle row and splits in two.
        """
        row_lo = np.array([level])
        row_hi = np.array([self.max_classes - 1])
        start_lo, start_hi = row_lo.copy(), row_hi.copy()
        while row_lo.size:
            mid = (row_lo + row_hi) // 2
            best_start, best = self._row_minima(level, mid, start_lo, np.minimum(start_hi, mid))
            scores[mid], last_starts[mid] = best, best_start
            left, right = mid > row_lo, mid < row_hi
            row_lo = np.concatenate([row_lo[left], mid[right] + 1])
            row_hi = np.concatenate([mid[left] - 1, row_hi[right]])
            start_lo = np.concatenate([start_lo[left], best_start[right]])
            start_hi = np.concatenate([best_start[left], start_hi[right]])

    def _row_minima(self, level: int, rows: np.ndarray, lo: np.ndarray, hi: np.ndarray
                    ) -> tuple[np.ndarray, np.ndarray]:
        """For each row b, the best start a in lo..hi of the last class, and its score.

        Score = class(a..b) + best score of the prefix ending at a-1 with one class fewer. Among
        equal scores the smallest a wins, as in jenkspy.
        """
        lengths = hi - lo + 1
        offsets = np.concatenate([[0], np.cumsum(lengths)[:-1]])
        starts = np.repeat(lo - offsets, lengths) + np.arange(int(lengths.sum()))
        ends = np.repeat(rows, lengths)
        totals = self._class_score(starts, ends) + self._scores[level - 1][starts - 1]
        row_best = np.minimum.reduceat(totals, offsets)
        at_best = np.flatnonzero(totals == np.repeat(row_best, lengths))
        first_best = at_best[np.searchsorted(at_best, offsets)]
        return starts[first_best], totals[first_best]


def _prefix_sum(values: np.ndarray) -> np.ndarray:
    return np.concatenate([[0.0], np.cumsum(values)])


def _as_finite_1d(values: Iterable[float]) -> np.ndarray:
    """The values as a 1-D float64 array, or an InputError saying what is wrong with them."""
    if isinstance(values, (str, bytes)) or not isinstance(values, Iterable):
        raise InputError(f"values must be a 1-D sequence of numbers, got {type(values).__name__}")
    array = np.asarray(values if hasattr(values, "__len__") else list(values))
    if array.ndim != 1:
        raise InputError(f"values must be 1-D, got an array of shape {array.shape}")
    if array.size == 0:
        raise InputError("values is empty: Jenks breaks need at least one value")
    if array.dtype.kind == "b":
        raise InputError("values are booleans: Jenks breaks need numbers")
    try:
        array = array.astype(np.float64)
    except (TypeError, ValueError) as error:
        raise InputError(f"values must be numbers: {error}") from None
    bad = np.flatnonzero(~np.isfinite(array))
    if bad.size:
        raise InputError(f"values must be finite: {bad.size} are not, the first at position "
                         f"{bad[0]} ({array[bad[0]]})")
    return array
