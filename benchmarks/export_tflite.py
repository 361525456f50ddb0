"""TFLite export benchmark: onnx2tf conversion time, file size, latency and parity per flavour.

For each case (preset, input size) the script builds a randomly initialised network (speed does not
depend on the weight values; the zero-initialised heads get small random weights so the outputs
vary), runs :func:`mocar.export.to_tflite.export_tflite` for fp32, fp16 and the three int8 flavours
in a spawned child process (TensorFlow lives only there; the child's wall time includes importing
it), then in this process runs every file with :class:`TFLiteRunner` (ai_edge_litert, XNNPACK):

* latency: batch 1, ``--threads`` threads, warm-up then median/p90 of ``--runs`` invocations,
  next to PyTorch eager fp32 (same threads) on the same input;
* parity vs PyTorch fp32 on image-like random inputs (smooth colour blobs + noise, normalised like
  BiT): max abs diff and PSNR per output, top-1 agreement, year correlation, min embedding cosine.

Random weights and synthetic images say nothing about int8 *accuracy* on real photos; they do show
the conversion works, the size/latency trade-off and gross numeric breakage.

Writes ``<out>.md`` (tables, command, machine, versions, date) and ``<out>.json`` (flat rows).

Usage:
    .venv/bin/python benchmarks/export_tflite.py                     # tiny@128 and r50x1@224, ~10 min on 2 cores
    .venv/bin/python benchmarks/export_tflite.py --cases mocar_tiny:128
"""
from __future__ import annotations

import argparse
import contextlib
import datetime
import json
import multiprocessing
import resource
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch  # before anything that could pull TensorFlow (import order: docs/toolchain_findings.md)

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _machine import command_line  # noqa: E402

from mocar.bench.machine import describe_machine, load_1m  # noqa: E402
from mocar.export.job import ExportedFile, ExportJob  # noqa: E402
from mocar.export.to_tflite import export_tflite  # noqa: E402
from mocar.model import create_model_from_preset, load_model, save_model  # noqa: E402
from mocar.runtime.run_metadata import metadata_from_model_config  # noqa: E402
from mocar.runtime.runners.tflite_runner import TFLiteRunner  # noqa: E402
from mocar.runtime.tflite_file import invoke  # noqa: E402

DEFAULT_CASES = ("mocar_tiny:128", "mocar_r50x1:224")
PACKAGES = ("torch", "timm", "onnx", "onnx2tf", "tensorflow", "ai-edge-litert", "flatbuffers", "numpy")


def image_like(count: int, size: int, seed: int) -> np.ndarray:
    """Smooth colour blobs plus noise in [0, 1], normalised with mean 0.5 / std 0.5, float32 NCHW."""
    rng = np.random.default_rng(seed)
    coarse = rng.random((count, 3, 8, 8), dtype=np.float32)
    smooth = torch.nn.functional.interpolate(torch.from_numpy(coarse), size=(size, size), mode="bilinear").numpy()
    pixels = np.clip(smooth + rng.normal(0, 0.05, smooth.shape), 0, 1)
    return ((pixels - 0.5) / 0.5).astype(np.float32)


def build_model(preset: str, size: int, seed: int = 0) -> torch.nn.Module:
    """A random-init network whose zero-initialised head weights get small random values."""
    torch.manual_seed(seed)
    model = create_model_from_preset(preset, num_classes=8, input_size=size, year_mean=-500.0, year_scale=800.0)
    with torch.no_grad():
        for parameter in model.parameters():
            if parameter.ndim > 1 and not parameter.any():
                parameter.normal_(0.0, 0.05)
    return model.eval()


def _export_child(job_data: dict, result_path: str) -> None:
    files = export_tflite(ExportJob.from_dict(job_data))
    Path(result_path).write_text(json.dumps([f.to_dict() for f in files]))


def run_export(job: ExportJob, result_path: Path) -> tuple[list[ExportedFile], float, float]:
    """Runs the export in a spawned process; returns files, wall seconds, children's peak RSS (GB)."""
    start = time.perf_counter()
    child = multiprocessing.get_context("spawn").Process(target=_export_child, args=(job.to_dict(), str(result_path)))
    child.start()
    child.join()
    wall = time.perf_counter() - start
    if child.exitcode != 0:
        raise RuntimeError(f"export child exited with {child.exitcode}")
    peak_gb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024**2
    return [ExportedFile.from_dict(d) for d in json.loads(result_path.read_text())], wall, peak_gb


