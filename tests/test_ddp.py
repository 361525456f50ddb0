"""`mocar train` under torchrun with 2 CPU processes (gloo) matches a single-process run."""
import subprocess
import sys

import pytest
import torch

from mocar.train.checkpoint import load_checkpoint

ARGS = ["--preset", "mocar_tiny", "--steps", "4", "--warmup", "1", "--batch-size", "8", "--micro-batch", "4",
        "--image-size", "32", "--resize", "40", "--workers", "0", "--eval-every", "2", "--lr", "0.02",
        "--mixup-alpha", "0", "--precision", "fp32", "--no-progress"]


@pytest.mark.slow
def test_ddp_two_cpu_processes_match_single_process(tiny_prepared, tmp_path):
    single = tmp_path / "single"
    cmd = [sys.executable, "-m", "mocar", "train", "--data", str(tiny_prepared), "--out", str(single), *ARGS]
    subprocess.run(cmd, check=True, capture_output=True, timeout=300)
    ddp = tmp_path / "ddp"
    launcher = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2", "-m", "mocar"]
    result = subprocess.run([*launcher, "train", "--data", str(tiny_prepared), "--out", str(ddp), *ARGS],
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    a, b = load_checkpoint(single / "last.pt"), load_checkpoint(ddp / "last.pt")
    assert b["step"] == 4
    for name, tensor in a["model"].items():
        torch.testing.assert_close(b["model"][name], tensor, rtol=1e-4, atol=1e-5, msg=name)
    import yaml

    assert yaml.safe_load((ddp / "config.yaml").read_text())["world_size"] == 2
    assert sorted(p.name for p in ddp.glob("*.pt")) == ["best.pt", "last.pt"]
