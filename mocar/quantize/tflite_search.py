"""The TFLite back end of the accuracy-aware int8 search: ``integer_quant`` (float I/O) with blocks kept float.

:class:`TFLiteQuantizer` implements :class:`mocar.quantize.search.Quantizer`. It starts from onnx2tf's
SavedModel of the float network (:func:`mocar.export.to_tflite.onnx_to_saved_model`, ~10 s for the
demo teacher; the export floor makes it, this floor only reads it) and TF's own converter:

* **Calibrate once.** TF's quantisation debugger calibrates the SavedModel on the calibration images
  once (~4 s for the demo teacher on 200 images); every candidate after that is one call of the
  quantiser on the calibrated model with another deny list (~0.1 s), no re-calibration
  (:func:`mocar.quantize.tflite_int8.quantized_model`).
* **Groups are blocks, not single operators.** :func:`block_groups` cuts the calibrated graph (in
  execution order) into the stem (up to the first pooling), one group per residual block (ending at
  its residual ``ADD``) and ``head`` (the head's pooling, concatenation, GroupNorm pieces — the
  ``integer_quant_float_norm`` set — plus its fully-connected layers and outputs). Every
  operator of a block is denied together — convolutions, GroupNorm pieces and the transposes and
  reshapes between them — because a float/int8 boundary inside a block costs a QUANTIZE/DEQUANTIZE
  pair and can make a file slower than fp32 (measured in ONNX, issue 15). The names are the output
  tensor names TF writes into the calibrated model, the names its deny list matches.
* Built files carry the metadata of the export's float file, re-labelled (flavour ``integer_quant``,
  ``float_groups``) and with the output map re-keyed to the quantised file's tensor names, so every
  mocar runner reads them.

:meth:`TFLiteQuantizer.activation_sqnr` gives the debugger's per-layer figure, for comparison with the
search's own ranking: each quantised operator's output against its float twin computed from the same
(dequantised) inputs, so it is a *local* error, summarised per group as its worst layer's SQNR.
"""
from __future__ import annotations

import csv
import io
import re
import tempfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from mocar.quantize.errors import QuantizeError
from mocar.quantize.search import LayerGroup
from mocar.quantize.tflite_int8 import (
    INT8_DESCRIPTIONS,
    calibrated_debugger,
    quantized_model,
)
from mocar.runtime.metadata import metadata_for_file
from mocar.runtime.tflite_file import (
    embed_tflite_metadata,
    load_interpreter,
    read_tflite_metadata,
    tensor_infos,
    tflite_output_index,
)

RUNTIME = "tflite"
FLAVOUR = "integer_quant"
POOLING_OPS = ("MAX_POOL_2D", "AVERAGE_POOL_2D")
WEIGHTED_OPS = ("CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED", "TRANSPOSE_CONV")
SQNR_IMAGES = 32


@dataclass(frozen=True)
class GraphOp:
    """One operator of a TFLite graph, as a deny list sees it.

    Attributes:
        kind: The builtin operator name (``CONV_2D``, ``ADD``, ...).
        name: Its first output tensor's name (what ``denylisted_nodes`` matches).
        shape: That output's shape.
        residual: An ``ADD`` of two computed 4-D tensors (a block's skip connection), not of a
            tensor and a constant (GroupNorm's shift, its epsilon).
    """

    kind: str
    name: str
    shape: tuple[int, ...]
    residual: bool = False


def graph_ops(path: Path) -> list[GraphOp]:
    """The operators of a .tflite file in execution order (LiteRT's built-in kernels, no delegate nodes)."""
    interpreter = load_interpreter(path, threads=1, inspect=True)
    tensors = {t["index"]: t for t in interpreter.get_tensor_details()}
    details = interpreter._get_ops_details()  # the only listing of operators LiteRT offers
    computed = {int(i) for op in details for i in op["outputs"]}
    computed |= {int(t["index"]) for t in interpreter.get_input_details()}
    ops = []
    for op in details:
        output = tensors[int(op["outputs"][0])]
        inputs = [int(i) for i in op["inputs"] if int(i) >= 0]
        residual = (op["op_name"] == "ADD" and len(inputs) == 2 and len(output["shape"]) == 4
                    and all(i in computed for i in inputs))
        ops.append(GraphOp(op["op_name"], output["name"], tuple(int(d) for d in output["shape"]), residual))
    return ops


