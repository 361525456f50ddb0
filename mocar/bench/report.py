"""Writes a bench result: ``bench.json``, ``bench.csv``, ``report.md`` and a one-file ``report.html``.

The Markdown/HTML table shows the columns that mean something for the rows at hand: ``source`` and
``model`` only when several folders (or imported devices) are side by side, the "vs 1st" columns
only when there are several local folders, ``mean ms`` only when some row has a mean but no median
(a phone's ``benchmark_model`` rows), and the memory columns only when some row has them (``peak RSS
MB``: desktop child process, ``tool peak MB``: the phone tool's own figure). Missing values print as ``–``.
"""
from __future__ import annotations

import csv
import html
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from mocar.bench import plots
from mocar.bench.evidence import Evidence
from mocar.bench.rows import REFERENCE_FILE
from mocar.bench.search_records import format_search

Column = tuple[str, str, str]  # (row key, title, format)
INTERVAL = " []"  # a format ending in this also prints the row's <key>_low/<key>_high as "[low, high]"
SOURCE_COLUMNS: list[Column] = [("folder", "source", "{}"), ("model", "model", "{}")]
COLUMNS: list[Column] = [
    ("export", "file", "{}"), ("precision", "prec", "{}"), ("flavour", "flavour", "{}"), ("status", "status", "{}"),
    ("simulated", "sim", "{}"), ("threads", "thr", "{}"), ("size_mb", "MB", "{:.2f}"),
    ("agreement", "agree % [95 % CI]", "{:.2f}" + INTERVAL), ("parity_images", "n", "{}"),
    ("top1", "top-1", "{:.4f}"), ("delta_top1", "Δtop-1 pt [95 % CI]", "{:+.2f}" + INTERVAL),
    ("labelled_images", "n lab", "{}"), ("year_mae", "year MAE", "{:.1f}"),
    ("delta_mae_rel", "ΔMAE % [95 % CI]", "{:+.2f}" + INTERVAL), ("psnr_logits", "PSNR dB", "{:.1f}"),
    ("retrieval_overlap5", "NN@5", "{:.3f}"), ("p50_ms", "p50 ms", "{:.2f}"), ("speedup_vs_fp32", "× fp32", "{:.2f}")]
OPTIONAL_COLUMNS: list[Column] = [("mean_ms", "mean ms", "{:.2f}"), ("peak_rss_mb", "peak RSS MB", "{:.0f}"),
                                  ("peak_memory_mb", "tool peak MB", "{:.0f}")]
FIRST_COLUMNS: list[Column] = [("delta_top1_vs_first", "Δtop-1 vs 1st ref", "{:+.2f}"),
                               ("speedup_vs_first", "× 1st fp32", "{:.2f}")]


def columns_for(rows: Sequence[dict[str, Any]]) -> list[Column]:
    """The table columns for these rows (see the module docstring)."""
    sources = {r.get("folder") for r in rows}
    local = {r.get("folder") for r in rows if not r.get("imported")}
    columns = (SOURCE_COLUMNS if len(sources) > 1 else []) + COLUMNS
    shown = {"mean_ms": any(r.get("mean_ms") is not None and r.get("p50_ms") is None for r in rows),
             "peak_rss_mb": any(r.get("peak_rss_mb") is not None for r in rows),
             "peak_memory_mb": any(r.get("peak_memory_mb") is not None for r in rows)}
    mean, memory = [c for c in OPTIONAL_COLUMNS[:1] if shown[c[0]]], [c for c in OPTIONAL_COLUMNS[1:] if shown[c[0]]]
    # "mean ms" next to "p50 ms" (before "× fp32"), memory after the latency columns
    return columns[:-1] + mean + columns[-1:] + memory + (FIRST_COLUMNS if len(local) > 1 else [])


def _missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and not np.isfinite(value))


def _cell(row: dict[str, Any], key: str, fmt: str) -> str:
    value = row.get(key)
    if _missing(value):
        return "–"
    if not fmt.endswith(INTERVAL):
        return fmt.format(value)
    fmt = fmt[: -len(INTERVAL)]
    low, high = row.get(f"{key}_low"), row.get(f"{key}_high")
    interval = "" if _missing(low) or _missing(high) else f" [{fmt.format(low)}, {fmt.format(high)}]"
    return fmt.format(value) + interval


def format_bench_table(rows: list[dict[str, Any]]) -> str:
    """The Markdown table of the report (also printed at the end of `mocar bench`)."""
    columns = columns_for(rows)
    head = "| " + " | ".join(title for _, title, _ in columns) + " |"
    rule = "|" + "---|" * len(columns)
    body = ["| " + " | ".join(_cell(r, key, fmt) for key, _, fmt in columns) + " |" for r in rows]
    return "\n".join([head, rule, *body])


