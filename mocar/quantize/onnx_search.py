"""The ONNX back end of the accuracy-aware int8 search (:mod:`mocar.quantize.search`).

:class:`OnnxQuantizer` builds onnxruntime static QDQ files (:func:`~mocar.quantize.onnx_int8.quantize_onnx_int8`)
with chosen layer groups kept float, calibrating once: onnxruntime's JSON range cache
(``calibration_cache_path``) is written by the first build and read by every later one, which
turns a candidate's build from a calibration pass into a graph rewrite.

**Grouping rule** (from the graph, not from node names: the dynamo exporter names nodes
``node_Conv_503``, and mocar strips the per-node metadata that held the module path). Walk back from
each quantisable node (the flavour's op types; the output layers and normalisations stay float
anyway) through single-input operators (ReLU, normalisation, padding, reshapes, pooling) to the
tensor its quantised input comes from: the output of another quantisable node, a join (residual
Add, Concat) or the graph input.

* nodes that read the same such tensor form one group: they share its one quantise/dequantise
  pair, so keeping only one of them float saves no rounding on that input;
* a node whose walk passes a pooling operator joins the group of the node before the pooling: the
  stem conv and the convs reading its MaxPool fall back together. Keeping the stem conv alone float
  left a float/int8 boundary at the MaxPool that made the whole file slower than fp32 (issue 15).

For the all-ops flavours (``u8s8_all``, ``s8s8_all``) the groups still cover Conv/Gemm/MatMul
only; the other operators stay int8 in every candidate.

Group names are hints for humans: ``stem`` (the group of the first quantisable node),
``block<b>.<i>`` (b = residual joins before the group, i = its place in that block) and ``head``
for fully connected layers after the last join.
"""
from __future__ import annotations

import hashlib
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from mocar.errors import InputError
from mocar.quantize.errors import QuantizeError
from mocar.quantize.onnx_int8 import INT8_FLAVOURS, ArrayReader, output_layer_nodes, quantize_onnx_int8
from mocar.quantize.search import LayerGroup
from mocar.runtime.metadata import metadata_for_file
from mocar.runtime.onnx_file import embed_onnx_metadata, read_onnx_metadata
from mocar.utils.hashing import file_sha256

FLOAT_OUTPUTS = ("logits", "year")
SQNR_IMAGES = 32
SQNR_CHUNK = 4  # images per debugger pass: bounds the memory of its intermediate tensors
POOLING_OPS = {"MaxPool", "AveragePool"}
# Ops whose later inputs are shapes/pads/parameters, not data: only the first input is followed.
_FIRST_INPUT_ONLY = {"Reshape", "Pad", "Squeeze", "Unsqueeze", "Expand", "Slice", "Resize", "Clip",
                     "InstanceNormalization", "BatchNormalization", "LayerNormalization"}
_FULLY_CONNECTED = {"Gemm", "MatMul"}
_ALL_OPS_QUANTISABLE = ("Conv", "Gemm", "MatMul")


def _data_inputs(node: Any, constants: set[str]) -> list[str]:
    """The inputs of ``node`` that carry activations (not weights, shapes or constants)."""
    inputs = list(node.input[:1]) if node.op_type in _FIRST_INPUT_ONLY else list(node.input)
    return [name for name in inputs if name and name not in constants]


def _constants(model: Any) -> set[str]:
    names = {init.name for init in model.graph.initializer}
    return names | {out for node in model.graph.node if node.op_type == "Constant" for out in node.output}


def _source(node: Any, quantisable: set[str], producers: dict[str, Any], constants: set[str]) -> tuple[str, bool]:
    """The tensor this node's quantised input comes from, and whether the walk passed a pooling op."""
    tensor, pooled = _data_inputs(node, constants)[0], False
    while True:
        producer = producers.get(tensor)
        if producer is None or producer.name in quantisable:
            return tensor, pooled
        inputs = _data_inputs(producer, constants)
        if len(inputs) != 1:
            return tensor, pooled
        pooled |= producer.op_type in POOLING_OPS
        tensor = inputs[0]


