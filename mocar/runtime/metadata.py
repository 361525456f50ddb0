"""The metadata contract every exported file carries: preprocessing, labels, outputs, provenance.

One JSON-serialisable dict describes everything an app needs to use a file correctly: input name,
size and layout, mean/std and the resize rule, class labels (epoch classes with their year bounds),
what each output means and how to turn the normalised ``year`` output into calendar years, plus
provenance (run, training data, exporter versions, date). It is built from a trained run by
:func:`mocar.runtime.run_metadata.build_metadata`; :class:`mocar.runtime.preprocessing.Preprocessing`
is the one typed reading of its ``input`` block.

Embedding conventions (one per format, each in its file module): ONNX ``metadata_props``
(:mod:`mocar.runtime.onnx_file`), a TFLite metadata entry (:mod:`mocar.runtime.tflite_file`),
CoreML ``user_defined_metadata`` (:mod:`mocar.runtime.coreml_file`). :func:`read_metadata` reads any
of them through the format registry, and every reader raises
:class:`~mocar.runtime.errors.MetadataError`.

This module imports neither torch nor a runtime: versions are read from installed package metadata,
never by importing the package (importing TensorFlow or coremltools in the wrong order can crash a
process, docs/toolchain_findings.md).
"""
from __future__ import annotations

import copy
import json
from importlib import metadata as package_metadata
from pathlib import Path
from typing import Any

from mocar.runtime.errors import MetadataError, MissingRuntimeError, UnknownFormatError
from mocar.runtime.registry import format_of, load

SCHEMA = "mocar-export-metadata"
SCHEMA_VERSION = 1
INPUT_NAME = "image"

OUTPUT_MEANINGS = {
    "logits": "class scores before softmax, one per label (labels.names order); top-1 = argmax",
    "year": "NORMALISED year; calendar year = year * year.scale + year.mean (negative = BCE)",
    "embedding": "feature vector for nearest-neighbour search (compare with cosine similarity)",
}


def package_versions(names: tuple[str, ...]) -> dict[str, str | None]:
    """Installed versions of distributions (``None`` where absent), without importing them."""
    versions = {}
    for name in names:
        try:
            versions[name] = package_metadata.version(name)
        except package_metadata.PackageNotFoundError:
            versions[name] = None
    return versions


def input_shape(input_size: int, layout: str) -> list[int]:
    """The batch-1 input shape of a layout (``NCHW`` or ``NHWC``)."""
    if layout not in ("NCHW", "NHWC"):
        raise MetadataError(f"layout {layout!r}: expected NCHW or NHWC")
    return [1, 3, input_size, input_size] if layout == "NCHW" else [1, input_size, input_size, 3]


def metadata_for_file(metadata: dict[str, Any], precision: str, flavour: str, **quantization: Any) -> dict[str, Any]:
    """A copy of ``metadata`` re-labelled for one file (precision, flavour, quantisation details).

    Exporters receive one metadata dict per format (``ExportJob.metadata``) and write several
    precisions; each file gets its own copy through this function.
    """
    labelled = copy.deepcopy(metadata)
    labelled["precision"] = precision
    labelled["quantization"] = {"flavour": flavour, **quantization}
    return labelled


def flat_metadata(metadata: dict[str, Any]) -> dict[str, str]:
    """The few flat string entries repeated next to the JSON for humans (Netron, ``onnx`` CLI)."""
    year = metadata.get("year") or {}
    entries = {
        "mocar_version": metadata["model"].get("mocar_version"),
        "precision": metadata.get("precision"),
        "quantization": (metadata.get("quantization") or {}).get("flavour"),
        "input_size": "x".join(str(v) for v in metadata["input"]["shape"]),
        "layout": metadata["input"]["layout"],
        "mean": json.dumps(metadata["input"]["mean"]),
        "std": json.dumps(metadata["input"]["std"]),
        "labels": json.dumps((metadata.get("labels") or {}).get("names"), ensure_ascii=False),
        "year_mean": None if not year else str(year["mean"]),
        "year_scale": None if not year else str(year["scale"]),
    }
    return {key: str(value) for key, value in entries.items() if value is not None}


def read_metadata(path: str | Path) -> dict[str, Any]:
    """Reads the metadata of any model file, choosing the reader by file type (format registry).

    Raises:
        MetadataError: If no reader exists for the file type, its runtime is not installed, or the
            file carries no readable metadata.
    """
    try:
        reader = load(format_of(path), "metadata_reader")
    except (UnknownFormatError, MissingRuntimeError) as err:
        raise MetadataError(f"{path}: cannot read its metadata ({err})") from err
    return reader(Path(path))


def metadata_entry(entries: dict[str, str], key: str, path: str | Path, store: str) -> dict[str, Any]:
    """The JSON contract under ``key`` of a file's string key-value store (ONNX ``metadata_props``,
    CoreML ``user_defined_metadata``).

    Raises:
        MetadataError: Naming the file and the store when the key is missing or not valid JSON.
    """
    if key not in entries:
        raise MetadataError(f"{path}: no {key!r} entry in {store} (keys: {sorted(entries)})")
    try:
        return json.loads(entries[key])
    except json.JSONDecodeError as err:
        raise MetadataError(f"{path}: {store}[{key!r}] is not valid JSON ({err})") from err
