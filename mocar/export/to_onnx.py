"""ONNX export (fp32, fp16, int8 via onnxruntime static quantisation).

`torch_to_onnx` is also the first step of the TFLite path (onnx2tf takes an ONNX file).
Measured on this machine (TOOLCHAIN_NOTES): the dynamo exporter at opset 18 is the one onnx2tf
accepts for GroupNorm networks; weights must be saved inside the file (no external data) or
onnxruntime's quantisation pre-processing fails.
"""
from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from mocar.model import ExportWrapper, output_names, prepare_for_export

ONNX_OPSET = 18
INPUT_NAME = "image"


def torch_to_onnx(model: nn.Module, img_size: int, path: Path, dynamic_batch: bool = False,
                  opset: int = ONNX_OPSET) -> Path:
    """Fold, wrap and trace ``model`` (untouched) into a single-file ONNX model at ``path``.

    Input ``image`` float32 NCHW [1 (or N), 3, img_size, img_size]; outputs named and ordered as
    :func:`mocar.model.output_names` (``logits``, ``year``, ``embedding``).
    """
    import onnx  # optional dependency: mocar[onnx]

    wrapped = ExportWrapper(prepare_for_export(model)).eval()
    example = torch.zeros(1, 3, img_size, img_size)
    names = output_names(model.config)
    dynamic = {"images": {0: torch.export.Dim("batch", min=1, max=1024)}} if dynamic_batch else None
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    program = torch.onnx.export(wrapped, (example,), dynamo=True, opset_version=opset, input_names=[INPUT_NAME],
                                output_names=names, dynamic_shapes=dynamic, external_data=False)
    program.save(str(path), external_data=False)
    onnx.checker.check_model(str(path))
    return path
