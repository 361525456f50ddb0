"""CoreML export: ML programs (``.mlpackage``) in fp32, fp16 and int8-weight (W8A16) precision.

Choices (measured with coremltools 9.0 / torch 2.14.1 on this machine, see
``benchmarks/results/export_coreml.md``):

* Capture with ``torch.export.export(...).run_decompositions({})`` (required: coremltools refuses
  the TRAINING dialect). For R50x1 at 224 px it is 2.6 s against 16 s for ``torch.jit.trace``, and
  both give the same MIL program (1,269 vs 1,266 ops). One capture serves every precision.
* Minimum deployment target **iOS16** by default: the lowest that has everything used here (ML
  program, fp16 compute, ``constexpr_affine_dequantize`` for int8 weights). ``iOS17``/``iOS18``
  can be asked for (``options["coreml_target"]``); iOS18 stores int8 weights as
  ``constexpr_blockwise_shift_scale`` instead, which :mod:`mocar.runtime.coreml_weights` also reads.
* Precisions: ``fp32`` = float32 compute; ``fp16`` = float16 compute (coremltools' default);
  ``int8`` = fp16 compute with int8 weights (``linear_quantize_weights``: linear_symmetric,
  per output channel). Only weights of ``conv`` and ``linear`` ops with more than
  ``weight_threshold`` (default 2048) elements are quantised: normalisation scales/shifts (the
  head's GroupNorm over 7,680 values in R50x1 exceeds the default threshold) and biases stay fp16.
* Activation quantisation (W8A8) is **not** offered: coremltools' own path
  (``experimental.linear_quantize_activations``) needs ``predict`` (macOS only); the torch-side
  ``coremltools.optimize.torch`` LinearQuantizer converts (62 quantize/dequantize pairs on the
  tiny net) but rests on deprecated torch quantized tensors and its file can be neither run nor
  faithfully simulated on Linux, so its accuracy could not be established here.
* Input: by default a float32 tensor ``image`` NCHW [1, 3, H, W] that is **already normalised**
  (the metadata carries mean/std; the app normalises, exactly as for ONNX/TFLite, so every format
  shares one contract). ``options["coreml_input"] = "image"`` instead makes an RGB ``ImageType``
  whose scale/bias perform the normalisation (CoreML has one scale for all channels, so this
  needs equal std per channel - true for BiT's 0.5/0.5/0.5). I/O stay float32 in every precision.
* Outputs ``logits``, ``year`` (normalised, MOCaR only), ``embedding``; the descriptions state
  their meaning and the year formula. ``user_defined_metadata["mocar"]`` holds the job's metadata
  JSON re-labelled per file (:func:`mocar.runtime.metadata.metadata_for_file`: ``precision``,
  ``quantization.flavour`` = ``float``/``float16``/``w8a16``) plus a ``coreml`` block;
  ``user_defined_metadata["mocar_reference"]`` names the model file (path relative to the
  package's folder, and its sha256) that :class:`mocar.runtime.runners.coreml_runner.CoreMLRunner`
  rebuilds to simulate the file on Linux.

Caveat: ``MLModel.predict`` is macOS-only, so nothing here runs a CoreML file; see the runner
for the (clearly labelled) simulation.
"""
from __future__ import annotations

import json
import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from mocar.errors import ConfigError
from mocar.export.job import ExportedFile, ExportJob
from mocar.model import ExportWrapper, load_model, output_names, prepare_for_export
from mocar.quantize.coreml_int8 import DEFAULT_WEIGHT_THRESHOLD, QUANTIZED_OP_TYPES, quantize_weights_int8
from mocar.runtime.coreml_file import INPUT_NAME, METADATA_KEY, REFERENCE_KEY, import_coremltools
from mocar.runtime.metadata import metadata_for_file
from mocar.runtime.registry import PRECISIONS
from mocar.utils.hashing import file_sha256

TARGETS = ("iOS16", "iOS17", "iOS18")
DEFAULT_TARGET = "iOS16"
INPUT_KINDS = ("tensor", "image")
FLAVOURS = {"fp32": "float", "fp16": "float16", "int8": "w8a16"}  # w8a16: int8 weights, fp16 activations
_FLAVOUR_TEXT = {
    "fp32": "float32 compute",
    "fp16": "float16 compute",
    "int8": "int8 weights (linear symmetric, per output channel), float16 compute",
}


