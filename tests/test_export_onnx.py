"""ONNX export: every precision within its tolerance, metadata round trip, runners, caller's model untouched.

The model is mocar_tiny with a 512-wide hidden layer (instead of 256) and random output layers: with
the default 256 the int8 file is ~29 % of fp32 (graph overhead of 380k parameters), too close to the
30 % bound for an honest test of "int8 is ~4x smaller"; 512 makes the weights dominate as in real
models. Images are real (the tiny prepared museum), preprocessed with the training arithmetic.
"""
import numpy as np
import onnx
import pytest
import torch

from mocar.runtime.registry import FORMATS, format_of
from mocar.runtime.runners import open_runner
from mocar.runtime.runners.onnx_runner import OnnxRunner
from mocar.export.job import ExportJob
from mocar.errors import InputError
from mocar.runtime.errors import MetadataError, UnknownFormatError
from mocar.runtime.metadata import metadata_for_file, read_metadata
from mocar.export.reference import decode_images
from mocar.runtime.preprocessing import normalize_images
from mocar.export.to_onnx import export_onnx, torch_to_onnx
from mocar.quantize.onnx_int8 import INT8_FLAVOURS, quantize_onnx_int8
from mocar.export.validate import ValidationContext, validate_outputs
from mocar.model import create_model_from_preset, save_model

SIZE = 48
MEAN, STD = [0.5, 0.5, 0.5], [0.5, 0.5, 0.5]
pytestmark = pytest.mark.slow


def _metadata():
    return {"schema": "mocar-export-metadata", "model": {"mocar_version": "test", "architecture": "mocar"},
            "input": {"name": "image", "shape": [1, 3, SIZE, SIZE], "layout": "NCHW", "mean": MEAN, "std": STD},
            "labels": {"names": ["a", "b", "c"], "target": "collection"}, "year": {"mean": 0.0, "scale": 500.0},
            "precision": "fp32", "quantization": {"flavour": "float"}}


@pytest.fixture(scope="module")
def exported(tiny_prepared, tmp_path_factory):
    import pandas as pd

    out = tmp_path_factory.mktemp("onnx_export")
    torch.manual_seed(0)
    model = create_model_from_preset("mocar_tiny", num_classes=3, input_size=SIZE, hidden=512, year_mean=0.0,
                                     year_scale=500.0)
    with torch.no_grad():  # output layers start at zero; give them values so the outputs differ per image
        for layer in (model.classifier, model.regressor):
            layer.weight.normal_(0.0, 0.2)
    manifest = pd.read_parquet(tiny_prepared / "manifest.parquet")
    train, held_out = manifest[manifest["split"] == "train"], manifest[manifest["split"] != "train"]
    np.save(out / "calib.npy", normalize_images(decode_images(train["image"].tolist()[:32], SIZE, "bilinear"), MEAN, STD))
    images = normalize_images(decode_images(held_out["image"].tolist(), SIZE, "bilinear"), MEAN, STD)
    job = ExportJob(model_file=save_model(model, out / "model.pt"), out_dir=out, input_size=SIZE,
                    precisions=("fp32", "fp16", "int8"), metadata=_metadata(), calib_file=out / "calib.npy",
                    work_dir=out / "work")
    files = {f.precision: f for f in export_onnx(job)}
    with torch.no_grad():
        reference = {k: v.numpy() for k, v in model(torch.from_numpy(images))._asdict().items()}
    return {"model": model, "files": files, "images": images, "reference": reference, "out": out,
            "targets": held_out["collection_idx"].to_numpy()}


@pytest.mark.parametrize("precision", ["fp32", "fp16", "int8"])
def test_each_precision_passes_validation_at_its_tolerance(exported, precision):
    exported_file = exported["files"][precision]
    outputs = OnnxRunner(exported_file.path).run(exported["images"])
    context = ValidationContext(exported["targets"], None, 0.0, 500.0)
    figures, failures = validate_outputs(exported["reference"], outputs, precision, context)
    if precision == "fp32":
        assert failures == []
        assert max(o["max_rel"] for o in figures["outputs"].values()) < 1e-4
    elif precision == "fp16":
        assert failures == []
        assert 1e-6 < max(o["max_rel"] for o in figures["outputs"].values()) < 1e-2  # really fp16, still close
    else:
        # An untrained network with random output layers is a harsh int8 case (errors ~17 % of each
        # output's range, measured); the task-level limits are checked on a trained run in
        # test_export_run. Here: clearly correlated, clearly not float.
        assert figures["top1_agreement"] >= 0.9 and figures["embedding_cosine"]["p01"] > 0.95
        assert 20 < figures["outputs"]["logits"]["psnr_db"] < 60
    assert exported_file.output_names == ["logits", "year", "embedding"]
    assert exported_file.input_shape == [1, 3, SIZE, SIZE]


