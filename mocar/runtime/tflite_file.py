"""Reading and annotating .tflite files without TensorFlow: embedded metadata, I/O, one invocation.

**Metadata.** A TFLite model (schema ``TFL3``) carries a list of named ``Metadata`` entries, each
pointing at a ``Buffer`` of raw bytes. :func:`embed_tflite_metadata` appends (or replaces) an entry named
:data:`METADATA_NAME` whose buffer holds the UTF-8 JSON of a dict; :func:`read_tflite_metadata`
reads it back. Both use only ``flatbuffers`` and the schema module generated from TFLite's
``schema.fbs`` that ships with ``ai_edge_litert`` (no TensorFlow import), so the benchmark runners
and any desktop tool can read the contract cheaply; an Android app can read the same buffer with
the flatbuffers Java API (``Model.metadata(i).name() == "mocar"``).

**Running.** :func:`tensor_infos` describes a file's inputs/outputs (name, shape, dtype, int8
scale/zero point); :func:`invoke` runs one NHWC float sample through an ``ai_edge_litert``
interpreter, quantising the input and de-quantising the outputs where the file has integer I/O.
The exporter (checks) and the benchmark runner share these.

Caveat: embedding unpacks and re-packs the whole model with the flatbuffers object API: fast
(weights stay numpy arrays); outputs stay bit-identical and latency unchanged (checked by the
exporter and measured). Weight buffers are not 16-byte aligned afterwards, but neither are most
of them in onnx2tf's own output. Models over 2 GB (buffers outside the flatbuffer) are not supported.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from mocar.errors import InputError
from mocar.runtime.errors import MetadataError, MissingRuntimeError

METADATA_NAME = "mocar"
TFLITE_FILE_IDENTIFIER = b"TFL3"


class TFLiteMetadataError(MetadataError):
    """A .tflite file is not a TFLite model or has no readable mocar metadata."""


def _schema():
    try:
        from ai_edge_litert import schema_py_generated
    except ImportError as err:  # optional dependency
        raise MissingRuntimeError("reading/writing TFLite metadata needs ai_edge_litert: pip install 'mocar[tflite]'") from err
    return schema_py_generated


def _read_model_bytes(path: Path) -> bytearray:
    path = Path(path)
    if not path.is_file():
        raise TFLiteMetadataError(f"TFLite file not found: {path}")
    data = bytearray(path.read_bytes())
    if len(data) < 8 or bytes(data[4:8]) != TFLITE_FILE_IDENTIFIER:
        raise TFLiteMetadataError(f"{path}: not a TFLite flatbuffer (file identifier {bytes(data[4:8])!r}, "
                                  f"expected {TFLITE_FILE_IDENTIFIER!r})")
    return data


def embed_tflite_metadata(path: Path, metadata: dict[str, Any], name: str = METADATA_NAME) -> None:
    """Writes ``metadata`` as JSON into the model file's metadata list (replacing an entry of that name).

    Args:
        path: The .tflite file, rewritten in place.
        metadata: A JSON-serialisable dict.
        name: Name of the metadata entry.

    Raises:
        TFLiteMetadataError: If the file is not a TFLite model.
        TypeError: If ``metadata`` is not JSON-serialisable.
    """
    import flatbuffers

    schema = _schema()
    payload = json.dumps(metadata, ensure_ascii=False, sort_keys=True).encode("utf-8")
    model = schema.ModelT.InitFromPackedBuf(_read_model_bytes(path), 0)
    model.buffers = list(model.buffers or [])
    buffer = schema.BufferT()
    buffer.data = np.frombuffer(payload, dtype=np.uint8)
    model.buffers.append(buffer)
    entry = schema.MetadataT()
    entry.name, entry.buffer = name, len(model.buffers) - 1
    # An older entry of the same name keeps its (now unreferenced) buffer: harmless and tiny.
    kept = [m for m in (model.metadata or []) if _decode_name(m.name) != name]
    model.metadata = kept + [entry]
    builder = flatbuffers.Builder(1024)
    builder.Finish(model.Pack(builder), file_identifier=TFLITE_FILE_IDENTIFIER)
    Path(path).write_bytes(builder.Output())


def _decode_name(raw: str | bytes | None) -> str:
    return raw.decode("utf-8") if isinstance(raw, bytes) else (raw or "")


def read_tflite_metadata(path: Path, name: str = METADATA_NAME) -> dict[str, Any]:
    """Reads the JSON metadata entry ``name`` of a .tflite file without unpacking the weights.

    Raises:
        TFLiteMetadataError: If the file is not a TFLite model, has no such entry, or the entry
            is not a JSON object.
    """
    schema = _schema()
    data = _read_model_bytes(path)
    model = schema.Model.GetRootAs(data, 0)
    found = []
    for i in range(model.MetadataLength()):
        entry = model.Metadata(i)
        entry_name = _decode_name(entry.Name())
        found.append(entry_name)
        if entry_name == name:
            raw = model.Buffers(entry.Buffer()).DataAsNumpy()
            try:
                value = json.loads(bytes(raw).decode("utf-8"))
            except (UnicodeDecodeError, json.JSONDecodeError) as err:
                raise TFLiteMetadataError(f"{path}: metadata entry {name!r} is not UTF-8 JSON ({err})") from err
            if not isinstance(value, dict):
                raise TFLiteMetadataError(f"{path}: metadata entry {name!r} holds {type(value).__name__}, not an object")
            return value
    raise TFLiteMetadataError(f"{path}: no metadata entry {name!r} (entries: {found or 'none'}); "
                              f"export with mocar.export.to_tflite to embed it")


def tflite_output_index(tensor_name: str) -> int | None:
    """The model-output index onnx2tf encodes in an output tensor name, or None.

    ``Identity`` -> 0, ``Identity_2`` -> 2 (float files); ``PartitionedCall:1`` -> 1 (quantised files).
    """
    match = re.fullmatch(r"Identity(?:_(\d+))?", tensor_name)
    if match:
        return int(match.group(1) or 0)
    match = re.search(r":(\d+)$", tensor_name)
    return int(match.group(1)) if match else None


@dataclass(frozen=True)
class TensorInfo:
    """One input or output tensor of a TFLite interpreter.

    Attributes:
        name: The tensor's name in the file (e.g. ``Identity_1`` or ``PartitionedCall:0``).
        index: Interpreter tensor index.
        shape: Static shape.
        dtype: numpy dtype name (``float32``, ``int8``, ...).
        scale: Quantisation scale (0.0 for float tensors).
        zero_point: Quantisation zero point.
    """

    name: str
    index: int
    shape: tuple[int, ...]
    dtype: str
    scale: float = 0.0
    zero_point: int = 0

    @property
    def quantized(self) -> bool:
        return np.issubdtype(np.dtype(self.dtype), np.integer) and self.scale > 0.0

    def to_dict(self) -> dict[str, Any]:
        data = {"name": self.name, "shape": list(self.shape), "dtype": self.dtype}
        if self.quantized:
            data.update(scale=self.scale, zero_point=self.zero_point)
        return data


def tensor_info(detail: dict[str, Any]) -> TensorInfo:
    """A :class:`TensorInfo` from one entry of ``get_tensor_details()`` (or input/output details)."""
    scale, zero_point = detail["quantization"]
    return TensorInfo(detail["name"], int(detail["index"]), tuple(int(d) for d in detail["shape"]),
                      np.dtype(detail["dtype"]).name, float(scale), int(zero_point))


def tensor_infos(interpreter: Any) -> tuple[TensorInfo, list[TensorInfo]]:
    """The single input and all outputs of an allocated interpreter.

    Raises:
        TFLiteMetadataError: If the model does not have exactly one input.
    """
    inputs = interpreter.get_input_details()
    if len(inputs) != 1:
        raise TFLiteMetadataError(f"expected one image input, the model has {len(inputs)}: "
                                  f"{[d['name'] for d in inputs]}")
    return tensor_info(inputs[0]), [tensor_info(d) for d in interpreter.get_output_details()]


def quantize(values: np.ndarray, info: TensorInfo) -> np.ndarray:
    """Float values in the tensor's integer type (round to nearest, saturate); floats pass through."""
    if not info.quantized:
        return values.astype(info.dtype, copy=False)
    limits = np.iinfo(np.dtype(info.dtype))
    scaled = np.round(values / info.scale) + info.zero_point
    return np.clip(scaled, limits.min, limits.max).astype(info.dtype)