def _machine_line(rows: list[dict[str, Any]]) -> str:
    local = next((r for r in rows if not r.get("imported")), None)
    machine = {k: local.get(k) for k in ("cpu", "cores", "python")} if local else {}
    devices = sorted({f"{r.get('device')} ({r.get('os') or 'unknown OS'})" for r in rows if r.get("imported")})
    loads = [r["load_1m"] for r in rows if not r.get("imported") and r.get("load_1m") is not None]
    line = f"Machine: {machine}." + (f" 1-min load average while timing: {min(loads):.1f}–{max(loads):.1f} "
                                     f"(on {machine.get('cores')} cores; a busy machine slows multi-threaded runs)."
                                     if loads else "")
    return line + (f" Imported rows (measured elsewhere, latency/size only): {', '.join(devices)}." if devices else "")


def memory_line(rows: Sequence[dict[str, Any]]) -> str:
    """How peak RSS was measured, with the idle baseline per runtime (empty when not measured)."""
    baselines: dict[str, list[float]] = {}
    for r in rows:
        if r.get("baseline_rss_mb") is not None:
            baselines.setdefault(r["format"], []).append(r["baseline_rss_mb"])
    if not baselines:
        return ""
    parts = ", ".join(f"{fmt} {min(v):.0f} MB" for fmt, v in baselines.items())
    return ("Peak RSS: each file loaded and run (warm-up + timed batch-1 runs) in a fresh process; the same process "
            f"after its imports and images, before loading the file, peaked at: {parts} — subtract it for the "
            "model's own share.")


def title(result: dict[str, Any]) -> str:
    """What the figures rest on: the parity set and the labelled images, with their n."""
    described = result.get("parity_set")
    if not described:
        return f"mocar bench — {result['split']} split, {result['images']} images"
    splits = ", ".join(f"{k} {v}" for k, v in described.get("parity_splits", {}).items())
    return (f"mocar bench — parity on {described['parity_images']} images ({described['kind']} set"
            + (f": {splits}" if splits else "") + f"); accuracy on {described['labelled_images']} labelled images "
            f"({described['labelled_split']})")


def verdict_summary(verdicts: Sequence[dict[str, Any]]) -> str:
    """One line for the terminal: how many checks pass, and how many rest on too few images or sit within noise."""
    failed = [v for v in verdicts if not v["passed"]]
    few = sum(v["too_few_images"] for v in verdicts)
    noisy = sum(v["within_noise"] for v in verdicts)
    return (f"parity policy: {len(verdicts) - len(failed)} of {len(verdicts)} checks pass"
            + (f"; {few} on too few images" if few else "") + (f"; {noisy} within noise" if noisy else "")
            + " (details: report.md, 'Parity policy')")


def verdict_cells(verdict: dict[str, Any]) -> dict[str, str]:
    """The text of one policy check for a table row: figure [interval], n, the bound, and pass/FAIL with why."""
    v = verdict
    interval = f" [{v['low']:.4g}, {v['high']:.4g}]" if v["low"] is not None and v["high"] is not None else ""
    flags = [f"too few images ({v['images']})"] if v["too_few_images"] else []
    flags += ["within noise"] if v["within_noise"] else []
    return {"measured": "–" if v["measured"] is None else f"{v['measured']:.4g}{interval}",
            "images": "–" if v["images"] is None else str(v["images"]),
            "required": f"{'>=' if v['bound'] == 'min' else '<='} {v['threshold']:g}",
            "verdict": ("pass" if v["passed"] else "FAIL") + (f" — {', '.join(flags)}" if flags else "")}


def verdict_lines(verdicts: Sequence[dict[str, Any]]) -> list[str]:
    """The parity policy's checks: each figure with its interval and n, and why it fails or is doubtful."""
    if not verdicts:
        return []
    failed = sum(not v["passed"] for v in verdicts)
    few = sum(v["too_few_images"] for v in verdicts)
    noisy = sum(v["within_noise"] for v in verdicts)
    lines = [f"## Parity policy: {len(verdicts) - failed} of {len(verdicts)} checks pass", "",
             "Each bound is judged on the point estimate. \"too few images\": measured on fewer images than the "
             "policy's min_images (fails). \"within noise\": the 95 % interval contains the bound — the data cannot "
             f"tell on which side the truth lies ({noisy} such checks; {few} on too few images).", "",
             "| file | metric | measured [95 % CI] | n | required | verdict |", "|---|---|---|---|---|---|"]
    for v in verdicts:
        cells = verdict_cells(v)
        verdict = cells["verdict"].replace("FAIL", "**FAIL**", 1)
        lines.append(f"| {v['export']} | {v['metric']} | {cells['measured']} | {cells['images']} "
                     f"| {cells['required']} | {verdict} |")
    return lines + [""]


