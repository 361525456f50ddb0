"""BiT backbones (pre-activation ResNet-V2 with GroupNorm and weight standardisation) from timm.

Three backbones are registered in :data:`BACKBONES`:

* ``bit_r50x1`` and ``bit_r152x2``: timm's ``resnetv2_50x1_bit`` / ``resnetv2_152x2_bit``, the
  paper's backbones (weights from an official BiT ``.npz`` via ``pretrained=PATH``).
* ``bit_tiny``: the same building blocks (timm's ``ResNetV2`` class, StdConv2d with BiT's
  eps=1e-8, GroupNorm, the 'fixed' BiT stem) with one bottleneck per stage and channels
  (32, 64, 128, 256), for the demo and the tests. GroupNorm uses 4 groups instead of 32 so that
  the thinnest layer (8 bottleneck channels) keeps BiT-R50's 2 channels per group.

The backbone's four *blocks* are the outputs of ``backbone.stages[0..3]``. In a pre-activation
network these are raw residual sums; BiT applies its final GroupNorm+ReLU (``backbone.norm``) only
after stage 4. :func:`forward_blocks` returns the raw outputs, like the Keras BiT ``block1..block4``
layers the paper tapped; the baseline applies ``backbone.norm`` itself, the MaxAvg-Cat networks
drop it (their head normalises the pooled vector instead).

Caveat: timm's classifier (``num_classes=0``) is kept as an empty module; mocar's heads live
outside the backbone.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import timm
import torch
from timm.layers import GroupNormAct, StdConv2d
from timm.models.resnetv2 import ResNetV2
from torch import nn

from mocar.model.errors import UnknownNameError, unknown_name_message
from mocar.model.pretrained import load_pretrained_backbone


@dataclass(frozen=True)
class BackboneSpec:
    """How to build one backbone.

    Attributes:
        name: mocar's name for it.
        description: One line for listings.
        build: Builds a randomly initialised timm ``ResNetV2`` with no classifier.
        timm_name: The timm model name, when it is a registered timm model.
    """

    name: str
    description: str
    build: Callable[[], ResNetV2]
    timm_name: str | None = None


def _timm_bit(timm_name: str) -> ResNetV2:
    # pretrained=False: weights never come from the hub; mocar loads files explicitly.
    return timm.create_model(timm_name, pretrained=False, num_classes=0)


def _tiny_bit() -> ResNetV2:
    return ResNetV2(
        layers=[1, 1, 1, 1],
        channels=(32, 64, 128, 256),
        stem_chs=32,
        stem_type="fixed",
        conv_layer=partial(StdConv2d, eps=1e-8),
        norm_layer=partial(GroupNormAct, num_groups=4),
        num_classes=0,
    )


BACKBONES: dict[str, BackboneSpec] = {
    spec.name: spec
    for spec in (
        BackboneSpec("bit_r50x1", "BiT-R50x1 (timm resnetv2_50x1_bit), blocks 256/512/1024/2048 ch",
                     partial(_timm_bit, "resnetv2_50x1_bit"), "resnetv2_50x1_bit"),
        BackboneSpec("bit_r152x2", "BiT-R152x2 (timm resnetv2_152x2_bit), blocks 512/1024/2048/4096 ch",
                     partial(_timm_bit, "resnetv2_152x2_bit"), "resnetv2_152x2_bit"),
        BackboneSpec("bit_tiny", "tiny BiT-style ResNetV2 (1 block/stage), blocks 32/64/128/256 ch",
                     _tiny_bit),
    )
}


def create_backbone(
    name: str, pretrained: str | Path | None = None, keep_final_norm: bool = True
) -> ResNetV2:
    """Builds a backbone, optionally with pretrained weights.

    Args:
        name: A key of :data:`BACKBONES`.
        pretrained: ``None`` for random init, or a BiT ``.npz``, torch ``.pt/.pth/.bin`` or
            ``.safetensors`` file (see :func:`mocar.model.pretrained.load_pretrained_backbone`).
        keep_final_norm: ``False`` replaces ``backbone.norm`` (BiT's GroupNorm+ReLU after stage 4)
            with ``nn.Identity`` after loading, for heads that do not use it.

    Returns:
        A timm ``ResNetV2`` whose ``stem``/``stages`` feed :func:`forward_blocks`.

    Raises:
        UnknownNameError: If ``name`` is not registered.
    """
    if name not in BACKBONES:
        raise UnknownNameError(unknown_name_message("backbone", name, list(BACKBONES)))
    backbone = BACKBONES[name].build()
    if pretrained is not None:
        load_pretrained_backbone(backbone, pretrained, need_final_norm=keep_final_norm)
    if not keep_final_norm:
        backbone.norm = nn.Identity()
    return backbone


def block_channels(backbone: ResNetV2) -> list[int]:
    """Channels of the four block outputs (timm's feature_info without the stem level)."""
    return [int(info["num_chs"]) for info in backbone.feature_info[1:]]


def forward_blocks(backbone: ResNetV2, images: torch.Tensor) -> list[torch.Tensor]:
    """Runs stem and stages and returns the four raw block outputs (strides 4, 8, 16, 32).

    No data-dependent control flow, so ``torch.export`` and ``torch.onnx`` trace it as is.
    """
    x = backbone.stem(images)
    blocks = []
    for stage in backbone.stages:
        x = stage(x)
        blocks.append(x)
    return blocks
