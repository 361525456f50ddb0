"""CoreML runner: real ``MLModel.predict`` on macOS, a labelled PyTorch simulation elsewhere.

``MLModel.predict`` exists only on macOS. On Linux (or with ``force_simulation=True``)
:class:`CoreMLRunner` sets ``simulated = True`` and computes what the file would compute with
PyTorch on the CPU:

* The source network is rebuilt from the model file the exporter recorded in the package
  (``user_defined_metadata["mocar_reference"]``: a path relative to the package's folder and the
  file's sha256), or from ``reference_model=`` when the file moved (the sha256 must still
  match, so a simulation never silently uses another network). It is folded like the export
  (:func:`mocar.model.prepare_for_export`) and wrapped (:class:`mocar.model.ExportWrapper`).
* ``fp32`` files: the folded network in float32.
* ``fp16`` files: the network with every weight and activation in IEEE float16 (``.half()``;
  CPU torch runs conv, GroupNorm, pooling, linear in half; bfloat16 would be a different format
  and is not used). Caveat: torch rounds to fp16 after each *op* and accumulates inside an op in
  float32, whereas CoreML runs the decomposed GroupNorm (mean, square, sqrt...) op by op in fp16
  and the GPU/Neural Engine accumulate in ways Apple does not specify, so fp16 results are an
  approximation of a device, not a replay.
* ``int8`` files: the int8 weights are **read back from the saved package**
  (:mod:`mocar.runtime.coreml_weights`), dequantised as CoreML does, loaded into the folded network
  in place of its float weights, and run in fp16 like the fp16 file.

Simulated outputs describe the model file's weights and precision, never a measured CoreML run or
an iPhone's latency.
"""
from __future__ import annotations

import copy
import platform
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image

from mocar.errors import InputError
from mocar.model import ExportWrapper, load_model, prepare_for_export
from mocar.runtime.coreml_file import (
    INPUT_NAME,
    ensure_safe_import_order,
    import_coremltools,
    read_coreml_metadata,
    read_coreml_reference,
)
from mocar.runtime.coreml_spec import read_coreml_description
from mocar.runtime.coreml_weights import dequantized_parameters, read_quantized_weights
from mocar.runtime.runners.base import Runner
from mocar.utils.hashing import file_sha256

SIMULATION_METHODS = {
    "fp32": "PyTorch CPU, folded model in float32",
    "fp16": "PyTorch CPU, folded model with weights and activations in float16",
    "int8": "PyTorch CPU, int8 weights read back from the package and dequantised, float16 compute",
}


class CoreMLRunner(Runner):
    """Runs a CoreML ``.mlpackage`` (macOS) or its PyTorch simulation (elsewhere)."""

    format = "coreml"

    def __init__(self, path: Path, threads: int = 2, reference_model: Path | None = None,
                 force_simulation: bool = False) -> None:
        """Opens a package written by :func:`mocar.export.to_coreml.export_coreml`.

        Args:
            path: The ``.mlpackage``.
            threads: CPU threads (simulation only; CoreML picks its own compute units).
            reference_model: The source model file, if it is not where the package's metadata says.
            force_simulation: Simulate even on macOS (to compare simulation and device).

        Raises:
            InputError: If the package, its metadata or the reference model is unusable.
        """
        super().__init__(path, threads)
        self.metadata = read_coreml_metadata(self.path)
        self.precision = self.metadata.get("precision")
        if self.precision not in SIMULATION_METHODS:
            raise InputError(f"{self.path}: metadata precision {self.precision!r} is not one of "
                             f"{list(SIMULATION_METHODS)}")
        inputs = read_coreml_description(self.path).inputs
        self.input_shape = list(inputs[0].shape) if inputs else []
        self.input_kind = inputs[0].kind if inputs else "multiarray"
        self.simulated = force_simulation or platform.system() != "Darwin"
        self._model = (_SimulatedCoreML(self.path, self.precision, reference_model) if self.simulated
                       else _NativeCoreML(self.path, self.input_kind, self.metadata))

    def run(self, images: np.ndarray) -> dict[str, np.ndarray]:
        """Runs a normalised float32 NCHW batch; returns float32 outputs by name."""
        images = np.asarray(images, dtype=np.float32)
        expected = [3] + self.input_shape[-2:] if self.input_kind == "image" else self.input_shape[1:]
        if images.ndim != 4 or list(images.shape[1:]) != expected:
            raise InputError(f"{self.path}: expects NCHW batches of [N, {', '.join(map(str, expected))}], "
                             f"got {list(images.shape)}")
        return self._model.run(images, self.threads)

    def describe(self) -> dict[str, Any]:
        info = super().describe()
        info["precision"] = self.precision
        info["execution"] = (f"simulated: {SIMULATION_METHODS[self.precision]}" if self.simulated
                             else "CoreML MLModel.predict (macOS)")
        return info