@dataclass(frozen=True)
class CoreMLOptions:
    """CoreML-specific export options, read from ``ExportJob.options``.

    Attributes:
        target: Minimum deployment target (``options["coreml_target"]``), one of :data:`TARGETS`.
        input_kind: ``tensor`` (normalised float NCHW) or ``image`` (``options["coreml_input"]``).
        weight_threshold: Conv/linear weights with more elements are int8-quantised
            (``options["coreml_weight_threshold"]``).
        file_stem: File names are ``<file_stem>_<precision>.mlpackage`` (``options["file_stem"]``).
    """

    target: str = DEFAULT_TARGET
    input_kind: str = "tensor"
    weight_threshold: int = DEFAULT_WEIGHT_THRESHOLD
    file_stem: str = "mocar"

    @classmethod
    def from_job_options(cls, options: dict[str, Any]) -> CoreMLOptions:
        """Reads and validates the ``coreml_*`` keys (others belong to other formats)."""
        chosen = cls(
            target=str(options.get("coreml_target", DEFAULT_TARGET)),
            input_kind=str(options.get("coreml_input", "tensor")),
            weight_threshold=int(options.get("coreml_weight_threshold", DEFAULT_WEIGHT_THRESHOLD)),
            file_stem=str(options.get("file_stem", "mocar")))
        if chosen.target not in TARGETS:
            raise ConfigError(f"coreml_target={chosen.target!r} is not supported; valid: {', '.join(TARGETS)}")
        if chosen.input_kind not in INPUT_KINDS:
            raise ConfigError(f"coreml_input={chosen.input_kind!r} is not supported; valid: {', '.join(INPUT_KINDS)}")
        if chosen.weight_threshold < 0:
            raise ConfigError(f"coreml_weight_threshold must be >= 0, got {chosen.weight_threshold}")
        return chosen


