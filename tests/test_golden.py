"""Golden vectors (mocar.mobile.golden) of a tiny exported TFLite model: files, shapes, and that every
value is what the benchmark and `mocar predict` compute for the same image."""
import json
import shutil

import numpy as np
import pytest
from PIL import Image

from mocar.data.images import load_rgb
from mocar.errors import InputError
from mocar.mobile.golden import write_golden
from mocar.runtime.tflite_file import read_tflite_metadata
from mocar.field import ReferenceIndex, predict_images
from mocar.field.runs import softmax

pytestmark = pytest.mark.slow


def _array(folder, entry):
    return np.fromfile(folder / entry["file"], dtype=entry["dtype"]).reshape(entry["shape"])


@pytest.fixture(scope="module", params=["model_fp32", "model_int8_full_integer_quant"])
def golden(request, tiny_golden):
    folder = tiny_golden / request.param
    return folder, json.loads((folder / "golden.json").read_text(encoding="utf-8"))


def test_header_carries_the_files_own_metadata_and_a_copy_of_it(golden, tiny_tflite_export):
    folder, data = golden
    assert data["schema"] == "mocar-golden" and data["schema_version"] == 1 and len(data["cases"]) == 6
    original = tiny_tflite_export["export"] / data["model_file"]
    assert (folder / data["model_file"]).read_bytes() == original.read_bytes()
    assert data["metadata"] == read_tflite_metadata(folder / data["model_file"])
    assert data["metadata"]["calibration"]["classes"]["method"] == "raps"  # sets and intervals get exercised
    quantized = data["model_file"].endswith("full_integer_quant.tflite")
    assert (data["input"]["dtype"] == "int8") == quantized
    assert (data["input"]["scale"] is not None) == quantized


def test_tensors_are_the_benchmarks_preprocessing_of_the_decoded_pixels(golden):
    folder, data = golden
    mean = np.float32(data["metadata"]["input"]["mean"])
    std = np.float32(data["metadata"]["input"]["std"])
    for case in data["cases"]:
        pixels = _array(folder, case["pixels"])
        tensor = _array(folder, case["input"])
        assert pixels.shape == (case["height"], case["width"], 3) and tensor.shape == (1, 32, 32, 3)
        resized = np.asarray(Image.fromarray(pixels).resize((32, 32), Image.Resampling.BILINEAR), np.float32)
        np.testing.assert_array_equal(tensor[0], (resized / 255.0 - mean) / std)
        if case["input_quantized"] is not None:
            scale, zero = data["input"]["scale"], data["input"]["zero_point"]
            q = _array(folder, case["input_quantized"]).astype(np.int32)
            assert np.abs((q - zero) * scale - tensor).max() <= scale / 2 + 1e-6  # round to nearest
            assert q.min() >= -128 and q.max() <= 127


def test_png_copy_decodes_to_the_stored_pixels(golden):
    folder, data = golden
    case = next(c for c in data["cases"] if c["name"] == data["png"]["case"])
    np.testing.assert_array_equal(np.asarray(load_rgb(folder / data["png"]["file"])), _array(folder, case["pixels"]))


def test_answers_match_predict_and_the_stored_outputs(golden, tiny_tflite_export):
    folder, data = golden
    images = [str(tiny_tflite_export["prepared"].parent / "images" / c["image"]) for c in data["cases"]]
    fresh = predict_images(images, model_file=folder / data["model_file"], index_dir=tiny_tflite_export["index"],
                           k=data["k"], thumbnails=False)
    index = ReferenceIndex.load(tiny_tflite_export["index"])
    for case, answer in zip(data["cases"], fresh):
        stored = case["answer"]
        assert stored["top5"] == answer["top5"] and stored["prediction_set"] == answer["prediction_set"]
        assert stored["year"] == answer["year"] and stored["ood"] == answer["ood"]
        assert [n["id"] for n in stored["nearest"]] == [n["id"] for n in answer["nearest"]]
        logits = _array(folder, case["outputs"]["logits"])
        probs = softmax(logits)[0]
        assert [p["probability"] for p in stored["top5"]] == pytest.approx(probs[case["top5_indices"]].tolist(),
                                                                          abs=1e-12)
        rows = case["search"]["rows"]
        assert len(rows) == max(data["k"], index.meta["ood"]["k"])
        assert [n["id"] for n in stored["nearest"]] == [index.objects.at[r, "id"] for r in rows[: data["k"]]]


def test_reference_index_is_converted_next_to_the_vectors(golden, tiny_tflite_export):
    folder, data = golden
    layout = json.loads((folder / data["reference_index"] / "layout.json").read_text())
    assert layout["count"] == len(ReferenceIndex.load(tiny_tflite_export["index"]))


def test_refuses_bad_requests_naming_the_problem(tiny_tflite_export, tmp_path):
    with pytest.raises(InputError, match="count=0"):
        write_golden(tiny_tflite_export["export"] / "model_fp32.tflite", tiny_tflite_export["prepared"], tmp_path, 0)
    with pytest.raises(InputError, match="nothing.tflite not found"):
        write_golden(tmp_path / "nothing.tflite", tiny_tflite_export["prepared"], tmp_path, 2)


def test_export_flags_write_goldens_per_phone_file_and_the_assets(tiny_tflite_export, tmp_path):
    """`mocar export ... --golden 2 --android-assets DIR` after the export itself (here: already done)."""
    from mocar.cli import _write_phone_files, build_parser

    export = tmp_path / "export"
    shutil.copytree(tiny_tflite_export["export"], export)
    args = build_parser().parse_args(["export", "--run", str(tiny_tflite_export["run"]), "--out", str(export),
                                      "--golden", "2", "--android-assets", str(tmp_path / "assets")])
    _write_phone_files(args)
    folders = sorted(p.name for p in (export / "golden").iterdir())
    assert folders == ["model_fp32", "model_int8_dynamic_range", "model_int8_full_integer_quant"]
    data = json.loads((export / "golden" / "model_fp32" / "golden.json").read_text())
    assert len(data["cases"]) == 2 and data["reference_index"] == "reference_index"  # RUN/index by default
    assert (tmp_path / "assets" / "reference_index" / "layout.json").is_file()
