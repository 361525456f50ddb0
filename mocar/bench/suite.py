"""`mocar bench`: every exported file against the float PyTorch reference, on one decoded split.

The split's images are decoded and preprocessed once, with the contract from the reference model's
metadata, and the same float32 NCHW array goes to every runner, so the only difference measured is
the model file. Per export: parity on the whole split (agreement, accuracy and year-MAE deltas,
PSNR, embedding cosine, the images whose prediction flipped) and batch-1 latency per thread count.
Rows are flat (one per export x threads) and written as JSON and CSV next to a Markdown report.
With ``check=True`` the parity policy (relative to the reference) gates CI via ``junit.xml``.
"""
from __future__ import annotations

import csv
import json
import platform
import time
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from mocar.bench import parity
from mocar.bench.junit import write_junit
from mocar.bench.policy import evaluate_policy, load_policy, raise_on_violations
from mocar.bench.runners import open_runner
from mocar.data.dataset import PreparedData
from mocar.data.images import load_rgb
from mocar.data.transforms import DataConfig, eval_transform
from mocar.errors import InputError

REFERENCE_FILE = "model.pt"


def _manifest(exports_dir: Path) -> dict[str, Any]:
    path = exports_dir / "manifest.json"
    if not path.is_file():
        raise InputError(f"{exports_dir}: no manifest.json; run `mocar export --out {exports_dir}` first")
    return json.loads(path.read_text(encoding="utf-8"))


def decode_split(frame, metadata: dict[str, Any], progress: bool) -> np.ndarray:
    """The split's images preprocessed once with the file's own contract (float32 NCHW)."""
    size = int(metadata["input"]["resize"]["size"][0])
    cfg = DataConfig(image_size=size, resize=size, mean=tuple(metadata["input"]["mean"]),
                     std=tuple(metadata["input"]["std"]),
                     interpolation=metadata["input"]["resize"].get("interpolation", "bilinear"))
    paths = tqdm(frame["image"], desc="decoding images", unit="img", disable=not progress)
    return np.stack([eval_transform(load_rgb(p), cfg).numpy() for p in paths]).astype(np.float32)


def time_runner(path: Path, images: np.ndarray, threads: int, runs: int, warmup: int) -> dict[str, float]:
    """Load time and batch-1 latency (warm-up first; median, p90, min over ``runs``)."""
    start = time.perf_counter()
    runner = open_runner(path, threads)
    load_s = time.perf_counter() - start
    sample = images[:1]
    for _ in range(warmup):
        runner.run(sample)
    times = []
    for i in range(runs):
        tick = time.perf_counter()
        runner.run(images[i % len(images)][None])
        times.append((time.perf_counter() - tick) * 1000.0)
    p50 = float(np.median(times))
    return {"load_s": round(load_s, 4), "p50_ms": p50, "p90_ms": float(np.percentile(times, 90)),
            "min_ms": float(np.min(times)), "throughput_ips": 1000.0 / p50 if p50 > 0 else None}


def parity_row(ref: dict[str, np.ndarray], out: dict[str, np.ndarray], targets: np.ndarray,
               years: np.ndarray | None) -> dict[str, Any]:
    """Task-level parity of one export vs the reference (percent / points / relative %)."""
    row = {"top1": parity.accuracy(out["logits"], targets),
           "delta_top1": 100.0 * parity.accuracy_delta(ref["logits"], out["logits"], targets),
           "agreement": 100.0 * parity.top1_agreement(ref["logits"], out["logits"]),
           "psnr_logits": parity.psnr(ref["logits"], out["logits"]),
           "max_abs_logits": parity.max_abs_error(ref["logits"], out["logits"])}
    if "embedding" in out and "embedding" in ref:
        stats = parity.cosine_stats(ref["embedding"], out["embedding"])
        row.update({"embedding_cosine_mean": stats.get("mean"), "embedding_cosine_p1": stats.get("p01", stats.get("p1"))})
    if years is not None and "year" in out:
        ref_mae, mae = parity.mean_abs_year_error(ref["year"], years), parity.mean_abs_year_error(out["year"], years)
        row.update({"year_mae": mae, "delta_mae": mae - ref_mae,
                    "delta_mae_rel": 100.0 * (mae - ref_mae) / ref_mae if ref_mae else 0.0})
    return row


def flipped(ids: list[str], ref_logits: np.ndarray, logits: np.ndarray, labels: list[str]) -> list[dict[str, Any]]:
    """Images whose top-1 changed, most confident reference first."""
    a, b = parity.top1(ref_logits), parity.top1(logits)
    margin = parity.top1_margin(ref_logits)
    order = [int(i) for i in np.argsort(-margin) if a[i] != b[i]]
    return [{"id": ids[i], "reference": labels[a[i]], "export": labels[b[i]], "reference_margin": float(margin[i])}
            for i in order]


