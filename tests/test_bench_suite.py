"""`mocar bench` on a tiny exported model: rows, reports, and the CI gate both ways."""
import json

import pytest
import yaml

from mocar.cli import main
from mocar.train.config import TrainConfig
from mocar.train.loop import fit


@pytest.fixture(scope="module")
def exported(tiny_prepared, tmp_path_factory):
    pytest.importorskip("onnxruntime")
    from mocar.export.run import export_run

    root = tmp_path_factory.mktemp("bench")
    run = fit(TrainConfig(data=str(tiny_prepared), out=str(root / "run"), preset="mocar_tiny", steps=3, warmup=1,
                          batch_size=8, micro_batch=4, input_size=32, resize=40, workers=0, eval_every=3, lr=0.02,
                          progress=False, precision="fp32"))
    export_run(run, root / "export", formats=["onnx"], precisions=["fp32", "int8"], calib_images=16, progress=False)
    return root


@pytest.mark.slow
def test_bench_rows_reports_and_passing_gate(exported, tmp_path):
    policy = tmp_path / "lenient.yaml"
    policy.write_text(yaml.safe_dump({"fp32": {"agreement": {"min": 100.0}}, "int8": {"agreement": {"min": 0.0}}}))
    code = main(["bench", "--exports", str(exported / "export"), "--threads", "1", "--runs", "3", "--warmup", "1",
                 "--check", "--policy", str(policy), "--out", str(tmp_path / "b")])
    assert code == 0
    result = json.loads((tmp_path / "b" / "bench.json").read_text())
    files = [r["export"] for r in result["rows"]]
    assert files[0] == "model.pt" and "model_fp32.onnx" in files and any("int8" in f for f in files)
    fp32 = next(r for r in result["rows"] if r["export"] == "model_fp32.onnx")
    assert fp32["agreement"] == 100.0 and fp32["psnr_logits"] > 60 and fp32["p50_ms"] > 0
    for row in result["rows"]:  # peak RSS of a fresh child per file: above its idle baseline, not the parent's GBs
        assert 5 < row["baseline_rss_mb"] < row["peak_rss_mb"] < 2000, row["export"]
    assert fp32["mean_ms"] > 0 and fp32["timed_runs"] == 3
    assert fp32["size_ratio"] == pytest.approx(1.0)
    assert "peak RSS MB" in (tmp_path / "b" / "report.md").read_text()
    for name in ("bench.csv", "report.md", "junit.xml", "summary.md"):
        assert (tmp_path / "b" / name).is_file(), name
    html = (tmp_path / "b" / "report.html").read_text()
    assert "data:image/png;base64," in html and "model_fp32.onnx" in html
    assert 'failures="0"' in (tmp_path / "b" / "junit.xml").read_text()


@pytest.mark.slow
def test_policy_violation_fails_the_gate(exported, tmp_path):
    policy = tmp_path / "impossible.yaml"
    policy.write_text(yaml.safe_dump({"fp32": {"psnr_logits": {"min": 1e9}}}))
    code = main(["bench", "--exports", str(exported / "export"), "--threads", "1", "--runs", "2", "--warmup", "1",
                 "--check", "--policy", str(policy), "--out", str(tmp_path / "b")])
    assert code == 1
    junit = (tmp_path / "b" / "junit.xml").read_text()
    assert "<failure" in junit and "psnr_logits" in junit


@pytest.fixture(scope="module")
def student_exported(exported, tiny_prepared):
    """A BatchNorm mobile student (not BiT) exported next to the teacher of ``exported``."""
    from mocar.export.run import export_run

    run = fit(TrainConfig(data=str(tiny_prepared), out=str(exported / "student"), preset="student_tiny", steps=3,
                          warmup=1, batch_size=8, micro_batch=4, input_size=32, resize=40, workers=0, eval_every=3,
                          lr=0.02, progress=False, precision="fp32"))
    export_run(run, exported / "student" / "export", formats=["onnx"], precisions=["fp32", "int8"], calib_images=16,
               progress=False)
    return exported / "student" / "export"


