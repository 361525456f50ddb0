"""The float PyTorch reference runner, over a standalone model file (``mocar.model.save_model``).

It runs the network exactly as trained (eval mode, float32, no folding), so every exported file is
compared with the model itself rather than with another export. Metadata comes from the model
config stored in the file (preprocessing and outputs; labels live in the exported files).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from mocar.model import load_model, output_names
from mocar.runtime.run_metadata import metadata_from_model_config
from mocar.runtime.runners.base import Runner


class TorchRunner(Runner):
    """Runs a saved mocar model with PyTorch on the CPU (sets the process's torch thread count)."""

    format = "torch"

    def __init__(self, path: Path, threads: int = 2, batch_size: int = 32) -> None:
        super().__init__(path, threads)
        self.model = load_model(self.path)
        self.batch_size = batch_size
        self.names = output_names(self.model.config)
        self.metadata = metadata_from_model_config(self.model.config, getattr(self.model, "embedding_size", None))

    @torch.no_grad()
    def run(self, images: np.ndarray) -> dict[str, np.ndarray]:
        """Runs a float32 NCHW batch in chunks of ``batch_size``; returns ``{output name: array}``."""
        # torch's thread count is per process; changing it rebuilds the thread pool (~seconds when
        # another runtime's threads are around), so it is set once and left as the runner wants it.
        if torch.get_num_threads() != self.threads:
            torch.set_num_threads(self.threads)
        parts = [self.model(torch.from_numpy(np.ascontiguousarray(images[start : start + self.batch_size], np.float32)))
                 for start in range(0, len(images), self.batch_size)]
        return {name: np.concatenate([getattr(part, name).numpy() for part in parts]) for name in self.names}
