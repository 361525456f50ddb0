"""ONNX export benchmark: export time, file size, onnxruntime latency and parity per precision/flavour.

Two models:

* **tiny (demo-like)**: ``mocar_tiny`` trained on a small built-in demo museum (or ``--run`` for an
  existing run), exported with :func:`mocar.export.run.export_run` (``formats=("onnx",)``, every
  int8 flavour of :data:`mocar.quantize.onnx_int8.INT8_FLAVOURS`) and validated on its validation
  split: parity figures are real (trained network, real images).
* **R50x1**: ``mocar_r50x1`` at 224 px with **random weights** (no pretrained weights here), exported
  with :func:`mocar.export.to_onnx.export_onnx`, calibrated and validated on real demo images.
  Its latency and sizes are meaningful; its int8 *accuracy* figures are not (random network).

Latency: onnxruntime CPU, 2 intra-op threads, batch 1, one fixed validation image; all files of a
model are timed in rounds (each round gives every file a warmed-up block of consecutive calls) so
that load from other processes hits every file alike; medians and p90 are reported. Before each timing block the script
waits for an idle CPU (``--wait-quiet``) and records how busy other processes kept the cores.

Writes ``<out>.md`` and ``<out>.json``.

Usage:
    .venv/bin/python benchmarks/export_onnx.py                       # 15-30 min on 2 shared cores (training included)
    .venv/bin/python benchmarks/export_onnx.py --skip-r50 --train-steps 40   # quick smoke run
"""
from __future__ import annotations

import argparse
import datetime as dt
import json
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _machine import command_line  # noqa: E402

from mocar.bench.machine import OthersCpu, describe_machine, wait_until_quiet  # noqa: E402
from mocar.data.dataset import PreparedData  # noqa: E402
from mocar.data.prepare import PrepareConfig, prepare_dataset  # noqa: E402
from mocar.data.synth import synthesize_museum  # noqa: E402
from mocar.export.job import ExportJob  # noqa: E402
from mocar.export.reference import calibration_rows, decode_images, reference_outputs  # noqa: E402
from mocar.export.run import export_run  # noqa: E402
from mocar.export.to_onnx import export_onnx  # noqa: E402
from mocar.export.validate import ValidationContext, validate_outputs  # noqa: E402
from mocar.model import create_model_from_preset, save_model  # noqa: E402
from mocar.quantize.onnx_int8 import INT8_FLAVOURS  # noqa: E402
from mocar.quantize.request import Int8Request  # noqa: E402
from mocar.runtime.metadata import read_metadata  # noqa: E402
from mocar.runtime.preprocessing import normalize_images  # noqa: E402
from mocar.runtime.run_metadata import metadata_from_model_config  # noqa: E402
from mocar.runtime.runners import open_runner  # noqa: E402
from mocar.train.config import TrainConfig  # noqa: E402
from mocar.train.loop import fit  # noqa: E402
from mocar.train.run_files import load_trained_run  # noqa: E402

DEFAULT_OUT = Path(__file__).resolve().parent / "results" / "export_onnx"
DEFAULT_WORK = Path("runs/bench_export_onnx")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--run", help="existing tiny run folder (default: train one on a demo museum)")
    parser.add_argument("--work", default=str(DEFAULT_WORK), help="scratch folder (demo data, runs, exports)")
    parser.add_argument("--out", default=str(DEFAULT_OUT), help="results path without suffix")
    parser.add_argument("--objects", type=int, default=800, help="demo museum size when training")
    parser.add_argument("--train-steps", type=int, default=150)
    parser.add_argument("--tiny-size", type=int, default=112, help="tiny model input side (the demo's)")
    parser.add_argument("--calib-images", type=int, default=300)
    parser.add_argument("--r50-calib-images", type=int, default=64)
    parser.add_argument("--r50-val-images", type=int, default=48)
    parser.add_argument("--runs-tiny", type=int, default=200, help="timed calls per file (tiny)")
    parser.add_argument("--runs-r50", type=int, default=25, help="timed calls per file (R50)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--skip-r50", action="store_true")
    parser.add_argument("--wait-quiet", type=float, default=300.0,
                        help="seconds to wait for an idle CPU before each latency block")
    return parser.parse_args(argv)


