"""Where does an int8 TFLite file drift from its float twin? Per-operator error on real test images.

Runs :func:`mocar.bench.tflite_drift.drift` on the first ``--images`` test images of a prepared
folder (preprocessed as the float file's metadata says) and writes
``benchmarks/results/tflite_int8_drift_<name>.md`` / ``.json``: for each operator of the int8 file,
in execution order, the relative L2 error of its output against the float file's same-named tensor,
and the ``jump`` (that error minus its inputs' largest: the operator that *adds* the error). Both
files run on LiteRT's built-in kernels without XNNPACK, so every operator is its own node; the
built-in int8 kernels may round differently from XNNPACK's.

    .venv/bin/python benchmarks/tflite_int8_drift.py [--float F.tflite --int8 Q.tflite --data PREPARED]

Default: the demo student's float32 and full-integer files (``make demo`` first).
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _machine import command_line, machine_lines, now  # noqa: E402

from mocar.bench.machine import describe_machine  # noqa: E402
from mocar.bench.tflite_drift import drift, test_split_images  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results"
DEMO = Path("runs/demo")


def write_report(rows: list[dict], args: argparse.Namespace, images: int) -> None:
    worst = sorted((r for r in rows if r["jump"] is not None), key=lambda r: -r["jump"])[:5]
    cell = lambda r: "–" if r["jump"] is None else f"{r['jump']:+.3f}"  # noqa: E731
    lines = ["# Where an int8 TFLite file drifts from its float twin", "", f"Command: `{command_line(__file__)}`  ",
             f"Date: {now()}  ", f"Files: `{args.float}` vs `{args.int8}`; {images} test images of `{args.data}`.", "",
             "Largest jumps (the operators that add the error):", "",
             "| op | type | output tensor | rel. error | jump |", "|---|---|---|---|---|"]
    lines += [f"| {r['op']} | {r['type']} | `{r['tensor'][:90]}` | {r['error']:.3f} | {cell(r)} |" for r in worst]
    lines += ["", "Every compared operator, in execution order:", "", "| op | type | output tensor | rel. error | jump |",
              "|---|---|---|---|---|"]
    lines += [f"| {r['op']} | {r['type']} | `{r['tensor'][:90]}` | {r['error']:.3f} | {cell(r)} |" for r in rows]
    lines += ["", "## Machine", *machine_lines(describe_machine())]
    stem = f"tflite_int8_drift_{args.name}"
    (RESULTS / f"{stem}.md").write_text("\n".join(lines) + "\n", encoding="utf-8")
    (RESULTS / f"{stem}.json").write_text(json.dumps({"rows": rows, "args": {k: str(v) for k, v in vars(args).items()}},
                                                     indent=2))
    print("\n".join(lines[: 10 + len(worst)]))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--float", type=Path, default=DEMO / "student_export" / "model_fp32.tflite")
    parser.add_argument("--int8", type=Path, default=DEMO / "student_export" / "model_int8_full_integer_quant.tflite")
    parser.add_argument("--data", type=Path, default=DEMO / "prepared")
    parser.add_argument("--images", type=int, default=16)
    parser.add_argument("--name", default="demo_student", help="results file suffix")
    args = parser.parse_args(argv)
    images = test_split_images(args.data, args.float, args.images)
    write_report(drift(args.float, args.int8, images), args, len(images))


if __name__ == "__main__":
    main()