@pytest.mark.slow
def test_side_by_side_folders_each_against_its_own_reference(exported, student_exported, tmp_path):
    policy = tmp_path / "lenient.yaml"
    policy.write_text(yaml.safe_dump({"fp32": {"agreement": {"min": 100.0}}}))
    code = main(["bench", "--exports", str(exported / "export"), str(student_exported), "--threads", "1",
                 "--runs", "3", "--warmup", "1", "--check", "--policy", str(policy), "--out", str(tmp_path / "b")])
    assert code == 0
    result = json.loads((tmp_path / "b" / "bench.json").read_text())
    teacher, student = [f["label"] for f in result["folders"]]
    from mocar.model.factory import PRESETS

    student_backbone = PRESETS["student_tiny"].backbone  # a BatchNorm backbone, not BiT
    assert [f["model"] for f in result["folders"]] == ["mocar_tiny · bit_tiny", f"student_tiny · {student_backbone}"]
    rows = {(r["folder"], r["export"]): r for r in result["rows"]}
    t_ref, s_ref = rows[teacher, "model.pt"], rows[student, "model.pt"]
    t_fp32, s_fp32 = rows[teacher, "model_fp32.onnx"], rows[student, "model_fp32.onnx"]
    # parity of each file against its own folder's model.pt (the student's outputs differ from the teacher's)
    assert s_fp32["agreement"] == 100.0 and s_fp32["psnr_logits"] > 60 and s_fp32["retrieval_overlap5"] > 0.95
    assert s_fp32["top1"] == pytest.approx(s_ref["top1"])
    # columns relative to the first folder
    assert s_ref["delta_top1_vs_first"] == pytest.approx(100.0 * (s_ref["top1"] - t_ref["top1"]))
    assert t_fp32["speedup_vs_first"] == pytest.approx(1.0)
    assert s_fp32["speedup_vs_first"] == pytest.approx(t_fp32["p50_ms"] / s_fp32["p50_ms"])
    int8 = next(r for (f, e), r in rows.items() if f == student and "int8" in e)
    assert int8["speedup_vs_fp32"] == pytest.approx(s_fp32["p50_ms"] / int8["p50_ms"])
    assert 0.0 <= int8["retrieval_overlap5"] <= 1.0
    report = (tmp_path / "b" / "report.md").read_text()
    assert teacher in report and student in report and "Δtop-1 vs 1st ref" in report
    html = (tmp_path / "b" / "report.html").read_text()
    assert html.count("data:image/png;base64,") == 4 and "student_tiny" in html
    junit = (tmp_path / "b" / "junit.xml").read_text()  # checks name the folder: file names repeat across folders
    assert f'classname="{teacher}/model_fp32.onnx"' in junit and f'classname="{student}/model_fp32.onnx"' in junit


