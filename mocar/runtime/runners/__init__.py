"""One interface for running any exported file (or the PyTorch reference) on the same inputs.

``runner = open_runner(path, threads)`` picks the runner by file type through the format registry
(:mod:`mocar.runtime.registry`); ``runner.run(batch)`` takes float32 NCHW images that are already
preprocessed with the metadata's contract (:class:`mocar.runtime.preprocessing.Preprocessing`: the
same decoded, resized, normalised tensors for every runtime, so only the model file differs) and
returns ``{output name: np.ndarray}`` with the names of :func:`mocar.model.output_names`
(``logits``, ``year``, ``embedding``), whatever the file calls them internally. ``runner.metadata``
is the metadata dict read back from the file. ``runner.simulated`` is True where the file cannot run
on this OS and a faithful stand-in computes its outputs (CoreML on Linux): such results are always
labelled *simulated*.

Runner classes are imported on first use, so a runtime that is not installed only fails when a file
of its type is opened, with the extra to install named.
"""
from __future__ import annotations

from pathlib import Path

from mocar.runtime.registry import format_of, load
from mocar.runtime.runners.base import Runner


def open_runner(path: str | Path, threads: int = 2) -> Runner:
    """Opens a model file with the runner of its type (``.pt``, ``.onnx``, ``.tflite``, ``.mlpackage``)."""
    runner_class = load(format_of(path), "runner")
    return runner_class(Path(path), threads=threads)


__all__ = ["Runner", "open_runner"]