def test_int8_is_under_30_percent_of_fp32_and_named_by_flavour(exported):
    fp32, int8 = exported["files"]["fp32"], exported["files"]["int8"]
    ratio = int8.path.stat().st_size / fp32.path.stat().st_size
    assert ratio <= 0.30, ratio
    assert int8.path.name == "model_int8_u8s8_conv.onnx" and int8.flavour == "u8s8_conv"


def test_int8_keeps_logits_and_year_layers_in_float(exported):
    graph = onnx.load(str(exported["files"]["int8"].path)).graph
    producers = {out: node for node in graph.node for out in node.output}
    assert producers["logits"].op_type == "Gemm"
    float_weights = {init.name for init in graph.initializer if init.data_type == onnx.TensorProto.FLOAT}
    assert producers["logits"].input[1] in float_weights  # no DequantizeLinear in front of the weight
    year_layer = producers[producers["year"].input[0]]
    assert year_layer.op_type == "Gemm" and year_layer.input[1] in float_weights
    assert sum(node.op_type == "QuantizeLinear" for node in graph.node) > 10  # the rest is quantised


def test_metadata_round_trips_per_file(exported):
    for precision, exported_file in exported["files"].items():
        metadata = read_metadata(exported_file.path)
        assert metadata == metadata_for_file(_metadata(), precision, exported_file.flavour,
                                             **({k: v for k, v in metadata["quantization"].items() if k != "flavour"}))
        assert metadata["precision"] == precision
        props = {p.key: p.value for p in onnx.load(str(exported_file.path)).metadata_props}
        assert props["mean"] == "[0.5, 0.5, 0.5]" and props["input_size"] == f"1x3x{SIZE}x{SIZE}"
    assert read_metadata(exported["files"]["int8"].path)["quantization"]["calibration_images"] == 32


def test_readers_refuse_unknown_or_bare_files(exported, tmp_path):
    with pytest.raises(MetadataError, match="no format for .bin"):
        read_metadata(tmp_path / "model.bin")
    bare = onnx.load(str(exported["files"]["fp32"].path))
    del bare.metadata_props[:]
    onnx.save(bare, str(tmp_path / "bare.onnx"))
    with pytest.raises(MetadataError, match="no 'mocar' entry"):
        read_metadata(tmp_path / "bare.onnx")


def test_export_leaves_the_callers_model_untouched(exported, tmp_path):
    model = exported["model"].train()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    types_before = [type(m).__name__ for m in model.modules()]
    torch_to_onnx(model, 32, tmp_path / "again.onnx")
    assert model.training, "export switched the caller's model to eval mode"
    assert [type(m).__name__ for m in model.modules()] == types_before  # StdConv2d not folded in place
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
    model.eval()


def test_onnx_runner_loops_a_fixed_batch_of_one(exported):
    runner = open_runner(exported["files"]["fp32"].path, threads=1)
    assert runner.fixed_batch == 1 and runner.metadata["labels"]["names"] == ["a", "b", "c"]
    batch = runner.run(exported["images"][:5])
    single = runner.run(exported["images"][3:4])
    assert batch["logits"].shape == (5, 3) and batch["year"].shape == (5,) and batch["embedding"].shape == (5, 512)
    np.testing.assert_allclose(batch["embedding"][3:4], single["embedding"], rtol=1e-6, atol=1e-6)


def test_torch_runner_and_runner_table(exported):
    runner = open_runner(exported["out"] / "model.pt")
    outputs = runner.run(exported["images"][:4])
    np.testing.assert_allclose(outputs["logits"], exported["reference"]["logits"][:4], rtol=1e-5, atol=1e-6)
    assert runner.metadata["year"] == {"mean": 0.0, "scale": 500.0, "output": "normalised"}
    assert set(FORMATS) == {"torch", "onnx", "tflite", "coreml"}
    assert [format_of(f"m{s}").name for s in (".pt", ".onnx", ".tflite", ".mlpackage")] == ["torch", "onnx", "tflite", "coreml"]
    with pytest.raises(UnknownFormatError, match="no format for .h5"):
        format_of("model.h5")


def test_unknown_int8_flavour_is_refused(exported, tmp_path):
    with pytest.raises(InputError, match="valid: " + ", ".join(INT8_FLAVOURS)):
        quantize_onnx_int8(exported["files"]["fp32"].path, tmp_path / "x.onnx", exported["images"][:2], "w4a4", tmp_path)
