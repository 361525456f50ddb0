"""TFLite export: torch -> ONNX (dynamo, opset 18, batch 1) -> onnx2tf -> float and int8 .tflite files.

Files and flavours (``ExportedFile.flavour``; the flavour is also in the file name):

* ``model_fp32.tflite`` (``float32``) and ``model_fp16.tflite`` (``float16``: fp16 weights,
  float32 I/O and compute on XNNPACK);
* ``model_int8_dynamic_range.tflite``: int8 weights only, float activations and I/O;
* ``model_int8_integer_quant.tflite``: int8 weights and activations, float32 I/O;
* ``model_int8_full_integer_quant.tflite``: int8 everywhere, int8 I/O (scale/zero point in the
  embedded metadata and in the file's tensors);
* ``model_int8_integer_quant_float_norm.tflite`` (on request, and tried by ``--int8 auto``): like
  ``integer_quant``, but the head's pooling of the last block, concatenation and GroupNorm stay
  float (its fully-connected layers stay int8; :func:`mocar.quantize.tflite_int8.float_norm_nodes`). Made by TF's converter
  from onnx2tf's SavedModel with those nodes on the quantisation debugger's deny list. Why: the
  head's GroupNorm quantises the group variances of the pooled vector with one int8 scale, and its
  RSQRT then adds most of the error of the whole file (demo student: relative error 0.06 -> 0.69,
  ``benchmarks/results/tflite_int8_drift_demo_student.md``); the head is a few thousand values.

``job.int8.tflite`` chooses the int8 flavours (default: the first three). The
input is NHWC ``[1, H, W, 3]`` float32 (int8 for ``full_integer_quant``); outputs are mapped to
``logits``/``year``/``embedding`` by tensor name, checked against the ONNX shapes, and that mapping
is embedded with the job's metadata (:func:`tflite_file_metadata`, :mod:`mocar.runtime.tflite_file`).

Caveats, measured on this machine with onnx2tf 1.28 (docs/toolchain_findings.md):

* onnx2tf downloads a sample-data ``.npy`` from GitHub whenever the input is a fixed-batch image,
  even with explicit calibration data, unless the file is in the current working directory. We run
  it in a scratch CWD holding one made from the calibration images, and forbid sockets and name
  look-ups meanwhile (:func:`forbid_network`) so any other attempt fails loudly instead of hanging.
* onnx2tf rewrites its input ``.onnx`` in place (onnxsim) and may leave orphan ``.onnx.data``
  files: it only ever sees a scratch copy.
* onnx2tf can silently mis-guess a layout: a tiny BiT network at 64 and 256 px (a GroupNorm on a
  tensor with channels == height == width after a 1x1 conv) came out wrong, 32/96/128 px exact.
  Every conversion is therefore checked against onnxruntime (:func:`check_float32_against_onnx`)
  and fails with :class:`TFLiteExportError`. For BiT-R50 the same pattern predicts 256 and 512 px
  (untested); 224 px converts exactly.
* Output names and order differ between float files (``Identity``, ``Identity_1``, ...) and
  quantised ones (``PartitionedCall:1``, ``:0``, ``:2``); float files have no SignatureDef. Never
  map by position.
* On GroupNorm networks ``integer_quant``/``full_integer_quant`` are often *slower* than float32
  (GroupNorm's pieces fall back to reference int8 kernels); ``dynamic_range`` is the fast one.
  onnx2tf also writes int16-activation files: they fail at run time (no int16 SQUARED_DIFFERENCE
  kernel) and are discarded. ``full_integer_quant`` gives each output one int8 scale, so only a
  normalised year survives it.
* Run this in its own process (the export framework does): TensorFlow imported before torch's
  triton can segfault; here torch is imported first.
"""
from __future__ import annotations

import contextlib
import os
import shutil
import socket
import statistics
import tempfile
import time
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from mocar.export.errors import ExportError
from mocar.export.job import ExportedFile, ExportJob, load_calibration
from mocar.export.to_onnx import torch_to_onnx
from mocar.model import load_model
from mocar.quantize.tflite_int8 import (
    CALIBRATED_FLAVOURS,
    FLOAT_NORM_FLAVOUR,
    INT8_DESCRIPTIONS,
    INT8_FLAVOURS,
    float_norm_model,
)
from mocar.runtime.errors import MissingRuntimeError
from mocar.runtime.metadata import metadata_for_file, package_versions
from mocar.runtime.registry import FORMATS
from mocar.runtime.tflite_file import (
    TensorInfo,
    embed_tflite_metadata,
    invoke,
    load_interpreter,
    tensor_infos,
    tflite_output_index,
)

