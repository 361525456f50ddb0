"""CoreML export: conversion time, package size and *simulated* parity per precision.

Cases: the tiny MOCaR net at 128 px and MOCaR R50x1 at 224 px, both **randomly initialised**
(output layers drawn from N(0, 0.05) instead of zeros so that outputs are not constant). Random
weights and random-normal inputs are fine for timing and size; the parity numbers only show
how far each file's arithmetic moves the outputs, not the accuracy a trained network keeps.
``--model-file M.pt --img-size N [--images X.npy]`` measures a trained model file instead
(``X.npy``: normalised float32 NCHW images, e.g. an export job's calibration file).

Control row per int8 file (pure PyTorch, no CoreML file involved): the float32 model with the
int8 weights of :func:`mocar.runtime.coreml_weights.int8_weight_recipe`, so the error of
quantising the weights can be told apart from that of fp16 compute.

Per case (each in a fresh process, so import order and peak memory are per case):
``torch.export`` capture time, :func:`mocar.export.to_coreml.export_coreml` for fp32/fp16/int8
(end-to-end wall time and each file's own conversion/quantisation time), package size, how many
weights the int8 file stores as int8, and :class:`CoreMLRunner` parity against the float32
PyTorch model. On Linux the runner **simulates** every file with PyTorch (int8: the weights read
back from the package); ``MLModel.predict`` and any iPhone latency cannot be measured here.

Run: ``.venv/bin/python benchmarks/export_coreml.py`` (writes benchmarks/results/export_coreml.md
and .json; with ``--model-file M.pt``: export_coreml_M.md/.json). Every number comes from a single
run: conversions take seconds to minutes and the shared 2-core machine makes timings noisy.
"""
from __future__ import annotations

import argparse
import copy
import datetime
import json
import resource
import shlex
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _machine import machine_lines  # noqa: E402

from mocar.bench.machine import describe_machine, load_average  # noqa: E402

CASES = {
    "tiny": {"name": "tiny", "preset": "mocar_tiny", "img_size": 128, "classes": 16, "n_images": 64},
    "r50x1": {"name": "r50x1", "preset": "mocar_r50x1", "img_size": 224, "classes": 100, "n_images": 8},
}
RESULTS = Path(__file__).resolve().parent / "results"


def random_model(preset: str, img_size: int, classes: int, seed: int = 0):
    """A randomly initialised network whose output layers are not zero."""
    import torch

    from mocar.model import create_model_from_preset

    torch.manual_seed(seed)
    model = create_model_from_preset(preset, num_classes=classes, input_size=img_size, year_mean=-500.0, year_scale=800.0)
    with torch.no_grad():
        for layer in (model.classifier, model.regressor):
            layer.weight.normal_(0.0, 0.05)
            layer.bias.normal_(0.0, 0.05)
    return model.eval()


def package_mb(path: Path) -> float:
    return sum(f.stat().st_size for f in Path(path).rglob("*") if f.is_file()) / 1e6


def parity(outputs: dict[str, np.ndarray], reference: dict[str, np.ndarray], year_scale: float) -> dict:
    """Output agreement with the float32 PyTorch reference."""
    a, b = outputs["embedding"], reference["embedding"]
    cosine = (a * b).sum(1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))
    return {"logits_max_abs": float(np.abs(outputs["logits"] - reference["logits"]).max()),
            "top1_agreement": float((outputs["logits"].argmax(1) == reference["logits"].argmax(1)).mean()),
            "embedding_cos_min": float(cosine.min()),
            "year_max_abs_years": float(np.abs(outputs["year"] - reference["year"]).max() * year_scale)}


def case_inputs(case: dict, work: Path):
    """The model, its file and the parity images of a case."""
    from mocar.model import load_model, save_model

    if case.get("model_file"):
        model, model_file = load_model(case["model_file"]), Path(case["model_file"])
    else:
        model = random_model(case["preset"], case["img_size"], case["classes"])
        model_file = save_model(model, work / f"{case['name']}.pt")
    if case.get("images"):
        images = np.load(case["images"]).astype(np.float32)[: case["n_images"]]
    else:
        shape = (case["n_images"], 3, case["img_size"], case["img_size"])
        images = np.random.default_rng(0).standard_normal(shape).astype(np.float32)
    return model, model_file, images


