"""The training run configuration: one typed dataclass, resolved and saved as ``config.yaml``.

Precedence: dataclass defaults < ``--config run.yaml`` < command-line flags. Values left ``None``
are filled by the BiT-HyperRule from the data set (steps, warm-up, resolution, MixUp, lr).

The command line's flags are generated from the fields named in :data:`TRAIN_FLAG_HELP` and
:data:`DISTILL_FLAG_HELP`: ``--kebab-case`` of the name, the field's type, and no default, so a flag
left out keeps the YAML file's value.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from mocar.errors import ConfigError
from mocar.utils.io import read_yaml
from mocar.utils.legacy import current_keys

PRECISIONS = ("auto", "fp32", "bf16")
# Copies of mocar.model.ARCHITECTURES and mocar.train.losses.COMBINATION_MODES (a test keeps them
# equal): the command line offers them as choices without importing torch and timm.
ARCHITECTURES = ("baseline", "maxavgcat", "mocar")
LOSS_COMBINATIONS = ("sum", "product", "both", "uncertainty")
# Copy of mocar.data.field_augment.FIELD_AUGMENTS (a test keeps them equal), for the same reason:
# that module imports torchvision.
FIELD_AUGMENTS = ("none", "phone")


@dataclass
class TrainConfig:
    """Everything a training run needs besides the data itself.

    Attributes:
        data: Prepared data folder (``mocar data prepare --out``).
        out: Run folder (config, checkpoints, metrics, plots).
        preset: Model preset name (``mocar model presets``); ``arch``/``backbone`` override it.
        loss: MOCaR loss combination: sum | product | both | uncertainty.
        steps, warmup, batch_size, micro_batch, lr, mixup_alpha, input_size, resize: the schedule;
            ``None`` = BiT-HyperRule; ``lr="auto"`` runs the lr range test first.
        eval_every: Validate (and checkpoint on improvement) every N steps; 0 = 10 times per run.
        field_augment: Field-style augmentation of the training images (:mod:`mocar.data.field_augment`):
            none (the paper-exact recipe) | phone.
        field_augment_p: Share of the training images that get it (the rest stay museum photos).
        precision: auto (bf16 on CUDA devices that support it, fp32 elsewhere), fp32 or bf16.
        stop_after: Stop after this many steps (resumable with ``--resume``), e.g. to split a run.
        teacher: A trained run folder to distil from (``mocar distill``); None trains normally.
        kd_temperature, kd_alpha, kd_year_weight, kd_embed_weight: distillation terms, see
            :mod:`mocar.train.distill`.
    """

    data: str = ""
    out: str = ""
    preset: str = "mocar_tiny"
    arch: str | None = None
    backbone: str | None = None
    hidden: int | None = None
    dropout: float | None = None
    pretrained: str | None = None
    loss: str = "sum"
    steps: int | None = None
    warmup: int | None = None
    batch_size: int | None = None
    micro_batch: int | None = None
    lr: float | str | None = None
    mixup_alpha: float | None = None
    input_size: int | None = None
    resize: int | None = None
    eval_every: int = 0
    eval_batch_size: int = 64
    seed: int = 0
    workers: int = 2
    field_augment: str = "none"
    field_augment_p: float = 0.5
    precision: str = "auto"
    channels_last: bool = False
    device: str = "auto"
    preload: bool | None = None
    stop_after: int | None = None
    progress: bool = True
    teacher: str | None = None
    kd_temperature: float = 4.0
    kd_alpha: float = 0.9
    kd_year_weight: float = 0.5
    kd_embed_weight: float = 0.0
    lr_find: dict[str, Any] = field(default_factory=lambda: {"lr_min": 1e-5, "lr_max": 1.0, "num_steps": 60})

    def __post_init__(self) -> None:
        if self.precision not in PRECISIONS:
            raise ConfigError(f"precision {self.precision!r}: expected one of {PRECISIONS}")
        if isinstance(self.lr, str) and self.lr != "auto":
            try:
                self.lr = float(self.lr)
            except ValueError:
                raise ConfigError(f"lr {self.lr!r}: expected a number or 'auto'") from None
        if self.field_augment not in FIELD_AUGMENTS:
            raise ConfigError(f"field_augment {self.field_augment!r}: expected one of {', '.join(FIELD_AUGMENTS)}")
        if not 0.0 <= self.field_augment_p <= 1.0:
            raise ConfigError(f"field_augment_p must be in [0, 1], got {self.field_augment_p}")
        # Checked here, not only when distillation starts, so a bad value fails before a teacher loads.
        check_distill_weights(self.kd_temperature, self.kd_alpha, self.kd_year_weight, self.kd_embed_weight)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "TrainConfig":
        data = current_keys(data, "training options")
        valid = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - valid)
        if unknown:
            raise ConfigError(f"unknown training option(s) {unknown}; valid: {sorted(valid)}")
        return cls(**data)

    @classmethod
    def from_yaml(cls, path: str | Path, **overrides: Any) -> "TrainConfig":
        """Defaults < YAML file < overrides (``None`` overrides are ignored)."""
        data = read_config_file(path)
        data.update({k: v for k, v in overrides.items() if v is not None})
        return cls.from_dict(data)


def read_config_file(path: str | Path) -> dict[str, Any]:
    """The options of a YAML training-config file, each checked to be a :class:`TrainConfig` field.

    Raises:
        ConfigError: If the file is missing, not YAML, not a mapping or names an unknown option.
    """
    if not Path(path).is_file():
        raise ConfigError(f"training config file not found: {path}")
    try:
        data = read_yaml(path) or {}
    except yaml.YAMLError as err:
        raise ConfigError(f"{path}: not valid YAML ({err})") from err
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping of training options")
    data = current_keys(data, str(path))
    valid = {f.name for f in dataclasses.fields(TrainConfig)}
    unknown = sorted(set(data) - valid)
    if unknown:
        raise ConfigError(f"{path}: unknown training option(s) {unknown}; valid: {sorted(valid)}")
    return data


def check_distill_weights(temperature: float, alpha: float, year_weight: float, embed_weight: float) -> None:
    """Raises :class:`ConfigError` naming the first distillation weight outside its range."""
    if not temperature > 0:
        raise ConfigError(f"kd_temperature must be > 0, got {temperature}")
    for name, value in (("kd_alpha", alpha), ("kd_year_weight", year_weight)):
        if not 0.0 <= value <= 1.0:
            raise ConfigError(f"{name} must be in [0, 1], got {value}")
    if embed_weight < 0:
        raise ConfigError(f"kd_embed_weight must be >= 0, got {embed_weight}")


# Help of the fields `mocar train` (and `mocar train lr-find`, `mocar distill`) take as flags, in
# --help order. A bool field that defaults to True becomes ``--no-<name>``.
TRAIN_FLAG_HELP: dict[str, str] = {
    "data": "prepared data folder (mocar data prepare --out)",
    "out": "run folder to create",
    "preset": "model preset (mocar model presets), default mocar_tiny",
    "arch": "override the preset's architecture",
    "backbone": "override the preset's backbone (bit_tiny, bit_r50x1, bit_r152x2 or a student backbone; "
                "`mocar model presets` lists them)",
    "hidden": "MaxAvg-Cat hidden width (embedding size)",
    "dropout": "dropout probability before the output layers (default: the preset's)",
    "pretrained": "local BiT .npz or state-dict file for the backbone (no download)",
    "loss": "MOCaR loss combination",
    "steps": "optimiser steps (default: BiT-HyperRule by data set size)",
    "warmup": "warm-up steps",
    "batch_size": "effective batch (default 512, as BiT)",
    "micro_batch": "images per forward pass (gradient accumulation)",
    "lr": "base learning rate, or 'auto' to run the lr range test first",
    "mixup_alpha": "MixUp Beta parameter (default: BiT-HyperRule by data set size; 0 turns MixUp off)",
    "input_size": "training crop / model input size",
    "resize": "resize before the random crop",
    "eval_every": "validate every N steps (default: 10 times per run)",
    "seed": "seed of initialisation, data order, augmentation, MixUp and dropout (default 0)",
    "workers": "data loader processes",
    "field_augment": "field-style augmentation of training images (perspective, occlusion, low light, blur, "
                     "noise, JPEG; torchvision): none (default, the paper-exact recipe) or phone",
    "field_augment_p": "share of training images given the field look, 0..1 (default 0.5)",
    "precision": "auto (bf16 on CUDA where supported, else fp32), fp32 or bf16",
    "channels_last": "channels-last memory format for the model and batches",
    "stop_after": "stop after this many steps (continue with --resume)",
    "progress": "no progress bar",
}
# The distillation terms, flags of `mocar distill` only.
DISTILL_FLAG_HELP: dict[str, str] = {
    "kd_temperature": "softmax temperature of the soft targets (default 4)",
    "kd_alpha": "weight of the soft targets vs the labels, 0..1 (default 0.9)",
    "kd_year_weight": "weight of the teacher's year vs the true year (default 0.5)",
    "kd_embed_weight": "weight of 1 - cos(student, teacher embedding) (default 0)",
}
FLAG_CHOICES: dict[str, tuple[str, ...]] = {
    "arch": ARCHITECTURES, "loss": LOSS_COMBINATIONS, "precision": PRECISIONS, "field_augment": FIELD_AUGMENTS,
}
