"""The paper's two comparisons reproduced on the demo museum, same data and budget for every model.

* Table 1 (epoch classes, the MaxAvg-Cat target): baseline head (GAP + linear) vs MaxAvg-Cat with a
  hidden layer of 1024 and 3840, each MaxAvg-Cat width without and with dropout; top-1, top-5 and
  macro F1 on val and test.
* Table 2 (MOCaR, collection + year): the loss combinations sum (Lc+Lr), product (Lc*Lr), both
  (Lc+Lr+Lc*Lr) and learned uncertainty weighting; accuracy, loss and year MAE on val and test.

Every run is ``mocar.train.loop.fit(TrainConfig(...))`` on the tiny BiT backbone from random init
(no pretrained BiT weights can be downloaded here), then ``evaluate_run(run, 'val' / 'test')`` on
the ``best.pt`` checkpoint (lowest validation loss, the paper's rule). The numbers are therefore
about generated data and a small network trained from scratch, *not* the paper's.

Resumable: the demo museum, the prepared folder and every run live under ``--work``; a run whose
``eval_val.json`` and ``eval_test.json`` exist is reused, an unfinished run is resumed, so the
tables can be regenerated (or completed after an interruption) by running the same command again.
Run folders are named after the budget, so a different budget never mixes with an old one.

Default budget: 800 steps, batch 32, crop 96 px (resize 112), base lr 0.03, on the 2,000-object demo
museum (128 px photos, 50 epoch classes, 8 collections). Pilot runs on that museum (2026-11-27, 800
steps, 1 thread, machine loaded), validation top-1 of MaxAvg-Cat 1024 / MOCaR-sum: lr 0.1: 0.136 /
0.345; lr 0.03: 0.184 / 0.447; lr 0.01: 0.165 / 0.432 (majority class: 0.092 / 0.165).

The runs, the budget and the tables are :mod:`mocar.train.paper_comparison`; this script trains and
evaluates the runs (recording the load each ran under) and writes the result file.

Usage (repository root)::

    .venv/bin/python benchmarks/paper_tables.py                      # default budget
    .venv/bin/python benchmarks/paper_tables.py --steps 300             # a smaller budget

Writes ``benchmarks/results/paper_tables.md`` and ``.json``.
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
from _demo_museum import demo_prepared  # noqa: E402
from _machine import command_line, now  # noqa: E402

from mocar.bench.machine import LoadMonitor, describe_machine  # noqa: E402
from mocar.data.dataset import PreparedData  # noqa: E402
from mocar.train.eval_run import evaluate_run  # noqa: E402
from mocar.train.loop import fit, resume_config  # noqa: E402
from mocar.train.paper_comparison import (  # noqa: E402
    EVAL_SPLITS, Budget, RunSpec, best_step, budget_tag, chance_levels, render_markdown, run_specs, train_config)

DEFAULT_OUT = Path(__file__).resolve().parent / "results" / "paper_tables"
RECORD_FILE = "paper_tables_record.json"  # per run: when it was trained and under which load


def train_and_evaluate(spec: RunSpec, prepared: Path, run_dir: Path, budget: Budget) -> dict:
    """Train (or resume, or reuse) one run and evaluate it on val and test; returns its row."""
    evals = {split: run_dir / f"eval_{split}.json" for split in EVAL_SPLITS}
    record_path = run_dir / RECORD_FILE
    reused = all(path.exists() for path in evals.values())
    if not reused:
        with LoadMonitor() as load:
            if (run_dir / "last.pt").exists():
                fit(resume_config(run_dir, progress=False), resume=True)
            else:
                fit(train_config(spec, prepared, run_dir, budget))
            for split in EVAL_SPLITS:
                evaluate_run(run_dir, split, progress=False)
        record_path.write_text(json.dumps({"finished": now(), "load": asdict(load.record)}, indent=1) + "\n")
    record = json.loads(record_path.read_text()) if record_path.exists() else {"finished": None, "load": None}
    history = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines() if line.strip()]
    row = {"spec": asdict(spec), "reused": reused, "steps": history[-1]["step"],
           "train_s": history[-1]["elapsed_s"], "best_step": best_step(history), **record}
    for split, path in evals.items():
        metrics = json.loads(path.read_text())
        row[split] = {k: metrics.get(k) for k in ("top1", "top5", "macro_f1", "loss_combined", "loss_cls",
                                                  "loss_reg", "year_mae", "n")}
    return row


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    default = Budget()
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work", type=Path, default=Path("runs/paper_tables"),
                        help="demo museum, prepared data and run folders (reused across invocations)")
    parser.add_argument("--data", type=Path, help="use this prepared folder instead of generating one")
    parser.add_argument("--objects", type=int, default=2000, help="demo museum size")
    parser.add_argument("--museum-px", type=int, default=128, help="demo museum photo size")
    parser.add_argument("--steps", type=int, default=default.steps, help="optimiser steps per run")
    parser.add_argument("--batch", type=int, default=default.batch)
    parser.add_argument("--image-size", type=int, default=default.image_size, help="training crop")
    parser.add_argument("--resize", type=int, help="training resize before the crop (default: crop + 16)")
    parser.add_argument("--lr", type=float, default=default.lr, help="base lr (see BUDGET_RATIONALE)")
    parser.add_argument("--dropout", type=float, default=default.dropout, help="dropout of the 'with dropout' rows")
    parser.add_argument("--seed", type=int, default=default.seed)
    parser.add_argument("--workers", type=int, default=default.workers)
    parser.add_argument("--threads", type=int, default=default.threads,
                        help="torch threads; 1 because 2 crawl when other jobs share the cores "
                             "(benchmarks/results/train_throughput.md)")
    parser.add_argument("--only", action="append", help="run only these run names (repeatable)")
    parser.add_argument("--budget-note", default="", help="free text written next to the budget (e.g. 'reduced')")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="output path without suffix")
    args = parser.parse_args(argv)
    args.budget = Budget(steps=args.steps, batch=args.batch, image_size=args.image_size, resize=args.resize,
                         lr=args.lr, seed=args.seed, threads=args.threads, workers=args.workers, dropout=args.dropout)
    return args


def main(argv: list[str] | None = None) -> list[dict]:
    args = parse_args(argv)
    budget = args.budget
    torch.set_num_threads(budget.threads)
    started, t0 = now(), time.perf_counter()
    prepared = args.data or demo_prepared(args.work / f"museum_{args.objects}x{args.museum_px}", args.objects,
                                          args.museum_px, seed=budget.seed)
    runs_root = args.work / budget_tag(budget)
    specs = [s for s in run_specs(budget.dropout) if not args.only or s.name in args.only]
    rows = []
    with LoadMonitor() as load:
        for spec in specs:
            print(f"== {spec.name}", flush=True)
            rows.append(train_and_evaluate(spec, prepared, runs_root / spec.name, budget))
            print(f"   val {rows[-1]['val']}\n   test {rows[-1]['test']}", flush=True)
    manifest = PreparedData.load(prepared).manifest
    info = {"command": command_line(__file__, argv), "date": started, "seconds": f"{time.perf_counter() - t0:.0f}",
            "data": str(prepared), "splits": manifest.groupby("split").size().to_dict(),
            "budget": asdict(budget), "budget_note": args.budget_note, "load": load.record.describe(),
            "runs": str(runs_root), "trained_now": sum(not r["reused"] for r in rows),
            "reused": sum(r["reused"] for r in rows)}
    chance, machine = chance_levels(prepared), describe_machine()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.with_suffix(".md").write_text(render_markdown(rows, chance, info, machine))
    args.out.with_suffix(".json").write_text(json.dumps({**info, "machine": machine, "chance": chance, "rows": rows},
                                                        indent=1, default=str) + "\n")
    print(f"wrote {args.out.with_suffix('.md')} and .json")
    return rows


if __name__ == "__main__":
    main()