def _union_groups(model: Any, nodes: list[Any]) -> list[list[Any]]:
    """Quantisable nodes partitioned by the grouping rule of the module docstring, in graph order."""
    constants = _constants(model)
    producers = {out: node for node in model.graph.node for out in node.output}
    quantisable = {node.name for node in nodes}
    parent = {node.name: node.name for node in nodes}

    def root(name: str) -> str:
        while parent[name] != name:
            name = parent[name]
        return name

    def join(a: str, b: str) -> None:
        first, second = sorted((root(a), root(b)), key=order.index)
        parent[second] = first

    order = [node.name for node in nodes]
    readers: dict[str, str] = {}
    for node in nodes:
        tensor, pooled = _source(node, quantisable, producers, constants)
        if tensor in readers:
            join(readers[tensor], node.name)
        readers.setdefault(tensor, node.name)
        producer = producers.get(tensor)
        if pooled and producer is not None and producer.name in quantisable:
            join(producer.name, node.name)
    members: dict[str, list[Any]] = {}
    for node in nodes:
        members.setdefault(root(node.name), []).append(node)
    return sorted(members.values(), key=lambda group: order.index(group[0].name))


def _is_join(node: Any, constants: set[str]) -> bool:
    return node.op_type in {"Add", "Sum", "Concat"} and len(_data_inputs(node, constants)) > 1


def layer_groups(model: Any, op_types: Sequence[str], float_outputs: Sequence[str] = FLOAT_OUTPUTS) -> list[LayerGroup]:
    """The fallback groups of an ONNX graph (``onnx.ModelProto``), in graph order.

    Args:
        model: The fp32 graph.
        op_types: Op types the flavour quantises.
        float_outputs: Graph outputs whose computing layers stay float (never grouped).
    """
    outputs = [name for name in float_outputs if name in {o.name for o in model.graph.output}]
    excluded = set(output_layer_nodes(model, outputs))
    nodes = [node for node in model.graph.node if node.op_type in op_types and node.name not in excluded]
    constants = _constants(model)
    position = {node.name: i for i, node in enumerate(model.graph.node)}
    join_positions = [i for i, node in enumerate(model.graph.node) if _is_join(node, constants)]
    groups, per_block = [], {}
    for index, members in enumerate(_union_groups(model, nodes)):
        block = sum(p < position[members[0].name] for p in join_positions)
        if index == 0:
            name = "stem"
        elif all(node.op_type in _FULLY_CONNECTED for node in members) and block == len(join_positions):
            name = "head" if "head" not in per_block else f"head.{per_block['head']}"
            per_block["head"] = per_block.get("head", 0) + 1
        else:
            name = f"block{block}.{per_block.get(block, 0)}"
            per_block[block] = per_block.get(block, 0) + 1
        groups.append(LayerGroup(name, tuple(node.name for node in members)))
    return groups


def _cache_key(fp32_path: Path, calibration: np.ndarray, flavour: str) -> str:
    """Ranges depend on the model, the images and the recipe's op types and method (not on the fallback)."""
    recipe = INT8_FLAVOURS[flavour]
    digest = hashlib.sha256(file_sha256(fp32_path).encode())
    digest.update(np.ascontiguousarray(calibration, np.float32).tobytes())
    digest.update(f"{recipe.op_types}|{recipe.calibration}|{recipe.activations}".encode())
    return digest.hexdigest()[:16]


