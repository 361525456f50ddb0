"""The web app on this machine: onnxruntime-web in headless Chromium vs Python onnxruntime, same ONNX files.

For each export folder (default: the demo teacher and student of ``--demo``), the script builds the
site (:func:`mocar.mobile.web.build_site`), serves it (:func:`mocar.mobile.web_server.serving`) and
drives Debian's Chromium through ``web_demo/test/browser/drive.mjs`` (puppeteer-core):

* **latency**, one thread on both sides, batch 1, the same golden input tensor: the benchmark page
  (warm-up by time, ``--warmup`` s, then ``--runs`` timed runs; p50/p90/mean) vs Python onnxruntime
  through mocar's runner, timed the same way in this process;
* **parity**: the page's own check of each file against Python onnxruntime's outputs of the same file
  (the site's golden vectors): top-1 agreement and max |error| per output;
* **cold start**: a cached (service worker) page with the server stopped, from navigation to the first
  answer for a golden photo, in a fresh browser process each time (``--cold-starts`` times);
* **site size**: every file, and gzipped (level 6, what a static host typically sends).

Goals (issue 16): student int8 >= 1.5x its fp32 in the browser; browser <= 3x native at one thread.

Usage:
    .venv/bin/python benchmarks/web_browser.py --demo /tmp/base_demo        # ~3 min on 2 cores
"""
from __future__ import annotations

import argparse
import gzip
import json
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _machine import command_line, machine_lines, now  # noqa: E402

from mocar.bench.machine import LoadMonitor, describe_machine  # noqa: E402
from mocar.mobile.web import WEB_DEMO_DIR, build_site  # noqa: E402
from mocar.mobile.web_server import serving  # noqa: E402
from mocar.runtime.runners import open_runner  # noqa: E402
from mocar.utils.io import json_safe  # noqa: E402

DEFAULT_OUT = Path(__file__).resolve().parent / "results" / "web_browser"
DRIVER = WEB_DEMO_DIR / "test" / "browser" / "drive.mjs"
INT8_GAIN_GOAL = 1.5  # student int8 vs its fp32, in the browser
NATIVE_RATIO_GOAL = 3.0  # browser p50 / Python onnxruntime p50, one thread


def drive(*args: str) -> dict[str, Any]:
    """One run of the browser driver; fails loudly on a page error or console error (numbers would lie)."""
    done = subprocess.run(["node", str(DRIVER), *args], capture_output=True, text=True, timeout=600, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"drive.mjs {args[0]} failed:\n{done.stderr[-3000:]}")
    result = json.loads(done.stdout)
    if result.get("error") or result["consoleErrors"]:
        raise RuntimeError(f"drive.mjs {args[0]}: {result.get('error')} {result['consoleErrors']}")
    return result


def golden_input(site: Path, model: dict[str, Any], shape: list[int]) -> np.ndarray:
    """Case 0's input tensor of a file's golden folder, NCHW like the ONNX file takes it."""
    folder = site / Path(model["golden"]).parent
    case = json.loads((site / model["golden"]).read_text(encoding="utf-8"))["cases"][0]
    nhwc = np.fromfile(folder / case["input"]["file"], dtype=np.float32).reshape(case["input"]["shape"])
    return np.ascontiguousarray(nhwc.transpose(0, 3, 1, 2)).reshape(shape)


def time_native(path: Path, image: np.ndarray, warmup_s: float, runs: int) -> dict[str, float]:
    """Python onnxruntime (mocar's runner, 1 thread), warmed up by time like the page."""
    runner = open_runner(path, threads=1)
    end = time.perf_counter() + warmup_s
    while time.perf_counter() < end:
        runner.run(image)
    times = []
    for _ in range(runs):
        tick = time.perf_counter()
        runner.run(image)
        times.append((time.perf_counter() - tick) * 1000.0)
    return {"p50_ms": float(np.median(times)), "p90_ms": float(np.percentile(times, 90)), "mean_ms": float(np.mean(times))}