def block_groups(ops: Sequence[GraphOp]) -> list[LayerGroup]:
    """Cuts a graph into the groups a fallback keeps float together, in graph order; they cover every operator.

    ``backbone.stem``: up to the first pooling before the first residual block (else up to the first
    weighted operator). ``backbone.stage{s}.block{b}``: from after the previous residual ``ADD`` to its
    own; a new stage starts where the spatial size changes. Operators between the last ``ADD`` and the
    head join the last block. Without residual connections every weighted operator starts a group.
    ``head``: every operator after the last 4-D one (pooling, concatenation, GroupNorm, fully-connected
    layers, outputs), one group: it is a few thousand values, so float costs no measurable time,
    and split in two (norm | fc) the demo student's search ranked a backbone block between the halves
    and missed the whole-head-float file (99.3 % agreement at 1.9x fp32, vs its choice at 1.3x).

    Raises:
        QuantizeError: If the graph has no 4-D (image) operator.
    """
    last_spatial = max((i for i, op in enumerate(ops) if len(op.shape) == 4), default=-1)
    if last_spatial < 0:
        raise QuantizeError("the graph has no 4-D operator: not an image network mocar exported")
    segments = _backbone_segments(ops[: last_spatial + 1])
    groups = [LayerGroup("backbone.stem", _names(segments[0]))]
    stage, block, size = 0, 0, None
    for segment in segments[1:]:
        if segment[-1].shape[1:3] != size:
            stage, block, size = stage + 1, 0, segment[-1].shape[1:3]
        block += 1
        groups.append(LayerGroup(f"backbone.stage{stage}.block{block}", _names(segment)))
    groups.append(LayerGroup("head", _names(ops[last_spatial + 1 :])))
    return [group for group in groups if group.nodes]


def _backbone_segments(ops: Sequence[GraphOp]) -> list[list[GraphOp]]:
    """The stem, then one segment per residual block (or per weighted operator in a plain network)."""
    joins = [i for i, op in enumerate(ops) if op.residual]
    weighted = [i for i, op in enumerate(ops) if op.kind in WEIGHTED_OPS]
    if joins:
        pooling = [i for i, op in enumerate(ops[: joins[0]]) if op.kind in POOLING_OPS]
        stem_end = pooling[0] if pooling else min(weighted[0] if weighted else joins[0], joins[0])
        cuts = [stem_end] + [i for i in joins if i > stem_end]
        cuts[-1] = len(ops) - 1  # operators after the last residual ADD (a final norm) join the last block
    else:  # a plain network: each weighted operator starts a segment
        cuts = [i - 1 for i in weighted[1:]] + [len(ops) - 1]
    starts = [0] + [i + 1 for i in cuts[:-1]]
    return [list(ops[start : end + 1]) for start, end in zip(starts, cuts)]


def _names(ops: Iterable[GraphOp]) -> tuple[str, ...]:
    return tuple(op.name for op in ops)


