"""onnxruntime runner for ``.onnx`` files (CPU execution provider).

Outputs are mapped by name (``logits``, ``year``, ``embedding``), never by position. A file traced
with a fixed batch of 1 (the default export, like an app) is run image by image; a file with a
dynamic batch takes the whole batch at once.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from mocar.runtime.onnx_file import read_onnx_metadata
from mocar.runtime.runners.base import Runner


class OnnxRunner(Runner):
    """Runs an ONNX file with onnxruntime on ``threads`` intra-op threads."""

    format = "onnx"

    def __init__(self, path: Path, threads: int = 2) -> None:
        import onnxruntime as ort  # optional dependency: mocar[onnx]

        super().__init__(path, threads)
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.log_severity_level = 3  # warnings about unused initialisers are noise here
        self.session = ort.InferenceSession(str(self.path), options, providers=["CPUExecutionProvider"])
        self.input_name = self.session.get_inputs()[0].name
        self.output_names = [output.name for output in self.session.get_outputs()]
        batch = self.session.get_inputs()[0].shape[0]
        self.fixed_batch = batch if isinstance(batch, int) else None
        self.metadata = read_onnx_metadata(self.path)

    def run(self, images: np.ndarray) -> dict[str, np.ndarray]:
        """Runs a float32 NCHW batch; returns ``{output name: array}`` with the batch on axis 0."""
        images = np.ascontiguousarray(images, dtype=np.float32)
        step = self.fixed_batch or len(images)
        parts = [self.session.run(self.output_names, {self.input_name: images[start : start + step]})
                 for start in range(0, len(images), step)]
        return {name: np.concatenate([part[k] for part in parts]) for k, name in enumerate(self.output_names)}