def site_size(site: Path) -> dict[str, float]:
    files = [p for p in site.rglob("*") if p.is_file() and "bench_rows" not in p.parts]
    total = sum(p.stat().st_size for p in files)
    zipped = sum(len(gzip.compress(p.read_bytes(), compresslevel=6)) for p in files)
    return {"files": len(files), "total_mb": total / 1e6, "gzipped_mb": zipped / 1e6}


def cold_starts(site: Path, profile: Path, photo: Path, count: int) -> list[dict[str, float]]:
    """First visit online (fills the cache), then ``count`` fresh browsers on the cached page, server stopped."""
    with serving(site) as url:
        drive("app", "--url", url, "--photo", str(photo), "--profile", str(profile))
    return [{key: drive("app", "--url", url, "--photo", str(photo), "--profile", str(profile))[key]
             for key in ("ready_s", "first_answer_s")} for _ in range(count)]


def measure_folder(label: str, export: Path, work: Path, args: argparse.Namespace) -> dict[str, Any]:
    site = build_site(export, work / label / "site", golden_count=args.golden)
    manifest = json.loads((site.out / "site.json").read_text(encoding="utf-8"))
    with serving(site.out) as url:
        page = drive("bench", "--url", f"{url}bench.html?threads=1&warmup={args.warmup}&runs={args.runs}"
                     f"&autorun=1&device=Chromium%20(this%20machine)", "--profile", str(work / label / "bench_profile"))
    files = []
    for model, row in zip(manifest["models"], page["rows"]["rows"]):
        metadata = json.loads((site.out / model["metadata"]).read_text(encoding="utf-8"))
        native = time_native(export / model["name"], golden_input(site.out, model, metadata["input"]["shape"]),
                             args.warmup, args.runs)
        files.append({"file": model["name"], "precision": model["precision"], "size_mb": model["size_bytes"] / 1e6,
                      "browser": {k: row[k] for k in ("p50_ms", "p90_ms", "mean_ms", "min_ms", "max_ms", "std_ms")},
                      "native": native, "ratio_p50": row["p50_ms"] / native["p50_ms"],
                      "parity": page["parity"][model["name"]]})
    photo = site.out / "golden" / Path(manifest["app_model"]).stem / "case_000.png"
    starts = cold_starts(site.out, work / label / "app_profile", photo, args.cold_starts)
    return {"label": label, "export": str(export), "files": files, "size": site_size(site.out),
            "cold_start": starts, "runtime": page["rows"]["runtime_version"], "device": page["rows"]["os"],
            "cross_origin_isolated": page["crossOriginIsolated"]}


def _row(folder: dict[str, Any], f: dict[str, Any]) -> str:
    b, n, p = f["browser"], f["native"], f["parity"]
    errors = ", ".join(f"{k} {v:.1e}" for k, v in p["max_abs"].items())
    return (f"| {folder['label']} | {f['file']} | {f['size_mb']:.2f} | {b['p50_ms']:.2f} | {b['p90_ms']:.2f} | "
            f"{b['std_ms']:.2f} | {n['p50_ms']:.2f} | {n['p90_ms']:.2f} | {f['ratio_p50']:.1f}x | "
            f"{p['agreement']:.0f} % ({p['cases']}) | {errors} |")


def speedup(folder: dict[str, Any], precision: str) -> float | None:
    by = {f["precision"]: f["browser"]["p50_ms"] for f in folder["files"]}
    return by["fp32"] / by[precision] if "fp32" in by and precision in by else None


