"""How long the built-in demo museum takes to generate (`mocar data synth`).

Cases: 2,000 objects at 128 px and 500 objects at 224 px, each with the default 2 worker processes
and broken rows on, written to a temporary folder (deleted afterwards). Reported per case: wall
time (including the worker start-up), CPU time of this process and its workers, images per
second and the size on disk. Other jobs may share the machine: for each case the load average
and the share of the cores other processes used are recorded
(:class:`mocar.bench.machine.LoadMonitor`) so a reader can judge how much they stretched the wall time.

Run: ``.venv/bin/python benchmarks/synth_speed.py`` (writes benchmarks/results/synth_speed.md).
"""
from __future__ import annotations

import argparse
import resource
import statistics
import sys
import tempfile
import time
from pathlib import Path

import PIL

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _machine import command_line, machine_lines, now  # noqa: E402

from mocar.bench.machine import LoadMonitor, describe_machine  # noqa: E402
from mocar.data.synth import synthesize_museum  # noqa: E402

CASES = ((2000, 128), (500, 224))


def cpu_seconds() -> float:
    """User + system CPU time of this process and of its finished children (the workers)."""
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def folder_megabytes(root: Path) -> float:
    return sum(p.stat().st_size for p in root.rglob("*") if p.is_file()) / 1e6


def run_case(n_objects: int, image_size: int, seed: int, workers: int) -> dict:
    """Generate one museum into a temporary folder and measure it (wall, CPU, load by others)."""
    with tempfile.TemporaryDirectory(prefix="mocar-synth-bench-") as tmp, LoadMonitor() as load:
        cpu_before, wall_before = cpu_seconds(), time.perf_counter()
        summary = synthesize_museum(Path(tmp), n_objects=n_objects, source_image_size=image_size, seed=seed,
                                    progress=False, workers=workers)
        wall = time.perf_counter() - wall_before
        cpu = cpu_seconds() - cpu_before
        megabytes = folder_megabytes(Path(tmp))
    return {"objects": n_objects, "size": image_size, "rows": summary.n_rows, "workers": workers,
            "wall_s": wall, "cpu_s": cpu, "ms_cpu_per_image": 1000 * cpu / summary.n_rows,
            "images_per_s": summary.n_rows / wall, "megabytes": megabytes, "load": load.record.describe()}


def report(results: list[dict], machine: dict[str, str], args: argparse.Namespace) -> str:
    lines = [
        "# Demo museum generation speed", "",
        f"Command: `{command_line(__file__)}` (repository root)", "",
        *machine_lines(machine), f"- Pillow: {PIL.__version__}", f"- date: {now()}",
        f"- seed {args.seed}, broken rows on, {args.workers} worker processes, median of {args.repeats} run(s)",
        "",
        "| objects | px | rows | wall (s) | CPU (s, all processes) | CPU ms / image | images/s | on disk (MB) |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in results:
        lines.append(f"| {r['objects']:,} | {r['size']} | {r['rows']:,} | {r['wall_s']:.1f} | {r['cpu_s']:.1f} | "
                     f"{r['ms_cpu_per_image']:.1f} | {r['images_per_s']:.0f} | {r['megabytes']:.1f} |")
    lines += ["", "Machine load while each case ran (other jobs share this machine; they stretch wall time, "
              "and CPU time less so):", ""]
    lines += [f"- {r['objects']:,} objects at {r['size']} px: {r['load']}" for r in results]
    lines += ["", "Wall time includes starting the worker processes (spawn, about 1-2 s). On an otherwise idle "
              "machine with as many cores as workers, wall time is about CPU time / workers.", ""]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=1, help="runs per case; the median run is reported")
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/synth_speed.md"))
    args = parser.parse_args()

    machine = describe_machine()
    results = []
    for n_objects, image_size in CASES:
        runs = [run_case(n_objects, image_size, args.seed, args.workers) for _ in range(args.repeats)]
        median_wall = statistics.median(r["wall_s"] for r in runs)
        results.append(min(runs, key=lambda r: abs(r["wall_s"] - median_wall)))
        print(results[-1], flush=True)
    text = report(results, machine, args)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text, encoding="utf-8")
    print(text)


if __name__ == "__main__":
    main()
