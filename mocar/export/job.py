"""The job every format exporter receives, and the record of each file it wrote.

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

from mocar.export.errors import ExportError
from mocar.quantize.request import Int8Request


@dataclass
class ExportJob:
    """Everything a format exporter needs.

    Attributes:
        model_file: A standalone model file (``mocar.model.save_model``) of the trained network.
        out_dir: Folder to write into (shared by all formats; file names carry format and precision).
        input_size: Square input side the file is traced at.
        precisions: Requested precisions (subset of :data:`PRECISIONS`).
        metadata: The preprocessing/labels contract (``mocar.runtime.metadata``), embedded in each file.
        calib_file: ``.npy`` of calibration images, float32 NCHW, already normalised (model input space).
        work_dir: Scratch folder for intermediate files (deleted by the caller).
        int8: Which int8 flavours to build per runtime (used when ``precisions`` has ``int8``).
        options: Format-specific options that are not about int8 (``onnx_dynamic_batch``,
            ``tflite_stem``, ``coreml_target``...).
    """

    model_file: Path
    out_dir: Path
    input_size: int
    precisions: tuple[str, ...]
    metadata: dict[str, Any]
    calib_file: Path | None = None
    work_dir: Path | None = None
    int8: Int8Request = field(default_factory=Int8Request)
    options: dict[str, Any] = field(default_factory=dict)

    _PATHS = ("model_file", "out_dir", "calib_file", "work_dir")

    def to_dict(self) -> dict[str, Any]:
        """JSON-compatible form (paths as strings), how the job travels to a worker process."""
        data = asdict(self)
        data.update({key: None if data[key] is None else str(data[key]) for key in self._PATHS})
        data["precisions"] = list(self.precisions)
        data["int8"] = self.int8.to_dict()
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ExportJob:
        """Inverse of :meth:`to_dict`."""
        paths = {key: None if data.get(key) is None else Path(data[key]) for key in cls._PATHS}
        return cls(**{**data, **paths, "precisions": tuple(data["precisions"]),
                      "int8": Int8Request.from_dict(data["int8"])})


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

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ExportedFile:
        """Inverse of :meth:`to_dict` (how a worker process hands its files back)."""
        return cls(**{**data, "path": Path(data["path"])})


def load_calibration(job: ExportJob) -> np.ndarray:
    """The calibration images of a job (float32 NCHW, normalised).

    Raises:
        ExportError: If the job has no calibration file.
    """
    if job.calib_file is None:
        raise ExportError("this export needs calibration images (int8) but the job has none")
    return np.load(job.calib_file)