class OnnxQuantizer:
    """:class:`mocar.quantize.search.Quantizer` for onnxruntime static QDQ int8 (one flavour).

    Args:
        fp32_path: The fp32 ONNX file with mocar metadata (an export's ``model_fp32.onnx``).
        calibration: Float32 NCHW calibration images in the model's input space.
        flavour: A key of :data:`~mocar.quantize.onnx_int8.INT8_FLAVOURS`.
        work_dir: Scratch folder (pre-processed graphs, the range cache); default: ``int8_search``
            next to the fp32 file.

    Raises:
        InputError: On an unknown flavour, a missing file or calibration that is not NCHW.
        QuantizeError: If the graph has nothing this flavour can quantise.
    """

    runtime = "onnx"
    suffix = ".onnx"

    def __init__(self, fp32_path: Path, calibration: np.ndarray, flavour: str = "u8s8_conv",
                 work_dir: Path | None = None) -> None:
        import onnx  # optional dependency: mocar[onnx]

        if flavour not in INT8_FLAVOURS:
            raise InputError(f"unknown ONNX int8 flavour {flavour!r}; valid: {', '.join(INT8_FLAVOURS)}")
        self.fp32_path = Path(fp32_path)
        if not self.fp32_path.is_file():
            raise InputError(f"no fp32 ONNX file at {self.fp32_path}")
        self.calibration = np.ascontiguousarray(calibration, np.float32)
        if self.calibration.ndim != 4 or len(self.calibration) == 0:
            raise InputError(f"calibration must be a non-empty NCHW batch; got shape {self.calibration.shape}")
        self.flavour, self.recipe = flavour, INT8_FLAVOURS[flavour]
        self.work_dir = Path(work_dir) if work_dir is not None else self.fp32_path.parent / "int8_search"
        self.work_dir.mkdir(parents=True, exist_ok=True)
        self.calibration_cache = self.work_dir / f"ranges_{_cache_key(self.fp32_path, self.calibration, flavour)}.json"
        self.metadata = read_onnx_metadata(self.fp32_path)
        self._groups = layer_groups(onnx.load(str(self.fp32_path)), self.recipe.op_types or _ALL_OPS_QUANTISABLE)
        if not self._groups:
            raise QuantizeError(f"{self.fp32_path}: no {self.recipe.op_types} node outside the output layers to quantise")

    def groups(self) -> list[LayerGroup]:
        """The fallback groups in graph order (module docstring)."""
        return list(self._groups)

    def build(self, float_groups: Sequence[LayerGroup], dst: Path) -> Path:
        """An int8 file with these groups float; its metadata lists them (``quantization.float_layers``)."""
        nodes = [node for group in float_groups for node in group.nodes]
        quantize_onnx_int8(self.fp32_path, Path(dst), self.calibration, self.flavour, self.work_dir,
                           float_outputs=FLOAT_OUTPUTS, keep_float=nodes, calibration_cache=self.calibration_cache)
        description = self.recipe.description + (f"; {len(float_groups)} layer group(s) kept float" if float_groups else "")
        return self._label(Path(dst), description, float_groups=[g.name for g in float_groups], float_layers=nodes)

    def build_only(self, group: LayerGroup, dst: Path) -> Path:
        """A file with only ``group`` quantised (the sensitivity probe); its metadata says so."""
        quantize_onnx_int8(self.fp32_path, Path(dst), self.calibration, self.flavour, self.work_dir,
                           float_outputs=FLOAT_OUTPUTS, only=group.nodes, calibration_cache=self.calibration_cache)
        return self._label(Path(dst), f"{self.recipe.description}; only {group.name} quantised",
                           quantized_only=list(group.nodes))

    def activation_sqnr(self, images: np.ndarray, count: int = SQNR_IMAGES,
                        chunk: int = SQNR_CHUNK) -> dict[str, float]:
        """Per group, the lowest SQNR (dB) of its output activations in the fully int8 file vs fp32.

        onnxruntime's QDQ debugger (``qdq_loss_debug``) on the first ``count`` images (0: skip, ``{}``);
        recorded beside the logit-error ranking for comparison only (it ranked layers poorly, issue 15).
        The debugger keeps every intermediate tensor of every image in memory (23 GB for 32 images of
        R50x1 at 224: the search was OOM-killed), so the images go through ``chunk`` at a time and
        each group output keeps only its running signal and noise energy:
        10 log10(sum x^2 / sum (x - x_int8)^2) over all images, the debugger's own figure.
        """
        from onnxruntime.quantization.qdq_loss_debug import modify_model_output_intermediate_tensors

        images = images[:max(int(count), 0)]
        if len(images) == 0:
            return {}
        folder = self.work_dir / "sqnr"
        folder.mkdir(parents=True, exist_ok=True)
        int8 = self.build([], folder / "full_int8.onnx")
        augmented = {}
        for name, path in (("float", self.fp32_path), ("int8", int8)):
            augmented[name] = folder / f"{name}_augmented.onnx"
            modify_model_output_intermediate_tensors(str(path), str(augmented[name]))
        outputs = self._output_tensors()
        wanted = {t for group in self._groups for node in group.nodes for t in outputs[node]}
        energy = _SqnrEnergy()
        for start in range(0, len(images), max(int(chunk), 1)):
            batch = images[start:start + max(int(chunk), 1)]
            energy.add(_matched_activations(augmented["float"], augmented["int8"], batch, wanted))
        sqnr = energy.sqnr_db()
        found = {}
        for group in self._groups:
            values = [sqnr[t] for node in group.nodes for t in outputs[node] if t in sqnr]
            if values:
                found[group.name] = float(min(values))
        return found

    def _output_tensors(self) -> dict[str, list[str]]:
        import onnx

        return {node.name: list(node.output) for node in onnx.load(str(self.fp32_path)).graph.node}

    def _label(self, path: Path, description: str, **details: Any) -> Path:
        """Writes the fp32 file's metadata, re-labelled int8 with the fallback details, into ``path``."""
        import onnx

        metadata = metadata_for_file(self.metadata, "int8", self.flavour, description=description,
                                     calibration_images=len(self.calibration), float_outputs=list(FLOAT_OUTPUTS),
                                     **details)
        onnx.save(embed_onnx_metadata(onnx.load(str(path)), metadata), str(path))
        return path


