"""Heads: MaxAvg-Cat pooling, the MaxAvg-Cat hidden layer, zero-initialised output layers.

MaxAvg-Cat (the paper): the four backbone blocks are brought to block-1 resolution and
concatenated (256+512+1024+2048 = 3840 channels for R50x1), then a global max pool and a global
average pool run in parallel and are concatenated (7680 values, max first), followed by
GroupNorm, an activation, a hidden layer + activation (+ dropout): the embedding.

Why :func:`maxavg_cat_pool` may skip the upsampling: with nearest-neighbour (replication)
upsampling by an integral factor k, every value of a block appears exactly k*k times at block-1
resolution. The maximum is therefore unchanged and so is the mean (each value is weighted
equally), and concatenation along channels does not mix blocks. So
``global_max/avg(concat(upsample(blocks)))`` == ``concat(global_max/avg(block) for block)`` up
to float rounding of the sums. :func:`maxavg_cat_literal` is the literal form, kept for the test
that proves it. Caveats: the identity is exact only when block-1's size is an integral multiple
of every block's size (true whenever the input side is a multiple of 32). Bringing blocks to one
resolution by *average-pool downsampling* instead would not preserve the maximum. The literal form
allocates the upsampled map at run time, in PyTorch and in every export (R50x1 at 480 px:
3840 x 120 x 120 values, 221 MB in float32 per image), so only the cheap form is used in the networks.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

_ACTIVATIONS: dict[str, type[nn.Module]] = {"relu": nn.ReLU, "gelu": nn.GELU, "silu": nn.SiLU}


def make_activation(name: str) -> nn.Module:
    """Returns a new activation module for a name of :data:`mocar.model.config.ACTIVATIONS`."""
    return _ACTIVATIONS[name]()


def global_max_avg(features: torch.Tensor) -> torch.Tensor:
    """Global max and average pooling of an NCHW map, concatenated as ``[max, avg]`` (N, 2C)."""
    return torch.cat([features.amax(dim=(2, 3)), features.mean(dim=(2, 3))], dim=1)


def maxavg_cat_pool(blocks: Sequence[torch.Tensor]) -> torch.Tensor:
    """Cheap MaxAvg-Cat pooling: global max/avg of each block, in the literal channel order.

    Args:
        blocks: The block outputs, each (N, C_i, H_i, W_i).

    Returns:
        (N, 2 * sum(C_i)): all blocks' maxima, then all blocks' means.
    """
    maxima = [block.amax(dim=(2, 3)) for block in blocks]
    means = [block.mean(dim=(2, 3)) for block in blocks]
    return torch.cat(maxima + means, dim=1)


def upsample_and_concat(blocks: Sequence[torch.Tensor]) -> torch.Tensor:
    """Replicates every block to block-1 resolution (nearest) and concatenates the channels.

    Args:
        blocks: The block outputs; the first has the largest resolution.

    Returns:
        (N, sum(C_i), H_1, W_1).
    """
    size = blocks[0].shape[-2:]
    return torch.cat([F.interpolate(block, size=size, mode="nearest") for block in blocks], dim=1)


def maxavg_cat_literal(blocks: Sequence[torch.Tensor]) -> torch.Tensor:
    """The paper's literal MaxAvg-Cat pooling (reference only; see the module docstring)."""
    return global_max_avg(upsample_and_concat(blocks))


def zero_linear(in_features: int, out_features: int) -> nn.Linear:
    """A linear output layer with zero weight and bias (big_transfer's ``zero_head``).

    Fine-tuning then starts from the backbone's features instead of random logits; gradients
    still reach the layer itself on the first step (they depend on its input, not its weight).
    """
    layer = nn.Linear(in_features, out_features)
    nn.init.zeros_(layer.weight)
    nn.init.zeros_(layer.bias)
    return layer


class MaxAvgCatEmbedding(nn.Module):
    """GroupNorm + activation over the pooled vector, then the hidden layer: the embedding."""

    def __init__(self, in_features: int, hidden: int, norm_groups: int, activation: str, dropout: float):
        """Builds the layers.

        Args:
            in_features: Length of the pooled MaxAvg-Cat vector.
            hidden: Width of the hidden layer (the embedding size).
            norm_groups: GroupNorm groups; must divide ``in_features``.
            activation: Activation name.
            dropout: Dropout after the hidden activation (0 gives ``nn.Identity``).
        """
        super().__init__()
        self.norm = nn.GroupNorm(norm_groups, in_features)
        self.act = make_activation(activation)
        self.fc = nn.Linear(in_features, hidden)
        self.fc_act = make_activation(activation)
        self.drop = nn.Dropout(dropout) if dropout > 0 else nn.Identity()

    def forward(self, pooled: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Returns ``(embedding, dropped_embedding)``: outputs use the former, heads the latter."""
        embedding = self.fc_act(self.fc(self.act(self.norm(pooled))))
        return embedding, self.drop(embedding)
