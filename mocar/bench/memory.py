"""Peak memory of one model file: its load and latency loop replayed in a fresh child process.

``mocar bench`` times every file in one long-lived process, whose memory says nothing about one
file (every runtime and every earlier model are still resident). :func:`probe_memory` therefore
starts ``python -m mocar.bench.memory`` per file. The child

1. loads the decoded images (a ``.npy`` the parent wrote) and imports the runner class and its
   runtime library (the format's ``runtime_modules``, :mod:`mocar.runtime.registry`), then records
   its peak RSS: ``baseline_rss_mb``;
2. opens the file with the runner at the given thread count, runs ``warmup`` untimed and ``runs``
   timed batch-1 inferences (the same loop as :func:`mocar.bench.suite.time_runner`), then records
   its peak RSS again: ``peak_rss_mb`` (the whole process, nothing subtracted), and the load time.

``peak_rss_mb - baseline_rss_mb`` is the share of the model and its runtime state (arena, weights,
caches). The child prints one JSON line; the parent returns it as :class:`MemoryProbe`.

Caveat — how the peak is read: on Linux the child reads ``VmHWM`` from ``/proc/self/status`` (the
high-water mark of its own address space). ``resource.getrusage(RUSAGE_SELF).ru_maxrss`` is *not*
used there: Linux carries the parent's resident size over ``fork``/``vfork`` + ``exec`` into the
child's ``ru_maxrss`` (measured here: a child of a 400 MB parent reported 407 MB while its VmHWM was
11 MB). Elsewhere ``ru_maxrss`` is the fallback (bytes on macOS, KiB on other Unixes), with that
inheritance caveat.
"""
from __future__ import annotations

import argparse
import importlib
import json
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from mocar.errors import MocarError
from mocar.runtime.registry import format_of, import_object, load

PROBE_RUNS = 10  # peak memory is reached by the first inferences; more runs only cost time
PROBE_TIMEOUT_S = 600.0


class MemoryProbeError(MocarError):
    """The child process failed or printed no result."""


@dataclass(frozen=True)
class MemoryProbe:
    """What one child process measured (MB = 10^6 bytes)."""

    peak_rss_mb: float
    baseline_rss_mb: float
    load_s: float
    runs: int
    method: str

    def row_fields(self) -> dict[str, float]:
        """The bench row fields (``peak_rss_mb``, ``baseline_rss_mb``)."""
        return {"peak_rss_mb": round(self.peak_rss_mb, 1), "baseline_rss_mb": round(self.baseline_rss_mb, 1)}


def peak_rss_bytes() -> tuple[int, str]:
    """This process's peak resident set size in bytes, and how it was read (see the module caveat)."""
    status = Path("/proc/self/status")
    if status.exists():
        for line in status.read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024, "VmHWM"
    import resource

    maxrss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return (maxrss if sys.platform == "darwin" else maxrss * 1024), "ru_maxrss"


def probe_memory(path: str | Path, images: np.ndarray, threads: int, runs: int = PROBE_RUNS, warmup: int = 2,
                 runner: str | None = None, timeout_s: float = PROBE_TIMEOUT_S) -> MemoryProbe:
    """Loads and runs one model file in a fresh child process and returns its peak memory.

    Args:
        path: The model file.
        images: Preprocessed float32 NCHW images (run one at a time, cycling).
        threads: Runtime threads in the child.
        runs: Timed runs after the warm-up.
        warmup: Untimed runs first.
        runner: ``"module:Class"`` of a :class:`~mocar.runtime.runners.base.Runner` to use instead of
            the one chosen by the file's suffix (tests, other runtimes).
        timeout_s: The child is killed after this long.

    Raises:
        MemoryProbeError: If the child fails, times out or prints no result (its stderr tail is included).
    """
    with tempfile.TemporaryDirectory(prefix="mocar_memory_") as tmp:
        npy = Path(tmp) / "images.npy"
        np.save(npy, np.ascontiguousarray(images, dtype=np.float32))
        command = [sys.executable, "-m", "mocar.bench.memory", str(path), str(npy), "--threads", str(threads),
                   "--runs", str(runs), "--warmup", str(warmup)] + (["--runner", runner] if runner else [])
        try:
            done = subprocess.run(command, capture_output=True, text=True, timeout=timeout_s, check=False)
        except subprocess.TimeoutExpired as err:
            raise MemoryProbeError(f"{path}: memory probe took over {timeout_s:.0f} s") from err
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    if done.returncode != 0 or not lines:
        raise MemoryProbeError(f"{path}: memory probe exited with {done.returncode}: {done.stderr[-800:].strip()}")
    return MemoryProbe(**json.loads(lines[-1]))


def _import_runner(path: Path, runner: str | None):
    """The runner class, with its runtime library already imported: the baseline then holds the same
    libraries as the measured run, and the difference is the model's."""
    if runner:
        return import_object(runner)
    fmt = format_of(path)
    runner_class = load(fmt, "runner")
    for module in fmt.runtime_modules:
        importlib.import_module(module)
    return runner_class


def _child(args: argparse.Namespace) -> dict[str, float | int | str]:
    """The child's measurement (see the module docstring for the steps)."""
    images = np.load(args.images)
    runner_class = _import_runner(Path(args.model), args.runner)
    baseline, method = peak_rss_bytes()
    start = time.perf_counter()
    model = runner_class(Path(args.model), threads=args.threads)
    load_s = time.perf_counter() - start
    for i in range(args.warmup + args.runs):
        model.run(images[i % len(images)][None])
    peak, _ = peak_rss_bytes()
    return {"peak_rss_mb": peak / 1e6, "baseline_rss_mb": baseline / 1e6, "load_s": round(load_s, 4),
            "runs": args.runs, "method": method}


def main(argv: list[str] | None = None) -> int:
    """Entry point of the child process (``python -m mocar.bench.memory MODEL IMAGES.npy ...``)."""
    parser = argparse.ArgumentParser(prog="python -m mocar.bench.memory", description=__doc__.splitlines()[0])
    parser.add_argument("model")
    parser.add_argument("images", help=".npy of float32 NCHW preprocessed images")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--runs", type=int, default=PROBE_RUNS)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--runner", help="module:Class of the runner (default: by the file's suffix)")
    args = parser.parse_args(argv)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    print(json.dumps(_child(args)), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