def interleaved_times_ms(calls: dict[str, Callable[[], object]], runs: int, warmup: int) -> dict[str, tuple[float, float]]:
    """Median and p90 (ms) per call, timed in alternation (one call of each per round).

    Alternating spreads the load of other processes on a shared machine evenly over the files, so
    the ratios stay comparable even when absolute numbers drift.
    """
    for call in calls.values():
        for _ in range(warmup):
            call()
    times: dict[str, list[float]] = {name: [] for name in calls}
    for _ in range(runs):
        for name, call in calls.items():
            start = time.perf_counter()
            call()
            times[name].append((time.perf_counter() - start) * 1e3)
    result = {}
    for name, values in times.items():
        values.sort()
        result[name] = (statistics.median(values), values[min(len(values) - 1, int(0.9 * len(values)))])
    return result


def wait_for_quiet_cpu(max_seconds: float, threshold: float) -> float | None:
    """Waits until the 1-minute load average drops below ``threshold`` (or time runs out); returns it.

    The machine is shared: other jobs inflate latencies, so timing starts in a quiet moment if one
    comes, and the load is recorded next to the numbers either way.
    """
    deadline = time.monotonic() + max_seconds
    while (load := load_1m()) is not None and load >= threshold and time.monotonic() < deadline:
        time.sleep(10)
    return load


def psnr(test: np.ndarray, ref: np.ndarray) -> float:
    mse = float(np.mean((test.reshape(ref.shape) - ref) ** 2))
    return 10 * np.log10(float(ref.max() - ref.min()) ** 2 / max(mse, 1e-30))


def parity(outputs: dict[str, np.ndarray], reference: dict[str, np.ndarray]) -> dict[str, float]:
    row = {f"maxabs_{k}": float(np.abs(outputs[k].reshape(v.shape) - v).max()) for k, v in reference.items()}
    row.update({f"psnr_{k}": psnr(outputs[k], v) for k, v in reference.items()})
    row["top1_agreement"] = float((outputs["logits"].argmax(1) == reference["logits"].argmax(1)).mean())
    if "year" in reference:
        row["year_corr"] = float(np.corrcoef(outputs["year"].ravel(), reference["year"].ravel())[0, 1])
    emb, ref = outputs["embedding"], reference["embedding"]
    cosine = (emb * ref).sum(1) / (np.linalg.norm(emb, axis=1) * np.linalg.norm(ref, axis=1) + 1e-12)
    row["embedding_cos_min"] = float(cosine.min())
    return row


def export_case(preset: str, size: int, args: argparse.Namespace, scratch: Path) -> tuple[Path, list[ExportedFile], dict]:
    """Builds and saves the network, exports every flavour; returns model file, files, common row fields.

    With ``--reuse`` an earlier export kept in ``--keep`` (``case.json``) is measured again instead.
    """
    case_dir = scratch / f"{preset}_{size}"
    if args.reuse and (case_dir / "case.json").is_file():
        kept = json.loads((case_dir / "case.json").read_text())
        print(f"[{preset} @ {size}] reusing the export in {case_dir}", flush=True)
        return Path(kept["model_file"]), [ExportedFile.from_dict(f) for f in kept["files"]], kept["common"]
    model = build_model(preset, size)
    model_file = save_model(model, case_dir / f"{preset}.pt")
    np.save(case_dir / "calib.npy", image_like(args.calib, size, seed=1))
    (case_dir / "work").mkdir(exist_ok=True)
    job = ExportJob(model_file=model_file, out_dir=case_dir / "out", input_size=size, precisions=("fp32", "fp16", "int8"),
                    metadata=metadata_from_model_config(model.config), calib_file=case_dir / "calib.npy",
                    work_dir=case_dir / "work", options={"tflite_stem": preset})
    print(f"[{preset} @ {size}] exporting (child process) ...", flush=True)
    files, wall, peak_gb = run_export(job, case_dir / "files.json")
    print(f"[{preset} @ {size}] export {wall:.1f} s wall, tracing + onnx2tf {files[0].seconds:.1f} s", flush=True)
    common = {"preset": preset, "img_size": size, "threads": args.threads, "export_wall_s": round(wall, 1),
              "export_s": round(files[0].seconds, 1), "export_peak_rss_gb": round(peak_gb, 2)}
    (case_dir / "case.json").write_text(json.dumps({"model_file": str(model_file), "common": common,
                                                    "files": [f.to_dict() for f in files]}))
    return model_file, files, common


