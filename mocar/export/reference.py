"""The data an export is checked with: calibration images, validation images, float reference outputs.

* Calibration: the first N training images in the order of a seeded permutation, with the model's
  *evaluation* preprocessing (what the app feeds), saved as float32 NCHW in the model's input space.
* Validation: the whole validation split, resized once and stored as uint8 NHWC (4x smaller than
  float; :func:`mocar.runtime.preprocessing.normalize_images` turns a batch into the model input exactly like
  :func:`mocar.data.transforms.to_normalized_tensor`, bit for bit).
* Reference: the float PyTorch model's outputs on those images (``.npz``), plus targets and true
  years, cached under a key of (model file hash, image size, image list) so that re-exporting the
  same run does not recompute them.

"""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from mocar.data.dataset import PreparedData
from mocar.data.image_roles import ROLE_SEED, train_permutation
from mocar.data.images import load_rgb
from mocar.data.transforms import resize_square
from mocar.runtime.preprocessing import normalize_images
from mocar.runtime.runners.torch_runner import TorchRunner
from mocar.utils.hashing import file_sha256

CALIBRATION_SEED = ROLE_SEED


def decode_images(paths: list[str], size: int, interpolation: str) -> np.ndarray:
    """Decodes and resizes images to uint8 NHWC ``size x size`` (the evaluation rule, no crop)."""
    images = np.empty((len(paths), size, size, 3), dtype=np.uint8)
    for i, path in enumerate(paths):
        images[i] = np.asarray(resize_square(load_rgb(path), size, interpolation), dtype=np.uint8)
    return images


def calibration_rows(num_train: int, count: int, seed: int = CALIBRATION_SEED) -> np.ndarray:
    """Row indices of the calibration images: the first ``count`` of a seeded permutation."""
    return train_permutation(num_train, seed)[: min(count, num_train)]


@dataclass
class ReferenceData:
    """Files of one export's reference data (all inside the cache folder)."""

    calibration: Path
    val_images: Path
    reference: Path
    num_val: int
    num_calibration: int
    key: str


def _cache_key(model_sha: str, size: int, val_paths: list[str], train_paths: list[str], count: int) -> str:
    text = json.dumps([model_sha, size, val_paths, train_paths, count])
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def build_reference_data(model_file: Path, data_root: Path, target: str, size: int, interpolation: str,
                         mean: list[float], std: list[float], calib_count: int, cache_dir: Path,
                         year_mean: float = 0.0, year_scale: float = 1.0) -> ReferenceData:
    """Writes (or reuses) calibration images, validation images and the float reference outputs.

    Args:
        model_file: Standalone model file of the float network (``save_model``).
        data_root: The prepared data folder of the run.
        target: ``collection`` or ``epoch`` (the ground truth column).
        size: Input side.
        interpolation: Resize interpolation (``DataConfig.interpolation``).
        mean: Normalisation mean.
        std: Normalisation std.
        calib_count: Number of calibration images (0 for none).
        cache_dir: Folder for the cached files.
        year_mean: Year normalisation mean (stored with the reference).
        year_scale: Year normalisation scale.
    """
    data = PreparedData.load(data_root)
    val, train = data.split("val"), data.split("train")
    rows = calibration_rows(len(train), calib_count)
    calib_paths = train["image"].iloc[rows].astype(str).tolist()
    val_paths = val["image"].astype(str).tolist()
    key = _cache_key(file_sha256(model_file), size, val_paths, calib_paths, calib_count)
    cache_dir.mkdir(parents=True, exist_ok=True)
    files = ReferenceData(cache_dir / f"calibration_{key}.npy", cache_dir / f"val_images_{key}.npy",
                          cache_dir / f"reference_{key}.npz", len(val), len(rows), key)
    if files.calibration.is_file() and files.val_images.is_file() and files.reference.is_file():
        return files
    np.save(files.calibration, normalize_images(decode_images(calib_paths, size, interpolation), mean, std))
    val_images = decode_images(val_paths, size, interpolation)
    np.save(files.val_images, val_images)
    outputs = reference_outputs(model_file, normalize_images(val_images, mean, std))
    targets = val["collection_idx" if target == "collection" else "epoch_idx"].to_numpy(np.int64)
    np.savez(files.reference, targets=targets, true_years=val["year"].to_numpy(np.float64),
             year_mean=year_mean, year_scale=year_scale, **{f"out_{k}": v for k, v in outputs.items()})
    return files


def reference_outputs(model_file: Path, images: np.ndarray) -> dict[str, np.ndarray]:
    """Float PyTorch outputs of a model file on normalised NCHW images."""
    return TorchRunner(model_file, threads=2).run(images)


def load_reference(path: Path) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """Reads a reference ``.npz``: ``(outputs by name, {targets, true_years, year_mean, year_scale})``."""
    with np.load(path) as data:
        outputs = {key[4:]: data[key] for key in data.files if key.startswith("out_")}
        extra = {key: data[key] for key in ("targets", "true_years")}
        extra.update({key: float(data[key]) for key in ("year_mean", "year_scale")})
    return outputs, extra
