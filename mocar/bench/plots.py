"""The figures of the bench report (matplotlib, Agg), each returned as a base64 PNG for one-file HTML.

* :func:`pareto_png` — accuracy vs latency, one numbered point per row (colour = folder or device,
  marker = thread count, ringed = Pareto front); the numbers key into a table in the report, so
  labels never overlap however many files there are.
* :func:`latency_png` — p50 latency bars, one panel per runtime, one bar per thread count.
* :func:`year_scatter_png` — reference vs export calendar year per image, for the exports whose
  years moved most (models with a year head only).
* :func:`confusion_diff_png` — confusion matrix of the worst export minus its reference's.

Every function returns ``None`` when the rows hold nothing to draw (e.g. no year output).
"""
from __future__ import annotations

import base64
import io
from collections.abc import Sequence
from typing import Any

import numpy as np
from matplotlib import colormaps
from matplotlib.figure import Figure  # no pyplot: no global state, no display backend
from matplotlib.ticker import FormatStrFormatter, LogLocator, NullFormatter
from sklearn.metrics import confusion_matrix

from mocar.bench.evidence import Evidence
from mocar.bench.rows import REFERENCE_FILE
from mocar.runtime.parity import top1_agreement

MARKERS = ("o", "s", "^", "D", "v", "P", "X", "h")
MAX_YEAR_PANELS = 6


def _png(fig) -> str:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=110, bbox_inches="tight")
    return base64.b64encode(buffer.getvalue()).decode()


def _figure(width: float, height: float):
    return Figure(figsize=(width, height))


def pareto_front(points: Sequence[tuple[float, float]]) -> list[int]:
    """Indices of points no other point beats on both latency (lower) and accuracy (higher)."""
    return [i for i, (lat, acc) in enumerate(points)
            if not any(l2 <= lat and a2 >= acc and (l2, a2) != (lat, acc) for l2, a2 in points)]


