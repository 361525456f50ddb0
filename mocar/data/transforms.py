"""Preprocessing, described once (`DataConfig`) and used identically by training, eval and export.

BiT's recipe: training images are resized to a square ``resize`` x ``resize``, randomly cropped to
``input_size`` and flipped horizontally; evaluation images are resized straight to ``input_size``
(no crop), so a phone only has to reproduce one bilinear resize and a per-channel normalisation.
The ``DataConfig`` is saved with every run and embedded in every exported model.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np
import torch
from PIL import Image

from mocar.errors import ConfigError
from mocar.utils.legacy import current_keys

INTERPOLATIONS = {"bilinear": Image.Resampling.BILINEAR, "bicubic": Image.Resampling.BICUBIC,
                  "nearest": Image.Resampling.NEAREST}


@dataclass
class DataConfig:
    """The preprocessing contract of a model (BiT normalises pixels to [-1, 1])."""

    input_size: int = 128
    resize: int = 160
    mean: tuple[float, float, float] = (0.5, 0.5, 0.5)
    std: tuple[float, float, float] = (0.5, 0.5, 0.5)
    interpolation: str = "bilinear"
    layout: str = "NCHW"
    eval_rule: str = "resize to input_size x input_size (no crop)"
    train_rule: str = field(default="resize to resize x resize, random crop input_size, horizontal flip")

    def __post_init__(self) -> None:
        if self.interpolation not in INTERPOLATIONS:
            raise ConfigError(f"interpolation {self.interpolation!r}: expected one of {sorted(INTERPOLATIONS)}")
        if self.resize < self.input_size:
            raise ConfigError(f"resize ({self.resize}) must be >= input_size ({self.input_size})")
        self.mean, self.std = tuple(map(float, self.mean)), tuple(map(float, self.std))

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> "DataConfig":
        return cls(**{k: v for k, v in current_keys(data, "data config").items() if k in cls.__dataclass_fields__})


def resize_square(image: Image.Image, size: int, interpolation: str) -> Image.Image:
    return image.resize((size, size), INTERPOLATIONS[interpolation])


def normalize_pixels(pixels: Image.Image | np.ndarray, mean, std) -> np.ndarray:
    """uint8 RGB, channels last (HWC or NHWC) -> float32 ``(pixel / 255 - mean) / std``, still channels last.

    The one copy of the arithmetic: training, evaluation and every exported file's reference data use it,
    so their inputs agree bit for bit.
    """
    array = np.asarray(pixels, dtype=np.float32) / 255.0
    return (array - np.asarray(mean, np.float32)) / np.asarray(std, np.float32)


def to_normalized_tensor(image: Image.Image | np.ndarray, cfg: DataConfig) -> torch.Tensor:
    """HWC uint8 RGB -> CHW float32 normalised with the config's mean/std."""
    return torch.from_numpy(normalize_pixels(image, cfg.mean, cfg.std).transpose(2, 0, 1).copy())


def eval_transform(image: Image.Image, cfg: DataConfig) -> torch.Tensor:
    """The deterministic preprocessing every runtime reproduces."""
    return to_normalized_tensor(resize_square(image, cfg.input_size, cfg.interpolation), cfg)


def random_crop_flip(array: np.ndarray, size: int, generator: np.random.Generator) -> np.ndarray:
    """Random ``size`` crop and 50 % horizontal flip of an HWC array."""
    height, width = array.shape[:2]
    top = int(generator.integers(0, height - size + 1))
    left = int(generator.integers(0, width - size + 1))
    crop = array[top : top + size, left : left + size]
    return crop[:, ::-1] if generator.random() < 0.5 else crop
