"""int8 auto-selection measured on a trained run (default: the demo model, runs/demo/run).

Calls :func:`mocar.bench.int8_select.select_int8`: exports fp32 plus every int8 candidate of ONNX
and TFLite, benchmarks all files on the validation split (batch 1, ``--threads``), checks each
int8 file against the default parity policy and keeps the fastest passing one per runtime. Writes
``benchmarks/results/<name>.md`` / ``.json`` with the command, the machine and its load, every
candidate and the choice. The export folder (``--work``) is scratch: delete it afterwards.

Usage:
    .venv/bin/python benchmarks/int8_select.py --run runs/demo/run --data runs/demo/prepared
"""
from __future__ import annotations

import argparse
import json
import sys
from dataclasses import asdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _machine import command_line, machine_lines, now  # noqa: E402

from mocar.bench.int8_select import select_int8  # noqa: E402
from mocar.bench.machine import LoadMonitor, describe_machine  # noqa: E402
from mocar.quantize.select import format_selection  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", default="runs/demo/run")
    parser.add_argument("--data", default="runs/demo/prepared")
    parser.add_argument("--work", default="/tmp/mocar_int8_select")
    parser.add_argument("--threads", default="2")
    parser.add_argument("--runs", type=int, default=100)
    parser.add_argument("--calib-images", type=int, default=200)
    parser.add_argument("--name", default="int8_select_demo")
    args = parser.parse_args()

    threads = tuple(int(t) for t in args.threads.split(","))
    machine = describe_machine()
    with LoadMonitor() as load:
        selections = select_int8(args.run, args.work, data_dir=args.data, threads=threads, runs=args.runs,
                                 calib_images=args.calib_images, progress=False)
    bench = json.loads((Path(args.work) / "int8_selection" / "bench.json").read_text())
    parity = {r["export"]: r for r in bench["parity"]}
    columns = ("precision", "flavour", "size_mb", "top1", "delta_top1", "agreement", "delta_mae_rel",
               "embedding_cosine_p1", "retrieval_overlap5", "status")
    figures = [{"export": e, **{k: parity[e].get(k) for k in columns}} for e in parity]
    text = [f"# int8 auto-selection: {args.run}", "", f"Command: `{command_line(__file__)}`", f"Date: {now()}", "",
            "Machine:", *machine_lines(machine), f"- load: {load.record.describe()}", "",
            f"Split: {bench['split']} ({bench['images']} images); latency batch 1, {args.runs} timed runs, "
            f"decided at {max(threads)} thread(s); default parity policy (mocar/runtime/default_policy.yaml).", "",
            format_selection(selections), "## Parity of every file (vs model.pt)", "",
            "| file | " + " | ".join(columns) + " |", "|---|" + "---|" * len(columns)]
    for row in figures:
        text.append("| " + " | ".join(_fmt(row[k]) for k in ("export", *columns)) + " |")
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / f"{args.name}.md").write_text("\n".join(text) + "\n", encoding="utf-8")
    payload = {"command": command_line(__file__), "date": now(), "machine": machine, "load": asdict(load.record),
               "selections": {fmt: asdict(s) for fmt, s in selections.items()}, "parity": figures}
    (RESULTS / f"{args.name}.json").write_text(json.dumps(payload, indent=2, default=str) + "\n", encoding="utf-8")
    print("\n".join(text))


def _fmt(value) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return "–" if value is None else str(value)


if __name__ == "__main__":
    main()