def int8_weight_control(wrapped, images: np.ndarray, threshold: int) -> dict[str, np.ndarray]:
    """float32 outputs of the model with recipe-int8 weights in the layers the exporter quantises."""
    import torch

    from mocar.runtime.coreml_weights import int8_weight_recipe

    quantized = copy.deepcopy(wrapped)
    with torch.no_grad():
        for module in quantized.modules():
            if isinstance(module, (torch.nn.Conv2d, torch.nn.Linear)) and module.weight.numel() > threshold:
                data, scale = int8_weight_recipe(module.weight)
                module.weight.copy_(data.float() * scale.float().reshape(-1, *([1] * (data.dim() - 1))))
        outputs = quantized(torch.from_numpy(images))
    return {k: v.numpy() for k, v in zip(quantized.output_names, outputs)}


def run_case(case: dict, work: Path) -> list[dict]:
    """Exports one case, measures it and returns one row per precision (+ the int8 control)."""
    import torch

    from mocar.export.job import ExportJob
    from mocar.export.to_coreml import capture_program, export_coreml
    from mocar.model import ExportWrapper, prepare_for_export
    from mocar.quantize.coreml_int8 import DEFAULT_WEIGHT_THRESHOLD
    from mocar.runtime.coreml_file import import_coremltools
    from mocar.runtime.coreml_weights import read_quantized_weights
    from mocar.runtime.runners.coreml_runner import CoreMLRunner

    torch.set_num_threads(2)
    import_coremltools()
    name, img_size = case["name"], case["img_size"]
    model, model_file, images = case_inputs(case, work)
    started = time.perf_counter()
    capture_program(model, img_size)
    capture_s = time.perf_counter() - started
    job = ExportJob(model_file, work / f"{name}_export", img_size, ("fp32", "fp16", "int8"), {"benchmark": name},
                    options={"file_stem": name})
    started = time.perf_counter()
    files = export_coreml(job)
    total_s = time.perf_counter() - started
    wrapped = ExportWrapper(prepare_for_export(model)).eval()
    with torch.no_grad():
        reference = {k: v.numpy() for k, v in zip(wrapped.output_names, wrapped(torch.from_numpy(images)))}
    n_params = sum(p.numel() for p in wrapped.parameters())
    rows = []
    for record in files:
        started = time.perf_counter()
        runner = CoreMLRunner(record.path)
        runner_init_s = time.perf_counter() - started
        quantized = read_quantized_weights(record.path) if record.precision == "int8" else {}
        rows.append({"case": name, "preset": model.config.preset, "img_size": img_size, "precision": record.precision,
                     "flavour": record.flavour, "capture_s": capture_s, "file_s": record.seconds,
                     "export_total_s": total_s, "size_mb": package_mb(record.path),
                     "int8_tensors": len(quantized),
                     "int8_param_share": sum(w.data.size for w in quantized.values()) / n_params,
                     "runner_init_s": runner_init_s, "simulated": runner.simulated,
                     "execution": runner.describe()["execution"], "parity_images": len(images),
                     **parity(runner.run(images), reference, model.config.year_scale)})
        if record.precision == "int8":
            control = int8_weight_control(wrapped, images, DEFAULT_WEIGHT_THRESHOLD)
            rows.append({**rows[-1], "precision": "int8-control",
                         "flavour": "recipe int8 weights, fp32 compute, no file",
                         "simulated": False, "execution": "PyTorch float32 with recipe int8 weights (control)",
                         **parity(control, reference, model.config.year_scale)})
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return [{**row, "peak_rss_mb": peak_mb} for row in rows]


def machine() -> dict[str, str]:
    """The library's machine description plus the coremltools version (read without importing it)."""
    return describe_machine(("coremltools",))


