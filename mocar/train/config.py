"""The training run configuration: one typed dataclass, resolved and saved as ``config.yaml``.

Precedence: dataclass defaults < ``--config run.yaml`` < command-line flags. Values left ``None``
are filled by the BiT-HyperRule from the data set (steps, warm-up, resolution, MixUp, lr).
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from mocar.errors import ConfigError
from mocar.utils.io import read_yaml

PRECISIONS = ("auto", "fp32", "bf16")


@dataclass
class TrainConfig:
    """Everything a training run needs besides the data itself.

    Attributes:
        data: Prepared data folder (``mocar data prepare --out``).
        out: Run folder (config, checkpoints, metrics, plots).
        preset: Model preset name (``mocar model presets``); ``arch``/``backbone`` override it.
        loss: MOCaR loss combination: sum | product | both | uncertainty.
        steps, warmup, batch_size, micro_batch, lr, mixup_alpha, image_size, resize: the schedule;
            ``None`` = BiT-HyperRule; ``lr="auto"`` runs the lr range test first.
        eval_every: Validate (and checkpoint on improvement) every N steps; 0 = 10 times per run.
        precision: auto (bf16 where the hardware has it: CUDA, or a CPU with AMX), fp32 or bf16.
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
    image_size: int | None = None
    resize: int | None = None
    eval_every: int = 0
    eval_batch_size: int = 64
    seed: int = 0
    workers: int = 2
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

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "TrainConfig":
        valid = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - valid)
        if unknown:
            raise ConfigError(f"unknown training option(s) {unknown}; valid: {sorted(valid)}")
        return cls(**data)

    @classmethod
    def from_yaml(cls, path: str | Path, **overrides: Any) -> "TrainConfig":
        """Defaults < YAML file < overrides (``None`` overrides are ignored)."""
        if not Path(path).is_file():
            raise ConfigError(f"training config file not found: {path}")
        try:
            data = read_yaml(path) or {}
        except yaml.YAMLError as err:
            raise ConfigError(f"{path}: not valid YAML ({err})") from err
        if not isinstance(data, dict):
            raise ConfigError(f"{path}: expected a mapping of training options")
        data.update({k: v for k, v in overrides.items() if v is not None})
        return cls.from_dict(data)