def search_lines(searches: Sequence[dict[str, Any]]) -> list[str]:
    """The int8 searches the folders hold (``mocar quantize search``): candidates and layer sensitivity."""
    if not searches:
        return []
    lines = ["# int8 search: which layers hurt, which were kept float", "",
             "Chosen on each folder's selection images (never the parity images above); every candidate timed "
             "alternately with the fp32 file.", ""]
    for record in searches:
        lines += [format_search(record, heading=f"## {record['folder']}: int8 search"), ""]
    return lines


CONDITION_COLUMNS: list[Column] = [
    ("condition", "condition", "{}"), ("folder", "source", "{}"), ("export", "file", "{}"),
    ("agreement", "agree % [95 % CI]", "{:.2f}" + INTERVAL), ("parity_images", "n", "{}"), ("top1", "top-1", "{:.4f}"),
    ("delta_top1", "Δtop-1 pt [95 % CI]", "{:+.2f}" + INTERVAL), ("labelled_images", "n lab", "{}")]
SUMMARY_COLUMNS: list[Column] = [
    ("folder", "source", "{}"), ("export", "file", "{}"), ("conditions", "corruptions", "{}"),
    ("mean_agreement", "mean agree %", "{:.2f}"), ("min_agreement", "min agree %", "{:.2f}"),
    ("relative_corruption_error", "rel. corruption error", "{:.3f}")]


def _table(rows: Sequence[dict[str, Any]], columns: Sequence[Column]) -> list[str]:
    return ["| " + " | ".join(t for _, t, _ in columns) + " |", "|" + "---|" * len(columns),
            *("| " + " | ".join(_cell(r, k, f) for k, _, f in columns) + " |" for r in rows)]


def condition_lines(result: dict[str, Any]) -> list[str]:
    """Museum vs field vs corruptions: every file's agreement with its float model per condition."""
    rows = result.get("conditions") or []
    if not rows:
        return []
    lines = ["# Photo conditions: museum, field, corruptions", "",
             "Every file against its own float model (`model.pt` rows: the float model's accuracy) under each "
             "condition, on the parity images (field: those objects' field photos); corruptions seeded per image. "
             "Relative corruption error: the file's top-1 error summed over the corruptions / its float model's "
             "(1.0 = int8 loses nothing extra under corruption).", "", *_table(rows, CONDITION_COLUMNS), ""]
    summary = result.get("conditions_summary") or []
    return lines + ([*_table(summary, SUMMARY_COLUMNS), ""] if summary else [])


def markdown_report(result: dict[str, Any]) -> str:
    """``report.md``: header, machine, the table, flipped predictions."""
    rows = result["rows"]
    folders = result.get("folders") or []
    memory = memory_line(rows)
    lines = [f"# {title(result)}", "", _machine_line(rows)]
    if len(folders) > 1:
        lines += ["", "Folders (each against its own float reference; \"vs 1st\" columns against the first):"]
        lines += [f"{i + 1}. `{f['label']}` — {f['model']} ({f['path']})" for i, f in enumerate(folders)]
    lines += ["", f"Reference: each folder's float PyTorch model (`{REFERENCE_FILE}`). `sim` = simulated (CoreML on "
              "Linux). Latency: batch 1, median of the timed runs. NN@5: overlap of the 5 nearest neighbours "
              "(leave-one-out cosine search over the split) with the reference's."
              + (" `mean ms`: rows whose tool reports a mean but no median (LiteRT benchmark_model); their `× fp32` "
                 "compares means." if any(c[0] == "mean_ms" for c in columns_for(rows)) else ""), "",
              *([memory, ""] if memory else []),
              format_bench_table(rows), "", *verdict_lines(result.get("verdicts") or []),
              *search_lines(result.get("int8_search") or []), *condition_lines(result),
              "## Flipped predictions (first 5 per export)", ""]
    multi = len(folders) > 1
    for p in result["parity"]:
        if p["flips"]:
            name = f"{p['folder']}/{p['export']}" if multi else p["export"]
            lines.append(f"- `{name}`: " + "; ".join(f"{f['id']} {f['reference']} → {f['export']}" for f in p["flips"][:5]))
    return "\n".join(lines) + "\n"


def write_results(result: dict[str, Any], out: Path, evidence: Sequence[Evidence] = ()) -> None:
    """Writes the four report files into ``out`` (``evidence`` feeds the per-image plots)."""
    rows = result["rows"]
    (out / "bench.json").write_text(json.dumps(result, indent=2, default=float, ensure_ascii=False), encoding="utf-8")
    keys = sorted({k for r in rows for k in r})
    with open(out / "bench.csv", "w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=keys)
        writer.writeheader()
        writer.writerows(rows)
    markdown = markdown_report(result)
    (out / "report.md").write_text(markdown, encoding="utf-8")
    (out / "report.html").write_text(html_report(result, markdown, evidence), encoding="utf-8")


def _html_table(rows: Sequence[dict[str, Any]], columns: Sequence[Column]) -> str:
    head = "".join(f"<th>{html.escape(t)}</th>" for _, t, _ in columns)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(_cell(r, k, f))}</td>" for k, _, f in columns) + "</tr>"
                   for r in rows)
    return f"<table><tr>{head}</tr>{body}</table>"


