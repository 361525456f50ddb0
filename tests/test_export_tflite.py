"""TFLite export (onnx2tf) and its runner: flavours, parity with PyTorch, metadata, offline conversion.

The conversion runs once per test module in a child process (TensorFlow and torch's triton can crash
when imported in the wrong order, and onnx2tf takes ~30-60 s): the child patches socket connections
to raise and record, exports every flavour of a tiny 32 px MOCaR network, then converts a
caller-owned ONNX file to check that onnx2tf never sees (or damages) it. This process only uses
torch and ai_edge_litert (no TensorFlow).
"""
from __future__ import annotations

import importlib.util
import json
import socket
import subprocess
import sys
import textwrap
import urllib.request
from pathlib import Path

import numpy as np
import pytest

from mocar.errors import InputError
from mocar.export.errors import ExportError
from mocar.export.to_tflite import (
    SAMPLE_DATA_SHAPE,
    NetworkAccessError,
    TFLiteExportError,
    forbid_network,
    map_tflite_outputs,
    onnx2tf_sample_data,
    requested_flavours,
    tflite_file_name,
)
from mocar.quantize.request import Int8Request
from mocar.quantize.tflite_int8 import DEFAULT_INT8_FLAVOURS, INT8_FLAVOURS
from mocar.runtime.tflite_file import tflite_output_index

HAVE_TFLITE = all(importlib.util.find_spec(m) for m in ("onnx2tf", "ai_edge_litert", "onnx"))
needs_tflite = pytest.mark.skipif(not HAVE_TFLITE, reason="needs onnx2tf, ai_edge_litert and onnx (mocar[tflite])")
IMG = 32
ROOT = Path(__file__).resolve().parents[1]

_CHILD = textwrap.dedent("""
    import hashlib, json, os, socket, sys
    from pathlib import Path
    args = json.loads(sys.argv[1])
    attempts = []
    def refuse(*a, **k):
        attempts.append(repr(a[1:] or a))
        raise OSError("test: network is forbidden")
    socket.socket.connect = refuse
    socket.socket.connect_ex = refuse
    socket.create_connection = refuse
    import torch  # before TensorFlow
    from mocar.export.job import ExportJob
    from mocar.export.to_onnx import torch_to_onnx
    from mocar.export.to_tflite import SAMPLE_DATA_FILE, export_tflite, onnx_to_tflite
    from mocar.quantize.request import Int8Request
    from mocar.quantize.tflite_int8 import INT8_FLAVOURS
    from mocar.model import load_model
    import onnx2tf
    seen = []
    original_convert = onnx2tf.convert
    def recording_convert(**kwargs):
        seen.append({"onnx": kwargs["input_onnx_file_path"], "cwd": os.getcwd(),
                     "sample_data_in_cwd": os.path.isfile(SAMPLE_DATA_FILE)})
        return original_convert(**kwargs)
    onnx2tf.convert = recording_convert
    job = ExportJob(model_file=Path(args["model"]), out_dir=Path(args["out"]), input_size=args["img"],
                    precisions=("fp32", "fp16", "int8"), metadata=args["metadata"],
                    calib_file=Path(args["calib"]), work_dir=Path(args["work"]),
                    int8=Int8Request(tflite=INT8_FLAVOURS))
    files = [f.to_dict() for f in export_tflite(job)]
    caller = Path(args["caller_onnx"])
    torch_to_onnx(load_model(job.model_file), args["img"], caller)
    digest = lambda: hashlib.sha256(caller.read_bytes()).hexdigest()
    before = digest()
    onnx_to_tflite(caller, {"float32": Path(args["out"]) / "caller_fp32.tflite"}, work_dir=Path(args["work"]))
    result = {"files": files, "attempts": attempts, "seen": seen, "caller_hash": [before, digest()],
              "caller_dir": sorted(p.name for p in caller.parent.iterdir()), "work_left": os.listdir(args["work"])}
    Path(args["result"]).write_text(json.dumps(result))
""")