FLOAT_FLAVOURS = {"fp32": "float32", "fp16": "float16"}
ALL_FLAVOURS = (*FLOAT_FLAVOURS.values(), *INT8_FLAVOURS)
LAYOUT = "NHWC"
_ONNX2TF_SUFFIX = {"float32": "float32", "float16": "float16", "dynamic_range": "dynamic_range_quant",
                   "integer_quant": "integer_quant", "full_integer_quant": "full_integer_quant"}
# onnx2tf 1.28 looks for exactly this file in the CWD before downloading it (utils.common_functions).
SAMPLE_DATA_FILE = "calibration_image_sample_data_20x128x128x3_float32.npy"
SAMPLE_DATA_SHAPE = (20, 128, 128, 3)
_LOOPBACK_HOSTS = {None, "", "localhost", "127.0.0.1", "::1"}
LATENCY_RUNS = 10


class TFLiteExportError(ExportError):
    """onnx2tf failed, or a produced file does not match the model it came from."""


class NetworkAccessError(ExportError):
    """Something tried to reach the network during an export that must run offline.

    Deliberately not an ``OSError``: HTTP libraries turn those into retries or soft failures.
    """


def tflite_file_name(stem: str, flavour: str) -> str:
    """File name of one flavour, e.g. ``model_fp16.tflite`` or ``model_int8_dynamic_range.tflite``."""
    precision = precision_of(flavour)
    return f"{stem}_{precision}.tflite" if precision != "int8" else f"{stem}_int8_{flavour}.tflite"


def precision_of(flavour: str) -> str:
    """``fp32``/``fp16``/``int8`` for a flavour of :data:`ALL_FLAVOURS`."""
    for precision, float_flavour in FLOAT_FLAVOURS.items():
        if flavour == float_flavour:
            return precision
    if flavour in INT8_FLAVOURS:
        return "int8"
    raise ExportError(f"unknown TFLite flavour {flavour!r}; valid: {', '.join(ALL_FLAVOURS)}")


def requested_flavours(precisions: Sequence[str], int8_flavours: Sequence[str]) -> list[str]:
    """The flavours a job asks for, in :data:`ALL_FLAVOURS` order.

    Args:
        precisions: The job's precisions.
        int8_flavours: The int8 flavours (``job.int8.tflite``, already checked), used with ``int8``.

    Raises:
        ExportError: On an unknown precision.
    """
    unknown = [p for p in precisions if p not in (*FLOAT_FLAVOURS, "int8")]
    if unknown:
        raise ExportError(f"unknown precision(s) {unknown} for TFLite; valid: fp32, fp16, int8")
    wanted = [FLOAT_FLAVOURS[p] for p in FLOAT_FLAVOURS if p in precisions]
    if "int8" in precisions:
        wanted += [f for f in INT8_FLAVOURS if f in int8_flavours]
    return wanted


@contextlib.contextmanager
def forbid_network() -> Iterator[list[str]]:
    """Makes IP connections and non-loopback name look-ups raise :class:`NetworkAccessError`.

    Yields the list of attempted addresses (filled in as attempts happen), so a caller can detect
    an attempt that the guarded code caught and swallowed. Unix sockets stay allowed.
    """
    attempts: list[str] = []
    saved = (socket.socket.connect, socket.socket.connect_ex, socket.create_connection, socket.getaddrinfo)
    original_connect, original_connect_ex, _, original_getaddrinfo = saved

    def refuse(target: Any) -> None:
        attempts.append(repr(target))
        raise NetworkAccessError(f"network access attempted during an offline export: {target!r}")

    def connect(sock: socket.socket, address: Any) -> None:
        if sock.family in (socket.AF_INET, socket.AF_INET6):
            refuse(address)
        return original_connect(sock, address)

    def connect_ex(sock: socket.socket, address: Any) -> int:
        if sock.family in (socket.AF_INET, socket.AF_INET6):
            refuse(address)
        return original_connect_ex(sock, address)

    def getaddrinfo(host: Any, *args: Any, **kwargs: Any) -> Any:
        if host not in _LOOPBACK_HOSTS:
            refuse(host)
        return original_getaddrinfo(host, *args, **kwargs)

    socket.socket.connect, socket.socket.connect_ex = connect, connect_ex
    socket.create_connection = lambda address, *args, **kwargs: refuse(address)
    socket.getaddrinfo = getaddrinfo
    try:
        yield attempts
    finally:
        socket.socket.connect, socket.socket.connect_ex, socket.create_connection, socket.getaddrinfo = saved