def _img(png: str | None, alt: str) -> str:
    return f"<img alt='{html.escape(alt)}' src='data:image/png;base64,{png}'>" if png else ""


_STYLE = ("body{font-family:sans-serif;margin:1.5em}table{border-collapse:collapse;font-size:12px;margin:0.5em 0}"
          "td,th{border:1px solid #bbb;padding:2px 6px;text-align:right}th{background:#eee}"
          "td:first-child{text-align:left}img{max-width:100%}")
POINT_COLUMNS: list[Column] = [("point", "#", "{}"), ("folder", "source", "{}"), ("export", "file", "{}"),
                               ("threads", "thr", "{}"), ("top1", "top-1", "{:.4f}"), ("p50_ms", "p50 ms", "{:.2f}"),
                               ("pareto_mark", "Pareto front", "{}")]


VERDICT_COLUMNS: list[Column] = [("export", "file", "{}"), ("metric", "metric", "{}"),
                                 ("measured", "measured [95 % CI]", "{}"), ("images", "n", "{}"),
                                 ("required", "required", "{}"), ("verdict", "verdict", "{}")]


def _html_verdicts(verdicts: Sequence[dict[str, Any]]) -> list[str]:
    if not verdicts:
        return []
    lines = verdict_lines(verdicts)
    shown = [{**v, **verdict_cells(v)} for v in verdicts]
    return [f"<h2>{html.escape(lines[0][3:])}</h2>", f"<p>{html.escape(lines[2])}</p>",
            _html_table(shown, VERDICT_COLUMNS)]


def html_report(result: dict[str, Any], markdown: str, evidence: Sequence[Evidence] = ()) -> str:
    """One self-contained HTML page: plots (base64 PNG), the point key, the table, the flips."""
    rows = result["rows"]
    points = [{**p, "pareto_mark": "★" if p["pareto"] else ""} for p in plots.plotted_rows(rows)]
    parts = [f"<h1>{html.escape(title(result))}</h1>",
             f"<p>{html.escape(_machine_line(rows))}</p>",
             "<h2>Accuracy vs latency</h2>", _img(plots.pareto_png(points), "accuracy vs latency"),
             _html_table(points, POINT_COLUMNS if len({p.get('folder') for p in points}) > 1
                         else [c for c in POINT_COLUMNS if c[0] != "folder"]),
             "<h2>Latency per runtime and thread count</h2>", _img(plots.latency_png(rows), "latency bars")]
    years = plots.year_scatter_png(evidence)
    if years:
        parts += ["<h2>Year: reference vs export (exports whose years moved most)</h2>", _img(years, "year scatter")]
    confusion = plots.confusion_diff_png(evidence)
    if confusion:
        parts += [f"<h2>Confusion-matrix difference of the worst export ({html.escape(confusion[1])})</h2>",
                  _img(confusion[0], "confusion difference")]
    searches = result.get("int8_search") or []
    search_plot = plots.search_pareto_png([(f"{r['folder']} {r['runtime']}", r) for r in searches])
    if search_plot:
        parts += ["<h2>int8 search: agreement vs speed as layer groups stay float</h2>",
                  _img(search_plot, "int8 search Pareto"),
                  "<h2>Which layers hurt (int8 search sensitivity)</h2>",
                  _img(plots.sensitivity_png([(f"{r['folder']} {r['runtime']}", r) for r in searches]), "sensitivity"),
                  f"<pre>{html.escape(chr(10).join(search_lines(searches)))}</pre>"]
    if result.get("conditions"):
        parts += ["<h2>Photo conditions: agreement with the float model</h2>",
                  _img(plots.conditions_png(result["conditions"]), "agreement per condition"),
                  _html_table(result["conditions"], CONDITION_COLUMNS),
                  _html_table(result.get("conditions_summary") or [], SUMMARY_COLUMNS)]
    parts += ["<h2>All rows</h2>", _html_table(rows, columns_for(rows)), *_html_verdicts(result.get("verdicts") or []),
              f"<pre>{html.escape(markdown.split('## Flipped', 1)[-1])}</pre>"]
    return (f"<!doctype html><html><head><meta charset='utf-8'><title>mocar bench</title><style>{_STYLE}</style>"
            f"</head><body>{''.join(parts)}</body></html>")
