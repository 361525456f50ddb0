"""Training throughput of mocar's training step, side by side with timm's plain training step.

What one *step* is: one optimiser update at a fixed micro-batch (= batch, no accumulation):
forward, loss, backward, SGD(momentum 0.9) step.

* mocar: :meth:`mocar.train.loop.Trainer.train_step` of a real ``Trainer`` (preset, data, loss,
  optimiser, precision and memory format all from a ``TrainConfig``), i.e. exactly what
  ``mocar train`` runs per step, minus data loading (measured separately below).
* timm: the same backbone with timm's default classifier head (``timm.create_model(
  'resnetv2_50x1_bit', num_classes=N)``; for the tiny preset mocar's ``bit_tiny`` ResNetV2 with
  ``reset_classifier(N)``) + cross-entropy + ``torch.optim.SGD(momentum=0.9)``.

mocar's step does more than timm's: the MaxAvg-Cat head pools all four blocks, MOCaR adds a year
regressor and a combined loss, and the step sets the lr, seeds dropout and MixUp. The ratio
mocar/timm shows what that costs. Both run on the same batch (real demo-museum images),
resolution, thread count and precision variant: fp32 (NCHW), fp32 channels-last and bf16 autocast
with channels-last. All variants of a case are warmed up, then timed round-robin (one step each
per round) so background load hits them alike; medians over the rounds are reported.

Data loading: images/s of :class:`mocar.data.dataset.MuseumDataset` through a ``DataLoader``
(random crop + flip + normalise), preloaded vs decoded per item, 0 and 2 workers, to compare with
the training throughput.

The steps, their timing and the tables are :mod:`mocar.train.throughput`; this script runs the cases
under :class:`mocar.bench.machine.LoadMonitor` and writes the result file.

Usage (repository root)::

    .venv/bin/python benchmarks/train_throughput.py             # ~8 min on a loaded 2-core machine
    .venv/bin/python benchmarks/train_throughput.py --only tiny --rounds 3 --warmup 1   # quick look

Writes ``benchmarks/results/train_throughput.md`` and ``.json``.
"""
from __future__ import annotations

import argparse
import gc
import json
import sys
import tempfile
import time
from dataclasses import asdict
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _demo_museum import demo_prepared  # noqa: E402
from _machine import command_line, now  # noqa: E402

from mocar.bench.machine import LoadMonitor, describe_machine  # noqa: E402
from mocar.train.throughput import (  # noqa: E402
    CASES, Case, LoaderRow, StepRow, build_steps, loader_throughput, render_markdown, summarise, time_round_robin,
    with_threads)

DEFAULT_OUT = Path(__file__).resolve().parent / "results" / "train_throughput"


def measure_case(prepared: Path, case: Case, args: argparse.Namespace) -> tuple[list[StepRow], str]:
    """All variants of one case, round-robin; returns the rows and the load during the case."""
    warmup = case.warmup if args.warmup is None else args.warmup
    rounds = case.rounds if args.rounds is None else args.rounds
    with tempfile.TemporaryDirectory(prefix="mocar-train-bench-") as work:
        steps = with_threads(build_steps(prepared, case, Path(work)), args.threads)
        with LoadMonitor() as load:
            timings = time_round_robin(steps, warmup, rounds)
        del steps
        gc.collect()
    rows = summarise(case, timings)
    for r in rows:
        ratio = f"  mocar/timm {r.mocar_over_timm:.2f}" if r.mocar_over_timm is not None else ""
        print(f"{r.case:5s} {r.impl:6s} {r.variant:20s} {r.threads}t median {r.median_ms:9.1f} ms  "
              f"{r.images_per_s:7.1f} img/s{ratio}", flush=True)
    print(f"  {load.record.describe()}", flush=True)
    return rows, load.record.describe()


def measure_loading(prepared: Path, cases: list[Case], max_images: int) -> tuple[list[LoaderRow], str]:
    rows = []
    torch.set_num_threads(1)  # like the DataLoader's worker processes; 2 threads crawl on a busy machine
    with LoadMonitor() as load:
        for case in cases:
            for preload in (True, False):
                for workers in (0, 2):
                    rows.append(loader_throughput(prepared, case, preload, workers, max_images))
                    r = rows[-1]
                    print(f"loader {r.image_size}px preload={r.preload!s:5s} workers={r.workers} "
                          f"{r.images_per_s:8.1f} img/s (preload {r.preload_s:.1f} s)", flush=True)
    print(f"  {load.record.describe()}", flush=True)
    return rows, load.record.describe()


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, help="a prepared folder; default: generate a small demo museum")
    parser.add_argument("--work", type=Path, default=Path(tempfile.gettempdir()) / "mocar-train-throughput",
                        help="where the generated demo museum is kept (reused on the next run)")
    parser.add_argument("--only", choices=[c.name for c in CASES], action="append", help="cases to run")
    parser.add_argument("--warmup", type=int, help="untimed steps per variant (default: per case)")
    parser.add_argument("--rounds", type=int, help="timed round-robin rounds (default: per case)")
    parser.add_argument("--threads", type=int, nargs="+", default=[2, 1],
                        help="torch thread counts, interleaved like the variants (default: 2 and 1)")
    parser.add_argument("--loader-images", type=int, default=512, help="images per loader measurement")
    parser.add_argument("--no-loader", action="store_true", help="skip the data-loading measurement")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="output path without suffix")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> list[StepRow]:
    args = parse_args(argv)
    torch.set_num_threads(args.threads[0])
    started, t0, machine = now(), time.perf_counter(), describe_machine()
    machine["torch_threads"] = "per row (interleaved: " + ", ".join(map(str, args.threads)) + ")"
    prepared = args.data or demo_prepared(args.work, objects=240, image_size=256, classes=8, min_class_size=5)
    cases = [c for c in CASES if not args.only or c.name in args.only]
    step_rows, loads = [], {}
    for case in cases:
        rows, loads[case.name] = measure_case(prepared, case, args)
        step_rows += rows
    loader_rows: list[LoaderRow] = []
    if not args.no_loader:
        loader_rows, loads["loader"] = measure_loading(prepared, cases, args.loader_images)
    header = {"command": command_line(__file__, argv), "date": started,
              "seconds": f"{time.perf_counter() - t0:.0f}", "data": str(prepared)}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.with_suffix(".md").write_text(render_markdown(step_rows, loader_rows, loads, header, machine))
    payload = {**header, "machine": machine, "load": loads, "steps": [asdict(r) for r in step_rows],
               "loader": [asdict(r) for r in loader_rows]}
    args.out.with_suffix(".json").write_text(json.dumps(payload, indent=1) + "\n")
    print(f"wrote {args.out.with_suffix('.md')} and .json")
    return step_rows


if __name__ == "__main__":
    main()
