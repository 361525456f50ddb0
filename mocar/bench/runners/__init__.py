"""One interface for running any exported file (or the PyTorch reference) on the same inputs.

``runner = open_runner(path, threads)`` picks the runner by file type; ``runner.run(batch)`` takes
float32 NCHW images that are already preprocessed with the metadata's contract (the same decoded,
resized, normalised tensors for every runtime, so only the model file differs) and returns
``{output name: np.ndarray}`` with the names of :func:`mocar.model.output_names` (``logits``,
``year``, ``embedding``), whatever the file calls them internally. ``runner.metadata`` is the
metadata dict read back from the file. ``runner.simulated`` is True where the file cannot run on
this OS and a faithful stand-in computes its outputs (CoreML on Linux): such results are always
labelled *simulated*.

Runner classes are imported lazily from :data:`RUNNERS`, so a runtime that is not installed only
fails when a file of its type is opened.
"""
from __future__ import annotations

from pathlib import Path

from mocar.bench.runners.base import Runner
from mocar.export.base import import_object

RUNNERS: dict[str, str] = {
    "torch": "mocar.bench.runners.torch_runner:TorchRunner",
    "onnx": "mocar.bench.runners.onnx_runner:OnnxRunner",
    "tflite": "mocar.bench.runners.tflite_runner:TFLiteRunner",
    "coreml": "mocar.bench.runners.coreml_runner:CoreMLRunner",
}
SUFFIX_FORMATS: dict[str, str] = {
    ".pt": "torch", ".safetensors": "torch", ".onnx": "onnx", ".tflite": "tflite",
    ".mlpackage": "coreml", ".mlmodel": "coreml",
}


def runner_format(path: str | Path) -> str:
    """The runner key (:data:`RUNNERS`) for a model file, from its suffix.

    Raises:
        ValueError: If the suffix is not one of :data:`SUFFIX_FORMATS`.
    """
    suffix = Path(path).suffix.lower()
    if suffix not in SUFFIX_FORMATS:
        raise ValueError(f"{path}: no runner for {suffix or 'files without a suffix'}; "
                         f"known types: {', '.join(sorted(SUFFIX_FORMATS))}")
    return SUFFIX_FORMATS[suffix]


def open_runner(path: str | Path, threads: int = 2) -> Runner:
    """Opens a model file with the runner of its type (``.pt``, ``.onnx``, ``.tflite``, ``.mlpackage``)."""
    runner_class = import_object(RUNNERS[runner_format(path)])
    return runner_class(Path(path), threads=threads)


__all__ = ["RUNNERS", "SUFFIX_FORMATS", "Runner", "open_runner", "runner_format"]