class TFLiteQuantizer:
    """``integer_quant`` TFLite files (int8 weights and activations, float I/O) with chosen groups kept float.

    Implements :class:`mocar.quantize.search.Quantizer`. Construction calibrates once (the expensive
    step); :meth:`build` and :meth:`build_only` then only re-run the quantiser with another deny list.
    """

    runtime = RUNTIME
    flavour = FLAVOUR
    suffix = ".tflite"

    def __init__(self, saved_model_dir: Path, calib_nchw: np.ndarray, fp32_file: Path) -> None:
        """Calibrates the SavedModel and cuts its graph into groups.

        Args:
            saved_model_dir: onnx2tf's SavedModel of the float network
                (:func:`mocar.export.to_tflite.onnx_to_saved_model`).
            calib_nchw: Calibration images in the model's input space (float32 NCHW, normalised).
            fp32_file: The export's ``model_fp32.tflite`` of the same model: its embedded metadata is
                copied into every built file, and a search times candidates against it (``fp32_path``).

        Raises:
            QuantizeError: If the SavedModel is missing or the calibration images are not NCHW.
            TFLiteMetadataError: If ``fp32_file`` has no mocar metadata.
        """
        if not (Path(saved_model_dir) / "saved_model.pb").is_file():
            raise QuantizeError(f"{saved_model_dir}: no saved_model.pb (make it with "
                                f"mocar.export.to_tflite.onnx_to_saved_model)")
        if calib_nchw.ndim != 4 or calib_nchw.shape[1] != 3:
            raise QuantizeError(f"calibration images must be float32 NCHW [N, 3, H, W], got {list(calib_nchw.shape)}")
        self.fp32_path = Path(fp32_file)
        self.metadata = read_tflite_metadata(self.fp32_path)
        self._debugger = calibrated_debugger(Path(saved_model_dir), np.ascontiguousarray(calib_nchw.transpose(0, 2, 3, 1)))
        with tempfile.TemporaryDirectory(prefix="tflite_calibrated_") as scratch:
            calibrated = Path(scratch) / "calibrated.tflite"
            calibrated.write_bytes(self._debugger.calibrated_model)
            self.ops = graph_ops(calibrated)
        self._groups = block_groups(self.ops)

    def groups(self) -> list[LayerGroup]:
        """The blocks a fallback may keep float, in graph order (:func:`block_groups`)."""
        return list(self._groups)

    def build(self, float_groups: Sequence[LayerGroup], dst: Path) -> Path:
        """An int8 file with every operator of ``float_groups`` kept float."""
        denied = [name for group in float_groups for name in group.nodes]
        return self._write(denied, [group.name for group in float_groups], dst)

    def build_only(self, group: LayerGroup, dst: Path) -> Path:
        """A file with only ``group`` quantised: every other operator is denied."""
        kept = set(group.nodes)
        others = [g for g in self._groups if g.name != group.name]
        denied = [op.name for op in self.ops if op.name not in kept]
        return self._write(denied, [g.name for g in others], dst)

    def _write(self, denied: Sequence[str], float_groups: Sequence[str], dst: Path) -> Path:
        dst = Path(dst)
        dst.parent.mkdir(parents=True, exist_ok=True)
        dst.write_bytes(quantized_model(self._debugger, denied))
        interpreter = load_interpreter(dst, threads=1)
        input_info, output_infos = tensor_infos(interpreter)
        metadata = metadata_for_file(self.metadata, "int8", FLAVOUR, description=INT8_DESCRIPTIONS[FLAVOUR],
                                     float_groups=list(float_groups))
        metadata["input"] = {**metadata.get("input", {}), "name": input_info.name, "dtype": input_info.dtype}
        metadata["output_map"] = _output_map(self.metadata, [(o.name, o.shape) for o in output_infos])
        metadata["tflite_tensors"] = {"input": input_info.to_dict(), "outputs": [o.to_dict() for o in output_infos]}
        embed_tflite_metadata(dst, metadata)
        return dst

    def activation_sqnr(self, images: np.ndarray, count: int = SQNR_IMAGES) -> dict[str, float]:
        """Worst per-layer SQNR (dB) of each group in the fully quantised model, from TF's debugger.

        The debugger compares each quantised operator's output with the float operator run on the
        same dequantised inputs (a local error: what the layer adds, not what it inherits). The
        signal is the float model's own activation on the same images. Groups without an
        instrumented layer are left out.
        """
        nhwc = np.ascontiguousarray(np.asarray(images[:count], np.float32).transpose(0, 2, 3, 1))
        errors = self._layer_errors(nhwc)
        signal = self._signal_power(nhwc)
        by_name = {name: 10.0 * np.log10(signal[name] / mse) for name, mse in errors.items()
                   if name in signal and mse > 0 and signal[name] > 0}
        result = {}
        for group in self._groups:
            values = [by_name[name] for name in group.nodes if name in by_name]
            if values:
                result[group.name] = float(min(values))
        return result

    def _layer_errors(self, nhwc: np.ndarray) -> dict[str, float]:
        """Mean squared local error per operator (output tensor name) from ``debugger.run()``."""
        import tensorflow as tf

        def dataset():
            for image in nhwc:
                yield [image[None]]

        # The instrumented model of the calibrated one (nothing denied), run by a debugger of its own
        # over these images; the calibrating debugger keeps its calibration data.
        content = quantized_model(self._debugger, [], debug=True)
        debugger = tf.lite.experimental.QuantizationDebugger(quant_debug_model_content=content, debug_dataset=dataset)
        debugger.run()
        dump = io.StringIO()
        debugger.layer_statistics_dump(dump)
        known = {op.name for op in self.ops}
        errors = {}
        for row in csv.DictReader(io.StringIO(dump.getvalue())):
            name = _known_name(row["tensor_name"], known)
            if name is not None:
                errors[name] = float(row["mean_squared_error"])
        return errors

    def _signal_power(self, nhwc: np.ndarray) -> dict[str, float]:
        """Mean square of every operator output of the calibrated (float) model over the images."""
        with tempfile.TemporaryDirectory(prefix="tflite_calibrated_") as scratch:
            path = Path(scratch) / "calibrated.tflite"
            path.write_bytes(self._debugger.calibrated_model)
            interpreter = load_interpreter(path, threads=1, inspect=True)
        index = {t["name"]: int(t["index"]) for t in interpreter.get_tensor_details()}
        names = [op.name for op in self.ops if op.name in index]
        sums = dict.fromkeys(names, 0.0)
        input_index = interpreter.get_input_details()[0]["index"]
        for image in nhwc:
            interpreter.set_tensor(input_index, image[None])
            interpreter.invoke()
            for name in names:
                sums[name] += float(np.mean(np.square(interpreter.get_tensor(index[name]), dtype=np.float64)))
        return {name: total / len(nhwc) for name, total in sums.items()}


