"""The typed preprocessing contract of a model file: the one place that reads it from metadata.

Every consumer of a model file — the benchmark, field prediction, golden vectors, the export's
reference data — needs the same four facts: the input side, how to resize, the normalisation and
the file's input layout. :meth:`Preprocessing.from_metadata` decides them once from the metadata
block ``input`` (the resize size where present, otherwise the input shape read by its layout), and
the methods apply them with the training code's own functions (:mod:`mocar.data.transforms`), so
a file is always fed exactly what evaluation fed the float model.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import cached_property
from typing import Any

import numpy as np
from PIL import Image

from mocar.data.transforms import INTERPOLATIONS, DataConfig, eval_transform, normalize_pixels, resize_square
from mocar.runtime.errors import MetadataError
from mocar.runtime.registry import LAYOUTS


@dataclass(frozen=True)
class Preprocessing:
    """How to turn a photo into a model file's input.

    Attributes:
        input_size: Square side the image is resized to (no crop, aspect ratio not kept).
        mean: Per-channel mean of ``pixel / 255``.
        std: Per-channel std.
        interpolation: Resize filter (``bilinear``, ``bicubic``, ``nearest``; Pillow's).
        layout: The file's input layout (``NCHW``/``NHWC``); runners always take NCHW and transpose.
    """

    input_size: int
    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    interpolation: str = "bilinear"
    layout: str = "NCHW"

    def __post_init__(self) -> None:
        if self.input_size < 1 or self.layout not in LAYOUTS or self.interpolation not in INTERPOLATIONS:
            raise MetadataError(f"unusable preprocessing: input_size {self.input_size}, layout {self.layout!r} "
                                f"(valid {', '.join(LAYOUTS)}), interpolation {self.interpolation!r} "
                                f"(valid {', '.join(INTERPOLATIONS)})")

    @classmethod
    def from_metadata(cls, metadata: Mapping[str, Any], where: str = "metadata") -> Preprocessing:
        """Reads the ``input`` block of a file's metadata.

        Raises:
            MetadataError: Naming ``where`` and the missing or unusable field.
        """
        block = metadata.get("input") or {}
        try:
            layout = block.get("layout", "NCHW")
            resize = block.get("resize") or {}
            shape = block.get("shape")
            side = resize["size"][0] if resize.get("size") else shape[2 if layout == "NCHW" else 1]
            return cls(input_size=int(side), mean=tuple(map(float, block["mean"])),
                       std=tuple(map(float, block["std"])), interpolation=resize.get("interpolation", "bilinear"),
                       layout=layout)
        except (KeyError, IndexError, TypeError, ValueError) as err:
            raise MetadataError(f"{where}: input block {block!r} does not say the input size, mean and std "
                                f"({type(err).__name__}: {err})") from err

    def data_config(self) -> DataConfig:
        """The training code's :class:`~mocar.data.transforms.DataConfig` with this evaluation rule."""
        return DataConfig(input_size=self.input_size, resize=self.input_size, mean=self.mean, std=self.std,
                          interpolation=self.interpolation)

    @cached_property
    def _eval_config(self) -> DataConfig:
        """:meth:`data_config`, built once per instance (``image_to_input`` runs per image)."""
        return self.data_config()

    def image_to_input(self, image: Image.Image) -> np.ndarray:
        """One RGB photo -> float32 CHW, exactly like evaluation."""
        return eval_transform(image, self._eval_config).numpy()

    def resize(self, image: Image.Image) -> np.ndarray:
        """One RGB photo resized to the input side, uint8 HWC (what a phone resizes to)."""
        return np.asarray(resize_square(image, self.input_size, self.interpolation), dtype=np.uint8)

    def normalize(self, images_nhwc: np.ndarray) -> np.ndarray:
        """uint8 NHWC RGB -> float32 NCHW ``(pixel / 255 - mean) / std`` (the same arithmetic as training)."""
        return normalize_images(images_nhwc, self.mean, self.std)


def normalize_images(images_nhwc: np.ndarray, mean, std) -> np.ndarray:
    """uint8 NHWC RGB -> float32 NCHW ``(pixel / 255 - mean) / std`` (training's own arithmetic)."""
    return np.ascontiguousarray(normalize_pixels(images_nhwc, mean, std).transpose(0, 3, 1, 2))
