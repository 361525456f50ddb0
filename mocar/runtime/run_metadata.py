"""The metadata of a trained run's model: what :mod:`mocar.runtime.metadata`'s contract says about it.

Separate from the contract module because it needs the model (torch); file readers and runners do
not, so they stay light (a memory probe of an ONNX file must not hold torch).
"""
from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import mocar
from mocar.model import ModelConfig, load_model, output_names
from mocar.model.fingerprint import model_fingerprint
from mocar.runtime.metadata import INPUT_NAME, OUTPUT_MEANINGS, SCHEMA, SCHEMA_VERSION, input_shape, package_versions
from mocar.runtime.registry import FORMATS
from mocar.train.run_files import TrainedRun


def _outputs(config: ModelConfig, num_classes: int, embedding_size: int | None) -> list[dict[str, Any]]:
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
    return model_fingerprint(run.model)


def _calibration(run: TrainedRun) -> dict[str, Any] | None:
    """The run's conformal constants (``mocar calibrate``), so a phone computes the same sets/intervals."""
    path = run.root / "calibration.json"
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else None


def build_metadata(run: TrainedRun, precision: str, flavour: str, fmt: str, *, input_size: int | None = None,
                   layout: str | None = None, split_counts: dict[str, int] | None = None) -> dict[str, Any]:
    """The metadata dict of one exported file of a trained run.

    Args:
        run: The restored run (``mocar.train.run_files.load_trained_run``).
        precision: ``fp32``, ``fp16`` or ``int8``.
        flavour: How the precision was obtained (``float``, ``u8s8_conv``...); see
            :func:`metadata_for_file` to re-label a copy per file.
        fmt: ``onnx``, ``tflite``, ``coreml`` or ``torch`` (sets the layout and exporter versions).
        input_size: Input side the file is traced at (default: the run's evaluation size).
        layout: Input layout; default: the format's (:data:`mocar.runtime.registry.FORMATS`).
        split_counts: Images per split of the training data (``{"train": n, ...}``), if known.

    Returns:
        A JSON-serialisable dict (see the module docstring).
    """
    config, data = run.model_config, run.data_config
    size = int(input_size or data.input_size)
    layout = layout or (FORMATS[fmt].layout if fmt in FORMATS else "NCHW")
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
        "exporters": package_versions(FORMATS.get(fmt, FORMATS["torch"]).packages),
        "created": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
    }


def metadata_from_model_config(config: ModelConfig, embedding_size: int | None = None) -> dict[str, Any]:
    """The part of the metadata a bare model file can tell (no labels or provenance)."""
    year = {"mean": config.year_mean, "scale": config.year_scale, "output": "normalised"} if config.has_year_head else None
    return {
        "schema": SCHEMA, "schema_version": SCHEMA_VERSION, "format": "torch", "precision": "fp32",
        "model": {"architecture": config.arch, "backbone": config.backbone, "preset": config.preset,
                  "hidden": config.hidden, "num_classes": config.num_classes, "mocar_version": mocar.__version__},
        "input": {"name": INPUT_NAME, "shape": input_shape(config.input_size, "NCHW"), "layout": "NCHW",
                  "mean": list(config.mean), "std": list(config.std)},
        "outputs": _outputs(config, config.num_classes, embedding_size or config.hidden),
        "year": year,
    }


def read_model_file_metadata(path: str | Path) -> dict[str, Any]:
    """Metadata of a standalone PyTorch model file, from its embedded model config."""
    model = load_model(path)
    return metadata_from_model_config(model.config, getattr(model, "embedding_size", None))