def find_reference_model(package: Path, reference_model: Path | None = None) -> Path:
    """The model file a package was exported from, checked against the recorded sha256.

    Raises:
        InputError: If no file is found or its sha256 differs from the one recorded at export.
    """
    record = read_coreml_reference(package)
    if reference_model is None:
        if "model_file" not in record:
            raise InputError(f"{package}: no 'mocar_reference' metadata; pass reference_model= (the model file "
                             "it was exported from) to simulate it")
        reference_model = package.parent / record["model_file"]
    reference_model = Path(reference_model)
    if not reference_model.is_file():
        raise InputError(f"{package}: its source model {reference_model} does not exist; pass reference_model= "
                         f"(a copy of {record.get('model_file_name', 'the model file')!r}) to simulate it")
    if "sha256" in record and file_sha256(reference_model) != record["sha256"]:
        raise InputError(f"{reference_model}: sha256 differs from the model {package.name} was exported from "
                         f"({record['sha256'][:12]}...); refusing to simulate with another network")
    return reference_model


def simulated_network(package: Path, precision: str, reference_model: Path | None = None):
    """The wrapped PyTorch network that stands in for a CoreML file (see the module docstring).

    Raises:
        mocar.runtime.coreml_file.CoreMLRuntimeError: If TensorFlow was imported first (timm would crash).
    """
    ensure_safe_import_order()

    folded = prepare_for_export(load_model(find_reference_model(package, reference_model)))
    if precision == "int8":
        replaced = dequantized_parameters(read_quantized_weights(package), folded)
        with torch.no_grad():
            for name, value in replaced.items():
                folded.get_parameter(name).copy_(value.to(torch.float32))
    wrapped = ExportWrapper(folded).eval()
    return wrapped if precision == "fp32" else copy.deepcopy(wrapped).half()


class _SimulatedCoreML:
    def __init__(self, package: Path, precision: str, reference_model: Path | None) -> None:
        self.network = simulated_network(package, precision, reference_model)
        self.dtype = next(self.network.parameters()).dtype

    def run(self, images: np.ndarray, threads: int) -> dict[str, np.ndarray]:
        previous = torch.get_num_threads()
        torch.set_num_threads(threads)
        try:
            with torch.no_grad():
                outputs = self.network(torch.from_numpy(images).to(self.dtype))
        finally:
            torch.set_num_threads(previous)
        return {name: out.float().numpy() for name, out in zip(self.network.output_names, outputs)}


class _NativeCoreML:
    """``MLModel.predict`` one image at a time (the files have a fixed batch of 1)."""

    def __init__(self, package: Path, input_kind: str, metadata: dict[str, Any]) -> None:
        ct = import_coremltools()
        self.model = ct.models.MLModel(str(package))
        self.input_kind = input_kind
        block = metadata.get("coreml", {})
        self.output_names = block.get("output_names") or list(self.model.output_description)
        self.mean = np.asarray(block.get("mean", (0.5, 0.5, 0.5)), np.float32).reshape(3, 1, 1)
        self.std = np.asarray(block.get("std", (0.5, 0.5, 0.5)), np.float32).reshape(3, 1, 1)

    def _feed(self, image: np.ndarray):
        if self.input_kind != "image":
            return image[None]
        # An ImageType input takes pixels: undo the normalisation (exact for images decoded from 8 bits).
        pixels = np.clip(np.round((image * self.std + self.mean) * 255.0), 0, 255).astype(np.uint8)
        return Image.fromarray(pixels.transpose(1, 2, 0), mode="RGB")

    def run(self, images: np.ndarray, threads: int) -> dict[str, np.ndarray]:
        results = [self.model.predict({INPUT_NAME: self._feed(image)}) for image in images]
        return {name: np.concatenate([np.asarray(r[name], np.float32) for r in results]) for name in self.output_names}