def onnx2tf_sample_data(calib_nchw: np.ndarray | None, seed: int = 0) -> np.ndarray:
    """The 20x128x128x3 float32 [0, 1] sample array onnx2tf insists on, made from our own images.

    onnx2tf only loads it (our calibration data drives its checks and calibration), so a nearest-
    neighbour resize and a min-max rescale are enough. Without calibration images a seeded
    blocky random image stands in.
    """
    count, side = SAMPLE_DATA_SHAPE[0], SAMPLE_DATA_SHAPE[1]
    if calib_nchw is None or len(calib_nchw) == 0:
        calib_nchw = np.random.default_rng(seed).random((count, 3, 16, 16), dtype=np.float32)
    images = calib_nchw[np.arange(count) % len(calib_nchw)]
    rows = np.arange(side) * images.shape[2] // side
    cols = np.arange(side) * images.shape[3] // side
    images = images[:, :, rows][:, :, :, cols].transpose(0, 2, 3, 1)
    low, high = float(images.min()), float(images.max())
    scaled = (images - low) / (high - low) if high > low else np.zeros_like(images)
    return scaled.astype(np.float32)


def map_tflite_outputs(tensors: Sequence[tuple[str, Sequence[int]]],
                       expected: Sequence[tuple[str, Sequence[int]]]) -> dict[str, str]:
    """Maps TFLite output tensor names to the model's output names, never by position.

    The index in the tensor name (:func:`tflite_output_index`) is used when the shape agrees with
    that ONNX output; otherwise the one ONNX output with the same shape.

    Args:
        tensors: ``(tensor name, shape)`` of the TFLite outputs, in file order.
        expected: ``(output name, shape)`` of the ONNX model, in ONNX order.

    Raises:
        TFLiteExportError: If an output cannot be identified or the result is not one-to-one.
    """
    mapping: dict[str, str] = {}
    for name, shape in tensors:
        index = tflite_output_index(name)
        if index is not None and index < len(expected) and tuple(expected[index][1]) == tuple(shape):
            mapping[name] = expected[index][0]
            continue
        same_shape = [out for out, out_shape in expected if tuple(out_shape) == tuple(shape)]
        if len(same_shape) != 1:
            raise TFLiteExportError(f"cannot identify TFLite output {name!r} shape {list(shape)}: name index "
                                    f"{index}, outputs of that shape {same_shape}; expected {list(expected)}")
        mapping[name] = same_shape[0]
    if sorted(mapping.values()) != sorted(out for out, _ in expected):
        raise TFLiteExportError(f"TFLite outputs {dict(mapping)} do not cover the model outputs {list(expected)} once each")
    return mapping


def onnx_io(onnx_path: Path) -> tuple[str, list[int], list[tuple[str, list[int]]]]:
    """Input name, input shape and ``(name, shape)`` of each output of a static-shape ONNX file."""
    import onnx

    graph = onnx.load(str(onnx_path), load_external_data=False).graph

    def dims(value: Any) -> list[int]:
        return [d.dim_value for d in value.type.tensor_type.shape.dim]

    if len(graph.input) != 1:
        raise TFLiteExportError(f"{onnx_path}: expected one image input, found {[i.name for i in graph.input]}")
    return graph.input[0].name, dims(graph.input[0]), [(o.name, dims(o)) for o in graph.output]