def _matched_activations(float_model: Path, int8_model: Path, images: np.ndarray,
                         wanted: set[str]) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """For each wanted tensor: its float value and the int8 model's dequantised value on ``images``."""
    from onnxruntime.quantization.qdq_loss_debug import collect_activations, create_activation_matching

    def collect(model: Path) -> dict[str, list[np.ndarray]]:
        found = collect_activations(str(model), ArrayReader(images))
        # Only what is compared stays alive; the debugger returns every tensor of the graph.
        return {name: values for name, values in found.items()
                if any(name == t or name.startswith(t + "_") for t in wanted)}

    matching = create_activation_matching(collect(int8_model), collect(float_model))
    return {name: (np.concatenate(m["float"]), np.concatenate(m["post_qdq"]))
            for name, m in matching.items() if name in wanted and "float" in m}


class _SqnrEnergy:
    """Running signal and quantisation-noise energy per tensor, summed over image chunks."""

    def __init__(self) -> None:
        self.signal: dict[str, float] = {}
        self.noise: dict[str, float] = {}

    def add(self, pairs: dict[str, tuple[np.ndarray, np.ndarray]]) -> None:
        for name, (reference, quantised) in pairs.items():
            reference = reference.astype(np.float64)
            self.signal[name] = self.signal.get(name, 0.0) + float(np.sum(reference ** 2))
            self.noise[name] = self.noise.get(name, 0.0) + float(np.sum((reference - quantised) ** 2))

    def sqnr_db(self) -> dict[str, float]:
        """The debugger's formula (norms floored at float eps) on the summed energies."""
        eps = float(np.finfo(np.float64).eps)
        return {name: 20.0 * float(np.log10(max(np.sqrt(self.signal[name]), eps) / max(np.sqrt(self.noise[name]), eps)))
                for name in self.signal}
