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
                          batch_size=8, micro_batch=4, image_size=32, resize=40, workers=0, eval_every=3, lr=0.02,
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
    assert fp32["size_ratio"] == pytest.approx(1.0)
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
