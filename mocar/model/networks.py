"""The paper's three networks on a BiT backbone; every forward returns :class:`ModelOutput`.

* :class:`BaselineNet`: backbone (with BiT's final GroupNorm+ReLU), global average pooling, a
  linear classifier (the paper's R50x1/R152x2 rows). Its embedding is the pooled feature vector.
* :class:`MaxAvgCatNet`: the four raw block outputs, MaxAvg-Cat pooling, GroupNorm, activation,
  hidden layer (the embedding), classifier.
* :class:`MocarNet`: MaxAvg-Cat plus a year regressor on the same embedding. The regressor
  predicts a *normalised* year, ``(year - year_mean) / year_scale`` (from the config), so that
  int8 and fp16 exports keep its precision; :meth:`MocarNet.denormalize_year` maps it back.

Output layers start at zero. Shapes: ``logits`` (N, num_classes), ``year`` (N,) or ``None``,
``embedding`` (N, E).
"""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import nn

import mocar.model.config as config_lib
from mocar.model.blocks import block_channels, final_norm, forward_blocks
from mocar.model.config import ModelConfig
from mocar.model.errors import ModelConfigError
from mocar.model.heads import MaxAvgCatEmbedding, maxavg_cat_pool, zero_linear


class ModelOutput(NamedTuple):
    """What every mocar network returns, in the exported order.

    Attributes:
        logits: Class scores (N, num_classes).
        year: Normalised year (N,) for MOCaR, ``None`` otherwise.
        embedding: The representation used for retrieval (N, E).
    """

    logits: torch.Tensor
    year: torch.Tensor | None
    embedding: torch.Tensor


class BaselineNet(nn.Module):
    """BiT backbone + global average pooling + linear classifier."""

    def __init__(self, config: ModelConfig, backbone: nn.Module):
        """Wraps a backbone built with its final norm.

        Args:
            config: The model's configuration (``arch == "baseline"``).
            backbone: A backbone from :func:`mocar.model.backbones.create_backbone`.
        """
        super().__init__()
        self.config = config
        self.backbone = backbone
        self.embedding_size = block_channels(backbone)[-1]
        self.drop = nn.Dropout(config.dropout) if config.dropout > 0 else nn.Identity()
        self.classifier = zero_linear(self.embedding_size, config.num_classes)

    def forward_features(self, images: torch.Tensor) -> torch.Tensor:
        """Returns the last block after BiT's final GroupNorm+ReLU (N, C, H/32, W/32)."""
        # Looked up at call time, not stored: a second reference would duplicate state-dict keys.
        return final_norm(self.backbone)(forward_blocks(self.backbone, images)[-1])

    def forward_head(self, features: torch.Tensor) -> ModelOutput:
        """Pools the feature map and classifies it."""
        pooled = features.mean(dim=(2, 3))
        return ModelOutput(self.classifier(self.drop(pooled)), None, pooled)

    def forward(self, images: torch.Tensor) -> ModelOutput:
        """Runs the whole network on normalised NCHW images."""
        return self.forward_head(self.forward_features(images))


class MaxAvgCatNet(nn.Module):
    """BiT backbone + MaxAvg-Cat head (all four blocks pooled) + classifier."""

    def __init__(self, config: ModelConfig, backbone: nn.Module):
        """Wraps a backbone (its final norm is unused and should be ``nn.Identity``).

        Args:
            config: The model's configuration (``arch`` ``maxavgcat`` or ``mocar``).
            backbone: A backbone from :func:`mocar.model.backbones.create_backbone`.

        Raises:
            ModelConfigError: If ``head_norm_groups`` does not divide the pooled size.
        """
        super().__init__()
        self.config = config
        self.backbone = backbone
        self.pooled_size = 2 * sum(block_channels(backbone))
        if self.pooled_size % config.head_norm_groups:
            raise ModelConfigError(
                f"head_norm_groups={config.head_norm_groups} does not divide the pooled MaxAvg-Cat "
                f"size {self.pooled_size} of backbone {config.backbone!r}")
        self.embedding_size = config.hidden
        self.neck = MaxAvgCatEmbedding(
            self.pooled_size, config.hidden, config.head_norm_groups, config.activation, config.dropout)
        self.classifier = zero_linear(config.hidden, config.num_classes)

    def forward_features(self, images: torch.Tensor) -> list[torch.Tensor]:
        """Returns the four raw block outputs (strides 4, 8, 16, 32)."""
        return forward_blocks(self.backbone, images)

    def embed(self, blocks: list[torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        """MaxAvg-Cat pooling and hidden layer: ``(embedding, embedding after dropout)``."""
        return self.neck(maxavg_cat_pool(blocks))

    def forward_head(self, blocks: list[torch.Tensor]) -> ModelOutput:
        """Pools the blocks, embeds and classifies."""
        embedding, dropped = self.embed(blocks)
        return ModelOutput(self.classifier(dropped), None, embedding)

    def forward(self, images: torch.Tensor) -> ModelOutput:
        """Runs the whole network on normalised NCHW images."""
        return self.forward_head(self.forward_features(images))


class MocarNet(MaxAvgCatNet):
    """MaxAvg-Cat with two heads: collection classifier and normalised-year regressor."""

    def __init__(self, config: ModelConfig, backbone: nn.Module):
        """See :class:`MaxAvgCatNet`; adds the zero-initialised year regressor."""
        super().__init__(config, backbone)
        self.regressor = zero_linear(config.hidden, 1)

    def forward_head(self, blocks: list[torch.Tensor]) -> ModelOutput:
        """Pools the blocks, embeds, classifies and regresses the normalised year."""
        embedding, dropped = self.embed(blocks)
        year = self.regressor(dropped).squeeze(1)
        return ModelOutput(self.classifier(dropped), year, embedding)

    def normalize_year(self, years: torch.Tensor) -> torch.Tensor:
        """Maps calendar years to the regressor's target space (for losses)."""
        return config_lib.normalize_year(years, self.config.year_mean, self.config.year_scale)

    def denormalize_year(self, year_norm: torch.Tensor) -> torch.Tensor:
        """Maps the ``year`` output back to calendar years."""
        return config_lib.denormalize_year(year_norm, self.config.year_mean, self.config.year_scale)

    @torch.no_grad()
    def predict_years(self, images: torch.Tensor) -> torch.Tensor:
        """Calendar years (N,) predicted for normalised images, computed in float32.

        Runs in the module's current mode; call ``eval()`` first for inference.
        """
        return self.denormalize_year(self(images).year.float())