def export_coreml(job: ExportJob) -> list[ExportedFile]:
    """Writes one ``.mlpackage`` per requested precision; see the module docstring.

    Args:
        job: The export job; ``job.options`` may hold the keys of :class:`CoreMLOptions`.
            ``calib_file`` is not used (int8 quantises weights only).

    Returns:
        One :class:`ExportedFile` per precision, in :data:`mocar.export.job.PRECISIONS` order.
    """
    options = CoreMLOptions.from_job_options(job.options)
    unknown = sorted(set(job.precisions) - set(PRECISIONS))
    if unknown:
        raise ConfigError(f"unknown precision(s) {unknown} for CoreML; valid: {', '.join(PRECISIONS)}")
    import_coremltools()
    model = load_model(job.model_file)
    started = time.perf_counter()
    program = capture_program(model, job.input_size)
    capture_s = time.perf_counter() - started
    out_dir = Path(job.out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    reference = reference_record(Path(job.model_file), out_dir)
    files, fp16_model = [], None
    for precision in (p for p in PRECISIONS if p in job.precisions):
        started = time.perf_counter()
        mlmodel, fp16_model, how = _convert_precision(program, model.config, job.input_size, precision, options,
                                                      fp16_model)
        metadata = metadata_for_file(job.metadata, precision, FLAVOURS[precision],
                                     **quantization_details(precision, options))
        metadata.update(format="coreml", coreml=coreml_block(precision, options, model.config))
        describe_coreml(mlmodel, model.config, job.input_size, metadata, reference, options)
        path = save_package(mlmodel, out_dir / f"{options.file_stem}_{precision}.mlpackage")
        files.append(ExportedFile(
            path=path, format="coreml", precision=precision, flavour=FLAVOURS[precision], input_name=INPUT_NAME,
            input_shape=[1, 3, job.input_size, job.input_size], layout="NCHW", output_names=output_names(model.config),
            seconds=time.perf_counter() - started,
            notes=f"torch.export capture {capture_s:.1f} s shared by all CoreML files; target {options.target}{how}"))
    return files


def _convert_precision(program, config, input_size: int, precision: str, options: CoreMLOptions, fp16_model):
    """``(model of this precision, fp16 model to reuse, note)``; int8 quantises the fp16 conversion."""
    if precision != "int8":
        mlmodel = program_to_coreml(program, config, input_size, precision, options)
        return mlmodel, (mlmodel if precision == "fp16" else fp16_model), ""
    note = "; quantised from the fp16 conversion above (its time not included)"
    if fp16_model is None:
        fp16_model = program_to_coreml(program, config, input_size, "fp16", options)
        note = "; includes the fp16 conversion it quantises"
    return quantize_weights_int8(fp16_model, options.weight_threshold), fp16_model, note


def capture_program(model, input_size: int):
    """``torch.export`` of the folded, wrapped model (untouched) at batch 1, decomposed for coremltools."""
    wrapped = ExportWrapper(prepare_for_export(model)).eval()
    example = torch.zeros(1, 3, input_size, input_size)
    return torch.export.export(wrapped, (example,)).run_decompositions({})


def program_to_coreml(program, config, input_size: int, precision: str, options: CoreMLOptions):
    """Converts a captured program into an ML program with ``precision`` compute (fp32 or fp16)."""
    ct = import_coremltools()
    shape = (1, 3, input_size, input_size)
    if options.input_kind == "image":
        input_type = ct.ImageType(name=INPUT_NAME, shape=shape, color_layout=ct.colorlayout.RGB,
                                  **image_scale_bias(config.mean, config.std))
    else:
        input_type = ct.TensorType(name=INPUT_NAME, shape=shape, dtype=np.float32)
    compute = {"fp32": ct.precision.FLOAT32, "fp16": ct.precision.FLOAT16}[precision]
    return ct.convert(
        program, inputs=[input_type], outputs=[ct.TensorType(name=n, dtype=np.float32) for n in output_names(config)],
        convert_to="mlprogram", minimum_deployment_target=getattr(ct.target, options.target),
        compute_precision=compute)


def image_scale_bias(mean: tuple[float, ...], std: tuple[float, ...]) -> dict[str, Any]:
    """CoreML ``ImageType`` scale/bias that map 0..255 pixels to ``(pixel/255 - mean) / std``.

    Raises:
        ConfigError: If the std differs between channels (CoreML applies one scale to all).
    """
    if max(std) - min(std) > 1e-9 * max(std):
        raise ConfigError(f"coreml_input='image' needs the same std for every channel (CoreML has one scale); "
                          f"the model's std is {list(std)}. Use coreml_input='tensor'.")
    return {"scale": 1.0 / (255.0 * std[0]), "bias": [-m / s for m, s in zip(mean, std)]}


def quantization_details(precision: str, options: CoreMLOptions) -> dict[str, Any]:
    """What ``metadata["quantization"]`` records beyond the flavour."""
    if precision != "int8":
        return {"compute": _FLAVOUR_TEXT[precision]}
    return {"compute": _FLAVOUR_TEXT[precision], "weights": "int8", "mode": "linear_symmetric",
            "granularity": "per_channel", "op_types": list(QUANTIZED_OP_TYPES),
            "weight_threshold": options.weight_threshold, "activations": "float16"}


def coreml_block(precision: str, options: CoreMLOptions, config) -> dict[str, Any]:
    """The ``coreml`` part of the embedded metadata: how this file computes and what it expects."""
    block = {"minimum_deployment_target": options.target, "compute": _FLAVOUR_TEXT[precision],
             "input_kind": options.input_kind, "input_name": INPUT_NAME, "layout": "NCHW",
             "output_names": output_names(config), "mean": list(config.mean), "std": list(config.std)}
    if options.input_kind == "image":
        block["input_note"] = "RGB image input: the model normalises pixels itself (ImageType scale/bias)"
    return block


def describe_coreml(mlmodel, config, input_size: int, metadata: dict[str, Any], reference: dict[str, Any],
                    options: CoreMLOptions) -> None:
    """Sets short description, feature descriptions and user-defined metadata of ``mlmodel``."""
    mlmodel.short_description = (
        f"mocar {config.arch} on {config.backbone}: {config.num_classes} collections"
        f"{' + year' if config.has_year_head else ''}; {_FLAVOUR_TEXT[metadata['precision']]}")
    mlmodel.author = "mocar"
    mean, std = list(config.mean), list(config.std)
    if options.input_kind == "image":
        mlmodel.input_description[INPUT_NAME] = (
            f"RGB image {input_size}x{input_size}; normalised inside the model as (pixel/255 - {mean}) / {std}")
    else:
        mlmodel.input_description[INPUT_NAME] = (
            f"float32 NCHW [1, 3, {input_size}, {input_size}] RGB image already normalised: (pixel/255 - mean) / std "
            f"with mean={mean}, std={std} (see metadata 'mocar')")
    texts = {
        "logits": f"class scores (1, {config.num_classes}) before softmax; class names in metadata 'mocar'",
        "year": (f"normalised year (1,); calendar year = year * {config.year_scale} + {config.year_mean} "
                 "(negative = BCE)"),
        "embedding": "embedding (1, E) for nearest-neighbour search among reference objects",
    }
    for name in output_names(config):
        mlmodel.output_description[name] = texts[name]
    mlmodel.user_defined_metadata[METADATA_KEY] = json.dumps(metadata, sort_keys=True)
    mlmodel.user_defined_metadata[REFERENCE_KEY] = json.dumps(reference, sort_keys=True)


def reference_record(model_file: Path, out_dir: Path) -> dict[str, Any]:
    """How a simulated runner finds the source model: relative path from the package's folder + sha256."""
    relative = os.path.relpath(Path(model_file).resolve(), Path(out_dir).resolve())
    return {"model_file": Path(relative).as_posix(), "model_file_name": Path(model_file).name,
            "sha256": file_sha256(model_file)}



def save_package(mlmodel, path: Path) -> Path:
    """Saves an ML program, replacing an older package of the same name."""
    if path.exists():
        shutil.rmtree(path)
    mlmodel.save(str(path))
    return path