def _calendar_years(outputs: dict[str, np.ndarray], metadata: dict[str, Any]) -> dict[str, np.ndarray]:
    """The files output a normalised year; metadata says how to turn it into calendar years."""
    year = metadata.get("year")
    if year and "year" in outputs:
        outputs = {**outputs, "year": outputs["year"].reshape(-1) * year["scale"] + year["mean"]}
    return outputs


def _machine() -> dict[str, Any]:
    import os

    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.processor()) if Path("/proc/cpuinfo").exists() else platform.processor()
    return {"cpu": cpu, "cores": os.cpu_count(), "python": platform.python_version(), "system": platform.system()}


def _entries(manifest: dict[str, Any]) -> list[dict[str, Any]]:
    return [e for e in manifest["files"] if e.get("file") and e["status"] in ("ok", "parity_failed")]


def run(exports_dir: str | Path, data_dir: str | Path | None = None, split: str = "test",
        threads: tuple[int, ...] = (1, 2), runs: int = 50, warmup: int = 5, policy: str | Path | None = None,
        out: str | Path | None = None, check: bool = False, progress: bool = True) -> dict[str, Any]:
    """Benchmark every file of an export folder; returns ``{"rows", "checks", "out"}`` (Python API of `mocar bench`)."""
    exports_dir = Path(exports_dir)
    manifest = _manifest(exports_dir)
    out = Path(out or exports_dir / "bench")
    out.mkdir(parents=True, exist_ok=True)
    reference = open_runner(exports_dir / REFERENCE_FILE, max(threads))
    if not _entries(manifest):
        raise InputError(f"{exports_dir}/manifest.json lists no exported file to benchmark")
    meta = open_runner(exports_dir / _entries(manifest)[0]["file"], 1).metadata  # the full contract + labels
    prepared = PreparedData.load(data_dir or _data_dir_of(manifest))
    frame = prepared.split(split)
    target = meta["labels"].get("target", "collection")
    targets = frame["collection_idx" if target == "collection" else "epoch_idx"].to_numpy()
    years = frame["year"].to_numpy(float) if meta.get("year") else None
    images = decode_split(frame, meta, progress)
    ref_out = _calendar_years(reference.run(images), meta)
    labels, ids = list(meta["labels"]["names"]), frame["id"].astype(str).tolist()
    rows, parity_rows, machine = [], [], _machine()  # once per run, not per row
    entries = [{"file": REFERENCE_FILE, "format": "torch", "precision": "fp32", "flavour": "reference",
                "size_bytes": (exports_dir / REFERENCE_FILE).stat().st_size, "simulated": False,
                "status": "reference"}] + _entries(manifest)
    for entry in tqdm(entries, desc="benchmarking", unit="file", disable=not progress):
        path = exports_dir / entry["file"]
        runner = open_runner(path, max(threads))
        outputs = _calendar_years(runner.run(images), runner.metadata)
        base = {"export": entry["file"], "format": entry["format"], "precision": entry["precision"],
                "flavour": entry.get("flavour"), "status": entry["status"], "simulated": bool(runner.simulated),
                "size_mb": entry["size_bytes"] / 1e6, **parity_row(ref_out, outputs, targets, years)}
        base["flips"] = flipped(ids, ref_out["logits"], outputs["logits"], labels)[:20]
        parity_rows.append(base)
        for t in threads:
            rows.append({**{k: v for k, v in base.items() if k != "flips"}, "threads": t,
                         **time_runner(path, images, t, runs, warmup), **machine})
    _add_ratios(rows)
    result = {"rows": rows, "parity": parity_rows, "out": str(out), "split": split, "images": len(frame)}
    write_results(result, out)
    if check:
        checks = evaluate_policy([r for r in parity_rows if r["status"] != "reference"], load_policy(policy))
        write_junit(checks, out / "junit.xml")
        (out / "summary.md").write_text(_summary_md(checks), encoding="utf-8")
        result["checks"] = [c.describe() + (" PASS" if c.passed else " FAIL") for c in checks]
        raise_on_violations(checks)
    return result


def _data_dir_of(manifest: dict[str, Any]) -> str:
    from mocar.train.run_files import load_trained_run

    return load_trained_run(manifest["run"]["dir"], "best").train_config["data"]


def _add_ratios(rows: list[dict[str, Any]]) -> None:
    """Size ratio and speed-up vs the fp32 file of the same format and thread count."""
    for row in rows:
        base = next((r for r in rows if r["format"] == row["format"] and r["precision"] == "fp32"
                     and r["threads"] == row["threads"]), None)
        row["size_ratio"] = row["size_mb"] / base["size_mb"] if base else None
        row["speedup_vs_fp32"] = base["p50_ms"] / row["p50_ms"] if base and row["p50_ms"] else None


