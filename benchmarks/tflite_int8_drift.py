"""Where does an int8 TFLite file drift from its float twin? Per-operator error on real test images.

Both files are run with every intermediate tensor kept (LiteRT ``experimental_preserve_all_tensors``)
on the same preprocessed test images. For each operator of the int8 file, in execution order, whose
output tensor also exists (same name, same shape) in the float file, the relative L2 error
``||int8 - float|| / ||float||`` of its output is averaged over the images (int8 values dequantised
with the tensor's own scale and zero point). ``jump`` = that error minus the largest error among
the operator's inputs: the operator that *adds* the error, not merely passes it on. Weights and other
constants (same value for every image) are skipped; ``jump`` is left empty when no input of the
operator could be compared (its name differs in the float file). Both files run on LiteRT's
built-in kernels without the XNNPACK delegate, so that every operator is its own node (the delegate
would hide the intermediates); the built-in int8 kernels may round differently from XNNPACK's.

    .venv/bin/python benchmarks/tflite_int8_drift.py [--float F.tflite --int8 Q.tflite --data PREPARED]

Default: the demo student's float32 and full-integer files (``make demo`` first).
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _machine import command_line, describe_machine, machine_lines, now  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results"
DEMO = Path("runs/demo")


def run_all(model, image_nhwc: np.ndarray) -> dict[str, np.ndarray]:
    """Every tensor's value (dequantised to float) after one run, by name."""
    from mocar.runtime.tflite_file import dequantize, quantize, tensor_info

    detail = model.get_input_details()[0]
    model.set_tensor(detail["index"], quantize(image_nhwc, tensor_info(detail)))
    model.invoke()
    values = {}
    for tensor in model.get_tensor_details():
        try:
            raw = model.get_tensor(tensor["index"])
        except ValueError:  # tensors without data (e.g. optional inputs)
            continue
        values[tensor["name"]] = dequantize(raw, tensor_info(tensor)).astype(np.float64)
    return values


def drift(float_file: Path, int8_file: Path, images_nhwc: np.ndarray) -> list[dict]:
    """One row per int8 operator whose output the float file also has (see the module docstring)."""
    from mocar.runtime.tflite_file import load_interpreter

    reference, quantized = (load_interpreter(f, threads=1, inspect=True) for f in (float_file, int8_file))
    runs = [(run_all(reference, image[None]), run_all(quantized, image[None])) for image in images_nhwc]
    names = {t["index"]: t["name"] for t in quantized.get_tensor_details()}
    varying = {n for n, v in runs[0][0].items() if len(runs) > 1 and not np.array_equal(v, runs[1][0].get(n))}

    def error(name: str) -> float | None:
        if name not in varying or any(name not in q or q[name].shape != f[name].shape for f, q in runs):
            return None
        return float(np.mean([np.linalg.norm(q[name] - f[name]) / max(np.linalg.norm(f[name]), 1e-12) for f, q in runs]))

    rows = []
    for op in quantized._get_ops_details():
        out = names[int(op["outputs"][0])]
        err = error(out)
        if err is None:
            continue
        inputs = [e for e in (error(names[int(i)]) for i in op["inputs"] if i >= 0) if e is not None]
        rows.append({"op": int(op["index"]), "type": op["op_name"], "tensor": out, "error": err,
                     "jump": err - max(inputs) if inputs else None})
    return rows


def test_images(data: Path, float_file: Path, count: int) -> np.ndarray:
    """The first ``count`` test images, preprocessed as the float file's metadata says (NHWC)."""
    from mocar.data.dataset import PreparedData
    from mocar.field.inference import from_file

    manifest = PreparedData.load(data).manifest
    paths = manifest[manifest["split"] == "test"]["image"].head(count).tolist()
    return from_file(float_file, threads=1).preprocess(paths).transpose(0, 2, 3, 1)


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
    images = test_images(args.data, args.float, args.images)
    write_report(drift(args.float, args.int8, images), args, len(images))


if __name__ == "__main__":
    main()
