"""One view of "a model to answer with": the float PyTorch model of a run, or an exported file.

Either way a :class:`FieldModel` knows its preprocessing contract, labels, year normalisation,
fingerprint and calibration constants, and maps preprocessed NCHW float32 images to
``{"logits", "year" (normalised, MOCaR), "embedding"}``.

* ``from_run``: the run's checkpoint, its DataConfig (eval preprocessing), classes.json and
  ``calibration.json`` when present.
* ``from_file``: :func:`mocar.runtime.runners.open_runner` (ONNX, TFLite, CoreML, .pt); everything
  else from the metadata embedded in the file (``input``, ``labels``, ``year``; ``calibration`` and
  ``model.fingerprint`` once the export stage embeds them) or from an explicit calibration file.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from mocar.data.images import load_rgb
from mocar.data.transforms import DataConfig, eval_transform
from mocar.errors import InputError
from mocar.field.calibrate import CALIBRATION_FILE, load_calibration
from mocar.field.errors import ModelMismatchError
from mocar.model.fingerprint import model_fingerprint
from mocar.runtime.preprocessing import Preprocessing
from mocar.runtime.runners import open_runner
from mocar.train.run_files import load_trained_run


@dataclass
class FieldModel:
    """A model plus everything needed to turn its outputs into an answer."""

    forward: Callable[[np.ndarray], dict[str, np.ndarray]]
    data_config: DataConfig
    labels: list[str]
    target: str
    collections: list[str]
    epochs: list[dict[str, Any]] | None
    year_mean: float | None
    year_scale: float | None
    fingerprint: str | None
    calibration: dict[str, Any] | None
    source: str

    def preprocess(self, paths: list[str | Path]) -> np.ndarray:
        """Decode and preprocess image files exactly like evaluation (NCHW float32)."""
        tensors = []
        for path in paths:
            try:
                tensors.append(eval_transform(load_rgb(path), self.data_config))
            except (OSError, ValueError) as err:
                raise InputError(f"{path}: not a readable image ({type(err).__name__}: {err})") from err
        return torch.stack(tensors).numpy()

    def years(self, year_norm: np.ndarray) -> np.ndarray:
        """Calendar years from the normalised ``year`` output."""
        return np.asarray(year_norm, np.float64).reshape(-1) * self.year_scale + self.year_mean


def _checked_calibration(calibration: dict[str, Any] | None, fingerprint: str | None,
                         where: str) -> dict[str, Any] | None:
    if calibration is not None and fingerprint is not None and calibration["model"]["fingerprint"] != fingerprint:
        raise ModelMismatchError(where, calibration["model"]["fingerprint"], fingerprint)
    return calibration


def from_run(run_dir: str | Path, checkpoint: str = "best", calibration_file: str | Path | None = None) -> FieldModel:
    """The float model of a run, with ``calibration.json`` from the run (or ``calibration_file``) when present."""
    run = load_trained_run(run_dir, checkpoint)
    fingerprint = model_fingerprint(run.model)
    source = Path(calibration_file) if calibration_file else Path(run_dir) / CALIBRATION_FILE
    calibration = load_calibration(source) if calibration_file or source.is_file() else None

    @torch.no_grad()
    def forward(images: np.ndarray) -> dict[str, np.ndarray]:
        out = run.model(torch.from_numpy(images))
        return {name: value.float().numpy() for name, value in out._asdict().items() if value is not None}

    config = run.model_config
    return FieldModel(forward=forward, data_config=run.data_config, labels=list(run.class_names), target=run.target,
                      collections=list(run.classes.get("collections", [])), epochs=run.classes.get("epochs"),
                      year_mean=config.year_mean if config.has_year_head else None,
                      year_scale=config.year_scale if config.has_year_head else None, fingerprint=fingerprint,
                      calibration=_checked_calibration(calibration, fingerprint, str(source)),
                      source=f"run {run_dir} ({run.checkpoint.name})")


def from_file(model_file: str | Path, threads: int = 2, calibration_file: str | Path | None = None) -> FieldModel:
    """An exported model file through its runtime's runner; contract and labels from its metadata."""
    runner = open_runner(model_file, threads)
    meta = runner.metadata
    labels = (meta.get("labels") or {}).get("names")
    if not labels:
        raise InputError(f"{model_file}: its metadata has no labels.names; predict needs an exported file with labels "
                         "(`mocar export`), or use --run")
    data_config = Preprocessing.from_metadata(meta, str(model_file)).data_config()
    fingerprint = (meta.get("model") or {}).get("fingerprint")
    calibration = load_calibration(calibration_file) if calibration_file else meta.get("calibration")
    year = meta.get("year")
    return FieldModel(forward=runner.run, data_config=data_config, labels=list(labels),
                      target=meta["labels"].get("target", "collection"),
                      collections=list(meta["labels"].get("collections") or []),
                      epochs=meta["labels"].get("epochs"), year_mean=year["mean"] if year else None,
                      year_scale=year["scale"] if year else None, fingerprint=fingerprint,
                      calibration=_checked_calibration(calibration, fingerprint, str(calibration_file or model_file)),
                      source=f"{runner.format} file {model_file}")
