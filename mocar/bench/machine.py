"""The one description of the machine a benchmark ran on, and how busy it was.

Benchmarks on this project run on small shared machines (2 cores) where other jobs may be busy at
the same time, so every result states the machine and its load. Two shapes of the same facts:

* :func:`describe_machine` — the header of a result file: CPU model, the ISA flags that matter for
  PyTorch and the int8 runtimes on a CPU, cores, Python and library versions (more on request,
  read from package metadata without importing them), the OpenMP settings;
* :func:`machine_fields` and :func:`load_1m` — the flat ``cpu``, ``cores``, ``python``, ``system``
  and ``load_1m`` fields every bench row carries (:data:`mocar.bench.rows.FIELDS`).

Load: :func:`load_average`; :class:`LoadMonitor` fills a :class:`LoadRecord` (load average before
and after a block, and the share of all cores that *other* processes used meanwhile: busy time
from /proc/stat minus this process's own CPU time and that of its finished children, e.g.
DataLoader workers); :class:`OthersCpu` gives that share alone, and :func:`wait_until_quiet` waits
for a quiet moment before a timing block.

Caveat: Linux only (/proc); elsewhere the CPU model falls back to :func:`platform.processor` and
the load figures are unknown (``None``). CPU time of child processes still running when a block
ends is not yet in ``getrusage`` and is counted as "others" for that block.
"""
from __future__ import annotations

import contextlib
import os
import platform
import resource
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from mocar.runtime.metadata import package_versions

_CPUINFO = Path("/proc/cpuinfo")
_STAT = Path("/proc/stat")
_OPENMP_ENV = ("OMP_NUM_THREADS", "OMP_WAIT_POLICY", "GOMP_SPINCOUNT", "KMP_BLOCKTIME")
# Flags that change which kernels PyTorch (oneDNN), onnxruntime and XNNPACK can use for fp32/bf16/int8.
_ISA_PREFIXES = ("amx", "avx512f", "avx512_bf16", "avx512_fp16", "avx512_vnni", "avx_vnni")


def _cpuinfo() -> tuple[str | None, list[str]]:
    """(model name of the first core, its flags) from /proc/cpuinfo; (None, []) without it."""
    model, flags = None, []
    with contextlib.suppress(OSError):
        for line in _CPUINFO.read_text().splitlines():
            if line.startswith("model name") and model is None:
                model = line.split(":", 1)[1].strip()
            elif line.startswith("flags") and not flags:
                flags = line.split(":", 1)[1].split()
    return model, flags


def cpu_model() -> str:
    """The CPU model name (``platform.processor()`` where /proc/cpuinfo is missing)."""
    return _cpuinfo()[0] or platform.processor()


def isa_flags(flags: Sequence[str]) -> str:
    """The flags of :data:`_ISA_PREFIXES` present in ``flags``, noting a missing AMX."""
    isa = sorted(f for f in flags if f.startswith(_ISA_PREFIXES))
    return " ".join(isa) + ("" if any(f.startswith("amx") for f in flags) else " (no AMX)")


def machine_fields() -> dict[str, str | int | None]:
    """The machine fields of a bench row: ``cpu``, ``cores``, ``python``, ``system``."""
    return {"cpu": cpu_model(), "cores": os.cpu_count(), "python": platform.python_version(),
            "system": platform.system()}


def load_1m() -> float | None:
    """The 1-minute load average (2 decimals) for a bench row: a busy machine slows multi-threaded runs a lot."""
    load = load_average()
    return None if load is None else round(load[0], 2)


def describe_machine(packages: Sequence[str] = ()) -> dict[str, str]:
    """CPU model, the ISA flags that matter, cores, library versions and OpenMP settings.

    Args:
        packages: More distributions whose versions to add (e.g. ``("onnxruntime", "ai-edge-litert")``),
            read from package metadata without importing them; ``absent`` where not installed.

    Returns:
        Text values by name, in a stable order (a result file prints them as they come).
    """
    import numpy
    import timm
    import torch

    model, flags = _cpuinfo()
    machine = {
        "cpu": model or platform.processor() or "unknown",
        "isa": isa_flags(flags),
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
    extra = tuple(name for name in packages if name not in machine)
    machine.update({name: version or "absent" for name, version in package_versions(extra).items()})
    return machine


def load_average() -> tuple[float, float, float] | None:
    """The 1, 5 and 15-minute load averages, or ``None`` where the system has none."""
    try:
        return tuple(float(v) for v in os.getloadavg())  # type: ignore[return-value]
    except OSError:
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


def _others_share(jiffies_start: tuple[int, int] | None, jiffies_end: tuple[int, int] | None,
                  own_seconds: float) -> float | None:
    """Share of all cores (0..1, 3 decimals) busy with other processes between two /proc/stat readings."""
    if jiffies_start is None or jiffies_end is None:
        return None
    total = max(1, jiffies_end[0] - jiffies_start[0])
    busy = total - (jiffies_end[1] - jiffies_start[1])
    own = own_seconds * os.sysconf("SC_CLK_TCK")
    return round(min(1.0, max(0.0, (busy - own) / total)), 3)


class OthersCpu:
    """Context manager: ``share`` = share of all cores (0..1) other processes used during the block.

    ``None`` where /proc/stat is missing.
    """

    def __enter__(self) -> OthersCpu:
        self.share: float | None = None
        self._start = (_cpu_jiffies(), _own_cpu_seconds())
        return self

    def __exit__(self, *exc: object) -> None:
        jiffies_start, own_start = self._start
        self.share = _others_share(jiffies_start, _cpu_jiffies(), _own_cpu_seconds() - own_start)


def wait_until_quiet(max_wait_s: float, threshold: float = 0.2, probe_s: float = 1.0, pause_s: float = 4.0
                     ) -> float | None:
    """Waits (up to ``max_wait_s``) until other processes use at most ``threshold`` of all cores.

    Each probe watches the cores for ``probe_s`` while this process sleeps; between probes it pauses
    ``pause_s``. The machine is shared: timing starts in a quiet moment if one comes, and the share
    is recorded next to the numbers either way.

    Returns:
        The share of the last probe (``None`` without /proc/stat).
    """
    deadline = time.monotonic() + max_wait_s
    while True:
        with OthersCpu() as others:
            time.sleep(probe_s)
        if others.share is None or others.share <= threshold or time.monotonic() >= deadline:
            return others.share
        time.sleep(pause_s)


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
        """One line for a result file, e.g. ``load average (1/5/15 min) 5.1/4.2/3.0 -> 5.9/4.6/3.2; ...``."""
        def fmt(load: Sequence[float] | None) -> str:
            return "/".join(f"{v:.1f}" for v in load) if load else "unknown"

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
        self._start = time.perf_counter()
        self._others = OthersCpu().__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self._others.__exit__(*exc)
        self.record.seconds = time.perf_counter() - self._start
        self.record.loadavg_after = load_average()
        self.record.others_share = self._others.share