def _image_like(count: int, seed: int) -> np.ndarray:
    """Smooth colour blobs plus noise, normalised like BiT inputs ((x - 0.5) / 0.5), float32 NCHW."""
    rng = np.random.default_rng(seed)
    coarse = rng.random((count, 3, 4, 4), dtype=np.float32)
    smooth = coarse.repeat(IMG // 4, axis=2).repeat(IMG // 4, axis=3)
    pixels = np.clip(smooth + rng.normal(0, 0.08, smooth.shape), 0, 1)
    return ((pixels - 0.5) / 0.5).astype(np.float32)


def _job_metadata(config) -> dict:
    from mocar.runtime.run_metadata import metadata_from_model_config

    metadata = metadata_from_model_config(config)
    metadata["labels"] = {"target": "collection", "names": ["a", "b", "c"]}
    return metadata


def _psnr(test: np.ndarray, ref: np.ndarray) -> float:
    mse = float(np.mean((test.reshape(ref.shape) - ref) ** 2))
    return 10 * np.log10(float(ref.max() - ref.min()) ** 2 / max(mse, 1e-30))


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    """Runs the export in a child process; returns (child result, model file, test images)."""
    import torch

    from mocar.model import create_model_from_preset, save_model

    root = tmp_path_factory.mktemp("tflite")
    torch.manual_seed(0)
    model = create_model_from_preset("mocar_tiny", num_classes=3, input_size=IMG, year_mean=-500.0, year_scale=800.0)
    with torch.no_grad():  # move the zero-initialised heads (and everything else) off their init
        for parameter in model.parameters():
            parameter.add_(torch.randn_like(parameter) * 0.05)
    model_file = save_model(model, root / "tiny.pt")
    np.save(root / "calib.npy", _image_like(32, seed=1))
    (root / "work").mkdir()
    args = {"model": str(model_file), "out": str(root / "out"), "img": IMG, "calib": str(root / "calib.npy"),
            "work": str(root / "work"), "caller_onnx": str(root / "caller" / "mine.onnx"),
            "result": str(root / "result.json"), "metadata": _job_metadata(model.config)}
    proc = subprocess.run([sys.executable, "-c", _CHILD, json.dumps(args)], cwd=ROOT, capture_output=True,
                          text=True, timeout=600)
    assert proc.returncode == 0, f"export child failed ({proc.returncode}):\n{proc.stderr[-4000:]}"
    return json.loads(Path(args["result"]).read_text()), model_file, _image_like(64, seed=2)


@pytest.fixture(scope="module")
def reference(exported):
    import torch

    from mocar.model import load_model

    _, model_file, images = exported
    with torch.no_grad():
        out = load_model(model_file)(torch.from_numpy(images))
    return {"logits": out.logits.numpy(), "year": out.year.numpy(), "embedding": out.embedding.numpy()}


def _files(exported) -> dict[str, dict]:
    return {f["flavour"]: f for f in exported[0]["files"]}


def _run(exported, flavour):
    from mocar.runtime.runners.tflite_runner import TFLiteRunner

    return TFLiteRunner(Path(_files(exported)[flavour]["path"]), threads=2).run(exported[2])


# --- conversion (slow: one onnx2tf session in a child process) --------------------------------


@needs_tflite
@pytest.mark.slow
def test_every_precision_and_flavour_is_written(exported):
    files = _files(exported)
    assert sorted(files) == sorted(["float32", "float16", *INT8_FLAVOURS])
    for flavour, record in files.items():
        path = Path(record["path"])
        assert path.is_file() and path.stat().st_size > 10_000
        assert (record["precision"] if record["precision"] != "int8" else flavour) in path.name
        assert path.name == tflite_file_name("model", flavour)
        assert record["layout"] == "NHWC" and record["input_shape"] == [1, IMG, IMG, 3]
        assert record["output_names"] == ["logits", "year", "embedding"]
    sizes = {f: Path(r["path"]).stat().st_size for f, r in files.items()}
    assert sizes["float16"] < 0.6 * sizes["float32"] and sizes["dynamic_range"] < 0.4 * sizes["float32"]


@needs_tflite
@pytest.mark.slow
def test_no_network_attempted_and_sample_data_was_local(exported):
    result = exported[0]
    assert result["attempts"] == []
    assert len(result["seen"]) == 2 and all(call["sample_data_in_cwd"] for call in result["seen"])


@needs_tflite
@pytest.mark.slow
def test_onnx2tf_never_sees_the_callers_onnx(exported):
    result = exported[0]
    caller_path = str(Path(result["files"][0]["path"]).parents[1] / "caller" / "mine.onnx")
    assert all(call["onnx"] != caller_path and call["cwd"] != str(Path(caller_path).parent)
               for call in result["seen"])
    assert result["caller_hash"][0] == result["caller_hash"][1]
    assert result["caller_dir"] == ["mine.onnx"]  # no orphan .onnx.data next to it
    assert result["work_left"] == []  # scratch folders removed


@needs_tflite
@pytest.mark.slow
def test_float32_matches_pytorch(exported, reference):
    outputs = _run(exported, "float32")
    for name, ref in reference.items():
        print(f"float32: {name} max abs diff {np.abs(outputs[name] - ref).max():.2e} (max |ref| {np.abs(ref).max():.2f})")
        np.testing.assert_allclose(outputs[name], ref, rtol=1e-4, atol=1e-4 * float(np.abs(ref).max()), err_msg=name)


@needs_tflite
@pytest.mark.slow
def test_float16_is_close_to_pytorch(exported, reference):
    outputs = _run(exported, "float16")
    for name, ref in reference.items():
        print(f"float16: {name} PSNR {_psnr(outputs[name], ref):.1f} dB")
        assert _psnr(outputs[name], ref) > 45.0, name
    assert (outputs["logits"].argmax(1) == reference["logits"].argmax(1)).all()


@needs_tflite
@pytest.mark.slow
@pytest.mark.parametrize("flavour", INT8_FLAVOURS)
def test_int8_flavours_agree_with_pytorch(exported, reference, flavour):
    outputs = _run(exported, flavour)
    agreement = float((outputs["logits"].argmax(1) == reference["logits"].argmax(1)).mean())
    print(f"{flavour}: agreement {agreement:.3f}, PSNR " + ", ".join(
        f"{k} {_psnr(outputs[k], v):.1f} dB" for k, v in reference.items()))
    assert agreement >= 0.75, agreement  # random-init logits have small top-1 margins
    assert _psnr(outputs["logits"], reference["logits"]) > 22.0
    assert _psnr(outputs["embedding"], reference["embedding"]) > 22.0
    # The normalised year survives every flavour: it varies and follows PyTorch's.
    year, ref_year = outputs["year"], reference["year"]
    assert year.shape == ref_year.shape and year.std() > 0.5 * ref_year.std()
    assert np.corrcoef(year, ref_year)[0, 1] > 0.9


@needs_tflite
@pytest.mark.slow
def test_float_norm_flavour_keeps_only_the_heads_groupnorm_in_float(exported):
    from mocar.runtime.tflite_file import load_interpreter

    path = _files(exported)["integer_quant_float_norm"]["path"]
    interpreter = load_interpreter(Path(path), threads=1, inspect=True)
    ops = interpreter._get_ops_details()
    operand = lambda name: {t for op in ops if op["op_name"] == name for t in op["operand_types"]}  # noqa: E731
    assert operand("CONV_2D") == {np.int8, np.int32}  # int8 activations and weights, int32 bias
    rsqrts = [set(op["operand_types"]) for op in ops if op["op_name"] == "RSQRT"]  # GroupNorms, in order
    assert rsqrts[-1] == {np.float32} and {np.int8} in rsqrts[:-1]  # the head's in float, the backbone's int8
    assert operand("FULLY_CONNECTED") == {np.int8, np.int32}  # the hidden layer and outputs stay int8
    assert interpreter.get_input_details()[0]["dtype"] == np.float32


@needs_tflite
@pytest.mark.slow
def test_metadata_round_trips_with_mapping_and_quantisation(exported):
    from mocar.runtime.metadata import read_metadata
    from mocar.export.validate import check_metadata
    from mocar.model import load_model

    expected = _job_metadata(load_model(exported[1]).config)
    for flavour, record in _files(exported).items():
        meta = read_metadata(Path(record["path"]))  # the framework's reader, dispatching on .tflite
        assert check_metadata(meta, expected) == []
        assert meta["labels"]["names"] == ["a", "b", "c"] and meta["year"] == expected["year"]
        assert (meta["format"], meta["precision"], meta["quantization"]["flavour"]) == (
            "tflite", record["precision"], flavour)
        assert meta["input"]["layout"] == "NHWC" and meta["input"]["shape"] == [1, IMG, IMG, 3]
        assert sorted(meta["output_map"].values()) == ["embedding", "logits", "year"]
        if flavour == "full_integer_quant":
            assert meta["input"]["dtype"] == "int8" and meta["quantization"]["input"]["scale"] > 0
            assert sorted(meta["quantization"]["outputs"]) == ["embedding", "logits", "year"]
            assert all(q["scale"] > 0 and -128 <= q["zero_point"] <= 127 for q in meta["quantization"]["outputs"].values())
        else:
            assert meta["input"]["dtype"] == "float32" and "input" not in meta["quantization"]


@needs_tflite
@pytest.mark.slow
def test_runner_maps_outputs_by_name_not_position(exported, reference):
    from mocar.runtime.runners.tflite_runner import TFLiteRunner

    float_runner = TFLiteRunner(Path(_files(exported)["float32"]["path"]))
    quant_runner = TFLiteRunner(Path(_files(exported)["full_integer_quant"]["path"]))
    assert set(float_runner.output_map) == {"Identity", "Identity_1", "Identity_2"}
    assert all(":" in name for name in quant_runner.output_map)
    file_order = [o["name"] for o in quant_runner.metadata["tflite_tensors"]["outputs"]]
    assert [quant_runner.output_map[n] for n in file_order] != ["logits", "year", "embedding"]  # order differs
    for runner in (float_runner, quant_runner):
        out = runner.run(exported[2][:4])
        assert list(out) == ["logits", "year", "embedding"]
        assert {k: v.shape for k, v in out.items()} == {k: v[:4].shape for k, v in reference.items()}
    with pytest.raises(InputError, match="expects NCHW"):
        float_runner.run(exported[2][:, :, :16])


@needs_tflite
@pytest.mark.slow
def test_embedding_metadata_twice_replaces_it(exported, tmp_path):
    import shutil

    from mocar.runtime.tflite_file import embed_tflite_metadata, invoke, load_interpreter, read_tflite_metadata

    path = tmp_path / "copy.tflite"
    shutil.copy(_files(exported)["dynamic_range"]["path"], path)
    probe = np.zeros((1, IMG, IMG, 3), np.float32)
    before = invoke(load_interpreter(path), probe)
    embed_tflite_metadata(path, {"version": 2, "ü": "ok"})
    assert read_tflite_metadata(path) == {"version": 2, "ü": "ok"}
    after = invoke(load_interpreter(path), probe)
    assert all(np.array_equal(before[k], after[k]) for k in before)


@needs_tflite
@pytest.mark.slow
def test_float32_check_against_onnx_catches_a_wrong_graph(exported, tmp_path):
    import torch

    from mocar.export.to_onnx import torch_to_onnx
    from mocar.export.to_tflite import check_float32_against_onnx
    from mocar.model import load_model

    tflite = Path(_files(exported)["float32"]["path"])
    caller_onnx = tflite.parents[1] / "caller" / "mine.onnx"
    check_float32_against_onnx(tflite, caller_onnx, exported[2])  # same model: passes
    other = load_model(exported[1])
    with torch.no_grad():
        other.classifier.weight.mul_(1.5)  # a different model with the same output shapes
    wrong_onnx = torch_to_onnx(other, IMG, tmp_path / "other.onnx")
    with pytest.raises(TFLiteExportError, match="logits: max abs diff"):
        check_float32_against_onnx(tflite, wrong_onnx, exported[2])


# --- pure helpers (fast) -----------------------------------------------------------------------


def test_output_index_from_onnx2tf_names():
    assert [tflite_output_index(n) for n in ("Identity", "Identity_2", "PartitionedCall:1", "StatefulX")] == [0, 2, 1, None]


def test_outputs_mapped_by_name_and_shape():
    expected = [("logits", [1, 3]), ("year", [1]), ("embedding", [1, 256])]
    quantised = [("PartitionedCall:1", [1]), ("PartitionedCall:0", [1, 3]), ("PartitionedCall:2", [1, 256])]
    assert map_tflite_outputs(quantised, expected) == {
        "PartitionedCall:1": "year", "PartitionedCall:0": "logits", "PartitionedCall:2": "embedding"}
    unnamed = [("b", [1, 256]), ("a", [1]), ("c", [1, 3])]  # no index in the names: unique shapes decide
    assert map_tflite_outputs(unnamed, expected) == {"b": "embedding", "a": "year", "c": "logits"}
    same_shapes = [("logits", [1, 8]), ("embedding", [1, 8])]
    assert map_tflite_outputs([("Identity_1", [1, 8]), ("Identity", [1, 8])], same_shapes) == {
        "Identity_1": "embedding", "Identity": "logits"}
    with pytest.raises(TFLiteExportError, match="cannot identify"):
        map_tflite_outputs([("x", [1, 8]), ("y", [1, 8])], same_shapes)
    with pytest.raises(TFLiteExportError, match="once each"):
        map_tflite_outputs([("Identity", [1, 3]), ("Identity_5", [1, 3])], expected[:1] + [("other", [1, 4])])


def test_requested_flavours_and_validation():
    assert requested_flavours(("int8", "fp32"), Int8Request().tflite) == ["float32", *DEFAULT_INT8_FLAVOURS]
    assert "integer_quant_float_norm" in INT8_FLAVOURS and "integer_quant_float_norm" not in DEFAULT_INT8_FLAVOURS
    assert requested_flavours(("fp16", "int8"), Int8Request(tflite=["dynamic_range"]).tflite) == [
        "float16", "dynamic_range"]
    assert requested_flavours(("int8",), Int8Request(tflite="full_integer_quant,dynamic_range").tflite) == [
        "dynamic_range", "full_integer_quant"]
    with pytest.raises(InputError, match="valid: dynamic_range"):
        Int8Request(tflite=["int4"])
    with pytest.raises(ExportError, match="valid: fp32"):
        requested_flavours(("bf16",), ())
    assert tflite_file_name("m", "float16") == "m_fp16.tflite"
    assert tflite_file_name("m", "full_integer_quant") == "m_int8_full_integer_quant.tflite"


def test_sample_data_has_onnx2tf_shape_and_range():
    calib = _image_like(3, seed=0)
    sample = onnx2tf_sample_data(calib)
    assert sample.shape == SAMPLE_DATA_SHAPE and sample.dtype == np.float32
    assert sample.min() == 0.0 and sample.max() == 1.0
    np.testing.assert_array_equal(sample[0], sample[3])  # 3 images repeated to 20
    assert onnx2tf_sample_data(None).std() > 0.1


def test_forbid_network_refuses_and_records_then_restores():
    original = socket.create_connection
    with forbid_network() as attempts:
        with pytest.raises(NetworkAccessError):
            socket.create_connection(("example.org", 443), timeout=1)
        with pytest.raises(NetworkAccessError):
            urllib.request.urlopen("https://github.com/x.npy", timeout=1)
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock, pytest.raises(NetworkAccessError):
            sock.connect(("192.0.2.1", 80))
    assert len(attempts) == 3 and "example.org" in attempts[0]
    assert socket.create_connection is original


@needs_tflite
def test_read_metadata_rejects_non_tflite(tmp_path):
    from mocar.runtime.tflite_file import TFLiteMetadataError, read_tflite_metadata

    bogus = tmp_path / "model.tflite"
    bogus.write_bytes(b"\x00" * 64)
    with pytest.raises(TFLiteMetadataError, match="not a TFLite flatbuffer"):
        read_tflite_metadata(bogus)
    with pytest.raises(TFLiteMetadataError, match="not found"):
        read_tflite_metadata(tmp_path / "missing.tflite")