def render(rows: list[dict], command: str, machine: dict[str, str], load: str) -> str:
    lines = [
        "# CoreML export: conversion time, size, simulated parity", "",
        f"Command: `{command}` (from the repository root, in .venv)", "",
        *machine_lines(machine),
        f"- Load average at the end (1/5/15 min; the cores are shared with other jobs): {load}",
        f"- Date: {datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC",
        "- Models: built-in cases use **random initialisation** (output layers N(0, 0.05)) and random normal inputs.",
        "- ML program, minimum deployment target iOS16, float32 tensor input `image` NCHW (normalised).",
        "", "**Not measured: latency on an iPhone (or any Apple device).** `MLModel.predict` is macOS-only; every",
        "parity number below is **simulated** on Linux by `CoreMLRunner` (PyTorch CPU: fp32 = the folded model;",
        "fp16 = weights and activations in float16; int8 = int8 weights read back from the saved package,",
        "dequantised, float16 compute). With random weights they show arithmetic error, not accuracy.", "",
        "Times: `capture` = torch.export + run_decompositions; `file` = that file's ct.convert (int8: quantising",
        "the fp16 conversion) + metadata + save; `export total` = the whole `export_coreml` call for all three.",
        "Single runs on a shared machine: expect timing noise of tens of percent.", "",
        "| case | px | precision | capture (s) | file (s) | export total (s) | size (MB) | int8 tensors "
        "| int8 share of params | peak RSS (MB) |",
        "|---|---:|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in (r for r in rows if r["precision"] != "int8-control"):
        lines.append(
            f"| {r['case']} | {r['img_size']} | {r['precision']} ({r['flavour']}) | {r['capture_s']:.1f} "
            f"| {r['file_s']:.1f} | {r['export_total_s']:.1f} | {r['size_mb']:.1f} | {r['int8_tensors']} "
            f"| {100 * r['int8_param_share']:.1f} % | {r['peak_rss_mb']:.0f} |")
    lines += [
        "", "Parity against the float32 PyTorch model (year error de-normalised to years). `int8-control` is pure",
        "PyTorch (recipe int8 weights, float32 compute, no CoreML file): where it loses about as much as the int8 row,",
        "the loss comes from the int8 weights themselves, not from fp16 compute or the file.", "",
        "| case | precision | execution | runner init (s) | logits max abs | top-1 agree | emb. cos min "
        "| year max abs (years) |",
        "|---|---|---|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        execution = "simulated" if r["simulated"] else ("control" if r["precision"] == "int8-control" else "CoreML")
        init = "-" if r["precision"] == "int8-control" else f"{r['runner_init_s']:.1f}"
        lines.append(
            f"| {r['case']} | {r['precision']} | {execution} | {init} | {r['logits_max_abs']:.2e} "
            f"| {100 * r['top1_agreement']:.1f} % | {r['embedding_cos_min']:.5f} | {r['year_max_abs_years']:.3f} |")
    images = {r["case"]: r["parity_images"] for r in rows}
    lines += ["", "Parity images: " + ", ".join(f"{case}: {n}" for case, n in images.items()) + ". Every CoreML row is "
              "simulated (see above); `int8-control` rows involve no CoreML file at all.", ""]
    return "\n".join(lines)


def selected_cases(args: argparse.Namespace) -> list[dict]:
    if args.model_file is None:
        return [CASES[name] for name in args.cases]
    if args.img_size is None:
        raise SystemExit("--model-file needs --img-size")
    return [{"name": args.model_file.stem, "model_file": str(args.model_file.resolve()), "img_size": args.img_size,
             "images": str(args.images.resolve()) if args.images else None, "n_images": args.n_images}]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", nargs="+", default=list(CASES), choices=list(CASES))
    parser.add_argument("--model-file", type=Path, help="measure this model file instead of the random cases")
    parser.add_argument("--img-size", type=int, help="input side for --model-file")
    parser.add_argument("--images", type=Path, help="normalised float32 NCHW .npy for parity (default: random)")
    parser.add_argument("--n-images", type=int, default=32, help="parity images for --model-file")
    parser.add_argument("--one", help=argparse.SUPPRESS)  # child mode: a case as JSON
    parser.add_argument("--json-out", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        with tempfile.TemporaryDirectory() as work:
            args.json_out.write_text(json.dumps(run_case(json.loads(args.one), Path(work))))
        return
    rows = []
    for case in selected_cases(args):
        with tempfile.TemporaryDirectory() as scratch:
            out = Path(scratch) / "rows.json"
            subprocess.run([sys.executable, __file__, "--one", json.dumps(case), "--json-out", str(out)], check=True)
            rows += json.loads(out.read_text())
    command = "python benchmarks/export_coreml.py" + "".join(f" {shlex.quote(a)}" for a in sys.argv[1:])
    stem = "export_coreml" if args.model_file is None else f"export_coreml_{args.model_file.stem}"
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / f"{stem}.json").write_text(json.dumps(rows, indent=1))
    load = load_average()
    text = render(rows, command, machine(), "unknown" if load is None else " / ".join(f"{v:.2f}" for v in load))
    (RESULTS / f"{stem}.md").write_text(text)
    print(text)


if __name__ == "__main__":
    main()