def write_markdown(result: dict[str, Any], out: Path) -> None:
    lines = [f"# Web app: onnxruntime-web in headless Chromium vs Python onnxruntime ({result['date']})", "",
             f"Command: `{result['command']}`", "", *machine_lines(result["machine"]),
             f"- browser: {result['folders'][0]['device']}, onnxruntime-web {result['folders'][0]['runtime']} (wasm, "
             f"cross-origin isolated: {result['folders'][0]['cross_origin_isolated']})",
             f"- load: {result['load']}", "",
             f"Batch 1, 1 thread on both sides, the same input tensor (golden case 0); warm-up {result['warmup_s']} s "
             f"by time, then {result['runs']} timed runs (p50/p90/std over those n). Parity: the benchmark page's "
             "own check against Python onnxruntime's outputs of the same file (top-1 agreement over the golden "
             "cases; max |error| per output).", "",
             "| model | file | MB | browser p50 ms | p90 | std | native p50 ms | p90 | browser/native | top-1 agreement "
             "(cases) | max abs error |", "|---|---|---|---|---|---|---|---|---|---|---|"]
    lines += [_row(folder, f) for folder in result["folders"] for f in folder["files"]]
    lines += ["", "| model | site files | site MB | gzipped MB | cold start: ready s (median, min-max) | "
              "first answer s (median, min-max) |", "|---|---|---|---|---|---|"]
    for folder in result["folders"]:
        ready = [s["ready_s"] for s in folder["cold_start"]]
        first = [s["first_answer_s"] for s in folder["cold_start"]]
        size = folder["size"]
        lines.append(f"| {folder['label']} | {size['files']} | {size['total_mb']:.1f} | {size['gzipped_mb']:.1f} | "
                     f"{statistics.median(ready):.2f} ({min(ready):.2f}-{max(ready):.2f}) | "
                     f"{statistics.median(first):.2f} ({min(first):.2f}-{max(first):.2f}) |")
    lines += ["", f"Cold start: n = {len(result['folders'][0]['cold_start'])} fresh browser processes each on the "
              "cached page with the server stopped (service worker), navigation to model ready and to the first "
              "answer of a golden photo (decode, preprocess, run, search).", "", "Goals:"]
    lines += [f"- {goal}: {verdict}" for goal, verdict in result["goals"].items()]
    out.with_suffix(".md").write_text("\n".join(lines) + "\n", encoding="utf-8")


def judge(folders: list[dict[str, Any]]) -> dict[str, str]:
    student = next((f for f in folders if f["label"] == "student"), None)
    gain = speedup(student, "int8") if student else None
    worst = max(f["ratio_p50"] for folder in folders for f in folder["files"])
    return {f"student int8 / fp32 speed-up in the browser (goal >= {INT8_GAIN_GOAL}x)":
            "not measured" if gain is None else f"{gain:.2f}x — {'met' if gain >= INT8_GAIN_GOAL else 'NOT met'}",
            f"browser / native p50 at 1 thread (goal <= {NATIVE_RATIO_GOAL}x)":
            f"worst {worst:.1f}x — {'met' if worst <= NATIVE_RATIO_GOAL else 'NOT met'}"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--demo", type=Path, default=Path("runs/demo"), help="a finished `mocar demo` folder")
    parser.add_argument("--work", type=Path, default=Path("/tmp/web_browser_bench"))
    parser.add_argument("--warmup", type=float, default=2.0, help="warm-up seconds per file (default 2)")
    parser.add_argument("--runs", type=int, default=50)
    parser.add_argument("--golden", type=int, default=4, help="golden images per file (parity cases)")
    parser.add_argument("--cold-starts", type=int, default=5)
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = parser.parse_args()
    if shutil.which("node") is None or not Path("/usr/bin/chromium").is_file():
        sys.exit("needs node and chromium (Debian packages nodejs, npm, chromium)")
    with LoadMonitor() as load:
        folders = [measure_folder(label, args.demo / folder, args.work, args)
                   for label, folder in (("teacher", "export"), ("student", "student_export"))]
    result = {"date": now(), "command": command_line(__file__), "machine": describe_machine(("onnxruntime",)),
              "load": load.record.describe(), "warmup_s": args.warmup, "runs": args.runs, "folders": folders,
              "goals": judge(folders)}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.with_suffix(".json").write_text(json.dumps(json_safe(result), indent=1) + "\n", encoding="utf-8")
    write_markdown(result, args.out)
    print(args.out.with_suffix(".md").read_text(encoding="utf-8"))


if __name__ == "__main__":
    main()