def measure_case(model_file: Path, files: list[ExportedFile], common: dict, args: argparse.Namespace) -> list[dict]:
    """Parity vs PyTorch and interleaved latency of every file; flat rows (PyTorch first)."""
    images = image_like(args.images, common["img_size"], seed=2)
    model = load_model(model_file)
    with torch.no_grad():
        out = model(torch.from_numpy(images))
    reference = {name: getattr(out, name).numpy() for name in ("logits", "year", "embedding")
                 if getattr(out, name) is not None}
    rows = {"torch": {**common, "format": "torch", "flavour": "eager fp32", "file": model_file.name,
                      "size_mb": model_file.stat().st_size / 1e6}}
    nhwc = np.ascontiguousarray(images[:1].transpose(0, 2, 3, 1))
    calls = {}
    for record in files:
        runner = TFLiteRunner(record.path, threads=args.threads)
        rows[record.flavour] = {**common, "format": "tflite", "flavour": record.flavour, "precision": record.precision,
                                "file": record.path.name, "size_mb": record.path.stat().st_size / 1e6,
                                "input_dtype": runner.input_info.dtype, **parity(runner.run(images), reference)}
        calls[record.flavour] = lambda interpreter=runner.interpreter: invoke(interpreter, nhwc)
    load_before = wait_for_quiet_cpu(args.wait_quiet, args.quiet_load)
    timings = interleaved_times_ms(calls, args.runs, args.warmup)
    # PyTorch on its own: its OpenMP workers spin after each call and would slow the TFLite calls
    # interleaved with it (and the reverse) on 2 cores.
    probe = torch.from_numpy(images[:1])
    with torch.no_grad():
        timings["torch"] = interleaved_times_ms({"torch": lambda: model(probe)}, args.runs, args.warmup)["torch"]
    load = {"load_1m_before_timing": load_before, "load_1m_after_timing": load_1m()}
    for name, (p50, p90) in sorted(timings.items(), key=lambda item: list(rows).index(item[0])):
        rows[name].update(p50_ms=p50, p90_ms=p90, **load)
        print(f"  {name:20s} {rows[name]['size_mb']:8.2f} MB  p50 {p50:8.3f} ms  p90 {p90:8.3f} ms", flush=True)
    return list(rows.values())


def machine_info() -> dict[str, str]:
    """The library's machine description plus the TFLite toolchain versions and the load at the start."""
    return {**describe_machine(PACKAGES), "load_avg_1m_start": f"{load_1m()}"}


