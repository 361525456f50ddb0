"""The records ``mocar quantize search`` leaves in an export folder, and their Markdown (read by the bench report).

``int8_search/<runtime>.json`` holds a :class:`mocar.quantize.search.SearchResult` as a dict plus
``shipped`` (the file name the chosen candidate got in the folder, or None).
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

SEARCH_DIR = "int8_search"
SEARCHED_RUNTIMES = ("onnx", "tflite")


def format_search(record: dict[str, Any], heading: str = "## int8 search") -> str:
    """Markdown of one search: the verdict, every candidate (the Pareto of agreement vs latency), the sensitivities."""
    lines = [f"{heading}, {record['runtime']} ({record['flavour']}): "
             f"{record['shipped'] or 'no file meets the target'}", "",
             f"{record['reason']} Target: agreement >= {100 * record['target_agreement']:.1f} % on "
             f"{record['images']} selection images; {record['threads']} thread(s); {record['seconds']:.0f} s.", "",
             "| float groups | agreement % [95 % CI] | p50 ms | × fp32 | meets |", "|---|---|---|---|---|"]
    for point in record["points"]:
        a = point["agreement"]
        speed = f"{point['speedup']:.2f}" if point["speedup"] else "–"
        groups = ", ".join(point["float_groups"]) or "none (full int8)"
        lines.append(f"| {groups} | {100 * a['value']:.2f} [{100 * a['low']:.2f}, {100 * a['high']:.2f}] "
                     f"| {point['p50_ms']:.3f} | {speed} | {'yes' if point['meets_target'] else 'no'} |")
    lines += ["", "Sensitivity (only this group quantised, the rest float; most harmful first):", "",
              "| group | agreement % | logit MSE | SQNR dB |", "|---|---|---|---|"]
    for s in record["sensitivities"]:
        sqnr = f"{s['sqnr_db']:.1f}" if s.get("sqnr_db") is not None else "–"
        if s["logit_error_alone"] is None:
            lines.append(f"| {s['group']} | not measured (ranking time spent) | – | {sqnr} |")
            continue
        lines.append(f"| {s['group']} | {100 * s['agreement_alone']:.2f} | {s['logit_error_alone']:.4g} | {sqnr} |")
    return "\n".join(lines) + "\n"


def load_search_records(folder: str | Path) -> dict[str, dict[str, Any]]:
    """The search records an export folder holds (``int8_search/<runtime>.json``), for the bench report."""
    out = Path(folder) / SEARCH_DIR
    return {runtime: json.loads((out / f"{runtime}.json").read_text(encoding="utf-8"))
            for runtime in SEARCHED_RUNTIMES if (out / f"{runtime}.json").is_file()}
