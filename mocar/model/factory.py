"""The model factory and the registry of named presets (the paper's configurations).

One entry point builds every network: :func:`create_model` (keyword form),
:func:`create_model_from_config` (from a saved :class:`ModelConfig`) and
:func:`create_model_from_preset` (from a name in :data:`PRESETS`). The built model carries its
config as ``model.config``.

Caveat: the paper does not state the hidden width of its MOCaR runs here; ``mocar_r50x1`` uses
1024 and ``mocar_r152x2`` 3840, matching the MaxAvg-Cat presets of the same backbone.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from torch import nn

from mocar.model.backbones import create_backbone
from mocar.model.config import ModelConfig
from mocar.model.errors import UnknownNameError, unknown_name_message
from mocar.model.networks import BaselineNet, MaxAvgCatNet, MocarNet

_NETWORKS: dict[str, type[nn.Module]] = {"baseline": BaselineNet, "maxavgcat": MaxAvgCatNet, "mocar": MocarNet}


@dataclass(frozen=True)
class ModelPreset:
    """A named, partial :class:`ModelConfig` (everything but the dataset-specific fields).

    Attributes:
        arch: Network architecture.
        backbone: Backbone name.
        description: One line for listings.
        hidden: MaxAvg-Cat hidden width (ignored by the baseline).
        input_size: Input side the preset is meant for.
        head_norm_groups: GroupNorm groups of the head; must divide the pooled width (twice the
            sum of the backbone's four block widths).
    """

    arch: str
    backbone: str
    description: str
    hidden: int | None = 1024
    input_size: int = 480
    head_norm_groups: int = 32

    def to_config(self, name: str, num_classes: int, **overrides: Any) -> ModelConfig:
        """Completes the preset into a config; ``overrides`` replace any ModelConfig field."""
        fields = dict(arch=self.arch, backbone=self.backbone, hidden=self.hidden, input_size=self.input_size,
                      head_norm_groups=self.head_norm_groups, preset=name, num_classes=num_classes)
        return ModelConfig.from_dict({**fields, **overrides})


PRESETS: dict[str, ModelPreset] = {
    "baseline_r50x1": ModelPreset("baseline", "bit_r50x1", "paper baseline: BiT-R50x1 + GAP + linear", None),
    "baseline_r152x2": ModelPreset("baseline", "bit_r152x2", "paper baseline: BiT-R152x2 + GAP + linear", None),
    "maxavgcat_r50x1_h1024": ModelPreset("maxavgcat", "bit_r50x1", "MaxAvg-Cat, R50x1, hidden 1024", 1024),
    "maxavgcat_r50x1_h3840": ModelPreset("maxavgcat", "bit_r50x1", "MaxAvg-Cat, R50x1, hidden 3840", 3840),
    "maxavgcat_r152x2_h3840": ModelPreset("maxavgcat", "bit_r152x2", "MaxAvg-Cat, R152x2, hidden 3840", 3840),
    "mocar_r50x1": ModelPreset("mocar", "bit_r50x1", "MOCaR (collection + year), R50x1, hidden 1024", 1024),
    "mocar_r152x2": ModelPreset("mocar", "bit_r152x2", "MOCaR (collection + year), R152x2, hidden 3840", 3840),
    "baseline_tiny": ModelPreset("baseline", "bit_tiny", "demo/test baseline on the tiny BiT", None, 128),
    "maxavgcat_tiny": ModelPreset("maxavgcat", "bit_tiny", "demo/test MaxAvg-Cat on the tiny BiT", 256, 128),
    "mocar_tiny": ModelPreset("mocar", "bit_tiny", "demo/test MOCaR on the tiny BiT", 256, 128),
    # Students for `mocar distill` (which takes arch, hidden width and input size from the teacher).
    "student_resnet50": ModelPreset("mocar", "resnet50", "student: ResNet-50 (BatchNorm), MOCaR head", 1024, 224),
    "student_resnet18": ModelPreset("mocar", "resnet18", "student: ResNet-18 (BatchNorm), MOCaR head", 1024, 224),
    "student_efficientnet_lite0": ModelPreset("mocar", "efficientnet_lite0",
                                              "student: EfficientNet-Lite0, MOCaR head", 1024, 224),
    "student_mobilenetv2_100": ModelPreset("mocar", "mobilenetv2_100", "student: MobileNetV2 1.0, MOCaR head",
                                           1024, 224, head_norm_groups=16),
    "student_mobilenetv3_large": ModelPreset("mocar", "mobilenetv3_large_100",
                                             "student: MobileNetV3-Large (hard-swish), MOCaR head", 1024, 224),
    "student_tiny": ModelPreset("mocar", "resnet_tiny", "demo/test student: bit_tiny's BatchNorm twin, MOCaR head",
                                256, 128),
    "student_mobilenetv2_050": ModelPreset("mocar", "mobilenetv2_050", "student: MobileNetV2 0.5, MOCaR head",
                                           256, 128),
}


def list_presets() -> list[str]:
    """Names of all presets, sorted."""
    return sorted(PRESETS)


def preset_config(name: str, num_classes: int, **overrides: Any) -> ModelConfig:
    """Builds the full config of a preset.

    Args:
        name: A key of :data:`PRESETS`.
        num_classes: Number of classes.
        **overrides: Any :class:`ModelConfig` field (e.g. ``dropout``, ``year_mean``).

    Raises:
        UnknownNameError: If the preset or an override field is unknown.
    """
    if name not in PRESETS:
        raise UnknownNameError(unknown_name_message("preset", name, list(PRESETS)))
    return PRESETS[name].to_config(name, num_classes, **overrides)


def create_model_from_config(cfg: ModelConfig, pretrained: str | Path | None = None) -> nn.Module:
    """Builds the network a config describes.

    Args:
        cfg: The configuration.
        pretrained: Optional backbone weights file (see :func:`create_backbone`).

    Returns:
        A :class:`BaselineNet`, :class:`MaxAvgCatNet` or :class:`MocarNet` with ``.config``.
    """
    backbone = create_backbone(cfg.backbone, pretrained, keep_final_norm=cfg.arch == "baseline")
    return _NETWORKS[cfg.arch](cfg, backbone)


def create_model(
    arch: str,
    backbone: str,
    num_classes: int,
    hidden: int = 1024,
    dropout: float = 0.0,
    pretrained: str | Path | None = None,
    year_mean: float = 0.0,
    year_scale: float = 1.0,
    **config_fields: Any,
) -> nn.Module:
    """Builds a network from keyword arguments.

    Args:
        arch: ``baseline``, ``maxavgcat`` or ``mocar``.
        backbone: A key of :data:`mocar.model.backbones.BACKBONES` (BiT or student).
        num_classes: Number of classes.
        hidden: MaxAvg-Cat hidden width (the embedding size); ignored by the baseline.
        dropout: Dropout before the output layers.
        pretrained: Backbone weights file or ``None`` for random init.
        year_mean: Year normalisation mean (MOCaR).
        year_scale: Year normalisation scale (MOCaR).
        **config_fields: Further :class:`ModelConfig` fields (``head_norm_groups``, ``input_size``...).
    """
    cfg = ModelConfig.from_dict(dict(
        arch=arch, backbone=backbone, num_classes=num_classes, hidden=hidden, dropout=dropout,
        year_mean=year_mean, year_scale=year_scale, **config_fields))
    return create_model_from_config(cfg, pretrained)


def create_model_from_preset(
    name: str, num_classes: int, pretrained: str | Path | None = None, **overrides: Any
) -> nn.Module:
    """Builds a preset's network; see :func:`preset_config` for the arguments."""
    return create_model_from_config(preset_config(name, num_classes, **overrides), pretrained)
