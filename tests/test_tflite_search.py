"""The TFLite back end of the accuracy-aware int8 search (mocar.quantize.tflite_search) on the tiny export.

The graph-cutting tests are fast; the ones on real files are ``slow`` (one onnx2tf run).

One onnx2tf run (float SavedModel) and one calibration serve the whole module; every file built
here is run with mocar's TFLite runner and compared with the export's float32 file on real images.
"""
from __future__ import annotations

import numpy as np
import pytest

from mocar.data.dataset import PreparedData
from mocar.export.reference import calibration_rows, decode_images
from mocar.quantize.errors import QuantizeError
from mocar.quantize.search import LayerGroup
from mocar.quantize.tflite_search import (
    GraphOp,
    TFLiteQuantizer,
    block_groups,
    graph_ops,
)
from mocar.runtime.preprocessing import Preprocessing
from mocar.runtime.runners import open_runner
from mocar.runtime.tflite_file import read_tflite_metadata

pytest.importorskip("tensorflow")
pytest.importorskip("onnx2tf")

WEIGHTED = ("CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED")


@pytest.fixture(scope="module")
def tiny_search(tiny_tflite_export, tmp_path_factory):
    """{"quantizer", "images" (NCHW, all train images), "fp32" (the export's float file), "saved_model", "root"}."""
    from mocar.export.to_onnx import torch_to_onnx
    from mocar.export.to_tflite import onnx_to_saved_model
    from mocar.model import load_model

    export = tiny_tflite_export["export"]
    fp32 = export / "model_fp32.tflite"
    preprocessing = Preprocessing.from_metadata(read_tflite_metadata(fp32))
    train = PreparedData.load(tiny_tflite_export["prepared"]).split("train")
    paths = train["image"].iloc[calibration_rows(len(train), len(train))].astype(str).tolist()
    images = preprocessing.normalize(decode_images(paths, preprocessing.input_size, preprocessing.interpolation))
    root = tmp_path_factory.mktemp("tflite_search")
    # The TFLite-only export keeps no ONNX file: trace the same model file as its exporter did.
    onnx_path = torch_to_onnx(load_model(export / "model.pt"), preprocessing.input_size, root / "model_fp32.onnx")
    saved_model = onnx_to_saved_model(onnx_path, root / "saved_model", images, work_dir=root)
    quantizer = TFLiteQuantizer(saved_model, images[:32], fp32)
    return {"quantizer": quantizer, "images": images, "fp32": fp32, "saved_model": saved_model, "root": root}


def _top1(path, images):
    return open_runner(path, 1).run(images)["logits"].argmax(axis=1)


@pytest.mark.slow  # the module's onnx2tf run and calibration (~15 s) on top of the shared tiny export
def test_groups_are_blocks_that_cover_every_operator_once(tiny_search):
    quantizer = tiny_search["quantizer"]
    groups = quantizer.groups()
    names = [group.name for group in groups]
    assert names[0] == "backbone.stem" and names[-1] == "head"
    assert sum(name.startswith("backbone.stage") for name in names) >= 2
    assert all(group.nodes for group in groups)
    covered = [node for group in groups for node in group.nodes]
    assert covered == [op.name for op in quantizer.ops]  # a partition, in graph order
    weighted = {op.name for op in quantizer.ops if op.kind in WEIGHTED}
    assert weighted and weighted <= set(covered)
    head_kinds = {op.kind for op in quantizer.ops if op.name in groups[-1].nodes}
    assert {"FULLY_CONNECTED", "CONCATENATION", "RSQRT"} <= head_kinds  # the pooled MaxAvg-Cat GroupNorm and the FCs


@pytest.mark.slow  # the module's onnx2tf run and calibration (~15 s) on top of the shared tiny export
def test_every_group_float_agrees_with_fp32_and_full_int8_is_int8(tiny_search):
    quantizer, images, root = tiny_search["quantizer"], tiny_search["images"], tiny_search["root"]
    reference = _top1(tiny_search["fp32"], images)
    all_float = quantizer.build(quantizer.groups(), root / "all_float.tflite")
    assert np.array_equal(_top1(all_float, images), reference)
    assert not {op.kind for op in graph_ops(all_float)} & {"QUANTIZE", "DEQUANTIZE"}
    int8 = quantizer.build([], root / "int8.tflite")
    assert {"QUANTIZE", "DEQUANTIZE"} <= {op.kind for op in graph_ops(int8)}
    assert int8.stat().st_size < 0.6 * all_float.stat().st_size  # int8 weights
    metadata = read_tflite_metadata(int8)
    assert metadata["quantization"]["flavour"] == "integer_quant" and metadata["quantization"]["float_groups"] == []
    assert sorted(metadata["output_map"].values()) == ["embedding", "logits", "year"]
    outputs = open_runner(int8, 1).run(images[:4])
    assert outputs["logits"].shape == (4, len(metadata["labels"]["names"]))


