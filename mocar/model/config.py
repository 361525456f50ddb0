"""The model configuration: plain data that fully describes a mocar network.

A :class:`ModelConfig` is saved inside every checkpoint and model file and is the source of the
export metadata (output names, year normalisation, preprocessing). ``to_dict``/``from_dict`` use
only JSON-compatible values so the dict survives ``torch.load(weights_only=True)``, JSON and
safetensors metadata unchanged.

Caveat: ``hidden`` is meaningless for the baseline (it has no hidden layer) and is stored as
``None`` there so that the metadata never claims a layer that does not exist.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

import torch

from mocar.model.backbones import BACKBONES
from mocar.model.errors import ModelConfigError, UnknownNameError, unknown_name_message
from mocar.utils.legacy import current_keys

ARCHITECTURES = ("baseline", "maxavgcat", "mocar")
ACTIVATIONS = ("relu", "gelu", "silu")

# BiT was trained on inputs scaled to [-1, 1] (timm's IMAGENET_INCEPTION_MEAN/STD).
BIT_MEAN = (0.5, 0.5, 0.5)
BIT_STD = (0.5, 0.5, 0.5)


@dataclass
class ModelConfig:
    """Everything needed to rebuild a network (weights aside).

    Attributes:
        arch: ``baseline`` (GAP + linear), ``maxavgcat`` (MaxAvg-Cat head) or ``mocar``
            (MaxAvg-Cat head with a classifier and a year regressor).
        backbone: A key of :data:`mocar.model.backbones.BACKBONES`.
        num_classes: Number of collections/classes of the classifier.
        hidden: Width of the MaxAvg-Cat hidden layer (the embedding); ``None`` for the baseline.
        dropout: Dropout probability before the output layers (0 disables it).
        year_mean: Mean used to normalise years for the regressor.
        year_scale: Scale used to normalise years: ``year_norm = (year - year_mean) / year_scale``.
        head_norm_groups: Groups of the GroupNorm over the pooled MaxAvg-Cat vector.
        activation: Activation of the MaxAvg-Cat head, one of :data:`ACTIVATIONS`.
        input_size: Input side in pixels the model is meant to run at (square).
        mean: Per-channel input mean (images in [0, 1] are normalised with it).
        std: Per-channel input standard deviation.
        preset: Name of the preset the config came from, if any (informational).
    """

    arch: str
    backbone: str
    num_classes: int
    hidden: int | None = 1024
    dropout: float = 0.0
    year_mean: float = 0.0
    year_scale: float = 1.0
    head_norm_groups: int = 32
    activation: str = "relu"
    input_size: int = 480
    mean: tuple[float, float, float] = BIT_MEAN
    std: tuple[float, float, float] = BIT_STD
    preset: str | None = None

    def __post_init__(self) -> None:
        self.mean = tuple(float(v) for v in self.mean)
        self.std = tuple(float(v) for v in self.std)
        if self.arch == "baseline":
            self.hidden = None
        self._validate()

    def _validate(self) -> None:
        if self.arch not in ARCHITECTURES:
            raise UnknownNameError(unknown_name_message("arch", self.arch, ARCHITECTURES))
        if self.backbone not in BACKBONES:
            raise UnknownNameError(unknown_name_message("backbone", self.backbone, list(BACKBONES)))
        if self.activation not in ACTIVATIONS:
            raise UnknownNameError(unknown_name_message("activation", self.activation, ACTIVATIONS))
        if self.num_classes < 1:
            raise ModelConfigError(f"num_classes must be >= 1, got {self.num_classes}")
        if self.arch != "baseline" and (self.hidden is None or self.hidden < 1):
            raise ModelConfigError(f"hidden must be >= 1 for arch {self.arch!r}, got {self.hidden}")
        if not 0.0 <= self.dropout < 1.0:
            raise ModelConfigError(f"dropout must be in [0, 1), got {self.dropout}")
        if not self.year_scale > 0.0:
            raise ModelConfigError(f"year_scale must be > 0, got {self.year_scale}")
        if self.head_norm_groups < 1:
            raise ModelConfigError(f"head_norm_groups must be >= 1, got {self.head_norm_groups}")
        if self.input_size < 32:
            raise ModelConfigError(f"input_size must be >= 32 (the backbone stride), got {self.input_size}")
        if len(self.mean) != 3 or len(self.std) != 3 or min(self.std) <= 0.0:
            raise ModelConfigError(f"mean/std need 3 values and std > 0, got {self.mean} / {self.std}")

    @property
    def has_year_head(self) -> bool:
        """Whether the network regresses a (normalised) year."""
        return self.arch == "mocar"

    def to_dict(self) -> dict[str, Any]:
        """Returns the config as plain JSON-compatible data (tuples become lists)."""
        data = dataclasses.asdict(self)
        data["mean"] = list(self.mean)
        data["std"] = list(self.std)
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ModelConfig:
        """Rebuilds a config written by :meth:`to_dict`.

        Args:
            data: Field names to values (names of older versions are accepted, :mod:`mocar.utils.legacy`).

        Raises:
            UnknownNameError: If a key is not a field (the message lists the valid fields).
        """
        data = current_keys(data, "model config")
        valid = [f.name for f in dataclasses.fields(cls)]
        for key in data:
            if key not in valid:
                raise UnknownNameError(unknown_name_message("ModelConfig field", key, valid))
        return cls(**data)

    def replace(self, **changes: Any) -> ModelConfig:
        """Returns a copy with some fields changed (validated like a new config)."""
        return ModelConfig.from_dict({**self.to_dict(), **changes})


def output_names(cfg: ModelConfig) -> list[str]:
    """Names of the exported outputs, in the fixed order every format uses.

    Args:
        cfg: The model's configuration.

    Returns:
        ``["logits", "year", "embedding"]`` for MOCaR, ``["logits", "embedding"]`` otherwise.
    """
    return ["logits", "year", "embedding"] if cfg.has_year_head else ["logits", "embedding"]


def normalize_year(years: torch.Tensor, year_mean: float, year_scale: float) -> torch.Tensor:
    """Maps calendar years to the regressor's target space: ``(year - mean) / scale``."""
    return (years - year_mean) / year_scale


def denormalize_year(year_norm: torch.Tensor, year_mean: float, year_scale: float) -> torch.Tensor:
    """Inverse of :func:`normalize_year`: ``year_norm * scale + mean``."""
    return year_norm * year_scale + year_mean
