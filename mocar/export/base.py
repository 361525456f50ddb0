"""The contract every export format implements, and the records the manifest is built from.

A format module exposes one pure function::

    export_<fmt>(job: ExportJob) -> list[ExportedFile]

that writes one file per requested precision/flavour into ``job.out_dir`` and returns what it wrote.
It never touches the caller's model (it receives a prepared copy, see
:func:`mocar.model.prepare_for_export`) and never downloads anything. Each format runs in its own
process (TensorFlow, coremltools and torch do not always coexist in one process), so a crash in one
format cannot take the others down.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

FORMATS = ("onnx", "tflite", "coreml")
PRECISIONS = ("fp32", "fp16", "int8")


@dataclass
class ExportJob:
    """Everything a format exporter needs.

    Attributes:
        model_file: A standalone model file (``mocar.model.save_model``) of the trained network.
        out_dir: Folder to write into (shared by all formats; file names carry format and precision).
        img_size: Square input side the file is traced at.
        precisions: Requested precisions (subset of :data:`PRECISIONS`).
        metadata: The preprocessing/labels contract (``mocar.export.metadata``), embedded in each file.
        calib_file: ``.npy`` of calibration images, float32 NCHW, already normalised (model input space).
        work_dir: Scratch folder for intermediate files (deleted by the caller).
        options: Format-specific options (e.g. int8 flavour choices).
    """

    model_file: Path
    out_dir: Path
    img_size: int
    precisions: tuple[str, ...]
    metadata: dict[str, Any]
    calib_file: Path | None = None
    work_dir: Path | None = None
    options: dict[str, Any] = field(default_factory=dict)


@dataclass
class ExportedFile:
    """One file an exporter produced (one manifest entry before validation)."""

    path: Path
    format: str
    precision: str
    flavour: str
    input_name: str
    input_shape: list[int]
    layout: str
    output_names: list[str]
    seconds: float = 0.0
    notes: str = ""

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["path"] = str(self.path)
        return data


def load_calibration(job: ExportJob) -> np.ndarray:
    """The calibration images of a job (float32 NCHW, normalised)."""
    if job.calib_file is None:
        raise ValueError("this export needs calibration images (int8) but the job has none")
    return np.load(job.calib_file)
