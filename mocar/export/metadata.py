"""The metadata every exported file carries: preprocessing, labels, outputs, provenance.

One JSON-serialisable dict (:func:`build_metadata`) describes everything an app needs to use a
file correctly: input name, size and layout, mean/std and the resize rule, class labels (epoch
classes with their year bounds), what each output means and how to turn the normalised ``year``
output into calendar years, plus provenance (run, training data, exporter versions, date).

Embedding conventions (one per format):
* ONNX: ``metadata_props`` key ``mocar`` holds the JSON; a few flat keys (``labels``, ``mean``,
  ``std``, ``input_size``, ``precision``...) repeat the essentials for humans and Netron.
* TFLite and CoreML: see ``mocar.export.to_tflite`` / ``mocar.export.to_coreml``; their readers are
  reached through :func:`read_metadata`, which dispatches on the file type.

Versions are read from installed package metadata, never by importing the package: importing
TensorFlow or coremltools in the parent process can crash it (TOOLCHAIN_NOTES).
"""
from __future__ import annotations

import copy
import datetime as dt
import json
from importlib import metadata as package_metadata
from pathlib import Path
from typing import TYPE_CHECKING, Any

import mocar
from mocar.export.base import FORMAT_LAYOUTS, import_object
from mocar.export.errors import MetadataError

if TYPE_CHECKING:  # importing the training stage pulls torch; only the annotations need it
    from mocar.model import ModelConfig
    from mocar.train.run_files import TrainedRun

SCHEMA = "mocar-export-metadata"
SCHEMA_VERSION = 1
ONNX_METADATA_KEY = "mocar"
INPUT_NAME = "image"

# Packages whose versions describe how a format's files were made (distribution names).
EXPORTER_PACKAGES: dict[str, tuple[str, ...]] = {
    "torch": ("torch", "timm"),
    "onnx": ("torch", "timm", "onnx", "onnxscript", "onnxruntime"),
    "tflite": ("torch", "timm", "onnx", "onnxscript", "onnx2tf", "tensorflow", "ai-edge-litert"),
    "coreml": ("torch", "timm", "coremltools"),
}

# Readers by file suffix ("module:function"), imported lazily: TFLite/CoreML readers are optional.
METADATA_READERS: dict[str, str] = {
    ".onnx": "mocar.export.metadata:read_onnx_metadata",
    ".tflite": "mocar.export.to_tflite:read_tflite_metadata",
    ".mlpackage": "mocar.export.to_coreml:read_coreml_metadata",
    ".mlmodel": "mocar.export.to_coreml:read_coreml_metadata",
    ".pt": "mocar.export.metadata:read_model_file_metadata",
    ".safetensors": "mocar.export.metadata:read_model_file_metadata",
}

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


def input_shape(img_size: int, layout: str) -> list[int]:
    """The batch-1 input shape of a layout (``NCHW`` or ``NHWC``)."""
    if layout not in ("NCHW", "NHWC"):
        raise ValueError(f"layout {layout!r}: expected NCHW or NHWC")
    return [1, 3, img_size, img_size] if layout == "NCHW" else [1, img_size, img_size, 3]


def _outputs(config: ModelConfig, num_classes: int, embedding_size: int | None) -> list[dict[str, Any]]:
    from mocar.model import output_names  # torch-free callers never reach this

    shapes = {"logits": [1, num_classes], "year": [1], "embedding": [1, embedding_size]}
    return [{"name": name, "shape": shapes[name], "meaning": OUTPUT_MEANINGS[name]} for name in output_names(config)]


def _labels(run: TrainedRun) -> dict[str, Any]:
    epochs = [{key: epoch[key] for key in ("index", "label", "collection", "begin", "end")}
              for epoch in run.classes.get("epochs", [])]
    return {
        "target": run.target,
        "names": list(run.class_names),
        "collections": list(run.classes.get("collections", [])),
        # Epoch labels read "<collection>, (begin, end]"; the first epoch of a collection also
        # holds objects dated exactly `begin`.
        "epochs": epochs if run.target == "epoch" else None,
    }


def _training_data(run: TrainedRun, split_counts: dict[str, int] | None) -> dict[str, Any]:
    return {
        "prepared_data": Path(run.train_config.get("data", "")).name or None,
        "split_counts": split_counts,
        "year_stats": run.classes.get("year_stats"),
        "step": run.step,
        "checkpoint": run.checkpoint.name,
    }


def _fingerprint(run: TrainedRun) -> str:
    """The model hash a reference index and calibration.json are checked against."""
    from mocar.field.fingerprint import model_fingerprint

    return model_fingerprint(run.model)


def _calibration(run: TrainedRun) -> dict[str, Any] | None:
    """The run's conformal constants (``mocar calibrate``), so a phone computes the same sets/intervals."""
    path = run.root / "calibration.json"
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else None