def onnx_to_tflite(onnx_path: Path, targets: Mapping[str, Path], calib_nchw: np.ndarray | None = None,
                   work_dir: Path | None = None) -> dict[str, Path]:
    """Converts a static batch-1 NCHW image ONNX file into the requested TFLite flavours, offline.

    ``onnx_path`` is never touched: onnx2tf gets a copy in a scratch folder (also its CWD, holding
    the sample data it would otherwise download), removed afterwards.

    Args:
        onnx_path: Single-file ONNX model with one float32 NCHW input of batch 1.
        targets: Where to write each flavour, e.g. ``{"float32": Path("m_fp32.tflite")}``.
        calib_nchw: Calibration images in the model's input space (float32 NCHW, normalised);
            required for ``integer_quant``/``full_integer_quant``.
        work_dir: Parent of the scratch folder (default: the system temp folder).

    Returns:
        ``targets`` (all written).

    Raises:
        ExportError: On unknown flavours, missing or mis-shaped calibration images.
        TFLiteExportError: If onnx2tf fails, does not write a requested flavour, or its float32
            graph disagrees with the ONNX model (:func:`check_float32_against_onnx`).
        NetworkAccessError: If anything attempted a network connection.
    """
    for flavour in targets:
        precision_of(flavour)
    scratch = Path(tempfile.mkdtemp(prefix="onnx2tf_", dir=work_dir))
    try:
        out_folder = _convert_in_scratch(onnx_path, scratch, set(targets), calib_nchw)
        model_copy = scratch / "model.onnx"
        float_file = out_folder / f"{model_copy.stem}_float32.tflite"
        if FLOAT_NORM_FLAVOUR in targets:
            (out_folder / f"{model_copy.stem}_{FLOAT_NORM_FLAVOUR}.tflite").write_bytes(
                float_norm_model(out_folder, float_file, calib_nchw.transpose(0, 2, 3, 1)))
        for flavour, target in targets.items():
            produced = out_folder / f"{model_copy.stem}_{_ONNX2TF_SUFFIX.get(flavour, flavour)}.tflite"
            if not produced.is_file():
                raise TFLiteExportError(f"onnx2tf did not write the {flavour} file {produced.name}; it wrote "
                                        f"{sorted(p.name for p in out_folder.glob('*.tflite'))}")
            Path(target).parent.mkdir(parents=True, exist_ok=True)
            shutil.move(produced, target)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return dict(targets)


def _convert_in_scratch(onnx_path: Path, scratch: Path, flavours: set[str], calib_nchw: np.ndarray | None) -> Path:
    """Runs onnx2tf on a copy of ``onnx_path`` inside ``scratch`` and checks its float32 file; returns its output folder."""
    input_name, input_shape, _ = onnx_io(onnx_path)
    _check_calibration(calib_nchw, input_shape, needed=any(f in CALIBRATED_FLAVOURS for f in flavours))
    model_copy = scratch / "model.onnx"
    shutil.copyfile(onnx_path, model_copy)
    np.save(scratch / SAMPLE_DATA_FILE, onnx2tf_sample_data(calib_nchw))
    calibration = None
    if calib_nchw is not None:
        np.save(scratch / "calibration_nhwc.npy", np.ascontiguousarray(calib_nchw.transpose(0, 2, 3, 1)))
        # Mean 0 / std 1: the images are already in the model's (normalised) input space.
        calibration = [[input_name, str(scratch / "calibration_nhwc.npy"), 0.0, 1.0]]
    out_folder = scratch / "converted"
    _run_onnx2tf(model_copy, out_folder, flavours, calibration)
    # onnx2tf always writes float32; every other flavour comes from the same TF graph.
    check_float32_against_onnx(out_folder / f"{model_copy.stem}_float32.tflite", onnx_path, calib_nchw)
    return out_folder


