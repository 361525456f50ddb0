"""DistributedDataParallel plumbing: the same `mocar train` runs alone or under ``torchrun``.

``torchrun --nproc-per-node N`` sets RANK/WORLD_SIZE/LOCAL_RANK; we then initialise NCCL on GPUs or
gloo on CPUs. Only rank 0 writes files; metrics are gathered to every rank. The run entry points
open the group with :func:`process_group`, which also tears it down when the run ends or fails.
"""
from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import torch
import torch.distributed as dist


@dataclass(frozen=True)
class DistContext:
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    device: torch.device = torch.device("cpu")

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def enabled(self) -> bool:
        return self.world_size > 1


def init_distributed(device: str = "auto") -> DistContext:
    """Initialise the process group when launched by torchrun; otherwise a single-process context."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    rank, local = int(os.environ.get("RANK", "0")), int(os.environ.get("LOCAL_RANK", "0"))
    use_cuda = torch.cuda.is_available() and device in ("auto", "cuda")
    target = torch.device(f"cuda:{local}" if use_cuda else "cpu")
    if use_cuda:
        torch.cuda.set_device(target)
    if world > 1 and not dist.is_initialized():
        dist.init_process_group(backend="nccl" if use_cuda else "gloo")
    return DistContext(rank=rank, world_size=world, local_rank=local, device=target)


@contextmanager
def process_group(device: str = "auto") -> Iterator[DistContext]:
    """:func:`init_distributed` for the length of a ``with`` block.

    The group is destroyed on the way out, even after an error, but only if this block created it:
    a group the caller opened stays the caller's.
    """
    opened_here = not dist.is_initialized()
    ctx = init_distributed(device)
    try:
        yield ctx
    finally:
        if opened_here:
            shutdown(ctx)


def gather_objects(obj: Any, ctx: DistContext) -> list[Any]:
    """All ranks' ``obj`` in rank order (just ``[obj]`` without distribution)."""
    if not ctx.enabled:
        return [obj]
    out: list[Any] = [None] * ctx.world_size
    dist.all_gather_object(out, obj)
    return out


def barrier(ctx: DistContext) -> None:
    if ctx.enabled:
        dist.barrier()


def shutdown(ctx: DistContext) -> None:
    """Destroys the process group of a distributed run (nothing to do in a single process)."""
    if ctx.enabled and dist.is_initialized():
        dist.destroy_process_group()