def dequantize(values: np.ndarray, info: TensorInfo) -> np.ndarray:
    """Integer tensor values back to float32 with the tensor's own scale and zero point."""
    if not info.quantized:
        return values.astype(np.float32, copy=False)
    return ((values.astype(np.float32) - info.zero_point) * info.scale).astype(np.float32)


def invoke(interpreter: Any, image_nhwc: np.ndarray) -> dict[str, np.ndarray]:
    """Runs one float32 NHWC sample; returns float32 outputs keyed by the file's tensor names.

    Args:
        interpreter: An allocated ``ai_edge_litert`` interpreter with one image input.
        image_nhwc: Float32 array of the input's exact shape (e.g. ``[1, H, W, 3]``).

    Raises:
        InputError: If the sample's shape does not match the input.
    """
    input_info, output_infos = tensor_infos(interpreter)
    if tuple(image_nhwc.shape) != input_info.shape:
        raise InputError(f"input {input_info.name!r} expects shape {list(input_info.shape)} (NHWC), "
                         f"got {list(image_nhwc.shape)}")
    interpreter.set_tensor(input_info.index, quantize(image_nhwc, input_info))
    interpreter.invoke()
    return {info.name: dequantize(interpreter.get_tensor(info.index), info) for info in output_infos}


def load_interpreter(path: Path, threads: int = 2, inspect: bool = False) -> Any:
    """An allocated ``ai_edge_litert`` interpreter for ``path``.

    Args:
        path: The ``.tflite`` file.
        threads: CPU threads.
        inspect: For looking inside the graph rather than timing it: LiteRT's built-in kernels
            without the XNNPACK delegate (a delegate replaces the operators by DELEGATE nodes and
            hides their intermediates) and every intermediate tensor kept after ``invoke``.
    """
    try:
        from ai_edge_litert.interpreter import Interpreter, OpResolverType
    except ImportError as err:  # optional dependency
        raise MissingRuntimeError("running TFLite files needs ai_edge_litert: pip install 'mocar[tflite]'") from err
    extra = ({"experimental_op_resolver_type": OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES,
              "experimental_preserve_all_tensors": True} if inspect else {})
    interpreter = Interpreter(model_path=str(path), num_threads=threads, **extra)
    interpreter.allocate_tensors()
    return interpreter