def onnx_to_saved_model(onnx_path: Path, out_dir: Path, calib_nchw: np.ndarray, work_dir: Path | None = None) -> Path:
    """onnx2tf's TensorFlow SavedModel of an ONNX file, built for int8, checked like :func:`onnx_to_tflite`.

    The input of TF's own converter when mocar quantises with a deny list
    (:class:`mocar.quantize.tflite_search.TFLiteQuantizer`). onnx2tf builds a different graph when
    it is asked for int8 files: it pads before a max-pool with 0 instead of the float minimum, whose
    -3.4e38 would otherwise become the int8 range of that tensor (measured on the demo student: a
    PADV2 with scale 1e36 that XNNPACK refuses to prepare). So onnx2tf is asked for its
    ``integer_quant`` file too, calibrated on only 4 of the images since that file is thrown away
    (~15 s for the demo models). ``out_dir`` (replaced if it exists) holds ``saved_model.pb``,
    ``variables/`` and onnx2tf's ``model_float32.tflite``.

    Raises:
        ExportError: If ``calib_nchw`` does not fit the model input.
        TFLiteExportError, NetworkAccessError: As :func:`onnx_to_tflite`.
    """
    scratch = Path(tempfile.mkdtemp(prefix="onnx2tf_", dir=work_dir))
    try:
        out_folder = _convert_in_scratch(onnx_path, scratch, {"float32", "integer_quant"}, calib_nchw[:4])
        for produced in out_folder.glob("*.tflite"):
            if produced.name != "model_float32.tflite":
                produced.unlink()
        shutil.rmtree(out_dir, ignore_errors=True)
        Path(out_dir).parent.mkdir(parents=True, exist_ok=True)
        shutil.move(out_folder, out_dir)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return Path(out_dir)


def check_float32_against_onnx(tflite_path: Path, onnx_path: Path, images_nchw: np.ndarray | None,
                               count: int = 2, rtol: float = 1e-3, atol: float = 1e-4) -> None:
    """Compares onnx2tf's float32 file with onnxruntime on the source ONNX file, output by output.

    onnx2tf guesses layouts (NCHW -> NHWC) and can guess wrong without any error: measured here, a
    tiny BiT network at 64 px came out with logits off by ~0.5 (of ~0.5) because the GroupNorm
    reshape of a ``[1, 16, 16, 16]`` tensor (channels == height == width) was transposed the wrong
    way, while 32 and 128 px converted exactly. Catching that at conversion time beats a
    mysterious accuracy loss on the phone.

    Args:
        tflite_path: The float32 .tflite file.
        onnx_path: The ONNX model it was converted from (batch 1, NCHW).
        images_nchw: Images in the model's input space (the first ``count`` are used); seeded
            random normal inputs when None.
        rtol: Tolerance relative to each output's largest magnitude.
        atol: Absolute tolerance.

    Raises:
        TFLiteExportError: If any output differs by more than ``atol + rtol * max|onnx output|``.
    """
    import onnxruntime

    input_name, input_shape, expected = onnx_io(onnx_path)
    if images_nchw is None:
        images_nchw = np.random.default_rng(0).normal(0, 1, (count, *input_shape[1:])).astype(np.float32)
    session = onnxruntime.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    interpreter = load_interpreter(tflite_path, threads=1)
    _, output_infos = tensor_infos(interpreter)
    mapping = map_tflite_outputs([(o.name, o.shape) for o in output_infos], expected)
    worst: dict[str, tuple[float, float]] = {}  # output -> (max abs diff, tolerance), over all images
    for image in images_nchw[:count]:
        onnx_outputs = dict(zip([name for name, _ in expected], session.run(None, {input_name: image[None]})))
        tflite_outputs = invoke(interpreter, np.ascontiguousarray(image.transpose(1, 2, 0)[None], dtype=np.float32))
        for tensor, name in mapping.items():
            reference = onnx_outputs[name]
            difference = float(np.abs(tflite_outputs[tensor].reshape(reference.shape) - reference).max())
            tolerance = atol + rtol * float(np.abs(reference).max())
            if difference > tolerance and difference > worst.get(name, (0.0, 0.0))[0]:
                worst[name] = (difference, tolerance)
    failures = [f"{name}: max abs diff {diff:.3g} > {tol:.3g}" for name, (diff, tol) in worst.items()]
    if failures:
        raise TFLiteExportError(
            f"onnx2tf's float32 graph disagrees with {onnx_path.name} ({'; '.join(failures)}). onnx2tf mis-guessed a "
            f"layout (seen here when a GroupNorm input has channels == height == width); try another input size")


def _check_calibration(calib_nchw: np.ndarray | None, input_shape: Sequence[int], needed: bool) -> None:
    if calib_nchw is None:
        if needed:
            raise ExportError(f"int8 flavours {', '.join(CALIBRATED_FLAVOURS)} need calibration images (job.calib_file)")
        return
    expected = (3, *input_shape[2:])
    if calib_nchw.ndim != 4 or tuple(calib_nchw.shape[1:]) != expected or len(calib_nchw) == 0:
        raise ExportError(f"calibration images must be float32 NCHW [N, {', '.join(map(str, expected))}] "
                         f"(the export's input size), got shape {list(calib_nchw.shape)}")


