"""Machine description and background-load sampling shared by the benchmark scripts.

Benchmarks on this project run on small shared machines (2 cores) where other jobs may be busy at
the same time. Every result file therefore states the machine (CPU model, ISA flags that matter
for PyTorch on a CPU, cores, library versions) and how loaded it was: the 1/5/15-minute load
average before and after, and the share of all cores that *other* processes used while the
measurement ran (busy time from /proc/stat minus this process's own CPU time and that of its
finished children, e.g. DataLoader workers).

Caveat: Linux only (/proc); elsewhere the load figures are reported as unknown (``None``). CPU
time of child processes still running when a block ends is not yet in ``getrusage`` and is
counted as "others" for that block.
"""
from __future__ import annotations

import contextlib
import datetime
import os
import platform
import resource
import shlex
import sys
import time
from dataclasses import dataclass
from pathlib import Path

_CPUINFO = Path("/proc/cpuinfo")
_STAT = Path("/proc/stat")
_LOADAVG = Path("/proc/loadavg")
_OPENMP_ENV = ("OMP_NUM_THREADS", "OMP_WAIT_POLICY", "GOMP_SPINCOUNT", "KMP_BLOCKTIME")


def describe_machine() -> dict[str, str]:
    """CPU model, the ISA flags PyTorch cares about, cores and library versions."""
    import numpy
    import timm
    import torch

    model, flags = "unknown", []
    with contextlib.suppress(OSError):
        for line in _CPUINFO.read_text().splitlines():
            if line.startswith("model name") and model == "unknown":
                model = line.split(":", 1)[1].strip()
            elif line.startswith("flags") and not flags:
                flags = line.split(":", 1)[1].split()
    isa = sorted(f for f in flags if f.startswith(("amx", "avx512_bf16", "avx512_vnni", "avx_vnni")))
    return {
        "cpu": model,
        "isa": " ".join(isa) + ("" if any(f.startswith("amx") for f in flags) else " (no AMX)"),
        "logical_cpus": str(os.cpu_count()),
        "torch_threads": str(torch.get_num_threads()),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "timm": timm.__version__,
        "numpy": numpy.__version__,
        "torch_cpu_capability": torch.backends.cpu.get_cpu_capability(),
        # OpenMP settings change multi-threaded speed a lot on a shared machine; record them.
        "openmp_env": " ".join(f"{k}={os.environ[k]}" for k in _OPENMP_ENV if k in os.environ) or "(defaults)",
    }


def load_average() -> tuple[float, float, float] | None:
    """The 1, 5 and 15-minute load averages, or ``None`` without /proc."""
    try:
        return tuple(float(v) for v in _LOADAVG.read_text().split()[:3])  # type: ignore[return-value]
    except (OSError, ValueError):
        return None


def _cpu_jiffies() -> tuple[int, int] | None:
    """(all, idle + iowait) jiffies of all cores since boot."""
    try:
        fields = [int(v) for v in _STAT.read_text().split("\n", 1)[0].split()[1:]]
    except (OSError, ValueError):
        return None
    return sum(fields), fields[3] + fields[4]


def _own_cpu_seconds() -> float:
    """CPU time of this process plus its finished (waited-for) children."""
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


@dataclass
class LoadRecord:
    """How busy the machine was while a block of work ran.

    Attributes:
        seconds: Wall time of the block.
        loadavg_before: Load averages (1/5/15 min) when the block started.
        loadavg_after: Load averages when it ended.
        others_share: Share of all cores (0..1) used by other processes during the block.
    """

    seconds: float = 0.0
    loadavg_before: tuple[float, float, float] | None = None
    loadavg_after: tuple[float, float, float] | None = None
    others_share: float | None = None

    def describe(self) -> str:
        """One line for a result file, e.g. ``load 5.1/4.2/3.0 -> 5.9/4.6/3.2, others used 71 % ...``."""
        fmt = lambda load: "/".join(f"{v:.1f}" for v in load) if load else "unknown"  # noqa: E731
        others = "unknown" if self.others_share is None else f"{self.others_share:.0%}"
        return (f"load average (1/5/15 min) {fmt(self.loadavg_before)} -> {fmt(self.loadavg_after)}; "
                f"other processes used {others} of all cores during these {self.seconds:.0f} s")


class LoadMonitor:
    """Context manager filling a :class:`LoadRecord` for the block it wraps.

    Example::

        with LoadMonitor() as load:
            run_benchmark()
        print(load.record.describe())
    """

    def __enter__(self) -> LoadMonitor:
        self.record = LoadRecord(loadavg_before=load_average())
        self._start = (time.perf_counter(), _cpu_jiffies(), _own_cpu_seconds())
        return self

    def __exit__(self, *exc: object) -> None:
        wall_start, jiffies_start, own_start = self._start
        self.record.seconds = time.perf_counter() - wall_start
        self.record.loadavg_after = load_average()
        jiffies_end = _cpu_jiffies()
        if jiffies_start is None or jiffies_end is None:
            return
        total = max(1, jiffies_end[0] - jiffies_start[0])
        busy = total - (jiffies_end[1] - jiffies_start[1])
        own = (_own_cpu_seconds() - own_start) * os.sysconf("SC_CLK_TCK")
        self.record.others_share = round(min(1.0, max(0.0, (busy - own) / total)), 3)


def command_line(script: str | Path, argv: list[str] | None = None) -> str:
    """The command that reproduces a run of ``script`` (repository root, .venv) with ``argv``.

    Args:
        script: The benchmark script's path (``__file__``).
        argv: Its arguments; defaults to the real command line's.
    """
    args = sys.argv[1:] if argv is None else argv
    root = Path(__file__).resolve().parents[1]
    with contextlib.suppress(ValueError):
        script = Path(script).resolve().relative_to(root)
    return shlex.join([".venv/bin/python", str(script), *args])


def now() -> str:
    """Local date and time, ISO format, to the second."""
    return datetime.datetime.now().astimezone().isoformat(timespec="seconds")


def machine_lines(machine: dict[str, str]) -> list[str]:
    """Markdown bullet lines describing the machine."""
    return [f"- {key}: {value}" for key, value in machine.items()]
