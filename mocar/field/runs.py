"""Run-folder plumbing shared by index building, calibration and retrieval evaluation.

Everything comes from the run's own files (checkpoint, configs, classes.json) and the prepared data
folder it was trained on, through the same inference path as ``mocar eval``
(:func:`mocar.train.evaluate.predict_dataset`), so the numbers agree with the evaluation.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from mocar.data.dataset import MuseumDataset, PreparedData
from mocar.model.fingerprint import model_fingerprint
from mocar.train.evaluate import SplitPredictions, predict_dataset
from mocar.train.metrics import log_softmax
from mocar.train.run_files import TrainedRun, load_trained_run


@dataclass
class FieldRun:
    """A trained run, its prepared data and its model fingerprint."""

    run: TrainedRun
    data: PreparedData
    fingerprint: str

    def frame_outputs(self, frame: pd.DataFrame, batch_size: int = 64) -> SplitPredictions:
        """The model's outputs on manifest rows (any prepared folder's), with eval preprocessing."""
        config = self.run.model_config
        dataset = MuseumDataset(frame.reset_index(drop=True), self.run.data_config, target=self.run.target,
                                year_mean=config.year_mean, year_scale=config.year_scale, preload=False)
        return predict_dataset(self.run.model, dataset, None, batch_size)

    def split_outputs(self, split: str, batch_size: int = 64) -> tuple[pd.DataFrame, SplitPredictions]:
        """The split's manifest rows and the model's outputs on them."""
        frame = self.data.split(split)
        return frame, self.frame_outputs(frame, batch_size)

    def model_description(self) -> dict[str, Any]:
        """What index.json / calibration.json record about the model."""
        config = self.run.model_config
        return {"fingerprint": self.fingerprint, "architecture": config.arch, "preset": config.preset,
                "target": self.run.target,
                "embedding_size": int(getattr(self.run.model, "embedding_size", config.hidden)),
                "run": self.run.root.name, "checkpoint": self.run.checkpoint.name, "step": self.run.step}


def open_field_run(run_dir: str | Path, data_dir: str | Path | None = None, checkpoint: str = "best") -> FieldRun:
    """Load a run (``checkpoint``: best/last/file) and its prepared data (default: the one it trained on)."""
    run = load_trained_run(run_dir, checkpoint)
    data = PreparedData.load(data_dir or run.train_config["data"])
    return FieldRun(run=run, data=data, fingerprint=model_fingerprint(run.model))


def softmax(logits: np.ndarray) -> np.ndarray:
    """Row-wise softmax (float64)."""
    return np.exp(log_softmax(np.asarray(logits, dtype=np.float64)))


def collection_matrix(classes: dict[str, Any], class_names: list[str]) -> np.ndarray:
    """[C_epochs, C_collections] 0/1 matrix: which collection each epoch class belongs to.

    ``probs @ matrix`` sums an epoch model's class probabilities per collection.
    """
    collections = list(classes["collections"])
    epochs = {epoch["label"]: epoch["collection"] for epoch in classes["epochs"]}
    matrix = np.zeros((len(class_names), len(collections)))
    for row, name in enumerate(class_names):
        matrix[row, collections.index(epochs[name])] = 1.0
    return matrix