def render_markdown(rows: list[dict], machine: dict[str, str], command: str, started: str, seconds: float) -> str:
    commands = list(dict.fromkeys(r.get("command", command) for r in rows))
    lines = ["# TFLite export (onnx2tf) benchmark", "",
             "Commands: " + "; ".join(f"`{c}`" for c in commands) + "  ",
             f"Last run: {started} (total {seconds / 60:.1f} min)  ",
             "Machine: " + ", ".join(f"{k} {v}" for k, v in machine.items()), "",
             "Random-init networks (zero-init heads given small random weights), synthetic image-like inputs "
             "(smooth colour blobs + noise, normalised mean 0.5 / std 0.5); 32 such images calibrate the int8 "
             "files. Latency: batch 1, warm-up, then the TFLite files timed in alternation (one call each per "
             "round), median/p90; TFLite via ai_edge_litert (XNNPACK); PyTorch eager fp32 (same threads) timed "
             "separately afterwards. Parity vs PyTorch fp32 on the benchmark images. Random weights and synthetic "
             "images say nothing about int8 accuracy on real photos (a trained network's int8 parity is much "
             "better, see docs/toolchain_findings.md); they show that conversion works, the size/latency trade-off and gross "
             "breakage. With `--reuse`, the export figures (wall time, RSS) are those of the run that exported "
             "(same script without `--reuse`), and only parity and latency are measured again. The machine is "
             "shared: the load average is given next to each timing.", ""]
    for (preset, size) in dict.fromkeys((r["preset"], r["img_size"]) for r in rows):
        case = [r for r in rows if (r["preset"], r["img_size"]) == (preset, size)]
        first = case[0]
        lines += [f"## {preset} @ {size} px", "", f"Measured {first.get('measured_at', started)} by `{first.get('command', command)}`.",
                  "",
                  f"Export wall time (child process incl. imports, tracing, onnx2tf, checks): {first['export_wall_s']} s; "
                  f"tracing + onnx2tf (one run, all flavours): {first['export_s']} s; children's peak RSS "
                  f"{first['export_peak_rss_gb']} GB. 1-minute load average (2 cores, shared machine) "
                  f"{first['load_1m_before_timing']} before and {first['load_1m_after_timing']} after timing.", "",
                  "| file | flavour | input | size MB | p50 ms | p90 ms | vs fp32 | top-1 agree | PSNR logits / year / emb dB "
                  "| max abs logits | year corr | emb cos min |",
                  "|---|---|---|---:|---:|---:|---:|---:|---|---:|---:|---:|"]
        fp32 = next((r["p50_ms"] for r in case if r.get("flavour") == "float32"), None)
        for r in case:
            speed = f"{fp32 / r['p50_ms']:.2f}x" if fp32 else ""
            if r["format"] == "torch":
                lines.append(f"| {r['file']} | {r['flavour']} | NCHW f32 | {r['size_mb']:.2f} | {r['p50_ms']:.3f} | "
                             f"{r['p90_ms']:.3f} | {speed} | | | | | |")
                continue
            psnrs = " / ".join(f"{r[k]:.1f}" for k in ("psnr_logits", "psnr_year", "psnr_embedding") if k in r)
            lines.append(f"| {r['file']} | {r['flavour']} | NHWC {r['input_dtype']} | {r['size_mb']:.2f} | "
                         f"{r['p50_ms']:.3f} | {r['p90_ms']:.3f} | {speed} | {r['top1_agreement']:.3f} | {psnrs} | "
                         f"{r['maxabs_logits']:.2e} | {r.get('year_corr', float('nan')):.4f} | {r['embedding_cos_min']:.4f} |")
        lines.append("")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", default=",".join(DEFAULT_CASES), help="preset:size,... (default %(default)s)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--runs", type=int, default=50, help="timed invocations per file")
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--images", type=int, default=32, help="parity images")
    parser.add_argument("--calib", type=int, default=32, help="calibration images")
    parser.add_argument("--wait-quiet", type=float, default=300, help="max seconds to wait for a quiet CPU before timing")
    parser.add_argument("--quiet-load", type=float, default=1.5, help="1-minute load average counted as quiet")
    parser.add_argument("--keep", default=None, help="folder to keep models and exported files in (default: temporary)")
    parser.add_argument("--reuse", action="store_true", help="re-measure exports kept in --keep instead of exporting")
    parser.add_argument("--merge", action="store_true",
                        help="keep the rows of other cases already in <out>.json (re-measure one case alone)")
    parser.add_argument("--out", default="benchmarks/results/export_tflite")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    started = datetime.datetime.now().isoformat(timespec="seconds")
    machine = machine_info()
    begin = time.perf_counter()
    command = command_line(__file__)
    rows = []
    with contextlib.ExitStack() as stack:
        scratch = Path(args.keep) if args.keep else Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="bench_")))
        for case in args.cases.split(","):
            preset, size = case.split(":")
            measured_at = datetime.datetime.now().isoformat(timespec="seconds")
            rows += [{**row, "measured_at": measured_at, "command": command}
                     for row in measure_case(*export_case(preset, int(size), args, scratch), args)]
    machine["load_avg_1m_end"] = f"{load_1m()}"
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    if args.merge and out.with_suffix(".json").is_file():
        done = {(r["preset"], r["img_size"]) for r in rows}
        kept = [r for r in json.loads(out.with_suffix(".json").read_text())["rows"] if (r["preset"], r["img_size"]) not in done]
        rows = kept + rows
    report = render_markdown(rows, machine, command, started, time.perf_counter() - begin)
    out.with_suffix(".md").write_text(report + "\n")
    out.with_suffix(".json").write_text(json.dumps({"command": command, "date": started, "machine": machine, "rows": rows},
                                                   indent=1))
    print(report)


if __name__ == "__main__":
    main()
