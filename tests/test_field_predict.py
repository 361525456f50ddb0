"""Field stage on a tiny trained run: index build, calibration, retrieval, predict schema, ONNX parity.

The run is mocar_tiny trained for 3 steps on the tiny prepared museum (like test_train_loop); the
answers need not be good, only computed correctly: checked against the index's own search, the
conformal rule and the float model.
"""
import json
import shutil

import numpy as np
import pandas as pd
import pytest

from mocar.field import (PREDICTION_SCHEMA, ModelMismatchError, ReferenceIndex, build_index, calibrate_run,
                         evaluate_retrieval, format_prediction, predict_images, schema_errors)
from mocar.train.config import TrainConfig
from mocar.train.loop import fit

pytestmark = pytest.mark.slow
SIZE = 32


@pytest.fixture(scope="module")
def field_run(tiny_prepared, tmp_path_factory):
    out = tmp_path_factory.mktemp("field") / "run"
    fit(TrainConfig(data=str(tiny_prepared), out=str(out), preset="mocar_tiny", steps=3, warmup=1, batch_size=8,
                    micro_batch=8, input_size=SIZE, resize=40, workers=0, eval_every=3, lr=0.02, progress=False,
                    precision="fp32", eval_batch_size=32))
    index = build_index(out, dims=16, dtype="int8", thumb_px=24)
    calibration = calibrate_run(out)
    manifest = pd.read_parquet(tiny_prepared / "manifest.parquet")
    return {"run": out, "index": index, "calibration": calibration, "manifest": manifest}


def test_index_holds_the_train_split_with_a_calibrated_ood_record(field_run):
    index = ReferenceIndex.load(field_run["index"])
    train = field_run["manifest"].query("split == 'train'")
    assert len(index) == len(train) and sorted(index.objects["id"]) == sorted(train["id"])
    assert index.codes.dtype == np.int8 and index.codes.shape[1] == 16
    assert index.meta["ood"]["score"] == "knn" and index.meta["ood"]["split"] == "val"
    assert index.meta["model"]["fingerprint"] == field_run["calibration"]["model"]["fingerprint"]
    assert index.thumbnail(0)[:2] == b"\xff\xd8"  # a JPEG


def test_calibration_file_is_plain_json_with_a_test_report(field_run):
    saved = json.loads((field_run["run"] / "calibration.json").read_text())
    assert saved["classes"]["over"] == "collection" and saved["year"]["method"] == "absolute_residual"
    report = saved["report"]
    assert report["n"] == (field_run["manifest"]["split"] == "test").sum()
    for level, row in report["classes"].items():
        assert 0.0 <= row["coverage"] <= 1.0 and 1.0 <= row["mean_size"] <= 3.0
    assert set(saved["year"]["q"]) == {"0.8", "0.9", "0.95"}


def test_predict_answers_follow_the_schema_and_the_index(field_run):
    train = field_run["manifest"].query("split == 'train'").head(3)
    answers = predict_images(train["image"].tolist(), run_dir=field_run["run"], index_dir=field_run["index"], k=4)
    index = ReferenceIndex.load(field_run["index"])
    for answer, object_id in zip(answers, train["id"]):
        assert schema_errors(answer, PREDICTION_SCHEMA) == []
        probs = [p["probability"] for p in answer["top5"]]
        assert probs == sorted(probs, reverse=True) and 0.99 < sum(probs) <= 1.0 + 1e-6  # 3 classes: all of them
        assert answer["nearest"][0]["id"] == object_id  # a reference finds itself first
        row = int(np.flatnonzero(index.objects["id"] == object_id)[0])
        stored = index.stored_vectors(np.array([row]))[0]  # the query projects onto it up to int8 rounding
        assert answer["nearest"][0]["similarity"] == pytest.approx(float(stored @ stored), abs=0.01)
        assert [n["rank"] for n in answer["nearest"]] == [1, 2, 3, 4]
        assert answer["nearest"][0]["thumbnail"].startswith("data:image/jpeg;base64,")
        sets = answer["prediction_set"]
        assert set(sets) == {"0.8", "0.9", "0.95"} and len(sets["0.8"]) <= len(sets["0.95"])
        assert sets["0.8"][0] == answer["top5"][0]["label"]
        low, high = answer["year"]["interval"]["0.9"]
        assert low < answer["year"]["estimate"] < high
        assert f"look-alike 1: {object_id}" in format_prediction(answer)