@pytest.mark.slow
def test_imported_phone_rows_are_merged_but_not_gated(exported, tmp_path, capsys):
    phone = tmp_path / "pixel.json"
    phone.write_text(json.dumps({"device": "Pixel 7", "os": "Android 14", "rows": [
        {"export": "model_fp32.tflite", "format": "tflite", "precision": "fp32", "threads": 4, "p50_ms": 10.0,
         "size_mb": 2.0},
        {"export": "model_int8_dynamic_range.tflite", "format": "tflite", "precision": "int8", "threads": 4,
         "p50_ms": 4.0, "size_mb": 0.5}]}))
    policy = tmp_path / "lenient.yaml"
    policy.write_text(yaml.safe_dump({"int8": {"agreement": {"min": 0.0}}}))
    code = main(["bench", "--exports", str(exported / "export"), "--threads", "1", "--runs", "2", "--warmup", "1",
                 "--import", str(phone), "--check", "--policy", str(policy), "--out", str(tmp_path / "b")])
    assert code == 0
    result = json.loads((tmp_path / "b" / "bench.json").read_text())
    phone_rows = [r for r in result["rows"] if r.get("imported")]
    assert [r["folder"] for r in phone_rows] == ["Pixel 7", "Pixel 7"]
    assert phone_rows[1]["speedup_vs_fp32"] == pytest.approx(2.5) and phone_rows[1]["size_ratio"] == pytest.approx(0.25)
    assert phone_rows[1].get("agreement") is None
    junit = (tmp_path / "b" / "junit.xml").read_text()
    assert "Pixel" not in junit and "int8" in junit
    assert "Pixel 7 (Android 14)" in (tmp_path / "b" / "report.md").read_text()

    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps([{"export": "m.tflite", "format": "tflite", "precision": "fp32", "threads": 4,
                                "p50": 3.0, "device": "Pixel 7"}]))
    code = main(["bench", "--exports", str(exported / "export"), "--import", str(bad), "--out", str(tmp_path / "c")])
    assert code == 2
    assert "bad.json row 1 ('m.tflite'): unknown field 'p50'" in capsys.readouterr().err


@pytest.mark.slow
def test_android_rows_from_a_fake_phone_join_the_report(exported, tmp_path, monkeypatch):
    import shutil
    import sys

    from test_bench_android import FAKE_ADB, _tiny_tflite

    pytest.importorskip("ai_edge_litert")
    export = shutil.copytree(exported / "export", tmp_path / "export")
    _tiny_tflite(export / "model_fp32.tflite", "fp32", "float32")  # not in the manifest: phone only
    _tiny_tflite(export / "model_int8_dynamic_range.tflite", "int8", "dynamic_range")
    adb, binary, phone = tmp_path / "adb", tmp_path / "benchmark_model", tmp_path / "phone"
    adb.write_text(f"#!{sys.executable}\n{FAKE_ADB}")
    adb.chmod(0o755)
    binary.write_bytes(b"fake")
    (phone / "data/local/tmp").mkdir(parents=True)
    monkeypatch.setenv("FAKE_PHONE", str(phone))
    monkeypatch.setenv("FAKE_ADB_LOG", str(tmp_path / "adb.log"))
    code = main(["bench", "--exports", str(export), "--threads", "1", "--runs", "2", "--warmup", "1", "--no-memory",
                 "--android", "--benchmark-binary", str(binary), "--adb", str(adb), "--out", str(tmp_path / "b")])
    assert code == 0
    result = json.loads((tmp_path / "b" / "bench.json").read_text())
    phone_rows = [r for r in result["rows"] if r.get("imported")]
    assert [(r["export"], r["folder"], r["mean_ms"], r["p50_ms"]) for r in phone_rows] == [
        ("model_fp32.tflite", "Google Pixel 7", 10.0, None),
        ("model_int8_dynamic_range.tflite", "Google Pixel 7", 10.0, None)]
    assert phone_rows[1]["speedup_vs_fp32"] == pytest.approx(1.0) and phone_rows[1]["speedup_vs_first"] is None
    local = [r for r in result["rows"] if not r.get("imported")]
    assert local and all(r.get("peak_rss_mb") is None for r in local)  # --no-memory
    report = (tmp_path / "b" / "report.md").read_text()
    assert "mean ms" in report and "Google Pixel 7 (Android 14 (API 34))" in report
    assert list((phone / "data/local/tmp").iterdir()) == []


def test_run_refuses_unusable_timing_settings_before_any_work(tmp_path):
    from mocar.bench.suite import run
    from mocar.errors import InputError

    for settings in ({"runs": 0}, {"warmup": -1}, {"threads": ()}, {"threads": (0, 2)}):
        with pytest.raises(InputError, match="need runs >= 1, warmup >= 0 and thread counts >= 1"):
            run(tmp_path / "no_export_folder", **settings)  # the folder would fail later, with another message
