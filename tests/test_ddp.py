"""`mocar train` under torchrun with 2 CPU processes (gloo) matches a single-process run; runs close their group."""
import subprocess
import sys

import pytest
import torch

from mocar.errors import InputError
from mocar.train import distributed
from mocar.train.checkpoint import load_checkpoint
from mocar.train.config import TrainConfig
from mocar.train.loop import fit

ARGS = ["--preset", "mocar_tiny", "--steps", "4", "--warmup", "1", "--batch-size", "8", "--micro-batch", "4",
        "--input-size", "32", "--resize", "40", "--workers", "0", "--eval-every", "2", "--lr", "0.02",
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


@pytest.fixture
def fake_process_group(monkeypatch):
    """torch.distributed's group calls, recorded instead of made, as if launched by torchrun with 2 ranks."""
    calls, opened = [], [False]

    def init(backend):
        calls.append(f"init {backend}")
        opened[0] = True

    def destroy():
        calls.append("destroy")
        opened[0] = False

    monkeypatch.setattr(distributed.dist, "is_initialized", lambda: opened[0])
    monkeypatch.setattr(distributed.dist, "init_process_group", init)
    monkeypatch.setattr(distributed.dist, "destroy_process_group", destroy)
    for name, value in (("WORLD_SIZE", "2"), ("RANK", "0"), ("LOCAL_RANK", "0")):
        monkeypatch.setenv(name, value)
    return calls, opened


def test_a_failed_run_still_tears_down_the_group_it_opened(fake_process_group, tmp_path):
    calls, _ = fake_process_group
    with pytest.raises(InputError, match="no manifest.parquet"):
        fit(TrainConfig(data=str(tmp_path / "missing"), out=str(tmp_path / "run"), device="cpu"))
    assert calls == ["init gloo", "destroy"]


def test_a_group_the_caller_opened_stays_open(fake_process_group):
    calls, opened = fake_process_group
    opened[0] = True
    with distributed.process_group("cpu") as ctx:
        assert ctx.world_size == 2 and ctx.enabled
    assert calls == [] and opened[0]