def machine() -> dict[str, str]:
    """The library's machine description plus the ONNX toolchain versions."""
    return describe_machine(("onnx", "onnxruntime", "onnxscript"))


def tiny_run(args: argparse.Namespace, work: Path) -> Path:
    """The demo-like tiny run: given, reused, or trained on a fresh demo museum."""
    if args.run:
        return Path(args.run)
    run = work / "tiny_run"
    if (run / "best.pt").is_file():
        return run
    museum, prepared = work / "museum", work / "prepared"
    if not (prepared / "manifest.parquet").is_file():
        synthesize_museum(museum, n_objects=args.objects, source_image_size=128, seed=0, progress=False)
        prepare_dataset(PrepareConfig(export=str(museum / "export.csv"), images=str(museum / "images"),
                                      out=str(prepared), classes=16, min_class_size=10), progress=False)
    fit(TrainConfig(data=str(prepared), out=str(run), preset="mocar_tiny", steps=args.train_steps, batch_size=32,
                    input_size=args.tiny_size, resize=max(128, args.tiny_size), lr=0.05, progress=False,
                    precision="fp32"))
    return run


def time_in_rounds(runners: dict[str, object], image: np.ndarray, runs: int, rounds: int = 5, warmup: int = 5,
                   max_wait: float = 0.0) -> dict[str, dict]:
    """Median/p90 latency (ms) per runner: ``rounds`` rounds, each giving every runner a block of
    consecutive calls.

    Why blocks and not one call per runner in turn: onnxruntime's idle worker threads spin for a
    while after each call; on 2 cores, strict alternation made the *next* runtime wait for them
    (a 2 ms model measured 10-500 ms). Blocks keep each runtime's steady state; rounds still spread
    other processes' load over all files.
    """
    samples: dict[str, list[float]] = {name: [] for name in runners}
    others_before = wait_until_quiet(max_wait, threshold=0.25, pause_s=0.0) if max_wait else None
    per_block = max(1, runs // rounds)
    with OthersCpu() as others:
        for _ in range(rounds):
            for name, runner in runners.items():
                for _ in range(warmup):
                    runner.run(image)
                for _ in range(per_block):
                    started = time.perf_counter()
                    runner.run(image)
                    samples[name].append((time.perf_counter() - started) * 1e3)
    others_during = others.share
    return {name: {"p50_ms": statistics.median(values), "p90_ms": float(np.percentile(values, 90)),
                   "runs": len(values), "others_cpu_before": others_before, "others_cpu_during": others_during}
            for name, values in samples.items()}


def bench_tiny(args: argparse.Namespace, work: Path) -> list[dict]:
    run = tiny_run(args, work)
    out = work / "tiny_export"
    started = time.perf_counter()
    manifest = export_run(run, out, formats=("onnx",), calib_images=args.calib_images, progress=True,
                          int8=Int8Request(onnx=tuple(INT8_FLAVOURS)), threads=args.threads)
    total = time.perf_counter() - started
    key = manifest["reference"]["cache_key"]
    image = normalize_images(np.load(out / ".cache" / f"val_images_{key}.npy")[:1],
                             *_mean_std(out / manifest["files"][0]["file"]))
    runners = {"torch fp32 (reference)": open_runner(out / "model.pt", args.threads)}
    runners.update({entry["file"]: open_runner(out / entry["file"], args.threads) for entry in manifest["files"]})
    latency = time_in_rounds(runners, image, args.runs_tiny, max_wait=args.wait_quiet)
    rows = [_row("mocar_tiny (trained demo)", manifest["input_size"], "torch", "fp32", "reference", None,
                 manifest["reference"]["size_bytes"], None, "ok", latency["torch fp32 (reference)"])]
    for entry in manifest["files"]:
        rows.append(_row("mocar_tiny (trained demo)", manifest["input_size"], entry["file"], entry["precision"],
                         entry["flavour"], entry["export_seconds"], entry["size_bytes"], entry["validation"],
                         entry["status"] if entry["status"] == "ok" else f"{entry['status']}: {entry['reason']}",
                         latency[entry["file"]]))
    rows[0]["export_run_total_s"] = round(total, 1)
    rows[0]["validation_images"] = manifest["reference"]["validation_images"]
    rows[0]["calibration_images"] = manifest["reference"]["calibration_images"]
    return rows


def _mean_std(onnx_file: Path) -> tuple[list[float], list[float]]:
    metadata = read_metadata(onnx_file)
    return metadata["input"]["mean"], metadata["input"]["std"]


def bench_r50(args: argparse.Namespace, work: Path, tiny_run_dir: Path) -> list[dict]:
    """Random-init R50x1 at 224 px: export each precision/flavour, validate on real images, time."""
    out = work / "r50_export"
    out.mkdir(parents=True, exist_ok=True)
    data = PreparedData.load(load_trained_run(tiny_run_dir).train_config["data"])
    train, val = data.split("train"), data.split("val")
    torch.manual_seed(0)
    model = create_model_from_preset("mocar_r50x1", num_classes=len(data.classes["collections"]), input_size=224,
                                     year_mean=data.classes["year_stats"]["mean"],
                                     year_scale=data.classes["year_stats"]["std"])
    with torch.no_grad():  # zero-initialised output layers would make every logit 0
        for layer in (model.classifier, model.regressor):
            layer.weight.normal_(0.0, 0.05)
    model_file = save_model(model, out / "model.pt")
    mean, std = list(model.config.mean), list(model.config.std)
    rows_calib = calibration_rows(len(train), args.r50_calib_images)
    np.save(out / "calib.npy", normalize_images(decode_images(train["image"].iloc[rows_calib].tolist(), 224, "bilinear"), mean, std))
    images = normalize_images(decode_images(val["image"].tolist()[: args.r50_val_images], 224, "bilinear"), mean, std)
    reference = reference_outputs(model_file, images)
    job = ExportJob(model_file=model_file, out_dir=out, input_size=224, precisions=("fp32", "fp16", "int8"),
                    metadata=metadata_from_model_config(model.config, model.embedding_size), calib_file=out / "calib.npy",
                    work_dir=out / "work", int8=Int8Request(onnx=tuple(INT8_FLAVOURS)))
    files = export_onnx(job)
    context = ValidationContext(val["collection_idx"].to_numpy()[: len(images)], val["year"].to_numpy()[: len(images)],
                                model.config.year_mean, model.config.year_scale)
    validation = {}
    for exported in files:
        figures, failures = validate_outputs(reference, open_runner(exported.path, args.threads).run(images),
                                             exported.precision, context)
        validation[exported.path.name] = (figures, "ok" if not failures else "parity_failed: " + "; ".join(failures))
    runners = {"torch fp32 (reference)": open_runner(model_file, args.threads)}
    runners.update({f.path.name: open_runner(f.path, args.threads) for f in files})
    latency = time_in_rounds(runners, images[:1], args.runs_r50, warmup=2, max_wait=args.wait_quiet)
    rows = [_row("mocar_r50x1 (random init)", 224, "torch", "fp32", "reference", None, model_file.stat().st_size,
                 None, "ok", latency["torch fp32 (reference)"])]
    for exported in files:
        figures, status = validation[exported.path.name]
        rows.append(_row("mocar_r50x1 (random init)", 224, exported.path.name, exported.precision, exported.flavour,
                         exported.seconds, exported.path.stat().st_size, figures, status, latency[exported.path.name]))
    rows[0]["validation_images"], rows[0]["calibration_images"] = len(images), len(rows_calib)
    return rows


def _row(model: str, size: int, file: str, precision: str, flavour: str, export_s: float | None, size_bytes: int,
         figures: dict | None, status: str, latency: dict) -> dict:
    row = {"model": model, "img_size": size, "file": file, "precision": precision, "flavour": flavour,
           "export_s": export_s, "size_mb": round(size_bytes / 1e6, 3), "status": status, **latency}
    if figures:
        row["max_rel_err"] = max(o["max_rel"] for o in figures["outputs"].values())
        row["logits_psnr_db"] = figures["outputs"]["logits"]["psnr_db"]
        row["top1_agreement"] = figures["top1_agreement"]
        row["accuracy_delta"] = figures["accuracy_delta"]
        row["year_mae_delta"] = figures.get("year_mae_delta")
        row["embedding_cos_p01"] = figures.get("embedding_cosine", {}).get("p01")
    return row


def _fmt(value: object, spec: str) -> str:
    if value is None:
        return "-"
    if isinstance(value, float) and not np.isfinite(value):
        return "inf"
    return format(value, spec)


def write_results(rows: list[dict], args: argparse.Namespace, info: dict, seconds: float) -> str:
    lines = ["# ONNX export: time, size, onnxruntime latency, parity", "",
             f"- Command: `{command_line(__file__)}`",
             f"- Date: {dt.datetime.now(dt.timezone.utc).isoformat(timespec='seconds')} (total {seconds:.0f} s)"]
    lines += [f"- {key}: {value}" for key, value in info.items()]
    lines += [
        f"- Latency: onnxruntime CPUExecutionProvider, {args.threads} intra-op threads, batch 1, one validation image, "
        "files timed in 5 rounds of warmed-up blocks of consecutive calls (strict one-call alternation let "
        "onnxruntime's spinning idle threads slow the next file down). The machine is shared: before each model's block the script waits "
        "(up to `--wait-quiet` s) for an idle CPU; `others' CPU` = share of all cores used by other processes just "
        "before / during the block. Where `during` is well above 0 %, absolute numbers are pessimistic; ratios "
        "within one model are fairer.",
        "- Parity: against the float PyTorch model on the validation images (tiny: whole validation split of the "
        "trained demo run; R50: real demo images). `max rel` = largest |error| / largest |reference| over all "
        "outputs; PSNR of logits; agreement = top-1 agreement; d acc = accuracy delta; d year = year-MAE delta "
        "in years; cos p01 = 1st percentile of the embedding cosine.",
        "- **R50x1 has random weights** (no pretrained BiT weights offline): its sizes and latencies are real, "
        "its int8 parity figures say nothing about a trained network.",
        "- Export s = shared tracing (torch.onnx dynamo) + the precision's own conversion/quantisation.", "",
        "| model | px | file | prec | flavour | export s | MB | p50 ms | p90 ms | vs ORT fp32 | max rel | logits PSNR dB | agree | d acc | d year | cos p01 | status | others' CPU before / during |",
        "|---|---:|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|---|"]
    for row in rows:
        base = next((r["p50_ms"] for r in rows if r["model"] == row["model"] and r["file"].endswith("fp32.onnx")), None)
        speedup = f"{base / row['p50_ms']:.2f}x" if base else "-"
        lines.append(
            f"| {row['model']} | {row['img_size']} | {row['file']} | {row['precision']} | {row['flavour']} | "
            f"{_fmt(row['export_s'], '.1f')} | {row['size_mb']:.2f} | {row['p50_ms']:.2f} | {row['p90_ms']:.2f} | "
            f"{speedup} | {_fmt(row.get('max_rel_err'), '.1e')} | {_fmt(row.get('logits_psnr_db'), '.1f')} | "
            f"{_fmt(row.get('top1_agreement'), '.1%')} | {_fmt(row.get('accuracy_delta'), '+.1%')} | "
            f"{_fmt(row.get('year_mae_delta'), '+.1f')} | {_fmt(row.get('embedding_cos_p01'), '.4f')} | "
            f"{row['status'][:60]} | {_fmt(row['others_cpu_before'], '.0%')} / {_fmt(row['others_cpu_during'], '.0%')} |")
    extras = [f"- {r['model']}: {r.get('validation_images')} validation images, {r.get('calibration_images')} "
              f"calibration images" + (f", export_run total {r['export_run_total_s']} s" if "export_run_total_s" in r else "")
              for r in rows if r["file"] == "torch"]
    text = "\n".join(lines + [""] + extras) + "\n"
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.with_suffix(".md").write_text(text)
    out.with_suffix(".json").write_text(json.dumps({"machine": info, "rows": rows}, indent=2, default=str))
    return text


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    info = machine()
    rows = bench_tiny(args, work)
    if not args.skip_r50:
        rows += bench_r50(args, work, tiny_run(args, work))
    print(write_results(rows, args, info, time.perf_counter() - started))


if __name__ == "__main__":
    main()
