"""Forward-pass latency and throughput of mocar networks on this CPU (PyTorch eager, inference).

Measures, per model and input size: batch 1 and a larger batch; fp32 vs bf16 autocast; NCHW vs
channels-last; the network as trained (timm StdConv2d standardises its weights on every call)
vs folded by ``prepare_for_export`` (plain convolutions). Random weights: speed does not depend
on their values. The variants of one (preset, size, batch) are warmed up, then timed in
alternation (one pass each per round) for about ``--budget`` seconds per variant or
``--max-repeats`` rounds (at least ``--min-repeats``); medians and p90 are reported. Before
each group the script waits (up to ``--wait-quiet`` s) for an idle CPU and it records how much
CPU other processes used before and during the group, so runs that shared the cores stand out.

Writes ``<out>.md`` (table, command, machine, date) and ``<out>.json`` (flat rows).

Usage:
    python benchmarks/model_forward.py                 # full suite, about 6-8 min on 2 cores
    python benchmarks/model_forward.py --only tiny     # seconds, for smoke tests
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import datetime
import json
import os
import platform
import shlex
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import timm
import torch

import mocar.model as mm

DEFAULT_OUT = Path(__file__).resolve().parent / "results" / "model_forward"
# Variant name -> (bf16 autocast, channels_last, folded by prepare_for_export)
VARIANTS = {
    "fp32": (False, False, False),
    "fp32 folded": (False, False, True),
    "fp32 folded CL": (False, True, True),
    "bf16 folded": (True, False, True),
    "bf16 folded CL": (True, True, True),
}


@dataclass(frozen=True)
class Case:
    """One model at one input size, measured at two batch sizes with the given variants."""

    group: str
    preset: str
    img_size: int
    batches: tuple[int, ...]
    variants: tuple[str, ...]


CASES = (
    Case("tiny", "mocar_tiny", 128, (1, 16), tuple(VARIANTS)),
    Case("r50_224", "maxavgcat_r50x1_h1024", 224, (1, 8), tuple(VARIANTS)),
    Case("r50_224", "mocar_r50x1", 224, (1, 8), ("fp32 folded", "bf16 folded")),
    Case("r50_480", "maxavgcat_r50x1_h1024", 480, (1, 8), tuple(VARIANTS)),
    Case("r50_480", "mocar_r50x1", 480, (1,), ("fp32 folded", "bf16 folded")),
)


@dataclass
class Row:
    """One measured configuration (flat, for JSON/CSV)."""

    preset: str
    img_size: int
    batch: int
    variant: str
    params_m: float
    gmacs_per_image: float
    repeats: int
    p50_ms: float
    p90_ms: float
    images_per_s: float
    threads: int
    others_cpu_before: float
    others_cpu_during: float


def make_runner(net: torch.nn.Module, images: torch.Tensor, bf16: bool) -> Callable[[], object]:
    """A zero-argument callable running one inference forward pass of a variant."""

    def run() -> object:
        autocast = torch.autocast("cpu", dtype=torch.bfloat16) if bf16 else contextlib.nullcontext()
        with torch.inference_mode(), autocast:
            return net(images)

    return run


def build_runners(model: torch.nn.Module, images: torch.Tensor, variants: tuple[str, ...]) -> dict[str, Callable]:
    """One runner per variant; the folded and channels-last networks are separate copies."""
    folded = mm.prepare_for_export(model)
    folded_cl = copy.deepcopy(folded).to(memory_format=torch.channels_last)
    images_cl = images.contiguous(memory_format=torch.channels_last)
    runners = {}
    for variant in variants:
        bf16, channels_last, fold = VARIANTS[variant]
        net = (folded_cl if channels_last else folded) if fold else model
        runners[variant] = make_runner(net, images_cl if channels_last else images, bf16)
    return runners


def time_interleaved(runners: dict[str, Callable], args: argparse.Namespace) -> dict[str, list[float]]:
    """Times the variants in alternation (one pass each per round), in milliseconds.

    Alternating spreads any background load over all variants instead of biasing whichever
    happened to run while another process was busy.
    """
    for run in runners.values():
        for _ in range(args.warmup):
            run()
    timings: dict[str, list[float]] = {name: [] for name in runners}
    budget = args.budget * len(runners)
    start_all = time.perf_counter()
    rounds = 0
    while rounds < args.max_repeats and (rounds < args.min_repeats or time.perf_counter() - start_all < budget):
        for name, run in runners.items():
            start = time.perf_counter()
            run()
            timings[name].append((time.perf_counter() - start) * 1e3)
        rounds += 1
    return timings


def _cpu_counters() -> tuple[int, int]:
    """(total, idle + iowait) jiffies of all cores since boot, from /proc/stat."""
    fields = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    return sum(fields), fields[3] + fields[4]


class OtherCpuUse:
    """Measures the share of all cores used by *other* processes while the block runs.

    Busy share from /proc/stat minus this process's own CPU time; 0.0 where /proc is missing.
    """

    def __enter__(self) -> OtherCpuUse:
        self.share = 0.0
        self._start = (_cpu_counters(), time.process_time())
        return self

    def __exit__(self, *exc: object) -> None:
        (total_a, idle_a), own_a = self._start
        total_b, idle_b = _cpu_counters()
        elapsed = max(1, total_b - total_a)
        own = (time.process_time() - own_a) * os.sysconf("SC_CLK_TCK")
        self.share = round(max(0.0, (elapsed - (idle_b - idle_a) - own) / elapsed), 2)


def cpu_busy_fraction(interval_s: float = 1.0) -> float:
    """Share of all cores busy during ``interval_s`` while this process sleeps."""
    with OtherCpuUse() as use:
        time.sleep(interval_s)
    return use.share


def wait_until_quiet(max_wait_s: float, threshold: float = 0.2) -> float:
    """Waits (up to ``max_wait_s``) until other processes leave the CPU mostly idle.

    Returns:
        The busy fraction last measured (recorded with the rows it precedes).
    """
    deadline = time.monotonic() + max_wait_s
    busy = cpu_busy_fraction()
    while busy > threshold and time.monotonic() < deadline:
        time.sleep(4.0)
        busy = cpu_busy_fraction()
    return round(busy, 2)


def measure_case(case: Case, args: argparse.Namespace) -> list[Row]:
    """Measures every (batch, variant) of one case."""
    info = mm.model_info(case.preset, img_size=case.img_size, num_classes=args.num_classes)
    torch.manual_seed(0)
    model = mm.create_model_from_preset(case.preset, args.num_classes).eval()
    rows = []
    for batch in case.batches:
        images = torch.randn(batch, 3, case.img_size, case.img_size)
        busy_before = wait_until_quiet(args.wait_quiet)
        with OtherCpuUse() as others:
            timings = time_interleaved(build_runners(model, images, case.variants), args)
        for variant, runs in timings.items():
            p50 = statistics.median(runs)
            p90 = sorted(runs)[min(len(runs) - 1, int(0.9 * len(runs)))]
            rows.append(Row(case.preset, case.img_size, batch, variant, round(info["params"]["total"] / 1e6, 2),
                            round(info["macs"] / 1e9, 3), len(runs), round(p50, 2), round(p90, 2),
                            round(batch / p50 * 1e3, 1), torch.get_num_threads(), busy_before, others.share))
            print(f"{case.preset:24s} {case.img_size:4d}px b{batch:<3d} {variant:15s} "
                  f"p50 {p50:9.2f} ms  {rows[-1].images_per_s:8.1f} img/s  (n={len(runs)}, others' CPU "
                  f"{busy_before:.0%} before, {others.share:.0%} during)", flush=True)
    return rows


def machine_info() -> dict[str, str]:
    """CPU model, relevant ISA flags, cores and library versions."""
    model_name, flags = "unknown", []
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name") and model_name == "unknown":
                model_name = line.split(":", 1)[1].strip()
            if line.startswith("flags") and not flags:
                flags = line.split(":", 1)[1].split()
    wanted = sorted(f for f in flags if f.startswith(("amx", "avx512", "avx_vnni")))
    return {
        "cpu": model_name,
        "isa_flags": " ".join(wanted) + ("" if any(f.startswith("amx") for f in flags) else " (no AMX)"),
        "logical_cpus": str(torch.multiprocessing.cpu_count()),
        "torch_threads": str(torch.get_num_threads()),
        "torch": torch.__version__,
        "timm": timm.__version__,
        "python": platform.python_version(),
        "torch_cpu_capability": torch.backends.cpu.get_cpu_capability(),
        "onednn_bf16_supported": str(torch.ops.mkldnn._is_mkldnn_bf16_supported()),
    }


def render_markdown(rows: list[Row], machine: dict[str, str], command: str, started: str, seconds: float) -> str:
    """The result file: command, machine, date and one table row per measurement."""
    lines = [
        "# Model forward latency (PyTorch eager, CPU)",
        "",
        f"- Command: `{command}`",
        f"- Date: {started} (total run time {seconds:.0f} s)",
        *[f"- {key}: {value}" for key, value in machine.items()],
        "- Random weights; `torch.inference_mode()`; eval mode. `folded` = `mocar.model.prepare_for_export`"
        " (StdConv2d weights standardised once); `CL` = channels-last; `bf16` = `torch.autocast('cpu', bfloat16)`.",
        "- Variants of one (preset, size, batch) are timed in alternation, one pass each per round."
        " The machine is shared with other jobs: before each group the script waits (up to"
        " `--wait-quiet` s) for the CPU to be idle; `others' CPU` = share of all cores used by other"
        " processes in the second before / during the group (from /proc/stat minus this process)."
        " Where `during` is well above 0 %, that group's absolute numbers are pessimistic.",
        "- MACs: convolutions + matrix products per image (`torch.utils.flop_counter`, MACs = FLOPs / 2).",
        "",
        "| preset | px | batch | variant | params (M) | GMACs/img | runs | p50 ms | p90 ms | img/s"
        " | others' CPU before | during |",
        "|---|---:|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    lines += [
        f"| {r.preset} | {r.img_size} | {r.batch} | {r.variant} | {r.params_m} | {r.gmacs_per_image} | "
        f"{r.repeats} | {r.p50_ms} | {r.p90_ms} | {r.images_per_s} | {r.others_cpu_before:.0%} | "
        f"{r.others_cpu_during:.0%} |"
        for r in rows
    ]
    return "\n".join(lines) + "\n"


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", choices=sorted({c.group for c in CASES}), action="append",
                        help="run only these case groups (repeatable); default: all")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--num-classes", type=int, default=50)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--min-repeats", type=int, default=3)
    parser.add_argument("--max-repeats", type=int, default=200)
    parser.add_argument("--budget", type=float, default=4.0, help="seconds of timed runs per variant")
    parser.add_argument("--wait-quiet", type=float, default=60.0,
                        help="max seconds to wait for an idle CPU before each group (0: never wait)")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="output path without suffix")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> list[Row]:
    """Runs the selected cases and writes the .md and .json results."""
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    command = "python " + " ".join(shlex.quote(a) for a in [sys.argv[0], *(argv if argv is not None else sys.argv[1:])])
    started = datetime.datetime.now().astimezone().isoformat(timespec="seconds")
    t0 = time.perf_counter()
    rows = [row for case in CASES if not args.only or case.group in args.only for row in measure_case(case, args)]
    seconds = time.perf_counter() - t0
    machine = machine_info()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.with_suffix(".md").write_text(render_markdown(rows, machine, command, started, seconds))
    payload = {"command": command, "date": started, "machine": machine, "rows": [asdict(r) for r in rows]}
    args.out.with_suffix(".json").write_text(json.dumps(payload, indent=1) + "\n")
    print(f"wrote {args.out.with_suffix('.md')} and .json in {seconds:.0f} s")
    return rows


if __name__ == "__main__":
    main()
