"""ONNX int8: static QDQ quantisation with onnxruntime, one named recipe (*flavour*) each.

Every recipe quantises weights per output channel (int8) and activations per tensor, calibrated on
images in the model's input space; the layers that compute the graph outputs ``logits`` and
``year`` stay float (one uint8 scale would collapse a year output), and so do the
InstanceNormalization nodes of the GroupNorm decomposition (onnxruntime refuses their shared scale;
docs/toolchain_findings.md). :mod:`mocar.export.to_onnx` calls :func:`quantize_onnx_int8` after
tracing the float file; :mod:`mocar.quantize.onnx_search` calls it with more layers kept float
(``keep_float``) or one layer group alone (``only``), reusing one range cache for all candidates.
"""
from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from mocar.errors import InputError
from mocar.runtime.metadata import INPUT_NAME

# Ops whose only job is moving data: walking back from a graph output through them finds the layer
# that computes it.
_DATA_MOVEMENT_OPS = {"Squeeze", "Unsqueeze", "Reshape", "Flatten", "Identity", "Transpose", "Cast"}


@dataclass(frozen=True)
class Int8Recipe:
    """One way of quantising an ONNX model with onnxruntime (a *flavour*).

    Attributes:
        activations: ``uint8`` or ``int8`` activations (weights are always int8, per channel).
        op_types: Op types to quantise, or ``None`` for every op onnxruntime can quantise.
        calibration: ``minmax`` or ``percentile`` (99.999th, symmetric).
        description: One line for manifests and reports.
    """

    activations: str
    op_types: tuple[str, ...] | None
    calibration: str
    description: str


INT8_FLAVOURS: dict[str, Int8Recipe] = {
    "u8s8_conv": Int8Recipe("uint8", ("Conv", "Gemm"), "minmax",
                            "QDQ, uint8 activations, int8 per-channel weights, Conv/Gemm only, MinMax"),
    "u8s8_conv_pct": Int8Recipe("uint8", ("Conv", "Gemm"), "percentile",
                                "QDQ, uint8 activations, int8 per-channel weights, Conv/Gemm only, percentile"),
    "u8s8_all": Int8Recipe("uint8", None, "minmax", "QDQ, uint8 activations, int8 per-channel weights, all ops"),
    "s8s8_all": Int8Recipe("int8", None, "minmax", "QDQ, int8 activations, int8 per-channel weights, all ops"),
}
DEFAULT_INT8_FLAVOURS = ("u8s8_conv",)


def output_layer_nodes(model: Any, outputs: list[str]) -> list[str]:
    """Names of the nodes that compute the given graph outputs (walking back through reshapes)."""
    producers = {name: node for node in model.graph.node for name in node.output}
    found = []
    for name in outputs:
        node = producers.get(name)
        while node is not None:
            found.append(node.name)
            if node.op_type not in _DATA_MOVEMENT_OPS:
                break
            node = producers.get(node.input[0])
    return found


class ArrayReader:
    """onnxruntime CalibrationDataReader over an array of images, one image per call (batch 1).

    Duck-typed, so that importing this module does not import onnxruntime.
    """

    def __init__(self, images: np.ndarray, input_name: str = INPUT_NAME) -> None:
        self.images, self.input_name, self.position = images, input_name, 0

    def get_next(self) -> dict[str, np.ndarray] | None:
        if self.position >= len(self.images):
            return None
        self.position += 1
        return {self.input_name: np.ascontiguousarray(self.images[self.position - 1 : self.position], np.float32)}

    def rewind(self) -> None:
        self.position = 0

    def __iter__(self) -> Iterator[dict[str, np.ndarray]]:
        """onnxruntime's debugger (``qdq_loss_debug.collect_activations``) iterates instead of calling get_next."""
        while (item := self.get_next()) is not None:
            yield item


def _check_node_names(model: Any, names: Sequence[str], src: Path) -> None:
    """Refuses node names the graph lacks: onnxruntime would silently quantise (or skip) them."""
    missing = sorted(set(names) - {node.name for node in model.graph.node})
    if missing:
        raise InputError(f"{src}: no node(s) named {', '.join(missing[:5])}{' ...' if len(missing) > 5 else ''} "
                         f"to keep float or quantise alone")


def quantize_onnx_int8(src: Path, dst: Path, calibration: np.ndarray, flavour: str, work_dir: Path,
                       float_outputs: tuple[str, ...] = ("logits", "year"), keep_float: Sequence[str] = (),
                       only: Sequence[str] | None = None, calibration_cache: Path | None = None) -> Path:
    """Static QDQ int8 quantisation of an fp32 ONNX file (one of :data:`INT8_FLAVOURS`).

    Args:
        src: fp32 ONNX file (single file, batch 1).
        dst: Where to write the int8 file.
        calibration: Float32 NCHW images in the model's input space (already normalised).
        flavour: A key of :data:`INT8_FLAVOURS`.
        work_dir: Scratch folder for the pre-processed model.
        float_outputs: Graph outputs whose computing layers stay in float.
        keep_float: Further node names to keep in float (the accuracy fallback of
            :mod:`mocar.quantize.onnx_search`).
        only: If given, quantise only these nodes (still minus the float ones): measures one
            layer's harm alone.
        calibration_cache: onnxruntime's JSON range cache (``calibration_cache_path``): written on
            the first call, read instead of calibrating on later ones. The ranges depend on the
            flavour's op types and calibration method only, not on ``keep_float``/``only``, so one
            cache per flavour serves every fallback candidate.

    Raises:
        InputError: On an unknown flavour or a node name that is not in the graph.
    """
    import onnx
    from onnxruntime.quantization import CalibrationMethod, QuantFormat, QuantType, quantize_static
    from onnxruntime.quantization.shape_inference import quant_pre_process

    if flavour not in INT8_FLAVOURS:
        raise InputError(f"unknown ONNX int8 flavour {flavour!r}; valid: {', '.join(INT8_FLAVOURS)}")
    recipe = INT8_FLAVOURS[flavour]
    prepared = Path(work_dir) / f"{Path(dst).stem}_pre.onnx"
    # Symbolic shape inference crashes on the stem's padding Concat (docs/toolchain_findings.md).
    quant_pre_process(str(src), str(prepared), skip_symbolic_shape=True)
    graph = onnx.load(str(prepared))
    _check_node_names(graph, [*keep_float, *(only or ())], src)
    excluded = [node.name for node in graph.graph.node if node.op_type == "InstanceNormalization"]
    excluded += output_layer_nodes(graph, [name for name in float_outputs if name in {o.name for o in graph.graph.output}])
    percentile = recipe.calibration == "percentile"
    quantize_static(
        str(prepared), str(dst), ArrayReader(calibration), quant_format=QuantFormat.QDQ, per_channel=True,
        activation_type=QuantType.QUInt8 if recipe.activations == "uint8" else QuantType.QInt8,
        weight_type=QuantType.QInt8, op_types_to_quantize=list(recipe.op_types) if recipe.op_types else None,
        nodes_to_quantize=list(only) if only is not None else None, nodes_to_exclude=[*excluded, *keep_float],
        calibrate_method=CalibrationMethod.Percentile if percentile else CalibrationMethod.MinMax,
        extra_options={"CalibPercentile": 99.999, "CalibTensorRangeSymmetric": False} if percentile else None,
        calibration_cache_path=str(calibration_cache) if calibration_cache is not None else None)
    prepared.unlink(missing_ok=True)
    return Path(dst)