def build_metadata(run: TrainedRun, precision: str, flavour: str, fmt: str, *, img_size: int | None = None,
                   layout: str | None = None, split_counts: dict[str, int] | None = None) -> dict[str, Any]:
    """The metadata dict of one exported file of a trained run.

    Args:
        run: The restored run (``mocar.train.run_files.load_trained_run``).
        precision: ``fp32``, ``fp16`` or ``int8``.
        flavour: How the precision was obtained (``float``, ``u8s8_conv``...); see
            :func:`metadata_for_file` to re-label a copy per file.
        fmt: ``onnx``, ``tflite``, ``coreml`` or ``torch`` (sets the layout and exporter versions).
        img_size: Input side the file is traced at (default: the run's evaluation size).
        layout: Input layout; default from :data:`mocar.export.base.FORMAT_LAYOUTS` (NCHW).
        split_counts: Images per split of the training data (``{"train": n, ...}``), if known.

    Returns:
        A JSON-serialisable dict (see the module docstring).
    """
    config, data = run.model_config, run.data_config
    size = int(img_size or data.image_size)
    layout = layout or FORMAT_LAYOUTS.get(fmt, "NCHW")
    year = None
    if config.has_year_head:
        year = {"mean": config.year_mean, "scale": config.year_scale, "output": "normalised",
                "to_years": "year_years = year * scale + mean"}
    return {
        "schema": SCHEMA, "schema_version": SCHEMA_VERSION,
        "model": {"name": run.root.name, "version": mocar.__version__, "mocar_version": mocar.__version__,
                  "architecture": config.arch, "backbone": config.backbone, "preset": config.preset,
                  "hidden": config.hidden, "num_classes": config.num_classes,
                  "fingerprint": _fingerprint(run)},
        "calibration": _calibration(run),
        "format": fmt, "precision": precision, "quantization": {"flavour": flavour},
        "input": {"name": INPUT_NAME, "shape": input_shape(size, layout), "layout": layout, "dtype": "float32",
                  "color": "RGB", "scale": "pixel / 255", "mean": list(data.mean), "std": list(data.std),
                  "normalization": "x = (pixel / 255 - mean) / std, per channel",
                  "resize": {"size": [size, size], "interpolation": data.interpolation, "crop": None,
                             "rule": f"resize the whole image to {size} x {size} (aspect ratio not kept, no crop)"}},
        "outputs": _outputs(config, len(run.class_names), getattr(run.model, "embedding_size", config.hidden)),
        "labels": _labels(run),
        "year": year,
        "training_data": _training_data(run, split_counts),
        "exporters": package_versions(EXPORTER_PACKAGES.get(fmt, EXPORTER_PACKAGES["torch"])),
        "created": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
    }


def metadata_for_file(metadata: dict[str, Any], precision: str, flavour: str, **quantization: Any) -> dict[str, Any]:
    """A copy of ``metadata`` re-labelled for one file (precision, flavour, quantisation details).

    Exporters receive one metadata dict per format (``ExportJob.metadata``) and write several
    precisions; each file gets its own copy through this function.
    """
    labelled = copy.deepcopy(metadata)
    labelled["precision"] = precision
    labelled["quantization"] = {"flavour": flavour, **quantization}
    return labelled


def metadata_from_model_config(config: ModelConfig, embedding_size: int | None = None) -> dict[str, Any]:
    """The part of the metadata a bare model file can tell (no labels or provenance)."""
    year = {"mean": config.year_mean, "scale": config.year_scale, "output": "normalised"} if config.has_year_head else None
    return {
        "schema": SCHEMA, "schema_version": SCHEMA_VERSION, "format": "torch", "precision": "fp32",
        "model": {"architecture": config.arch, "backbone": config.backbone, "preset": config.preset,
                  "hidden": config.hidden, "num_classes": config.num_classes, "mocar_version": mocar.__version__},
        "input": {"name": INPUT_NAME, "shape": input_shape(config.img_size, "NCHW"), "layout": "NCHW",
                  "mean": list(config.mean), "std": list(config.std)},
        "outputs": _outputs(config, config.num_classes, embedding_size or config.hidden),
        "year": year,
    }


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


def embed_onnx_metadata(model: Any, metadata: dict[str, Any]) -> Any:
    """Writes ``metadata`` into an ``onnx.ModelProto``'s ``metadata_props`` (replacing earlier entries)."""
    entries = {ONNX_METADATA_KEY: json.dumps(metadata, ensure_ascii=False), **flat_metadata(metadata)}
    kept = [prop for prop in model.metadata_props if prop.key not in entries]
    del model.metadata_props[:]
    model.metadata_props.extend(kept)
    for key, value in entries.items():
        model.metadata_props.add(key=key, value=value)
    model.producer_name = "mocar"
    model.producer_version = mocar.__version__
    model.doc_string = f"mocar {metadata['model'].get('architecture')} model; metadata_props['{ONNX_METADATA_KEY}'] holds the JSON contract"
    return model


def read_onnx_metadata(path: str | Path) -> dict[str, Any]:
    """The metadata dict embedded in an ONNX file.

    Raises:
        MetadataError: If the file has no ``mocar`` entry or it is not valid JSON.
    """
    import onnx  # optional dependency: mocar[onnx]

    model = onnx.load(str(path), load_external_data=False)
    props = {prop.key: prop.value for prop in model.metadata_props}
    if ONNX_METADATA_KEY not in props:
        raise MetadataError(f"{path}: no '{ONNX_METADATA_KEY}' entry in metadata_props (keys: {sorted(props)})")
    try:
        return json.loads(props[ONNX_METADATA_KEY])
    except json.JSONDecodeError as err:
        raise MetadataError(f"{path}: metadata_props['{ONNX_METADATA_KEY}'] is not valid JSON ({err})") from err


def read_model_file_metadata(path: str | Path) -> dict[str, Any]:
    """Metadata of a standalone PyTorch model file, from its embedded model config."""
    from mocar.model import load_model

    model = load_model(path)
    return metadata_from_model_config(model.config, getattr(model, "embedding_size", None))


def read_metadata(path: str | Path) -> dict[str, Any]:
    """Reads the metadata of any exported file, choosing the reader by file type.

    Raises:
        MetadataError: If no reader exists for the file type, or the reader cannot be imported.
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in METADATA_READERS:
        raise MetadataError(f"{path}: no metadata reader for {suffix or 'files without a suffix'}; "
                            f"known types: {', '.join(sorted(METADATA_READERS))}")
    try:
        reader = import_object(METADATA_READERS[suffix])
    except ImportError as err:
        raise MetadataError(f"{path}: the {suffix} metadata reader is unavailable ({err})") from err
    return reader(path)
