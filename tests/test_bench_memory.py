"""Peak RSS of a model file in a fresh child process (mocar.bench.memory), on trivial runners."""
import os
import subprocess
import sys

import numpy as np
import pytest

from mocar.bench.memory import MemoryProbeError, peak_rss_bytes, probe_memory

RUNNERS = '''
import numpy as np
from mocar.runtime.runners.base import Runner


class Hungry(Runner):
    """Holds 80 MB of touched memory once loaded (like a model's weights)."""

    def __init__(self, path, threads=1):
        super().__init__(path, threads)
        self.weights = np.ones(10_000_000)  # 80 MB of float64, every page written

    def run(self, images):
        return {"logits": images.reshape(len(images), -1)[:, :3] * self.weights[0]}


class Light(Hungry):
    def __init__(self, path, threads=1):
        Runner.__init__(self, path, threads)
        self.weights = np.ones(1)


class Broken(Light):
    def run(self, images):
        raise RuntimeError("kernel exploded")
'''


@pytest.fixture
def runner_module(tmp_path, monkeypatch):
    (tmp_path / "fake_runners.py").write_text(RUNNERS)
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(tmp_path), os.environ.get("PYTHONPATH", "")]))
    model = tmp_path / "model.bin"
    model.write_bytes(b"x")
    return model


def test_child_peak_counts_the_model_not_the_parent(runner_module):
    images = np.zeros((2, 3, 8, 8), np.float32)
    ballast = np.ones(40_000_000)  # 320 MB in the parent: must not show up in the child's figures
    hungry = probe_memory(runner_module, images, threads=1, runs=3, warmup=1, runner="fake_runners:Hungry")
    light = probe_memory(runner_module, images, threads=1, runs=3, warmup=1, runner="fake_runners:Light")
    assert ballast[-1] == 1.0
    assert 75 <= hungry.peak_rss_mb - hungry.baseline_rss_mb <= 110
    assert 0 <= light.peak_rss_mb - light.baseline_rss_mb < 15
    assert 5 < light.baseline_rss_mb < 250 and abs(light.baseline_rss_mb - hungry.baseline_rss_mb) < 15
    assert hungry.runs == 3 and hungry.load_s >= 0 and hungry.row_fields()["peak_rss_mb"] > hungry.row_fields()[
        "baseline_rss_mb"]
    if sys.platform == "linux":
        assert hungry.method == "VmHWM"


def test_failing_child_names_the_file_and_the_error(runner_module):
    with pytest.raises(MemoryProbeError, match=r"(?s)model\.bin: memory probe exited with 1: .*kernel exploded"):
        probe_memory(runner_module, np.zeros((1, 3, 4, 4), np.float32), 1, runner="fake_runners:Broken")


def test_peak_rss_reads_this_process(tmp_path):
    before, _ = peak_rss_bytes()
    block = np.ones(5_000_000)  # 40 MB touched
    after, _ = peak_rss_bytes()
    assert block[0] == 1.0 and after >= before and after > 40e6


def test_inherited_rusage_would_have_been_wrong():
    """Why VmHWM: a fresh child's ru_maxrss carries this (large) process's RSS on Linux."""
    if not os.path.exists("/proc/self/status"):
        pytest.skip("Linux only")
    ballast = np.ones(40_000_000)  # 320 MB
    code = ("import resource;from mocar.bench.memory import peak_rss_bytes;"
            "print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024, peak_rss_bytes()[0])")
    maxrss, hwm = map(int, subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                                          check=True).stdout.split())
    assert ballast[0] == 1.0 and hwm < 200e6 < maxrss
