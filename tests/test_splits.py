from collections import Counter

import numpy as np
import pytest

from mocar.data.splits import assign_splits, parse_fractions, split_counts
from mocar.errors import ConfigError


def _ids(n, prefix="obj"):
    return [f"{prefix}-{i:05d}" for i in range(n)]


def test_parse_fractions_forms():
    assert parse_fractions("80/10/10") == pytest.approx((0.8, 0.1, 0.1))
    assert parse_fractions("0.7,0.2,0.1") == pytest.approx((0.7, 0.2, 0.1))
    with pytest.raises(ConfigError):
        parse_fractions("80/20")
    with pytest.raises(ConfigError):
        parse_fractions("a/b/c")


@pytest.mark.parametrize("n,expected", [(10, [8, 1, 1]), (1, [1, 0, 0]), (2, [2, 0, 0]), (5, [4, 1, 0]), (27, [21, 3, 3])])
def test_split_counts_largest_remainder(n, expected):
    assert split_counts(n, (0.8, 0.1, 0.1)) == expected
    assert sum(split_counts(n, (0.8, 0.1, 0.1))) == n


def test_proportions_and_stratification():
    rng = np.random.default_rng(0)
    ids = _ids(3000)
    strata = rng.integers(0, 12, size=len(ids)).tolist()
    splits = assign_splits(ids, strata, (0.8, 0.1, 0.1), seed=1)
    total = Counter(splits)
    assert abs(total["train"] / 3000 - 0.8) < 0.01
    assert abs(total["val"] / 3000 - 0.1) < 0.01
    for stratum in range(12):
        members = [s for s, k in zip(splits, strata) if k == stratum]
        counts = Counter(members)
        expected = split_counts(len(members), (0.8, 0.1, 0.1))
        assert [counts["train"], counts["val"], counts["test"]] == expected


def test_deterministic_and_seed_dependent():
    ids, strata = _ids(500), [i % 5 for i in range(500)]
    a = assign_splits(ids, strata, (0.8, 0.1, 0.1), seed=3)
    b = assign_splits(list(reversed(ids)), list(reversed(strata)), (0.8, 0.1, 0.1), seed=3)
    assert list(a) == list(reversed(b)), "split must not depend on row order"
    c = assign_splits(ids, strata, (0.8, 0.1, 0.1), seed=4)
    assert (a != c).sum() > 50


def test_stable_when_rows_are_added():
    ids, strata = _ids(1000), [i % 4 for i in range(1000)]
    before = dict(zip(ids, assign_splits(ids, strata, (0.8, 0.1, 0.1), seed=0)))
    more_ids = ids + _ids(50, prefix="new")
    more_strata = strata + [i % 4 for i in range(50)]
    after = dict(zip(more_ids, assign_splits(more_ids, more_strata, (0.8, 0.1, 0.1), seed=0)))
    moved = sum(before[i] != after[i] for i in ids)
    # Only objects at a class's split boundaries may move: far fewer than the 50 rows added.
    assert moved <= 4 * 3 * 2


def test_no_id_in_two_splits():
    ids = _ids(800)
    splits = assign_splits(ids, [i % 7 for i in range(800)], (0.8, 0.1, 0.1), seed=0)
    by_split = {s: {i for i, t in zip(ids, splits) if t == s} for s in ("train", "val", "test")}
    assert not (by_split["train"] & by_split["val"]) and not (by_split["train"] & by_split["test"])
    assert not (by_split["val"] & by_split["test"])
    assert sum(len(v) for v in by_split.values()) == len(ids)
