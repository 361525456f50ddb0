"""Forward-pass latency and throughput of mocar networks on this CPU (PyTorch eager, inference).

Per model and input size (:class:`Case`): each batch size, and each variant of :data:`VARIANTS` —
fp32 vs bf16 autocast, NCHW vs channels-last, the network as trained (timm's StdConv2d standardises
its weights on every call) vs folded by :func:`mocar.model.prepare_for_export` (plain convolutions).
Random weights: speed does not depend on their values. The variants of one (preset, size, batch)
are warmed up, then timed in alternation (one pass each per round, :func:`time_interleaved`) so
that load from other processes hits them alike; medians and p90 are reported. Before each group
:func:`measure_case` waits for a quiet CPU (:func:`mocar.bench.machine.wait_until_quiet`) and records
how much of the cores other processes used before and during it.
"""
from __future__ import annotations

import contextlib
import copy
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch

import mocar.model as mm
from mocar.bench.machine import OthersCpu, describe_machine, wait_until_quiet

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
    """One model at one input size, measured at the given batch sizes with the given variants."""

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


@dataclass(frozen=True)
class Timing:
    """How the variants are timed.

    Attributes:
        num_classes: Classes of the random networks.
        warmup: Untimed passes per variant.
        min_repeats: Timed rounds at least.
        max_repeats: Timed rounds at most.
        budget_s: Seconds of timed passes per variant (rounds stop after it once ``min_repeats`` are done).
        wait_quiet_s: Longest wait for an idle CPU before each group (0: one probe, no wait).
    """

    num_classes: int = 50
    warmup: int = 2
    min_repeats: int = 3
    max_repeats: int = 200
    budget_s: float = 4.0
    wait_quiet_s: float = 60.0


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
    others_cpu_before: float | None
    others_cpu_during: float | None


def make_runner(net: torch.nn.Module, images: torch.Tensor, bf16: bool) -> Callable[[], object]:
    """A zero-argument callable running one inference forward pass of a variant."""

    def run() -> object:
        autocast = torch.autocast("cpu", dtype=torch.bfloat16) if bf16 else contextlib.nullcontext()
        with torch.inference_mode(), autocast:
            return net(images)

    return run


def build_runners(model: torch.nn.Module, images: torch.Tensor, variants: Sequence[str]) -> dict[str, Callable]:
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


def time_interleaved(runners: dict[str, Callable], timing: Timing) -> dict[str, list[float]]:
    """Times the variants in alternation (one pass each per round), in milliseconds.

    Alternating spreads any background load over all variants instead of biasing whichever
    happened to run while another process was busy.
    """
    for run in runners.values():
        for _ in range(timing.warmup):
            run()
    timings: dict[str, list[float]] = {name: [] for name in runners}
    budget = timing.budget_s * len(runners)
    start_all = time.perf_counter()
    rounds = 0
    while rounds < timing.max_repeats and (rounds < timing.min_repeats or time.perf_counter() - start_all < budget):
        for name, run in runners.items():
            start = time.perf_counter()
            run()
            timings[name].append((time.perf_counter() - start) * 1e3)
        rounds += 1
    return timings


def _share(value: float | None) -> float | None:
    return None if value is None else round(value, 2)


def measure_case(case: Case, timing: Timing = Timing(), report: Callable[[Row], None] | None = None) -> list[Row]:
    """Measures every (batch, variant) of one case; ``report`` sees each row as it is measured."""
    info = mm.model_info(case.preset, input_size=case.img_size, num_classes=timing.num_classes)
    torch.manual_seed(0)
    model = mm.create_model_from_preset(case.preset, timing.num_classes).eval()
    rows = []
    for batch in case.batches:
        images = torch.randn(batch, 3, case.img_size, case.img_size)
        busy_before = _share(wait_until_quiet(timing.wait_quiet_s))
        with OthersCpu() as others:
            timings = time_interleaved(build_runners(model, images, case.variants), timing)
        for variant, runs in timings.items():
            p50 = statistics.median(runs)
            p90 = sorted(runs)[min(len(runs) - 1, int(0.9 * len(runs)))]
            rows.append(Row(case.preset, case.img_size, batch, variant, round(info["params"]["total"] / 1e6, 2),
                            round(info["macs"] / 1e9, 3), len(runs), round(p50, 2), round(p90, 2),
                            round(batch / p50 * 1e3, 1), torch.get_num_threads(), busy_before, _share(others.share)))
            if report is not None:
                report(rows[-1])
    return rows


def forward_machine() -> dict[str, str]:
    """:func:`~mocar.bench.machine.describe_machine` plus whether oneDNN has bf16 kernels on this CPU."""
    return {**describe_machine(), "onednn_bf16_supported": str(torch.ops.mkldnn._is_mkldnn_bf16_supported())}


def _percent(value: float | None) -> str:
    return "?" if value is None else f"{value:.0%}"


def render_markdown(rows: Sequence[Row], machine: dict[str, str], command: str, started: str, seconds: float) -> str:
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
        f"{r.repeats} | {r.p50_ms} | {r.p90_ms} | {r.images_per_s} | {_percent(r.others_cpu_before)} | "
        f"{_percent(r.others_cpu_during)} |"
        for r in rows
    ]
    return "\n".join(lines) + "\n"
