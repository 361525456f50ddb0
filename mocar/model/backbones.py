"""Backbones from timm: the paper's BiT networks and BatchNorm mobile students.

BiT backbones (pre-activation ResNet-V2 with GroupNorm and weight standardisation):

* ``bit_r50x1`` and ``bit_r152x2``: timm's ``resnetv2_50x1_bit`` / ``resnetv2_152x2_bit``, the
  paper's backbones (weights from an official BiT ``.npz`` via ``pretrained=PATH``).
* ``bit_tiny``: the same building blocks (timm's ``ResNetV2`` class, StdConv2d with BiT's
  eps=1e-8, GroupNorm, the 'fixed' BiT stem) with one bottleneck per stage and channels
  (32, 64, 128, 256), for the demo and the tests. GroupNorm uses 4 groups instead of 32 so that
  the thinnest layer (8 bottleneck channels) keeps BiT-R50's 2 channels per group.

Running a built backbone (its four block outputs, their channels, its final norm) is
:mod:`mocar.model.blocks`.

Student backbones (``family="student"``, for ``mocar distill``): timm mobile/ResNet networks with
BatchNorm, built ``features_only`` at strides 4/8/16/32, so the same MaxAvg-Cat/MOCaR heads sit on
their four feature levels. BatchNorm folds into the convolutions at export (the ONNX exporter's
optimiser does it), so int8 runs end to end, which GroupNorm prevents on BiT. ReLU-family
activations were preferred because they quantise best; ``mobilenetv3_large_100`` (hard-swish,
squeeze-excite) is kept as the counter-example the benchmarks measure. ``mobilenetv2_050`` is the
demo/test student.

Caveat: timm's classifier (``num_classes=0``) is kept as an empty module on BiT; features-only
students have no classifier at all. mocar's heads live outside the backbone.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import timm
from timm.layers import GroupNormAct, StdConv2d
from timm.models import FeatureListNet
from timm.models.resnet import BasicBlock, ResNet
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
        build: Builds a randomly initialised backbone with no classifier.
        timm_name: The timm model name, when it is a registered timm model.
        family: ``bit`` (GroupNorm ResNetV2) or ``student`` (BatchNorm, timm ``features_only``).
    """

    name: str
    description: str
    build: Callable[[], nn.Module]
    timm_name: str | None = None
    family: str = "bit"


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


def _timm_features(timm_name: str) -> nn.Module:
    # out_indices 1-4 are the stride-4..32 levels in every timm CNN (index 0 is the stride-2 stem).
    return timm.create_model(timm_name, pretrained=False, features_only=True, out_indices=(1, 2, 3, 4))


def _tiny_resnet() -> nn.Module:
    # bit_tiny's BatchNorm twin: its block widths 32..256 and depth, post-activation BatchNorm+ReLU.
    # BasicBlocks (two 3x3 convs at full width, ~2x bit_tiny's MACs) rather than bit_tiny's
    # bottlenecks: on the demo museum the bottleneck twin distilled to 41.4 % test top-1 vs the
    # teacher's 47.3 %, the BasicBlock twin to 47.3 % (one run each, 186 test images).
    network = ResNet(BasicBlock, [1, 1, 1, 1], channels=(32, 64, 128, 256), stem_width=32, num_classes=0)
    return FeatureListNet(network, out_indices=(1, 2, 3, 4))


def _student(timm_name: str, description: str) -> BackboneSpec:
    return BackboneSpec(timm_name, description, partial(_timm_features, timm_name), timm_name, "student")


BACKBONES: dict[str, BackboneSpec] = {
    spec.name: spec
    for spec in (
        BackboneSpec("bit_r50x1", "BiT-R50x1 (timm resnetv2_50x1_bit), blocks 256/512/1024/2048 ch",
                     partial(_timm_bit, "resnetv2_50x1_bit"), "resnetv2_50x1_bit"),
        BackboneSpec("bit_r152x2", "BiT-R152x2 (timm resnetv2_152x2_bit), blocks 512/1024/2048/4096 ch",
                     partial(_timm_bit, "resnetv2_152x2_bit"), "resnetv2_152x2_bit"),
        BackboneSpec("bit_tiny", "tiny BiT-style ResNetV2 (1 block/stage), blocks 32/64/128/256 ch",
                     _tiny_bit),
        _student("resnet50", "student: ResNet-50 (BatchNorm, ReLU), levels 256/512/1024/2048 ch"),
        _student("resnet18", "student: ResNet-18 (BatchNorm, ReLU), levels 64/128/256/512 ch"),
        _student("efficientnet_lite0", "student: EfficientNet-Lite0 (BatchNorm, ReLU6), levels 24/40/112/320 ch"),
        _student("mobilenetv2_100", "student: MobileNetV2 1.0 (BatchNorm, ReLU6), levels 24/32/96/320 ch"),
        _student("mobilenetv2_050", "student: MobileNetV2 0.5 (BatchNorm, ReLU6), levels 16/16/48/160 ch"),
        BackboneSpec("resnet_tiny", "student: bit_tiny's BatchNorm twin (ResNet, 1 BasicBlock/stage), "
                     "levels 32/64/128/256 ch", _tiny_resnet, None, "student"),
        _student("mobilenetv3_large_100",
                 "student: MobileNetV3-Large (hard-swish, squeeze-excite), levels 24/40/112/960 ch"),
    )
}


def create_backbone(
    name: str, pretrained: str | Path | None = None, keep_final_norm: bool = True
) -> nn.Module:
    """Builds a backbone, optionally with pretrained weights.

    Args:
        name: A key of :data:`BACKBONES`.
        pretrained: ``None`` for random init, or a BiT ``.npz``, torch ``.pt/.pth/.bin`` or
            ``.safetensors`` file (see :func:`mocar.model.pretrained.load_pretrained_backbone`).
        keep_final_norm: ``False`` replaces ``backbone.norm`` (BiT's GroupNorm+ReLU after stage 4)
            with ``nn.Identity`` after loading, for heads that do not use it (students have none).

    Returns:
        A timm ``ResNetV2`` or features-only network that :func:`mocar.model.blocks.forward_blocks` runs.

    Raises:
        UnknownNameError: If ``name`` is not registered.
    """
    if name not in BACKBONES:
        raise UnknownNameError(unknown_name_message("backbone", name, list(BACKBONES)))
    backbone = BACKBONES[name].build()
    if pretrained is not None:
        load_pretrained_backbone(backbone, pretrained, need_final_norm=keep_final_norm)
    if not keep_final_norm and isinstance(backbone, ResNetV2):
        backbone.norm = nn.Identity()
    return backbone