def _known_name(dumped: str, known: set[str]) -> str | None:
    """The operator a debugger row is about: its name, or the name less the digit TF's dump strips."""
    if dumped in known:
        return dumped
    matches = [name for name in known if re.fullmatch(re.escape(dumped) + r"\d", name)]
    return matches[0] if len(matches) == 1 else None


def _output_map(metadata: dict[str, Any], outputs: Sequence[tuple[str, tuple[int, ...]]]) -> dict[str, str]:
    """Tensor name -> model output name for a built file, from the metadata of the export's file.

    The rule of the exporter's ``map_tflite_outputs``: the model-output index a tensor name encodes
    (:func:`tflite_output_index`) where the shape agrees, else the one output of that shape. The
    converter's ``PartitionedCall:k`` follows the SavedModel signature, not the model's order (the
    demo teacher's ``:0`` is the embedding), so the shape decides there.

    Raises:
        QuantizeError: If an output cannot be identified, or the map is not one-to-one.
    """
    shapes = {o["name"]: tuple(o["shape"]) for o in metadata.get("tflite_tensors", {}).get("outputs", [])}
    base = metadata["output_map"]
    expected = [(base[t], shapes.get(t)) for t in sorted(base, key=lambda t: tflite_output_index(t) or 0)]
    mapping = {}
    for tensor, shape in outputs:
        index = tflite_output_index(tensor)
        if index is not None and index < len(expected) and expected[index][1] == tuple(shape):
            mapping[tensor] = expected[index][0]
            continue
        same_shape = [name for name, expected_shape in expected if expected_shape == tuple(shape)]
        if len(same_shape) != 1:
            raise QuantizeError(f"cannot identify output {tensor!r} {list(shape)} of the quantised file among "
                                f"the export's outputs {expected}")
        mapping[tensor] = same_shape[0]
    if sorted(mapping.values()) != sorted(base.values()):
        raise QuantizeError(f"quantised outputs {mapping} do not cover the model outputs {sorted(base.values())} once each")
    return mapping


__all__ = ["FLAVOUR", "RUNTIME", "GraphOp", "TFLiteQuantizer", "block_groups", "graph_ops"]
