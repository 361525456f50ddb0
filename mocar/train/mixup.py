"""Mix-up (Zhang et al. 2018) of images, class labels and normalised years with one shared lambda.

As in BiT, one ``lambda ~ Beta(alpha, alpha)`` is drawn per batch (not per sample). Each sample is
paired with the sample at a random permutation of the batch (BiT pairs with the flipped batch
instead; a permutation does not depend on the loader's order, and on a shuffled loader both are
equivalent). Labels become one-hot vectors mixed with the same lambda, and years, which are
normalised floats, are mixed linearly with that lambda too, so the year target matches the image.

Caveat: a permutation can pair a sample with itself; that sample is then left unchanged.
"""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from mocar.errors import ConfigError, InputError


def _sample_lambda(alpha: float, generator: torch.Generator | None) -> float:
    # torch's Beta distribution cannot take a Generator; seed numpy from the torch generator so the
    # draw stays reproducible from the caller's generator (or from torch.manual_seed when None).
    seed = int(torch.randint(0, 2**62, (1,), generator=generator).item())
    return float(np.random.default_rng(seed).beta(alpha, alpha))


def mixup_batch(
    images: Tensor,
    labels: Tensor,
    years: Tensor | None,
    num_classes: int,
    alpha: float,
    generator: torch.Generator | None = None,
) -> tuple[Tensor, Tensor, Tensor | None, float]:
    """Mix a batch with its permuted copy.

    Args:
        images: ``(N, ...)`` image batch.
        labels: ``(N,)`` integer class ids.
        years: ``(N,)`` or ``(N, 1)`` normalised years, or ``None`` for classification-only training.
        num_classes: Number of classes of the one-hot labels.
        alpha: Beta parameter; 0 disables mixing (identity, one-hot labels, ``lambda = 1``).
        generator: CPU ``torch.Generator`` making lambda and the permutation reproducible.

    Returns:
        ``(mixed_images, soft_labels, mixed_years, lam)`` where ``soft_labels`` is ``(N, num_classes)``
        float and ``x_mixed = lam * x + (1 - lam) * x[perm]`` for images, labels and years alike.
    """
    if alpha < 0:
        raise ConfigError(f"mix-up alpha must be >= 0, got {alpha!r}")
    if labels.ndim != 1 or labels.shape[0] != images.shape[0]:
        raise InputError(f"labels must be (N,) with N={images.shape[0]}, got shape {tuple(labels.shape)}")
    if labels.numel() and (int(labels.min()) < 0 or int(labels.max()) >= num_classes):
        raise InputError(
            f"labels must lie in [0, {num_classes}), got min {int(labels.min())} max {int(labels.max())}"
        )
    if years is not None and years.shape[0] != images.shape[0]:
        raise InputError(f"years have {years.shape[0]} rows but images have {images.shape[0]}")
    dtype = images.dtype if images.is_floating_point() else torch.float32
    one_hot = F.one_hot(labels.long(), num_classes).to(dtype)
    if alpha == 0:
        return images, one_hot, years, 1.0
    lam = _sample_lambda(alpha, generator)
    perm = torch.randperm(images.shape[0], generator=generator).to(images.device)
    mixed_images = lam * images + (1.0 - lam) * images[perm]
    soft_labels = lam * one_hot + (1.0 - lam) * one_hot[perm]
    mixed_years = None if years is None else lam * years + (1.0 - lam) * years[perm]
    return mixed_images, soft_labels, mixed_years, lam
