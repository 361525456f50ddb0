"""Reproducible, stratified train/val/test splits that stay put when rows are added.

Each object gets a pseudo-random rank from a hash of (seed, object id). Within every stratum
(class) objects are ordered by that rank and the first ``round(n * train)`` go to train, the next to
val, the rest to test (largest-remainder rounding, so small classes still get exact proportions as far
as possible). Consequences:
- the same id always lands in the same place for a given seed and class size;
- adding rows moves at most a few objects per class across a boundary (never reshuffles);
- an id cannot be in two splits, because ids are unique after ingest (duplicates are rejected).
"""
from __future__ import annotations

import hashlib
from collections.abc import Sequence

import numpy as np

from mocar.errors import ConfigError, InputError

SPLIT_NAMES = ("train", "val", "test")


def parse_fractions(spec: str | Sequence[float]) -> tuple[float, float, float]:
    """Accept ``"80/10/10"``, ``"0.8,0.1,0.1"`` or a 3-sequence; return fractions summing to 1."""
    if isinstance(spec, str):
        parts = [p for p in spec.replace("/", ",").split(",") if p.strip()]
        try:
            values = [float(p) for p in parts]
        except ValueError:
            raise ConfigError(f"split {spec!r}: expected three numbers like 80/10/10") from None
    else:
        values = [float(v) for v in spec]
    if len(values) != 3 or any(v < 0 for v in values) or sum(values) <= 0:
        raise ConfigError(f"split {spec!r}: expected three non-negative numbers like 80/10/10")
    total = sum(values)
    return tuple(v / total for v in values)  # type: ignore[return-value]


def hash_rank(object_id: str, seed: int) -> int:
    """A stable 64-bit pseudo-random number for an id (independent of row order and Python's hash)."""
    digest = hashlib.blake2b(f"{seed}\x1f{object_id}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big")


def split_counts(n: int, fractions: Sequence[float]) -> list[int]:
    """Largest-remainder allocation of n items to the fractions (ties favour earlier splits)."""
    exact = [n * f for f in fractions]
    counts = [int(np.floor(x)) for x in exact]
    remainders = sorted(range(len(exact)), key=lambda i: (-(exact[i] - counts[i]), i))
    for i in remainders[: n - sum(counts)]:
        counts[i] += 1
    return counts


def assign_splits(
    ids: Sequence[str], strata: Sequence[object], fractions: Sequence[float], seed: int = 0
) -> np.ndarray:
    """Return an array of split names ('train'/'val'/'test'), one per id, stratified by ``strata``."""
    if len(ids) != len(strata):
        raise InputError("ids and strata must have the same length")
    result = np.empty(len(ids), dtype=object)
    by_stratum: dict[object, list[int]] = {}
    for i, stratum in enumerate(strata):
        by_stratum.setdefault(stratum, []).append(i)
    for members in by_stratum.values():
        members.sort(key=lambda i: (hash_rank(str(ids[i]), seed), str(ids[i])))
        start = 0
        for name, count in zip(SPLIT_NAMES, split_counts(len(members), fractions)):
            for i in members[start : start + count]:
                result[i] = name
            start += count
    return result