COLUMNS = [("export", "file", "{}"), ("precision", "prec", "{}"), ("flavour", "flavour", "{}"),
           ("status", "status", "{}"), ("simulated", "sim", "{}"), ("threads", "thr", "{}"),
           ("size_mb", "MB", "{:.2f}"), ("top1", "top-1", "{:.4f}"), ("delta_top1", "Δtop-1 pt", "{:+.2f}"),
           ("agreement", "agree %", "{:.2f}"), ("year_mae", "year MAE", "{:.1f}"), ("delta_mae_rel", "ΔMAE %", "{:+.2f}"),
           ("psnr_logits", "PSNR dB", "{:.1f}"), ("p50_ms", "p50 ms", "{:.2f}"), ("speedup_vs_fp32", "× fp32", "{:.2f}")]


def _cell(row: dict[str, Any], key: str, fmt: str) -> str:
    value = row.get(key)
    if value is None or (isinstance(value, float) and not np.isfinite(value)):
        return "–"
    return fmt.format(value)


def format_bench_table(rows: list[dict[str, Any]]) -> str:
    """The Markdown table of the report (also printed at the end of `mocar bench`)."""
    head = "| " + " | ".join(title for _, title, _ in COLUMNS) + " |"
    rule = "|" + "---|" * len(COLUMNS)
    body = ["| " + " | ".join(_cell(r, key, fmt) for key, _, fmt in COLUMNS) + " |" for r in rows]
    return "\n".join([head, rule, *body])


def write_results(result: dict[str, Any], out: Path) -> None:
    rows = result["rows"]
    (out / "bench.json").write_text(json.dumps(result, indent=2, default=float, ensure_ascii=False), encoding="utf-8")
    keys = sorted({k for r in rows for k in r})
    with open(out / "bench.csv", "w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=keys)
        writer.writeheader()
        writer.writerows(rows)
    machine = {k: rows[0][k] for k in ("cpu", "cores", "python")} if rows else {}
    report = [f"# mocar bench — {result['split']} split, {result['images']} images", "",
              f"Machine: {machine}. Reference: the float PyTorch model (`{REFERENCE_FILE}`). "
              "`sim` = simulated (CoreML on Linux). Latency: batch 1, median of the timed runs.", "",
              format_bench_table(rows), "", "## Flipped predictions (first 5 per export)", ""]
    for p in result["parity"]:
        if p["flips"]:
            report.append(f"- `{p['export']}`: " + "; ".join(f"{f['id']} {f['reference']} → {f['export']}" for f in p["flips"][:5]))
    (out / "report.md").write_text("\n".join(report) + "\n", encoding="utf-8")
    (out / "report.html").write_text(_html(rows, "\n".join(report)), encoding="utf-8")


def _pareto(points: list[tuple[float, float]]) -> list[int]:
    """Indices of points no other point beats on both latency (lower) and accuracy (higher)."""
    return [i for i, (lat, acc) in enumerate(points)
            if not any(l2 <= lat and a2 >= acc and (l2, a2) != (lat, acc) for l2, a2 in points)]


def _scatter_png(rows: list[dict[str, Any]]) -> str:
    import base64
    import io

    from matplotlib.figure import Figure

    fig = Figure(figsize=(7, 4.5))
    ax = fig.add_subplot()
    points = [(r["p50_ms"], r["top1"]) for r in rows]
    front = set(_pareto(points))
    for i, r in enumerate(rows):
        ax.scatter(r["p50_ms"], r["top1"], marker="*" if i in front else "o", s=80 if i in front else 30)
        ax.annotate(f"{r['export']} ({r['threads']}t)", (r["p50_ms"], r["top1"]), fontsize=6)
    ax.set_xscale("log")
    ax.set_xlabel("p50 latency, batch 1 (ms)")
    ax.set_ylabel("top-1 on the split")
    ax.set_title("accuracy vs latency (★ = Pareto front)")
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=110, bbox_inches="tight")
    return base64.b64encode(buffer.getvalue()).decode()


def _html(rows: list[dict[str, Any]], markdown: str) -> str:
    import html

    head = "".join(f"<th>{html.escape(t)}</th>" for _, t, _ in COLUMNS)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(_cell(r, k, f))}</td>" for k, _, f in COLUMNS) + "</tr>" for r in rows)
    return (f"<!doctype html><html><head><meta charset='utf-8'><title>mocar bench</title></head><body>"
            f"<h1>mocar bench</h1><img alt='accuracy vs latency' src='data:image/png;base64,{_scatter_png(rows)}'>"
            f"<table border='1' cellspacing='0'><tr>{head}</tr>{body}</table>"
            f"<pre>{html.escape(markdown.split('## Flipped', 1)[-1])}</pre></body></html>")


def _summary_md(checks) -> str:
    failed = [c for c in checks if not c.passed]
    lines = [f"# mocar bench --check: {len(checks) - len(failed)} passed, {len(failed)} failed", ""]
    lines += [f"- FAIL {c.describe()}" for c in failed] + [f"- pass {c.describe()}" for c in checks if c.passed]
    return "\n".join(lines) + "\n"