def test_predict_warns_above_the_ood_threshold_only(field_run, tmp_path):
    index_copy = tmp_path / "index"
    shutil.copytree(field_run["index"], index_copy)
    meta = json.loads((index_copy / "index.json").read_text())
    image = field_run["manifest"]["image"].iloc[0]
    for threshold, expect in ((-1.0, True), (2.0, False)):  # knn scores lie in [0, 2]
        meta["ood"]["thresholds"]["0.05"] = threshold
        (index_copy / "index.json").write_text(json.dumps(meta))
        answer = predict_images([image], run_dir=field_run["run"], index_dir=index_copy)[0]
        assert answer["ood"]["unlike_references"] is expect
        assert any(w.startswith("unlike any reference object") for w in answer["warnings"]) is expect


def test_an_index_of_another_model_is_refused(field_run, tmp_path):
    index_copy = tmp_path / "index"
    shutil.copytree(field_run["index"], index_copy)
    meta = json.loads((index_copy / "index.json").read_text())
    meta["model"]["fingerprint"] = "0" * 64
    (index_copy / "index.json").write_text(json.dumps(meta))
    with pytest.raises(ModelMismatchError, match="0" * 64):
        predict_images([field_run["manifest"]["image"].iloc[0]], run_dir=field_run["run"], index_dir=index_copy)


def test_retrieval_evaluation_reports_every_cut_off(field_run):
    metrics = evaluate_retrieval(field_run["run"], field_run["index"], split="test")
    assert metrics["n_queries"] == (field_run["manifest"]["split"] == "test").sum()
    for name in ("collection", "epoch"):
        values = [metrics[name][f"recall@{k}"] for k in (1, 5, 10)]
        assert values == sorted(values) and 0.0 <= values[0] <= 1.0
    # Collections differ in colour (the tiny museum's design): even a barely trained embedding separates them.
    assert metrics["collection"]["recall@1"] >= 0.8
    assert (field_run["run"] / "retrieval_test.json").is_file()


def test_onnx_export_gives_the_same_answers(field_run, tmp_path):
    pytest.importorskip("onnxruntime")
    import onnx

    from mocar.runtime.onnx_file import embed_onnx_metadata
    from mocar.runtime.run_metadata import build_metadata
    from mocar.export.to_onnx import torch_to_onnx
    from mocar.train.run_files import load_trained_run

    run = load_trained_run(field_run["run"])
    path = torch_to_onnx(run.model, SIZE, tmp_path / "model.onnx")
    onnx.save(embed_onnx_metadata(onnx.load(str(path)), build_metadata(run, "fp32", "float", "onnx")), str(path))
    images = field_run["manifest"].query("split == 'test'")["image"].head(3).tolist()
    kwargs = dict(index_dir=field_run["index"], thumbnails=False)
    reference = predict_images(images, run_dir=field_run["run"], **kwargs)
    # No --calibration: the exported file's own metadata carries the constants and the fingerprint.
    exported = predict_images(images, model_file=path, **kwargs)
    for a, b in zip(reference, exported):
        assert [p["label"] for p in a["top5"]] == [p["label"] for p in b["top5"]]
        np.testing.assert_allclose([p["probability"] for p in a["top5"]], [p["probability"] for p in b["top5"]], atol=1e-5)
        assert a["prediction_set"] == b["prediction_set"]
        assert a["year"]["estimate"] == pytest.approx(b["year"]["estimate"], abs=0.05)
        assert [n["id"] for n in a["nearest"]] == [n["id"] for n in b["nearest"]]
        assert a["prediction_set"] is not None and a["warnings"] == b["warnings"]
        assert not any("fingerprint" in w for w in b["warnings"])


def test_index_build_command_writes_a_reranking_index(field_run, tmp_path, capsys):
    from mocar.cli import main

    out = tmp_path / "reranked"
    assert main(["index", "build", "--run", str(field_run["run"]), "--dims", "8", "--dtype", "int8",
                 "--rerank", "int8", "--rerank-candidates", "5", "--out", str(out)]) == 0
    assert str(out) in capsys.readouterr().out
    index = ReferenceIndex.load(out)
    assert index.meta["embedding"]["rerank"]["dtype"] == "int8" and index.rerank_candidates == 5
    assert index.rerank.shape == (len(index), index.input_dims) and index.rerank_scales.shape == (index.input_dims,)
    train = field_run["manifest"].query("split == 'train'").head(2)
    answer = predict_images(train["image"].tolist(), run_dir=field_run["run"], index_dir=out, k=3)[0]
    assert answer["nearest"][0]["id"] == train["id"].iloc[0]  # a reference still finds itself first
    assert main(["index", "build", "--run", str(field_run["run"]), "--rerank-candidates", "5",
                 "--out", str(tmp_path / "ignored")]) != 0  # candidates without --rerank: refused, nothing built
    assert "--rerank-candidates needs --rerank" in capsys.readouterr().err and not (tmp_path / "ignored").exists()
