"""PyTorch data set over a prepared manifest.

Images are decoded once: either on the fly per epoch, or (``preload=True``, the default for small
data sets) once up front into one uint8 array at the training ``resize`` size, shared copy-on-write
with the loader's worker processes.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from torch.utils.data import Dataset
from tqdm import tqdm

from mocar.data.field_augment import FieldAugment
from mocar.data.images import load_rgb
from mocar.data.transforms import DataConfig, random_crop_flip, resize_square, to_normalized_tensor
from mocar.errors import ConfigError, InputError

TARGETS = ("epoch", "collection")
PRELOAD_LIMIT_BYTES = 4 * 1024**3


MUSEUM = "museum"


@dataclass
class PreparedData:
    """A prepared folder: the manifest and classes.json.

    ``manifest`` holds the museum photos, one row per object (what training, export and bench use);
    ``all_rows`` every prepared row, field photos (``condition == "field"``) included. A manifest
    written before the ``condition`` column existed reads as all museum photos.
    """

    root: Path
    manifest: pd.DataFrame
    classes: dict
    all_rows: pd.DataFrame | None = None

    def __post_init__(self) -> None:
        rows = self.manifest if self.all_rows is None else self.all_rows
        if "condition" not in rows.columns:
            rows = rows.assign(condition=MUSEUM)
        self.all_rows = rows
        self.manifest = rows[rows["condition"] == MUSEUM].reset_index(drop=True)

    @classmethod
    def load(cls, root: str | Path) -> "PreparedData":
        root = Path(root)
        for name in ("manifest.parquet", "classes.json"):
            if not (root / name).is_file():
                raise InputError(f"{root}: no {name}; run `mocar data prepare --out {root}` first")
        manifest = pd.read_parquet(root / "manifest.parquet")
        classes = json.loads((root / "classes.json").read_text(encoding="utf-8"))
        return cls(root=root, manifest=manifest, classes=classes)

    @property
    def conditions(self) -> list[str]:
        """The photo conditions present (``museum`` first)."""
        return sorted(self.all_rows["condition"].unique(), key=lambda c: (c != MUSEUM, c))

    def split(self, name: str, condition: str | None = MUSEUM) -> pd.DataFrame:
        """The rows of split ``name`` with photos of ``condition`` (None: every condition).

        A field photo's split is its object's, so field photos of val/test objects are never in train.
        """
        rows = self.all_rows if condition is None else self.all_rows[self.all_rows["condition"] == condition]
        frame = rows[rows["split"] == name].reset_index(drop=True)
        if frame.empty:
            photos = "" if condition in (None, MUSEUM) else f" (of {condition} photos; present: {', '.join(self.conditions)})"
            raise InputError(f"{self.root}: the split {name!r} is empty{photos}")
        return frame

    def class_names(self, target: str) -> list[str]:
        if target == "collection":
            return list(self.classes["collections"])
        return [e["label"] for e in self.classes["epochs"]]


class MuseumDataset(Dataset):
    """Items are (image CHW float, class index, normalised year, row index).

    Training images (``train=True``) are randomly cropped and flipped, then given ``field_augment``
    when one is passed (:func:`mocar.data.field_augment.field_augmentation`); others are only resized.
    """

    def __init__(self, frame: pd.DataFrame, cfg: DataConfig, target: str = "epoch", train: bool = False,
                 year_mean: float = 0.0, year_scale: float = 1.0, preload: bool | None = None,
                 seed: int = 0, progress: bool = False, field_augment: FieldAugment | None = None) -> None:
        if target not in TARGETS:
            raise ConfigError(f"target {target!r}: expected one of {TARGETS}")
        if field_augment is not None and not train:
            raise ConfigError("field augmentation applies to training images only (train=True), "
                              "never to validation or test images")
        self.frame, self.cfg, self.train = frame.reset_index(drop=True), cfg, train
        self.field_augment = field_augment
        self.labels = frame["epoch_idx" if target == "epoch" else "collection_idx"].to_numpy(np.int64)
        self.years = ((frame["year"].to_numpy(np.float64) - year_mean) / year_scale).astype(np.float32)
        self.size = cfg.resize if train else cfg.input_size
        self.seed = seed
        if preload is None:  # default: decode once up front whenever the decoded split fits the limit
            preload = len(frame) * self.size * self.size * 3 < PRELOAD_LIMIT_BYTES
        self.cache = self._preload(progress) if preload else None

    def _decode(self, index: int) -> np.ndarray:
        image = resize_square(load_rgb(self.frame.at[index, "image"]), self.size, self.cfg.interpolation)
        return np.asarray(image, dtype=np.uint8)

    def _preload(self, progress: bool) -> np.ndarray:
        cache = np.empty((len(self.frame), self.size, self.size, 3), dtype=np.uint8)
        for i in tqdm(range(len(self.frame)), desc="decoding images", unit="img", disable=not progress):
            cache[i] = self._decode(i)
        return cache

    def __len__(self) -> int:
        return len(self.frame)

    def __getitem__(self, item: int | tuple[int, int]):
        """``item`` is an index or (index, epoch); augmentation depends on (seed, epoch, index) only,
        so it is the same across resumes, worker counts and ranks."""
        index, epoch = item if isinstance(item, tuple) else (item, 0)
        array = self.cache[index] if self.cache is not None else self._decode(index)
        if self.train:
            rng = np.random.default_rng((self.seed, epoch, index))
            array = random_crop_flip(array, self.cfg.input_size, rng)
            if self.field_augment is not None:  # drawn after the crop, so the crop is as without it
                array = self.field_augment(array, rng)
        return to_normalized_tensor(array, self.cfg), int(self.labels[index]), torch.tensor(self.years[index]), index
