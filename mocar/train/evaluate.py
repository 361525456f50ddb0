"""Inference over a split: logits, years (in calendar years) and embeddings, plus the val loss.

Shared by validation during training, `mocar eval` and the export parity checks, so every number
comes from one code path.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset, Subset

from mocar.train.losses import MocarLoss


@dataclass
class SplitPredictions:
    """Per-image outputs of one pass over a data set, in data set order."""

    indices: np.ndarray
    logits: np.ndarray
    targets: np.ndarray
    year_pred: np.ndarray | None
    year_true_norm: np.ndarray
    embeddings: np.ndarray
    loss: float
    loss_cls: float
    loss_reg: float | None


def autocast(device: torch.device, bf16: bool):
    return torch.autocast(device_type=device.type, dtype=torch.bfloat16, enabled=bf16)


@torch.no_grad()
def predict_dataset(model: nn.Module, dataset: Dataset, loss_fn: MocarLoss | None = None, batch_size: int = 64,
                    device: torch.device = torch.device("cpu"), bf16: bool = False, workers: int = 0,
                    shard: tuple[int, int] = (0, 1), channels_last: bool = False) -> SplitPredictions:
    """Run ``model`` (eval mode) over ``dataset`` or its ``shard`` = (rank, world) part."""
    rank, world = shard
    subset = Subset(dataset, list(range(rank, len(dataset), world)))
    loader = DataLoader(subset, batch_size=batch_size, shuffle=False, num_workers=workers)
    was_training = model.training
    model.eval()
    parts: dict[str, list] = {k: [] for k in ("idx", "logits", "target", "year", "year_t", "emb")}
    sums, count = np.zeros(3), 0
    for images, targets, years, indices in loader:
        images = images.to(device)
        if channels_last:
            images = images.contiguous(memory_format=torch.channels_last)
        with autocast(device, bf16):
            out = model(images)
        out = type(out)(*(t.float() if t is not None else None for t in out))
        if loss_fn is not None:
            losses = loss_fn(out, targets.to(device), years.to(device))
            n = len(targets)
            sums += n * np.array([losses["loss"].item(), losses["loss_cls"].item(),
                                  losses["loss_reg"].item() if losses["loss_reg"] is not None else np.nan])
            count += n
        parts["idx"].append(indices.numpy())
        parts["logits"].append(out.logits.cpu().numpy())
        parts["target"].append(targets.numpy())
        parts["year_t"].append(years.numpy())
        parts["emb"].append(out.embedding.cpu().numpy())
        if out.year is not None:
            parts["year"].append(model.denormalize_year(out.year.reshape(-1)).cpu().numpy())
    model.train(was_training)
    means = sums / max(count, 1)
    return SplitPredictions(
        indices=np.concatenate(parts["idx"]), logits=np.concatenate(parts["logits"]),
        targets=np.concatenate(parts["target"]),
        year_pred=np.concatenate(parts["year"]) if parts["year"] else None,
        year_true_norm=np.concatenate(parts["year_t"]), embeddings=np.concatenate(parts["emb"]),
        loss=float(means[0]), loss_cls=float(means[1]),
        loss_reg=None if np.isnan(means[2]) else float(means[2]),
    )


def merge_shards(shards: list[SplitPredictions]) -> SplitPredictions:
    """Combine per-rank predictions into data set order (losses weighted by shard size)."""
    if len(shards) == 1:
        return shards[0]
    order = np.argsort(np.concatenate([s.indices for s in shards]), kind="stable")
    cat = lambda name: np.concatenate([getattr(s, name) for s in shards])[order]  # noqa: E731
    sizes = np.array([len(s.indices) for s in shards], dtype=float)
    weighted = lambda name: float(np.dot(sizes, [getattr(s, name) for s in shards]) / sizes.sum())  # noqa: E731
    has_year = shards[0].year_pred is not None
    return SplitPredictions(
        indices=cat("indices"), logits=cat("logits"), targets=cat("targets"),
        year_pred=cat("year_pred") if has_year else None, year_true_norm=cat("year_true_norm"),
        embeddings=cat("embeddings"), loss=weighted("loss"), loss_cls=weighted("loss_cls"),
        loss_reg=weighted("loss_reg") if shards[0].loss_reg is not None else None,
    )
