"""One interface for running any exported file (or the PyTorch reference) on the same inputs.

``runner = RUNNERS[fmt](path)``; ``runner.run(batch)`` takes float32 NCHW images that are already
preprocessed with the metadata's contract (the same decoded, resized, normalised tensors for every
runtime, so only the model file differs) and returns ``{output name: np.ndarray}`` with the names of
:func:`mocar.model.output_names` (``logits``, ``year``, ``embedding``), whatever the file calls them
internally. ``runner.metadata`` is the metadata dict read back from the file. ``runner.simulated``
is True where the file cannot run on this OS and a faithful stand-in computes its outputs (CoreML on
Linux): such results are always labelled *simulated*.
"""
from __future__ import annotations

from abc import ABC, abstractmethod
from pathlib import Path
from typing import Any

import numpy as np


class Runner(ABC):
    """Loads one model file and runs batches through it."""

    format: str = ""
    simulated: bool = False

    def __init__(self, path: Path, threads: int = 2) -> None:
        self.path, self.threads = Path(path), threads
        self.metadata: dict[str, Any] = {}

    @abstractmethod
    def run(self, images: np.ndarray) -> dict[str, np.ndarray]:
        """Run a float32 NCHW batch (the runner splits it if the file has a fixed batch of 1)."""

    def describe(self) -> dict[str, Any]:
        return {"format": self.format, "path": str(self.path), "simulated": self.simulated, "threads": self.threads}
