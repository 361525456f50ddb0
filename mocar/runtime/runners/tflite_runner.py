"""Runs a mocar .tflite file with ``ai_edge_litert`` (XNNPACK CPU delegate, the default).

Takes float32 NCHW batches like every runner; the file's input is NHWC with batch 1, so each image
is transposed and run alone. For int8-I/O files (``full_integer_quant``) the input is quantised and
the outputs de-quantised with the file's own scale/zero point. Outputs are returned under the
model's names through the ``output_map`` the exporter embedded (tensor names and order differ
between float and quantised files, so position means nothing).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from mocar.errors import InputError
from mocar.runtime.errors import MetadataError
from mocar.runtime.runners.base import Runner
from mocar.runtime.tflite_file import invoke, load_interpreter, read_tflite_metadata, tensor_infos

# The fixed output order of every format (mocar.model.output_names), without importing torch here.
_OUTPUT_ORDER = {"logits": 0, "year": 1, "embedding": 2}


class TFLiteRunnerError(MetadataError):
    """The .tflite file's embedded metadata does not describe its tensors."""


class TFLiteRunner(Runner):
    """Loads one exported .tflite file and runs NCHW float32 batches through it."""

    format = "tflite"

    def __init__(self, path: Path, threads: int = 2) -> None:
        """Loads the file and its metadata.

        Args:
            path: A .tflite file written by :func:`mocar.export.to_tflite.export_tflite`.
            threads: Interpreter threads.

        Raises:
            TFLiteMetadataError: If the file has no mocar metadata.
            TFLiteRunnerError: If the metadata's output map does not match the file's outputs.
        """
        super().__init__(path, threads)
        self.metadata = read_tflite_metadata(self.path)
        self.interpreter = load_interpreter(self.path, threads)
        self.input_info, output_infos = tensor_infos(self.interpreter)
        output_map = self.metadata.get("output_map", {})
        tensor_names = sorted(info.name for info in output_infos)
        if sorted(output_map) != tensor_names:
            raise TFLiteRunnerError(f"{self.path}: metadata output_map {output_map} does not name the file's "
                                    f"outputs {tensor_names}")
        self.output_map: dict[str, str] = dict(output_map)

    def run(self, images: np.ndarray) -> dict[str, np.ndarray]:
        """Runs a float32 NCHW batch, one image at a time; returns ``{logits, year, embedding}``.

        Raises:
            InputError: If the images do not have the file's input size.
        """
        _, height, width, channels = self.input_info.shape
        if images.ndim != 4 or len(images) == 0 or tuple(images.shape[1:]) != (channels, height, width):
            raise InputError(f"{self.path.name} expects NCHW [N, {channels}, {height}, {width}], "
                             f"got {list(images.shape)}")
        per_image = []
        for image in images:
            nhwc = np.ascontiguousarray(image.transpose(1, 2, 0)[None], dtype=np.float32)
            per_image.append(invoke(self.interpreter, nhwc))
        by_tensor = {name: np.concatenate([result[name] for result in per_image]) for name in self.output_map}
        ordered = sorted(self.output_map, key=lambda name: _OUTPUT_ORDER.get(self.output_map[name], 99))
        return {self.output_map[name]: by_tensor[name] for name in ordered}

    def describe(self) -> dict:
        flavour = (self.metadata.get("quantization") or {}).get("flavour", "")
        return {**super().describe(), "flavour": flavour, "layout": "NHWC",
                "input_dtype": self.input_info.dtype}
