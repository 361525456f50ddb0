"""TFLite int8 flavours: which ones exist, and the one mocar builds itself (``integer_quant_float_norm``).

onnx2tf writes ``dynamic_range`` (int8 weights, float activations), ``integer_quant`` (int8 weights
and activations, float I/O) and ``full_integer_quant`` (int8 I/O) in the same run as the float files
(:mod:`mocar.export.to_tflite`). ``integer_quant_float_norm`` is like ``integer_quant`` with the
head's pooling, concatenation and GroupNorm kept in float: TF's converter on onnx2tf's SavedModel
with those nodes on the quantisation debugger's deny list (:func:`float_norm_model`). Why: the
head's GroupNorm quantises the group variances of the pooled vector with one int8 scale, and its
RSQRT then adds most of the error of the whole file (demo student: relative error 0.06 -> 0.69,
``benchmarks/results/tflite_int8_drift_demo_student.md``).
"""
from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from mocar.quantize.errors import QuantizeError
from mocar.runtime.tflite_file import load_interpreter, tflite_output_index

INT8_FLAVOURS = ("dynamic_range", "integer_quant", "full_integer_quant", "integer_quant_float_norm")
DEFAULT_INT8_FLAVOURS = INT8_FLAVOURS[:3]
INT8_DESCRIPTIONS = {
    "dynamic_range": "int8 weights (per channel), float activations and I/O (onnx2tf dynamic range)",
    "integer_quant": "int8 weights (per channel) and activations, float32 I/O, calibrated (onnx2tf -oiqt)",
    "full_integer_quant": "int8 weights (per channel), activations and I/O, calibrated (onnx2tf -oiqt)",
    "integer_quant_float_norm": "int8 weights (per channel) and activations, float32 I/O; the head's pooling, "
                                "concatenation and GroupNorm in float, calibrated (TF converter deny list)",
}
ONNX2TF_CALIBRATED = ("integer_quant", "full_integer_quant")  # written by onnx2tf itself
FLOAT_NORM_FLAVOUR = "integer_quant_float_norm"
CALIBRATED_FLAVOURS = (*ONNX2TF_CALIBRATED, FLOAT_NORM_FLAVOUR)

def float_norm_nodes(float_file: Path) -> list[str]:
    """The head operators ``integer_quant_float_norm`` keeps in float, by output tensor name.

    The head is every operator after the last one with a 4-D (spatial) output, in execution order:
    the last block's pooling, the concatenation, the GroupNorm pieces, activations, fully-connected
    layers and outputs. The fully-connected layers stay int8 (measured: the demo student agrees
    98.9 % with them int8, 98.4 % with them float, and float weights would double the head's size);
    the graph outputs (``Identity_N``) are renamed by TF's converter, so they are left out too.
    """
    interpreter = load_interpreter(float_file, threads=1, inspect=True)  # no DELEGATE nodes hiding the operators
    details = {t["index"]: t for t in interpreter.get_tensor_details()}
    ops = [(op["op_name"], details[int(op["outputs"][0])]) for op in interpreter._get_ops_details()]
    last_spatial = max((i for i, (_, tensor) in enumerate(ops) if len(tensor["shape"]) == 4), default=-1)
    return [tensor["name"] for kind, tensor in ops[last_spatial + 1 :]
            if kind != "FULLY_CONNECTED" and tflite_output_index(tensor["name"]) is None]


def calibrated_debugger(saved_model_dir: Path, calib_nhwc: np.ndarray) -> Any:
    """TF's quantisation debugger on onnx2tf's SavedModel, calibrated once on ``calib_nhwc``.

    Calibration (one float pass per image, plus the instrumented debug model) is the expensive part
    of TF's post-training quantisation (~4 s for the demo teacher on 200 images); the quantisation
    step after it (:func:`quantized_model`) takes ~0.1 s and accepts any deny list. So one debugger
    serves every deny list a search tries.

    Raises:
        QuantizeError: If there are no calibration images.
    """
    import tensorflow as tf

    if calib_nhwc.ndim != 4 or len(calib_nhwc) == 0:
        raise QuantizeError(f"calibration images must be a non-empty NHWC batch, got shape {list(calib_nhwc.shape)}")

    def calibration():
        for image in calib_nhwc:
            yield [image[None].astype(np.float32)]

    converter = tf.lite.TFLiteConverter.from_saved_model(str(saved_model_dir))
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    converter.representative_dataset = calibration
    # An empty deny list: the debug model then instruments every layer (per-layer statistics).
    options = tf.lite.experimental.QuantizationDebugOptions(denylisted_nodes=[])
    return tf.lite.experimental.QuantizationDebugger(converter=converter, debug_dataset=calibration,
                                                     debug_options=options)


def quantized_model(debugger: Any, denied: Sequence[str], debug: bool = False) -> bytes:
    """The int8 flatbuffer (float I/O) of a :func:`calibrated_debugger`, with ``denied`` kept float.

    With ``debug``, the model instrumented with TF's NumericVerify operators instead (per-layer errors).

    ``denied`` are output tensor names of operators in the calibrated model. The debugger reads its
    deny list from its options object at each call; setting it there, rather than through the
    ``options`` setter, skips re-building the instrumented debug model (~1 s) that the setter does.
    """
    debugger.options.denylisted_nodes = list(denied)
    return debugger.get_debug_quantized_model() if debug else debugger.get_nondebug_quantized_model()


def float_norm_model(saved_model_dir: Path, float_file: Path, calib_nhwc: np.ndarray) -> bytes:
    """The ``integer_quant_float_norm`` flatbuffer: TF's converter on onnx2tf's SavedModel, calibrated
    on ``calib_nhwc``, with :func:`float_norm_nodes` of ``float_file`` denied quantisation.

    Raises:
        QuantizeError: If the float file has no head operator to keep in float.
    """
    denied = float_norm_nodes(float_file)
    if not denied:
        raise QuantizeError(f"{float_file.name}: no head operator after the last 4-D feature map; "
                                f"{FLOAT_NORM_FLAVOUR} has nothing to keep in float")
    return quantized_model(calibrated_debugger(saved_model_dir, calib_nhwc), denied)
