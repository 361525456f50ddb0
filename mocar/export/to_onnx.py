"""ONNX export: fp32, fp16 and int8 (onnxruntime static quantisation), metadata in every file.

`torch_to_onnx` is also the first step of the TFLite path (onnx2tf takes an ONNX file).
Measured on this machine (docs/toolchain_findings.md, benchmarks/results/export_onnx.md):

* the dynamo exporter at opset 18 is the one onnx2tf accepts for GroupNorm networks; weights must be
  saved inside the file (no external data) or onnxruntime's quantisation pre-processing fails;
* the dynamo exporter attaches a torch stack trace to every node (``metadata_props``: ~13 % of a
  tiny model's file, and local paths); :func:`torch_to_onnx` strips them;
* fp16 uses onnxruntime's own converter (``onnxruntime.transformers.float16``; onnxconverter-common
  is not a dependency) with float32 input/outputs;
* int8 is QDQ, per-channel int8 weights, calibrated on real training images. Activations in int8
  (S8S8) run slower than fp32 on x86; uint8 activations quantising only Conv/Gemm (``u8s8_conv``)
  are the fastest (the recipes: :mod:`mocar.quantize.onnx_int8`). GroupNorm's InstanceNormalization stays float (its
  shared scale breaks the quantiser), and the layers computing ``logits`` and ``year`` stay float
  (one uint8 scale per tensor would flatten a regression output).

Caveat: the ``embedding`` output of an int8 file is produced by a quantised layer (uint8, one
scale); its cosine similarity to the float embedding is part of the int8 validation.
"""
from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import torch
from torch import nn

from mocar.export.job import ExportedFile, ExportJob, load_calibration
from mocar.model import ExportWrapper, load_model, output_names, prepare_for_export
from mocar.quantize.onnx_int8 import INT8_FLAVOURS, quantize_onnx_int8
from mocar.runtime.metadata import INPUT_NAME, metadata_for_file
from mocar.runtime.onnx_file import embed_onnx_metadata

ONNX_OPSET = 18


def strip_node_metadata(model: Any) -> Any:
    """Removes per-node ``metadata_props`` and doc strings (torch stack traces) from a ModelProto."""
    for node in model.graph.node:
        del node.metadata_props[:]
        node.doc_string = ""
    return model


def torch_to_onnx(model: nn.Module, input_size: int, path: Path, dynamic_batch: bool = False,
                  opset: int = ONNX_OPSET) -> Path:
    """Fold, wrap and trace ``model`` (untouched) into a single-file ONNX model at ``path``.

    Input ``image`` float32 NCHW [1 (or N), 3, input_size, input_size]; outputs named and ordered as
    :func:`mocar.model.output_names` (``logits``, ``year``, ``embedding``). Per-node debug
    information (torch stack traces with local paths) is removed.
    """
    import onnx  # optional dependency: mocar[onnx]

    wrapped = ExportWrapper(prepare_for_export(model)).eval()
    example = torch.zeros(1, 3, input_size, input_size)
    names = output_names(model.config)
    dynamic = {"images": {0: torch.export.Dim("batch", min=1, max=1024)}} if dynamic_batch else None
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    program = torch.onnx.export(wrapped, (example,), dynamo=True, opset_version=opset, input_names=[INPUT_NAME],
                                output_names=names, dynamic_shapes=dynamic, external_data=False, verbose=False)
    program.save(str(path), external_data=False)
    onnx.save(strip_node_metadata(onnx.load(str(path))), str(path))
    onnx.checker.check_model(str(path))
    return path


def onnx_to_fp16(src: Path, dst: Path, keep_float_ops: tuple[str, ...] = ()) -> Path:
    """Converts an fp32 ONNX file to fp16 weights and compute, keeping float32 inputs/outputs.

    Args:
        src: fp32 ONNX file.
        dst: Where to write the fp16 file.
        keep_float_ops: Extra op types to leave in float32 (besides onnxruntime's default list).
    """
    import onnx
    from onnxruntime.transformers.float16 import DEFAULT_OP_BLOCK_LIST, convert_float_to_float16

    converted = convert_float_to_float16(onnx.load(str(src)), keep_io_types=True,
                                         op_block_list=list(DEFAULT_OP_BLOCK_LIST) + list(keep_float_ops))
    onnx.save(converted, str(dst))
    return Path(dst)


