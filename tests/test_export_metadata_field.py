"""Exported files carry the run's conformal constants and model fingerprint, so a phone (and
`mocar predict --model`) gives the same calibrated answers as the float model."""
import pytest

from mocar.runtime.run_metadata import build_metadata
from mocar.field import calibrate_run, model_fingerprint
from mocar.train.config import TrainConfig
from mocar.train.loop import fit
from mocar.train.run_files import load_trained_run


@pytest.mark.slow
def test_metadata_embeds_calibration_and_fingerprint(tiny_prepared, tmp_path):
    run_dir = fit(TrainConfig(data=str(tiny_prepared), out=str(tmp_path / "run"), preset="mocar_tiny", steps=3,
                              warmup=1, batch_size=8, micro_batch=4, input_size=32, resize=40, workers=0,
                              eval_every=3, lr=0.02, progress=False, precision="fp32"))
    run = load_trained_run(run_dir)
    before = build_metadata(run, "fp32", "float", "onnx")
    assert before["calibration"] is None
    assert before["model"]["fingerprint"] == model_fingerprint(run.model)
    calibrate_run(run_dir)
    after = build_metadata(load_trained_run(run_dir), "fp32", "float", "onnx")
    assert after["calibration"]["classes"] and after["calibration"]["year"], "conformal constants must be embedded"
    assert after["model"]["fingerprint"] == before["model"]["fingerprint"]
