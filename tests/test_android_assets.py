"""mocar.mobile.android_assets: models copied unchanged, the reference index in a phone-readable form that
decodes back to exactly the arrays, records and thumbnails of the original index."""
import hashlib
import json
import shutil

import numpy as np
import pytest

from mocar.errors import InputError
from mocar.mobile.android_assets import convert_index, write_android_assets
from mocar.field import ReferenceIndex
from mocar.field.errors import ModelMismatchError, ReferenceIndexError

pytestmark = pytest.mark.slow


def _digests(folder):
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.rglob("*")) if p.is_file()}


def _read(folder, layout, key):
    entry = layout["arrays"][key]
    return np.fromfile(folder / entry["file"], dtype=np.dtype(entry["dtype"]).newbyteorder("<")).reshape(entry["shape"])


def test_assets_hold_the_models_and_an_exact_copy_of_the_index(tiny_tflite_export, tmp_path):
    export, index_dir = tiny_tflite_export["export"], tiny_tflite_export["index"]
    before = _digests(export), _digests(index_dir)
    written = write_android_assets(export, tmp_path / "assets", index_dir)
    assert (_digests(export), _digests(index_dir)) == before  # inputs untouched
    assert {p.name for p in written} >= {"model_fp32.tflite", "model_int8_dynamic_range.tflite", "layout.json"}
    assert sorted(p.name for p in (tmp_path / "assets").glob("*.tflite")) == [
        "model_fp32.tflite", "model_int8_dynamic_range.tflite"]
    assert (tmp_path / "assets" / "model_fp32.tflite").read_bytes() == (export / "model_fp32.tflite").read_bytes()
    assert not list((tmp_path / "assets").glob("*labels*"))  # labels travel inside each .tflite only

    folder = tmp_path / "assets" / "reference_index"
    layout = json.loads((folder / "layout.json").read_text())
    index = ReferenceIndex.load(index_dir)
    assert layout["schema"] == "mocar-android-index" and layout["count"] == len(index) == len(index.codes)
    np.testing.assert_array_equal(_read(folder, layout, "codes"), index.codes)
    np.testing.assert_array_equal(_read(folder, layout, "scales"), index.scales)
    np.testing.assert_array_equal(_read(folder, layout, "offsets"), index.offsets)
    np.testing.assert_array_equal(_read(folder, layout, "components"), index.components)
    assert set(layout["arrays"]) == {"codes", "scales", "offsets", "components", "rerank", "rerank_offsets"}
    np.testing.assert_array_equal(_read(folder, layout, "rerank"), index.rerank)  # float16 re-rank codes
    np.testing.assert_array_equal(_read(folder, layout, "rerank_offsets"), index.rerank_offsets)
    assert layout["rerank_candidates"] == index.rerank_candidates == 8
    assert (folder / "index.json").read_bytes() == (index_dir / "index.json").read_bytes()
    objects = json.loads((folder / "objects.json").read_text(encoding="utf-8"))
    thumbs = (folder / "thumbnails.bin").read_bytes()
    for row in (0, len(index) // 2, len(index) - 1):
        record = objects[row]
        assert record["id"] == index.object_record(row)["id"] and record["dating"] == index.object_record(row)["dating"]
        assert thumbs[record["thumb_offset"]: record["thumb_offset"] + record["thumb_size"]] == index.thumbnail(row)


def test_errors_name_the_missing_file(tiny_tflite_export, tmp_path):
    with pytest.raises(InputError, match="model_int8_integer_quant.tflite not found.*model_fp32.tflite"):
        write_android_assets(tiny_tflite_export["export"], tmp_path / "a", None, flavours=["integer_quant"])
    broken = tmp_path / "index"
    shutil.copytree(tiny_tflite_export["index"], broken)
    (broken / "scales.npy").unlink()
    with pytest.raises(ReferenceIndexError, match="scales.npy not found"):
        convert_index(broken, tmp_path / "out")
    assert not (tmp_path / "out" / "layout.json").exists()


def test_an_index_of_another_model_is_refused(tiny_tflite_export, tmp_path):
    other = tmp_path / "index"
    shutil.copytree(tiny_tflite_export["index"], other)
    meta = json.loads((other / "index.json").read_text())
    meta["model"]["fingerprint"] = "0" * 64
    (other / "index.json").write_text(json.dumps(meta))
    with pytest.raises(ModelMismatchError):
        write_android_assets(tiny_tflite_export["export"], tmp_path / "assets", other)