def onnx_signature(path: Path) -> dict[str, Any]:
    """Input/output names, shapes and element types of an ONNX file (symbolic dims as strings)."""
    import onnx

    graph = onnx.load(str(path), load_external_data=False).graph

    def describe(value: Any) -> dict[str, Any]:
        tensor = value.type.tensor_type
        dims = [d.dim_value if d.HasField("dim_value") else (d.dim_param or None) for d in tensor.shape.dim]
        return {"name": value.name, "shape": dims, "dtype": onnx.helper.tensor_dtype_to_np_dtype(tensor.elem_type).name}

    initializers = {init.name for init in graph.initializer}
    return {"inputs": [describe(v) for v in graph.input if v.name not in initializers],
            "outputs": [describe(v) for v in graph.output]}


def _finish(path: Path, metadata: dict[str, Any], precision: str, flavour: str, seconds: float,
            notes: str = "") -> ExportedFile:
    """Embeds the file's metadata and describes the file for the manifest."""
    import onnx

    onnx.save(embed_onnx_metadata(onnx.load(str(path)), metadata), str(path))
    signature = onnx_signature(path)
    first = signature["inputs"][0]
    return ExportedFile(path=path, format="onnx", precision=precision, flavour=flavour, input_name=first["name"],
                        input_shape=first["shape"], layout="NCHW", output_names=[o["name"] for o in signature["outputs"]],
                        seconds=round(seconds, 3), notes=notes)


def export_onnx(job: ExportJob) -> list[ExportedFile]:
    """Writes ``model_fp32.onnx``, ``model_fp16.onnx`` and ``model_int8_<flavour>.onnx`` as requested.

    int8 flavours come from ``job.int8.onnx``; ``job.options``: ``onnx_dynamic_batch`` (default
    False: batch 1, like an app). Each file's ``seconds`` is the
    shared tracing time plus its own conversion time.
    """
    out_dir, work_dir = Path(job.out_dir), Path(job.work_dir or job.out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    work_dir.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    float_file = work_dir / "onnx_fp32_plain.onnx"
    torch_to_onnx(load_model(job.model_file), job.input_size, float_file,
                  dynamic_batch=bool(job.options.get("onnx_dynamic_batch", False)))
    trace_seconds = time.perf_counter() - started
    files = []
    if "fp32" in job.precisions:
        path = out_dir / "model_fp32.onnx"
        path.write_bytes(float_file.read_bytes())
        files.append(_finish(path, metadata_for_file(job.metadata, "fp32", "float"), "fp32", "float", trace_seconds))
    if "fp16" in job.precisions:
        step = time.perf_counter()
        path = onnx_to_fp16(float_file, out_dir / "model_fp16.onnx")
        files.append(_finish(path, metadata_for_file(job.metadata, "fp16", "float16"), "fp16", "float16",
                             trace_seconds + time.perf_counter() - step,
                             notes="fp16 weights and compute, float32 input/outputs"))
    if "int8" in job.precisions:
        calibration = load_calibration(job)
        for flavour in job.int8.onnx:
            step = time.perf_counter()
            path = quantize_onnx_int8(float_file, out_dir / f"model_int8_{flavour}.onnx", calibration, flavour, work_dir)
            recipe = INT8_FLAVOURS[flavour]
            metadata = metadata_for_file(job.metadata, "int8", flavour, description=recipe.description,
                                         calibration_images=len(calibration), float_outputs=["logits", "year"])
            files.append(_finish(path, metadata, "int8", flavour, trace_seconds + time.perf_counter() - step,
                                 notes=recipe.description))
    float_file.unlink(missing_ok=True)
    return files