def plotted_rows(rows: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """The rows the accuracy-latency scatter can place (both top-1 and p50 known), numbered from 1."""
    usable = [r for r in rows if r.get("top1") is not None and r.get("p50_ms")]
    front = set(pareto_front([(r["p50_ms"], r["top1"]) for r in usable]))
    return [{**r, "point": i + 1, "pareto": i in front} for i, r in enumerate(usable)]


def _colours(keys: Sequence[str]) -> dict[str, Any]:
    palette = colormaps["tab10"]
    return {key: palette(i % 10) for i, key in enumerate(dict.fromkeys(keys))}


def pareto_png(points: Sequence[dict[str, Any]]) -> str | None:
    """Accuracy vs latency of :func:`plotted_rows` (their ``point`` numbers as labels)."""
    if not points:
        return None
    fig = _figure(7.5, 4.8)
    ax = fig.add_subplot()
    colours = _colours([p.get("folder") or "" for p in points])
    markers = {t: MARKERS[i % len(MARKERS)] for i, t in enumerate(sorted({p["threads"] for p in points}))}
    for p in points:
        ax.scatter(p["p50_ms"], p["top1"], color=colours[p.get("folder") or ""], marker=markers[p["threads"]],
                   s=70 if p["pareto"] else 35, edgecolors="black" if p["pareto"] else "none", linewidths=1.2, zorder=3)
    _log_axis(ax)
    ax.autoscale_view()
    labels = label_groups(points)
    to_points = 72.0 / fig.dpi  # display pixels -> points, the unit of the label offsets
    anchors = [tuple(ax.transData.transform((x, y)) * to_points) for x, y, _ in labels]
    for (x, y, text), (dx, dy) in zip(labels, label_offsets(anchors, [t for _, _, t in labels])):
        ax.annotate(text, (x, y), xytext=(dx, dy), textcoords="offset points", fontsize=7, va="bottom",
                    ha="left" if dx >= 0 else "right")
    front = sorted((p["p50_ms"], p["top1"]) for p in points if p["pareto"])
    ax.step([f[0] for f in front], [f[1] for f in front], where="post", color="grey", lw=0.8, ls="--", zorder=1)
    handles = [ax.scatter([], [], color=c, marker="o", label=k) for k, c in colours.items() if k]
    handles += [ax.scatter([], [], color="grey", marker=m, label=f"{t} thread(s)") for t, m in markers.items()]
    ax.legend(handles=handles, fontsize=7, loc="best")
    ax.set_xlabel("p50 latency, batch 1 (ms, log)")
    ax.set_ylabel("top-1 on the split")
    ax.set_title("accuracy vs latency (ringed = Pareto front; numbers: table below)")
    return _png(fig)


def label_groups(points: Sequence[dict[str, Any]], tolerance: float = 0.04,
                 per_line: int = 6) -> list[tuple[float, float, str]]:
    """One label per cluster of nearby points: ``(x, y, "3,7,12")``, so numbers never print on top of each other.

    Points closer than ``tolerance`` (fraction of the axis span; x on a log scale) in both
    directions to a cluster's first point join that cluster; long labels wrap every ``per_line``.
    """
    if not points:
        return []
    xs = np.log10([p["p50_ms"] for p in points])
    ys = np.asarray([p["top1"] for p in points], float)
    x_span, y_span = max(float(np.ptp(xs)), 1e-9), max(float(np.ptp(ys)), 1e-9)
    clusters: list[tuple[float, float, list[int]]] = []
    for x, y, p in zip(xs, ys, points):
        home = next((c for c in clusters if abs(c[0] - x) / x_span < tolerance and abs(c[1] - y) / y_span < tolerance),
                    None)
        if home is None:
            clusters.append((x, y, [p["point"]]))
        else:
            home[2].append(p["point"])
    labels = []
    for x, y, numbers in clusters:
        chunks = [numbers[i : i + per_line] for i in range(0, len(numbers), per_line)]
        labels.append((float(10**x), float(y), "\n".join(",".join(map(str, chunk)) for chunk in chunks)))
    return labels


# Candidate label positions (points) around a marker, tried in order; text size estimates (7 pt font).
_OFFSETS = ((5, 3), (5, -12), (-5, 3), (5, 14), (5, -23), (-5, -12), (5, 25), (5, -34), (-5, 14), (-5, -23))
_CHAR_PT, _LINE_PT, _PAD_PT = 4.6, 9.0, 1.5


def label_offsets(anchors: Sequence[tuple[float, float]], texts: Sequence[str]) -> list[tuple[int, int]]:
    """Greedy placement: per label, the first offset of ``_OFFSETS`` whose box misses the boxes placed so far.

    Args:
        anchors: Label anchor positions in points on the page (display coordinates).
        texts: The labels (``\\n`` for line breaks); box sizes are estimated from their length.

    Returns:
        ``(dx, dy)`` offsets in points; a label that fits nowhere keeps the first offset.
    """
    placed: list[tuple[float, float, float, float]] = []
    offsets = []
    for (px, py), text in zip(anchors, texts):
        lines = text.split("\n")
        width = _CHAR_PT * max(len(line) for line in lines) + 2 * _PAD_PT
        height = _LINE_PT * len(lines) + 2 * _PAD_PT
        choice = _OFFSETS[0]
        for dx, dy in _OFFSETS:
            left = px + dx if dx >= 0 else px + dx - width
            box = (left, py + dy, left + width, py + dy + height)
            if not any(box[0] < b[2] and b[0] < box[2] and box[1] < b[3] and b[1] < box[3] for b in placed):
                choice = (dx, dy)
                break
        dx, dy = choice
        left = px + dx if dx >= 0 else px + dx - width
        placed.append((left, py + dy, left + width, py + dy + height))
        offsets.append(choice)
    return offsets


def _log_axis(ax) -> None:
    """Log x axis with plain numbers at 1-2-5 steps (0.5, 1, 2 rather than 5x10^-1), no minor labels."""
    ax.set_xscale("log")
    ax.xaxis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
    ax.xaxis.set_major_formatter(FormatStrFormatter("%g"))
    ax.xaxis.set_minor_formatter(NullFormatter())


def latency_png(rows: Sequence[dict[str, Any]]) -> str | None:
    """Horizontal p50 bars per file, one panel per runtime (format), one bar per thread count."""
    rows = [r for r in rows if r.get("p50_ms")]
    if not rows:
        return None
    formats = list(dict.fromkeys(r["format"] for r in rows))
    threads = sorted({r["threads"] for r in rows})
    prefix = len({r.get("folder") for r in rows}) > 1
    names = {f: list(dict.fromkeys(_bar_name(r, prefix) for r in rows if r["format"] == f)) for f in formats}
    fig = _figure(8, 0.9 + 0.28 * sum(len(n) * len(threads) for n in names.values()) + 0.5 * len(formats))
    axes = fig.subplots(len(formats), 1, squeeze=False, sharex=True,
                        gridspec_kw={"height_ratios": [max(len(names[f]), 1) for f in formats]})[:, 0]
    colours = _colours([str(t) for t in threads])
    width = 0.8 / len(threads)
    log = max(r["p50_ms"] for r in rows) / max(min(r["p50_ms"] for r in rows), 1e-9) > 30
    for ax, fmt in zip(axes, formats):
        for k, t in enumerate(threads):
            by_name = {_bar_name(r, prefix): r["p50_ms"] for r in rows if r["format"] == fmt and r["threads"] == t}
            y = [i + k * width for i, n in enumerate(names[fmt]) if n in by_name]
            ax.barh(y, [by_name[n] for n in names[fmt] if n in by_name], height=width, color=colours[str(t)],
                    label=f"{t} thread(s)")
        ax.set_yticks([i + width * (len(threads) - 1) / 2 for i in range(len(names[fmt]))], names[fmt], fontsize=7)
        ax.invert_yaxis()
        ax.set_title(fmt, fontsize=9, loc="left")
        if log:
            _log_axis(ax)
    axes[0].legend(fontsize=7, loc="best")
    axes[-1].set_xlabel("p50 latency, batch 1 (ms" + (", log)" if log else ")"))
    fig.tight_layout()
    return _png(fig)


def _bar_name(row: dict[str, Any], prefix: bool) -> str:
    return f"{row.get('folder')}: {row['export']}" if prefix else str(row["export"])


def year_scatter_png(evidence: Sequence[Evidence]) -> str | None:
    """Reference vs export calendar year per image for the exports whose years moved most."""
    candidates = [e for e in evidence if "year" in e.outputs and "year" in e.reference and e.export != REFERENCE_FILE]
    if not candidates:
        return None
    shift = {id(e): float(np.mean(np.abs(e.outputs["year"] - e.reference["year"]))) for e in candidates}
    chosen = sorted(candidates, key=lambda e: -shift[id(e)])[:MAX_YEAR_PANELS]
    columns = min(3, len(chosen))
    lines = -(-len(chosen) // columns)
    fig = _figure(3.3 * columns, 3.2 * lines)
    axes = np.atleast_1d(fig.subplots(lines, columns, squeeze=False)).ravel()
    for ax, e in zip(axes, chosen):
        ref, out = e.reference["year"], e.outputs["year"]
        ax.scatter(ref, out, s=6, alpha=0.6)
        low, high = float(min(ref.min(), out.min())), float(max(ref.max(), out.max()))
        ax.plot([low, high], [low, high], color="grey", lw=0.8, ls="--")
        name = f"{e.folder}: {e.export}" if len({c.folder for c in candidates}) > 1 else e.export
        ax.set_title(f"{name}\nmean |Δ| {shift[id(e)]:.1f} y", fontsize=7)
        ax.tick_params(labelsize=6)
        ax.set_xlabel("reference year", fontsize=7)
        ax.set_ylabel("export year", fontsize=7)
    for ax in axes[len(chosen):]:
        ax.set_visible(False)
    fig.tight_layout()
    return _png(fig)


def worst_export(evidence: Sequence[Evidence]) -> Evidence | None:
    """The export (not a reference) with the lowest top-1 agreement with its reference."""
    exports = [e for e in evidence if e.export != REFERENCE_FILE]
    if not exports:
        return None
    agreement = [top1_agreement(e.reference["logits"], e.outputs["logits"]) for e in exports]
    return exports[int(np.argmin(agreement))]


def confusion_difference(evidence: Evidence) -> np.ndarray:
    """Confusion matrix (rows: true class, columns: predicted) of the export minus the reference's."""
    classes = list(range(len(evidence.labels)))
    export = confusion_matrix(evidence.targets, evidence.outputs["logits"].argmax(1), labels=classes)
    reference = confusion_matrix(evidence.targets, evidence.reference["logits"].argmax(1), labels=classes)
    return export.astype(int) - reference.astype(int)


def confusion_diff_png(evidence: Sequence[Evidence]) -> tuple[str, str] | None:
    """(PNG, "folder: file") of the worst export's confusion-matrix difference, or None."""
    worst = worst_export(evidence)
    if worst is None:
        return None
    diff = confusion_difference(worst)
    size = max(4.0, 0.45 * len(worst.labels) + 2)
    fig = _figure(size + 1, size)
    ax = fig.add_subplot()
    limit = max(int(np.abs(diff).max()), 1)
    image = ax.imshow(diff, cmap="RdBu_r", vmin=-limit, vmax=limit)
    for (i, j), value in np.ndenumerate(diff):
        if value:
            ax.text(j, i, f"{value:+d}", ha="center", va="center", fontsize=7)
    short = [name if len(name) <= 24 else name[:23] + "…" for name in worst.labels]
    ax.set_xticks(range(len(short)), short, rotation=60, ha="right", fontsize=7)
    ax.set_yticks(range(len(short)), short, fontsize=7)
    ax.set_xlabel("predicted class")
    ax.set_ylabel("true class")
    name = f"{worst.folder}: {worst.export}" if len({e.folder for e in evidence}) > 1 else worst.export
    ax.set_title(f"confusion difference, {name} minus its reference", fontsize=8)
    fig.colorbar(image, ax=ax, shrink=0.8, label="images (export − reference)")
    return _png(fig), name


def search_pareto_png(searches: Sequence[tuple[str, dict[str, Any]]]) -> str | None:
    """Agreement vs speed-up of every candidate an int8 search tried, one series per (folder, runtime).

    Each point is labelled with the number of layer groups kept float; the target is a dashed line
    and the shipped candidate is circled. ``searches``: (label, record of ``int8_search/<runtime>.json``).
    """
    searches = [(label, record) for label, record in searches if record.get("points")]
    if not searches:
        return None
    fig = _figure(7.0, 4.2)
    ax = fig.add_subplot()
    colours = _colours([label for label, _ in searches])
    for label, record in searches:
        points = [p for p in record["points"] if p.get("speedup")]
        x = [p["speedup"] for p in points]
        y = [100 * p["agreement"]["value"] for p in points]
        errors = [[100 * (p["agreement"]["value"] - p["agreement"]["low"]) for p in points],
                  [100 * (p["agreement"]["high"] - p["agreement"]["value"]) for p in points]]
        ax.errorbar(x, y, yerr=errors, fmt="o", color=colours[label], label=label, capsize=2, alpha=0.8)
        for p, xi, yi in zip(points, x, y):
            ax.annotate(str(len(p["float_groups"])), (xi, yi), textcoords="offset points", xytext=(4, 3), fontsize=7)
        chosen = record.get("chosen")
        if chosen and chosen.get("speedup"):
            ax.scatter([chosen["speedup"]], [100 * chosen["agreement"]["value"]], s=160, facecolors="none",
                       edgecolors=colours[label], linewidths=1.5)
    ax.axhline(100 * searches[0][1]["target_agreement"], color="grey", linestyle="--", linewidth=1)
    ax.set_xlabel("speed-up vs fp32 (batch 1, timed alternately)")
    ax.set_ylabel("top-1 agreement with float, % (95 % CI)")
    ax.set_title("int8 search: layer groups kept float (number at each point); circled = shipped", fontsize=9)
    ax.legend(fontsize=7)
    return _png(fig)


def sensitivity_png(searches: Sequence[tuple[str, dict[str, Any]]]) -> str | None:
    """Which layers hurt: per search, each group's agreement loss when only it is quantised (bars, most harmful on top)."""
    searches = [(label, record) for label, record in searches if record.get("sensitivities")]
    if not searches:
        return None
    fig = _figure(7.0, 0.6 + 0.22 * sum(len(r["sensitivities"]) + 2 for _, r in searches))
    axes = fig.subplots(len(searches), 1, squeeze=False)[:, 0]
    for ax, (label, record) in zip(axes, searches):
        # barh draws bottom-up: most harmful last = on top; groups the ranking had no time for are left out
        groups = [g for g in record["sensitivities"] if g.get("agreement_alone") is not None][::-1]
        ax.barh([g["group"] for g in groups], [100 * (1 - g["agreement_alone"]) for g in groups], color="#c44e52")
        ax.set_title(f"{label}: agreement lost when only this group is int8 (points)", fontsize=8)
        ax.tick_params(labelsize=7)
    fig.tight_layout()
    return _png(fig)


def conditions_png(rows: Sequence[dict[str, Any]]) -> str | None:
    """Agreement with the float model per condition, one line per file, one panel per folder (float and int8 alike)."""
    rows = [r for r in rows if r.get("export") != REFERENCE_FILE and r.get("agreement") is not None]
    if not rows:
        return None
    folders = list(dict.fromkeys(r["folder"] for r in rows))
    conditions = list(dict.fromkeys(r["condition"] for r in rows))
    fig = _figure(max(6.0, 0.45 * len(conditions) + 3), 2.8 * len(folders))
    axes = fig.subplots(len(folders), 1, squeeze=False)[:, 0]
    for ax, folder in zip(axes, folders):
        mine = [r for r in rows if r["folder"] == folder]
        colours = _colours([r["export"] for r in mine])
        for export in dict.fromkeys(r["export"] for r in mine):
            points = {r["condition"]: r for r in mine if r["export"] == export}
            x = [i for i, c in enumerate(conditions) if c in points]
            y = [points[conditions[i]]["agreement"] for i in x]
            style = "-" if points[conditions[x[0]]]["precision"] == "int8" else ":"
            ax.plot(x, y, style, marker="o", markersize=3, color=colours[export], label=export)
        ax.set_xticks(range(len(conditions)), conditions, rotation=45, ha="right", fontsize=7)
        ax.set_ylabel("agreement %", fontsize=8)
        ax.set_title(f"{folder}: top-1 agreement with its float model per condition (int8 solid)", fontsize=8)
        ax.legend(fontsize=6, ncol=2)
    fig.tight_layout()
    return _png(fig)
