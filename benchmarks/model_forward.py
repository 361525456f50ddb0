"""Forward-pass latency and throughput of mocar networks on this CPU (PyTorch eager, inference).

Measures, per model and input size: batch 1 and a larger batch; fp32 vs bf16 autocast; NCHW vs
channels-last; the network as trained (timm StdConv2d standardises its weights on every call)
vs folded by ``prepare_for_export`` (plain convolutions). Random weights: speed does not depend
on their values. The variants of one (preset, size, batch) are warmed up, then timed in
alternation (one pass each per round) for about ``--budget`` seconds per variant or
``--max-repeats`` rounds (at least ``--min-repeats``); medians and p90 are reported. Before
each group the script waits (up to ``--wait-quiet`` s) for an idle CPU and it records how much
CPU other processes used before and during the group, so runs that shared the cores stand out.

The measurement is :mod:`mocar.bench.forward`. Writes ``<out>.md`` (table, command, machine, date) and
``<out>.json`` (flat rows).

Usage:
    .venv/bin/python benchmarks/model_forward.py                 # full suite, about 6-8 min on 2 cores
    .venv/bin/python benchmarks/model_forward.py --only tiny     # seconds, for smoke tests
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import asdict
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _machine import command_line, now  # noqa: E402

from mocar.bench.forward import CASES, Row, Timing, forward_machine, measure_case, render_markdown  # noqa: E402

DEFAULT_OUT = Path(__file__).resolve().parent / "results" / "model_forward"


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


def _print_row(r: Row) -> None:
    def percent(share: float | None) -> str:
        return "?" if share is None else f"{share:.0%}"

    print(f"{r.preset:24s} {r.img_size:4d}px b{r.batch:<3d} {r.variant:15s} p50 {r.p50_ms:9.2f} ms  "
          f"{r.images_per_s:8.1f} img/s  (n={r.repeats}, others' CPU {percent(r.others_cpu_before)} before, "
          f"{percent(r.others_cpu_during)} during)", flush=True)


def main(argv: list[str] | None = None) -> list[Row]:
    """Runs the selected cases and writes the .md and .json results."""
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    timing = Timing(num_classes=args.num_classes, warmup=args.warmup, min_repeats=args.min_repeats,
                    max_repeats=args.max_repeats, budget_s=args.budget, wait_quiet_s=args.wait_quiet)
    command, started, t0 = command_line(__file__, argv), now(), time.perf_counter()
    rows = [row for case in CASES if not args.only or case.group in args.only
            for row in measure_case(case, timing, report=_print_row)]
    seconds = time.perf_counter() - t0
    machine = forward_machine()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.with_suffix(".md").write_text(render_markdown(rows, machine, command, started, seconds))
    payload = {"command": command, "date": started, "machine": machine, "rows": [asdict(r) for r in rows]}
    args.out.with_suffix(".json").write_text(json.dumps(payload, indent=1) + "\n")
    print(f"wrote {args.out.with_suffix('.md')} and .json in {seconds:.0f} s")
    return rows


if __name__ == "__main__":
    main()
