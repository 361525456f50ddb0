"""Speed and agreement of mocar's Jenks natural breaks against jenkspy on synthetic museum years.

Data: 8 collections x 17,500 objects (140,000 in all). Each collection has a few dense periods
between -3000 and 1900; every object gets a dating range (a single year up to two centuries) and
its year is the range's midpoint, so years are integers or half-integers, as after ingest.

Measured (medians of ``--repeats`` runs for mocar, one run for jenkspy, which is O(n^2)):
1. all 140,000 years, 7 classes (jenkspy ~40 s);
2. each collection, 6 and 7 classes (50 classes / 8 collections);
3. ``allocate_epochs`` over the 8 collections to 50 classes (mocar only).

Run: ``.venv/bin/python benchmarks/jenks_speed.py`` (writes benchmarks/results/jenks_speed.md).
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import jenkspy
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _machine import command_line, machine_lines, now  # noqa: E402

from mocar.bench.machine import describe_machine, load_average  # noqa: E402
from mocar.data.epochs import build_epoch_classes  # noqa: E402
from mocar.data.jenks import jenks_breaks  # noqa: E402

N_COLLECTIONS = 8
PER_COLLECTION = 17_500
DATING_SPANS = np.array([0, 1, 10, 25, 50, 99, 100, 200])  # odd spans give half-integer midpoints


def synthetic_collections(seed: int) -> dict[str, np.ndarray]:
    """Midpoint years of 8 collections, each a mixture of 2-5 dense periods in -3000..1900."""
    rng = np.random.default_rng(seed)
    collections = {}
    for index in range(N_COLLECTIONS):
        n_periods = int(rng.integers(2, 6))
        centres, spreads = rng.uniform(-3000, 1900, n_periods), rng.uniform(30, 400, n_periods)
        period = rng.integers(0, n_periods, PER_COLLECTION)
        centre = rng.normal(centres[period], spreads[period])
        span = rng.choice(DATING_SPANS, PER_COLLECTION)
        begin = np.clip(np.round(centre - span / 2), -3000, 1900 - span)
        collections[f"Collection {index}"] = (2 * begin + span) / 2.0
    return collections


def median_seconds(function: Callable[[], object], repeats: int) -> tuple[float, object]:
    """Median wall time of ``repeats`` calls after one warm-up call, and the last result."""
    result = function()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        result = function()
        times.append(time.perf_counter() - start)
    return statistics.median(times), result


def once_seconds(function: Callable[[], object]) -> tuple[float, object]:
    start = time.perf_counter()
    result = function()
    return time.perf_counter() - start, result


def compare(name: str, years: np.ndarray, n_classes: int, repeats: int) -> dict:
    """One row: mocar (median) vs jenkspy (once) on the same years, and whether breaks agree."""
    ours_s, ours = median_seconds(lambda: jenks_breaks(years, n_classes), repeats)
    theirs_s, theirs = once_seconds(lambda: jenkspy.jenks_breaks(years, n_classes=n_classes))
    identical = ours == [float(b) for b in theirs]
    return {"data": name, "n": years.size, "unique": np.unique(years).size, "k": n_classes,
            "ours_s": ours_s, "jenkspy_s": theirs_s, "identical": identical}


def machine_and_load() -> list[str]:
    """The machine (with jenkspy's version), the date and the load at the end of the run."""
    # Other jobs may share the machine; the load average says how much they could skew times.
    load = load_average()
    load_text = "unknown" if load is None else " / ".join(f"{x:.2f}" for x in load)
    return [*machine_lines(describe_machine(("jenkspy",))), f"- Date: {now()}",
            f"- Load average at the end (1/5/15 min): {load_text}"]


def render(rows: list[dict], allocation: dict, args: argparse.Namespace) -> str:
    lines = ["# Jenks natural breaks: mocar vs jenkspy", "",
             f"Command: `{command_line(__file__)}` (from the repository root)", "",
             *machine_and_load(), "",
             f"mocar: median of {args.repeats} runs after a warm-up; jenkspy: one run.", "",
             "| data | n | unique | classes | mocar (s) | jenkspy (s) | speed-up | identical breaks |",
             "|---|---:|---:|---:|---:|---:|---:|---|"]
    for r in rows:
        lines.append(f"| {r['data']} | {r['n']:,} | {r['unique']:,} | {r['k']} | {r['ours_s']:.4f} | "
                     f"{r['jenkspy_s']:.3f} | {r['jenkspy_s'] / r['ours_s']:,.0f}x | "
                     f"{'yes' if r['identical'] else 'NO'} |")
    lines += ["", "## allocate_epochs (build_epoch_classes), mocar only", "",
              "| collections x years | requested classes | classes | smallest class | median (s) |",
              "|---|---:|---:|---:|---:|",
              f"| {N_COLLECTIONS} x {PER_COLLECTION:,} | 50 | {allocation['classes']} | "
              f"{allocation['smallest']} | {allocation['seconds']:.4f} |", ""]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--repeats", type=int, default=5, help="timed mocar runs per row")
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/jenks_speed.md"))
    args = parser.parse_args()

    collections = synthetic_collections(args.seed)
    all_years = np.concatenate(list(collections.values()))
    rows = [compare("all collections", all_years, 7, args.repeats)]
    print(rows[-1], flush=True)
    for name, years in collections.items():
        for n_classes in (6, 7):
            rows.append(compare(name, years, n_classes, args.repeats))
            print(rows[-1], flush=True)

    seconds, classes = median_seconds(lambda: build_epoch_classes(collections, 50, 20), args.repeats)
    allocation = {"seconds": seconds, "classes": len(classes), "smallest": min(c.count for c in classes)}
    report = render(rows, allocation, args)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(report, encoding="utf-8")
    print(report)
    if not all(r["identical"] for r in rows):
        sys.exit("breaks differ from jenkspy: see the table")


if __name__ == "__main__":
    main()