def _run_onnx2tf(model_copy: Path, out_folder: Path, flavours: set[str], calibration: list | None) -> None:
    """Runs ``onnx2tf.convert`` in the copy's folder as CWD, without network; its stdout goes to a log."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    try:
        import onnx2tf
    except ImportError as err:  # optional dependency
        raise MissingRuntimeError("TFLite export needs onnx2tf, tensorflow, tf_keras, onnx_graphsurgeon, sng4onnx, "
                          "psutil and ai_edge_litert (install mocar[tflite])") from err
    log_path = model_copy.parent / "onnx2tf.log"
    failure: BaseException | None = None
    previous_cwd = os.getcwd()
    os.chdir(model_copy.parent)
    try:
        with forbid_network() as attempts, open(log_path, "w") as log, contextlib.redirect_stdout(log):
            try:
                onnx2tf.convert(
                    input_onnx_file_path=str(model_copy), output_folder_path=str(out_folder),
                    output_dynamic_range_quantized_tflite="dynamic_range" in flavours,
                    # CALIBRATED_FLAVOURS, not only onnx2tf's: the flag also makes the graph int8-ready
                    # (max-pool padding, onnx_to_saved_model), which integer_quant_float_norm needs too.
                    output_integer_quantized_tflite=any(f in CALIBRATED_FLAVOURS for f in flavours),
                    custom_input_op_name_np_data_path=calibration, quant_type="per-channel",
                    non_verbose=True, verbosity="error")
            except (Exception, SystemExit) as err:  # onnx2tf raises anything and calls sys.exit(1)
                failure = err
    finally:
        os.chdir(previous_cwd)
    if attempts:
        raise NetworkAccessError(f"onnx2tf tried to reach the network ({', '.join(attempts)}); "
                                 f"log: {_tail(log_path)}") from failure
    if failure is not None:
        raise TFLiteExportError(f"onnx2tf failed on a copy of the ONNX model: {failure!r}\n"
                                f"onnx2tf log (tail):\n{_tail(log_path)}") from failure


def _tail(path: Path, lines: int = 30) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def export_tflite(job: ExportJob) -> list[ExportedFile]:
    """Exports ``job.model_file`` to the requested TFLite precisions/flavours (see module docstring).

    int8 flavours come from ``job.int8.tflite``. Options (``job.options``, shared by all formats hence
    the prefix): ``tflite_stem`` (file name stem, default
    ``model`` like the ONNX files), ``tflite_latency_threads`` (default 2). Each file's ``seconds``
    is the shared tracing + onnx2tf time (one onnx2tf run writes every flavour).

    Returns:
        One :class:`ExportedFile` per written file; each file embeds :func:`tflite_file_metadata`
        (read it back with :func:`read_tflite_metadata`).
    """
    flavours = requested_flavours(job.precisions, job.int8.tflite)
    if not flavours:
        return []
    model = load_model(job.model_file)
    calib = load_calibration(job).astype(np.float32, copy=False) if job.calib_file is not None else None
    stem = job.options.get("tflite_stem", "model")
    targets = {f: Path(job.out_dir) / tflite_file_name(stem, f) for f in flavours}
    if job.work_dir is not None:
        Path(job.work_dir).mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="tflite_", dir=job.work_dir) as scratch:
        onnx_path = torch_to_onnx(model, job.input_size, Path(scratch) / "model.onnx")
        _, _, expected = onnx_io(onnx_path)
        onnx_to_tflite(onnx_path, targets, calib, work_dir=Path(scratch))
    seconds = time.perf_counter() - start
    probe = calib[:1] if calib is not None else np.zeros((1, 3, job.input_size, job.input_size), np.float32)
    threads = int(job.options.get("tflite_latency_threads", 2))
    return [_finish_file(targets[f], f, job.metadata, expected, probe, seconds, threads) for f in flavours]


def _finish_file(path: Path, flavour: str, job_metadata: Mapping[str, Any], expected: list[tuple[str, list[int]]],
                 probe_nchw: np.ndarray, seconds: float, threads: int) -> ExportedFile:
    """Maps the outputs, embeds the metadata, checks the file still runs identically, times it."""
    interpreter = load_interpreter(path, threads)
    input_info, output_infos = tensor_infos(interpreter)
    mapping = map_tflite_outputs([(o.name, o.shape) for o in output_infos], expected)
    probe = np.ascontiguousarray(probe_nchw.transpose(0, 2, 3, 1), dtype=np.float32)
    before = invoke(interpreter, probe)
    embed_tflite_metadata(path, tflite_file_metadata(job_metadata, flavour, input_info, output_infos, mapping))
    interpreter = load_interpreter(path, threads)
    after = invoke(interpreter, probe)
    changed = [name for name in before if not np.array_equal(before[name], after[name])]
    if changed:
        raise TFLiteExportError(f"{path}: outputs {changed} changed after embedding the metadata")
    latency_ms = _median_latency_ms(interpreter, probe)
    notes = "; ".join(filter(None, [
        INT8_DESCRIPTIONS.get(flavour, ""), "seconds: tracing + one onnx2tf run for all flavours",
        f"median latency {latency_ms:.3f} ms (ai_edge_litert, {threads} threads, batch 1, {LATENCY_RUNS} runs)",
        f"int8 input: scale {input_info.scale:.6g}, zero point {input_info.zero_point}" if input_info.quantized else ""]))
    return ExportedFile(path=path, format="tflite", precision=precision_of(flavour), flavour=flavour,
                        input_name=input_info.name, input_shape=list(input_info.shape), layout=LAYOUT,
                        output_names=[out for out, _ in expected], seconds=round(seconds, 3), notes=notes)


def tflite_file_metadata(job_metadata: Mapping[str, Any], flavour: str, input_info: TensorInfo,
                         output_infos: Sequence[TensorInfo], output_map: Mapping[str, str]) -> dict[str, Any]:
    """The metadata embedded in one .tflite file: the job's, re-labelled for this file.

    Adds ``quantization`` (flavour, description; for int8 I/O the input's and each output's scale and
    zero point, keyed by output name), ``input`` name/shape/``layout: NHWC``/dtype as the file has
    them, ``output_map`` (tensor name -> output name) and ``tflite_tensors`` (raw tensor details).
    """
    quantization: dict[str, Any] = {}
    if flavour in INT8_DESCRIPTIONS:
        quantization["description"] = INT8_DESCRIPTIONS[flavour]
    if input_info.quantized:
        quantization["input"] = {"dtype": input_info.dtype, "scale": input_info.scale, "zero_point": input_info.zero_point}
    quantized_outputs = {output_map[o.name]: {"dtype": o.dtype, "scale": o.scale, "zero_point": o.zero_point}
                         for o in output_infos if o.quantized}
    if quantized_outputs:
        quantization["outputs"] = quantized_outputs
    metadata = metadata_for_file(dict(job_metadata), precision_of(flavour), flavour, **quantization)
    metadata["format"] = "tflite"
    metadata["input"] = {**(metadata.get("input") or {}), "name": input_info.name, "shape": list(input_info.shape),
                         "layout": LAYOUT, "dtype": input_info.dtype}
    metadata["output_map"] = dict(output_map)
    metadata["tflite_tensors"] = {"input": input_info.to_dict(), "outputs": [o.to_dict() for o in output_infos]}
    metadata.setdefault("exporters", package_versions(FORMATS["tflite"].packages))
    return metadata


def _median_latency_ms(interpreter: Any, probe_nhwc: np.ndarray, runs: int = LATENCY_RUNS) -> float:
    invoke(interpreter, probe_nhwc)  # warm-up (XNNPACK packs weights on the first run)
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        invoke(interpreter, probe_nhwc)
        times.append((time.perf_counter() - start) * 1e3)
    return statistics.median(times)



__all__ = [
    "ALL_FLAVOURS", "FLOAT_FLAVOURS", "LAYOUT", "NetworkAccessError",
    "TFLiteExportError", "export_tflite", "forbid_network", "map_tflite_outputs", "onnx2tf_sample_data",
    "onnx_io", "onnx_to_saved_model", "onnx_to_tflite", "precision_of", "requested_flavours",
    "tflite_file_metadata", "tflite_file_name",
]
