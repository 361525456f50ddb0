"""A stateless, step-indexed stream of training batches: exact resume, any number of ranks.

Sample ``i`` of the infinite stream is ``permutation(seed, epoch = i // N)[i % N]``. Step ``s``
consumes samples ``[s*B, (s+1)*B)`` of the stream (B = effective batch), split into micro-batches
for gradient accumulation and into per-rank shards for DistributedDataParallel. Nothing depends on
what ran before, so a resumed run sees exactly the batches an uninterrupted one would, and the
augmentation seed travels with each item as its epoch.
"""
from __future__ import annotations

from collections.abc import Iterator
from functools import lru_cache

import numpy as np
from torch.utils.data import Sampler

from mocar.errors import ConfigError


@lru_cache(maxsize=4)
def _permutation(n: int, seed: int, epoch: int) -> np.ndarray:
    return np.random.default_rng((seed, epoch)).permutation(n)


def step_samples(step: int, n: int, batch: int, seed: int) -> list[tuple[int, int]]:
    """The (index, epoch) pairs of one optimisation step, in order."""
    items = []
    for i in range(step * batch, (step + 1) * batch):
        epoch = i // n
        items.append((int(_permutation(n, seed, epoch)[i % n]), epoch))
    return items


class StepBatchSampler(Sampler):
    """Yields this rank's micro-batches of (index, epoch) for steps ``start_step .. total_steps-1``."""

    def __init__(self, n: int, batch: int, micro_batch: int, start_step: int, total_steps: int,
                 seed: int = 0, rank: int = 0, world_size: int = 1) -> None:
        if batch % world_size:
            raise ConfigError(f"batch {batch} is not divisible by {world_size} processes")
        per_rank = batch // world_size
        if per_rank % micro_batch:
            raise ConfigError(f"per-process batch {per_rank} is not divisible by micro-batch {micro_batch}")
        self.n, self.batch, self.micro = n, batch, micro_batch
        self.start, self.total, self.seed = start_step, total_steps, seed
        self.rank, self.world, self.per_rank = rank, world_size, per_rank

    @property
    def accumulation(self) -> int:
        return self.per_rank // self.micro

    def __len__(self) -> int:
        return (self.total - self.start) * self.accumulation

    def __iter__(self) -> Iterator[list[tuple[int, int]]]:
        for step in range(self.start, self.total):
            samples = step_samples(step, self.n, self.batch, self.seed)
            mine = samples[self.rank * self.per_rank : (self.rank + 1) * self.per_rank]
            for k in range(0, self.per_rank, self.micro):
                yield mine[k : k + self.micro]
