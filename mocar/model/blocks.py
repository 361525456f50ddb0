"""Running a built backbone: its family, its four block outputs, their channels, its final norm.

The backbone's four *blocks* are the outputs of ``backbone.stages[0..3]`` on BiT (timm's
``ResNetV2``) and the stride-4..32 feature levels of a features-only student. In a pre-activation
network the BiT blocks are raw residual sums; BiT applies its final GroupNorm+ReLU
(``backbone.norm``) only after stage 4. :func:`forward_blocks` returns the raw outputs, like the
Keras BiT ``block1..block4`` layers the paper tapped; the baseline applies ``backbone.norm`` itself,
the MaxAvg-Cat networks drop it (their head normalises the pooled vector instead).

These functions only inspect the module they are given, so both the registry that builds backbones
(:mod:`mocar.model.backbones`) and the weights loader it calls (:mod:`mocar.model.pretrained`)
stand on this module.
"""

from __future__ import annotations

import torch
from timm.models.resnetv2 import ResNetV2
from torch import nn


def is_student(backbone: nn.Module) -> bool:
    """Whether a built backbone is a features-only student (not a BiT ``ResNetV2``)."""
    return not isinstance(backbone, ResNetV2)


def block_channels(backbone: nn.Module) -> list[int]:
    """Channels of the four block outputs (timm's feature_info without the stem level)."""
    if is_student(backbone):
        return [int(c) for c in backbone.feature_info.channels()]
    return [int(info["num_chs"]) for info in backbone.feature_info[1:]]


def final_norm(backbone: nn.Module) -> nn.Module:
    """BiT's GroupNorm+ReLU after stage 4; students end in their own BatchNorm+activation already."""
    return nn.Identity() if is_student(backbone) else backbone.norm


def forward_blocks(backbone: nn.Module, images: torch.Tensor) -> list[torch.Tensor]:
    """Runs the backbone and returns its four raw block outputs (strides 4, 8, 16, 32).

    No data-dependent control flow, so ``torch.export`` and ``torch.onnx`` trace it as is.
    """
    if is_student(backbone):
        return list(backbone(images))
    x = backbone.stem(images)
    blocks = []
    for stage in backbone.stages:
        x = stage(x)
        blocks.append(x)
    return blocks