@pytest.mark.slow  # the module's onnx2tf run and calibration (~15 s) on top of the shared tiny export
def test_build_only_quantises_that_group_alone(tiny_search):
    quantizer, images, root = tiny_search["quantizer"], tiny_search["images"], tiny_search["root"]
    stem = quantizer.groups()[0]
    only = quantizer.build_only(stem, root / "only_stem.tflite")
    kinds = [op.kind for op in graph_ops(only)]
    assert kinds.count("QUANTIZE") == 1  # one way into int8, at the stem's input
    assert read_tflite_metadata(only)["quantization"]["float_groups"] == [g.name for g in quantizer.groups()[1:]]
    reference = open_runner(tiny_search["fp32"], 1).run(images)["logits"]
    logits = open_runner(only, 1).run(images)["logits"]
    assert np.mean(reference.argmax(1) == logits.argmax(1)) >= 0.9
    assert 0 < np.abs(logits - reference).max() < 0.5 * np.abs(reference).max()


@pytest.mark.slow  # the module's onnx2tf run and calibration (~15 s) on top of the shared tiny export
def test_activation_sqnr_names_groups(tiny_search):
    quantizer = tiny_search["quantizer"]
    sqnr = quantizer.activation_sqnr(tiny_search["images"], count=4)
    assert sqnr and set(sqnr) <= {group.name for group in quantizer.groups()}
    assert all(np.isfinite(value) and value > 0 for value in sqnr.values())


@pytest.mark.slow  # the module's onnx2tf run and calibration (~15 s) on top of the shared tiny export
def test_float_norm_still_builds(tiny_search):
    from mocar.quantize.tflite_int8 import float_norm_model, float_norm_nodes

    saved_model, images = tiny_search["saved_model"], tiny_search["images"]
    float_file = saved_model / "model_float32.tflite"
    content = float_norm_model(saved_model, float_file, images[:16].transpose(0, 2, 3, 1))
    path = tiny_search["root"] / "float_norm.tflite"
    path.write_bytes(content)
    float_ops = {op.name: op.kind for op in graph_ops(path)}
    denied = float_norm_nodes(float_file)
    assert denied and all(name in float_ops for name in denied)
    assert set(denied) <= set(tiny_search["quantizer"].groups()[-1].nodes)
    assert "DEQUANTIZE" in float_ops.values()


@pytest.mark.slow  # the module's onnx2tf run and calibration (~15 s) on top of the shared tiny export
def test_quantizer_refuses_a_folder_without_saved_model(tmp_path, tiny_search):
    with pytest.raises(QuantizeError, match="saved_model.pb"):
        TFLiteQuantizer(tmp_path, tiny_search["images"][:2], tiny_search["fp32"])


def _op(kind, name, shape, residual=False):
    return GraphOp(kind, name, shape, residual)


def test_block_groups_cut_at_residual_adds_and_stages():
    ops = [_op("CONV_2D", "stem_conv", (1, 16, 16, 8)), _op("MAX_POOL_2D", "pool", (1, 8, 8, 8)),
           _op("CONV_2D", "b1_conv", (1, 8, 8, 8)), _op("ADD", "b1_add", (1, 8, 8, 8), True),
           _op("CONV_2D", "b2_conv", (1, 8, 8, 8)), _op("ADD", "b2_add", (1, 8, 8, 8), True),
           _op("CONV_2D", "b3_conv", (1, 4, 4, 16)), _op("ADD", "b3_add", (1, 4, 4, 16), True),
           _op("MUL", "final_norm", (1, 4, 4, 16)), _op("MEAN", "gap", (1, 16)),
           _op("FULLY_CONNECTED", "fc", (1, 5)), _op("RESHAPE", "out", (5,))]
    groups = block_groups(ops)
    assert groups == [
        LayerGroup("backbone.stem", ("stem_conv", "pool")),
        LayerGroup("backbone.stage1.block1", ("b1_conv", "b1_add")),
        LayerGroup("backbone.stage1.block2", ("b2_conv", "b2_add")),
        LayerGroup("backbone.stage2.block1", ("b3_conv", "b3_add", "final_norm")),
        LayerGroup("head", ("gap", "fc", "out")),
    ]


def test_block_groups_of_a_plain_network_cut_before_each_conv():
    ops = [_op("CONV_2D", "c1", (1, 8, 8, 4)), _op("RELU", "r1", (1, 8, 8, 4)),
           _op("CONV_2D", "c2", (1, 4, 4, 4)), _op("RELU", "r2", (1, 4, 4, 4)),
           _op("CONV_2D", "c3", (1, 4, 4, 4)), _op("MEAN", "gap", (1, 4)), _op("FULLY_CONNECTED", "fc", (1, 2))]
    assert [(g.name, g.nodes) for g in block_groups(ops)] == [
        ("backbone.stem", ("c1", "r1")), ("backbone.stage1.block1", ("c2", "r2")),
        ("backbone.stage1.block2", ("c3",)), ("head", ("gap", "fc"))]


def test_block_groups_refuse_a_graph_without_images():
    with pytest.raises(QuantizeError, match="4-D"):
        block_groups([_op("FULLY_CONNECTED", "fc", (1, 2))])
