"""PNG plots for evaluation and training: confusion matrix, predicted vs true year, training curves.

Figures are built with ``matplotlib.figure.Figure`` and written by the Agg renderer, never through
``pyplot``: no global backend switch, no figure registry to leak into, safe in a training loop and
in headless workers. matplotlib is imported inside the functions so importing this module is cheap.
"""
from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from mocar.errors import InputError

if TYPE_CHECKING:
    from matplotlib.figure import Figure

DPI = 120
MAX_LABEL_CHARS = 28  # longer class names are shortened with an ellipsis to keep axes readable
ANNOTATE_MAX_CLASSES = 20  # write the value into each cell only while the cells are big enough


def _new_figure(width: float, height: float) -> Figure:
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height), dpi=DPI, layout="constrained")


def _save(figure: Figure, path: str | Path) -> Path:
    out_path = Path(path)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(out_path, format="png")
    return out_path


def _short(label: str) -> str:
    """Shorten in the middle: class names often share a prefix (collection) and differ at the end (epoch)."""
    if len(label) <= MAX_LABEL_CHARS:
        return label
    head = (MAX_LABEL_CHARS - 1) // 2
    return label[:head] + "…" + label[len(label) - (MAX_LABEL_CHARS - 1 - head):]


# ----------------------------------------------------------------------------- confusion matrix


def confusion_layout(num_classes: int) -> tuple[float, float]:
    """(figure side in inches, tick font size) that keep C labels legible: 8 -> 5 in, 50 -> 14 in.

    The font follows the height of one cell (about 3/4 of the figure is the matrix itself).
    """
    side = min(max(3.0 + 0.22 * num_classes, 5.0), 60.0)
    cell_points = 0.75 * side * 72.0 / num_classes
    font = min(max(0.45 * cell_points, 4.0), 10.0)
    return side, font


def _row_normalise(matrix: np.ndarray) -> np.ndarray:
    """Each row divided by its sum (recall per true class); rows without samples stay 0."""
    totals = matrix.sum(axis=1, keepdims=True)
    return np.divide(matrix, totals, out=np.zeros_like(matrix), where=totals > 0)


def _annotate_cells(axes: Any, values: np.ndarray, normalize: bool, font: float) -> None:
    threshold = values.max() / 2 if values.size else 0
    for (row, col), value in np.ndenumerate(values):
        if value == 0:
            continue
        text = f"{value:.2f}" if normalize else f"{int(value)}"
        colour = "white" if value > threshold else "black"
        axes.text(col, row, text, ha="center", va="center", fontsize=font * 0.8, color=colour)


def plot_confusion_matrix(
    cm: Sequence[Sequence[float]] | np.ndarray,
    labels: Sequence[str],
    path: str | Path,
    normalize: bool = True,
    title: str | None = None,
) -> Path:
    """Heat map of a confusion matrix (rows = true class, columns = predicted class).

    Args:
        cm: C x C counts, e.g. ``classification_metrics(...)["confusion_matrix"]``.
        labels: The C class names, in index order.
        path: Output PNG path (parent folders are created).
        normalize: Divide each row by its total (colour = recall per class, 0..1).
        title: Figure title; defaults to the matrix kind and C.

    Returns:
        The written path.
    """
    matrix = np.asarray(cm, dtype=np.float64)
    if matrix.ndim != 2 or matrix.shape[0] != matrix.shape[1] or matrix.shape[0] != len(labels):
        raise InputError(f"confusion matrix has shape {matrix.shape} for {len(labels)} labels; expected C x C")
    values = _row_normalise(matrix) if normalize else matrix
    num_classes = len(labels)
    side, font = confusion_layout(num_classes)
    figure = _new_figure(side + 1.0, side)
    axes = figure.subplots()
    image = axes.imshow(values, cmap="Blues", vmin=0, vmax=1 if normalize else None, interpolation="nearest")
    figure.colorbar(image, ax=axes, shrink=0.8, label="fraction of true class" if normalize else "count")
    ticks = np.arange(num_classes)
    short = [_short(str(label)) for label in labels]
    axes.set_xticks(ticks, short, rotation=90, fontsize=font)
    axes.set_yticks(ticks, short, fontsize=font)
    axes.set_xlabel("predicted")
    axes.set_ylabel("true")
    axes.set_title(title or f"Confusion matrix ({'row-normalised, ' if normalize else ''}{num_classes} classes)")
    if num_classes <= ANNOTATE_MAX_CLASSES:
        _annotate_cells(axes, values, normalize, font)
    return _save(figure, path)


# ----------------------------------------------------------------------------- years


def plot_year_scatter(year_true: Any, year_pred: Any, path: str | Path, title: str | None = None) -> Path:
    """Predicted vs true year with the identity line; MAE (over rows with a known year) in the title."""
    true = np.asarray(year_true, dtype=np.float64).reshape(-1)
    pred = np.asarray(year_pred, dtype=np.float64).reshape(-1)
    if true.shape != pred.shape:
        raise InputError(f"year_true has {true.size} values but year_pred has {pred.size}; expected equal")
    known = np.isfinite(true) & np.isfinite(pred)
    if not known.any():
        raise InputError("plot_year_scatter: no row has both a finite true and predicted year")
    true, pred = true[known], pred[known]
    mae = float(np.mean(np.abs(pred - true)))
    low, high = float(min(true.min(), pred.min())), float(max(true.max(), pred.max()))
    margin = max(0.05 * (high - low), 1.0)
    figure = _new_figure(6.0, 6.0)
    axes = figure.subplots()
    axes.scatter(true, pred, s=8, alpha=0.5 if true.size > 200 else 0.8, linewidths=0)
    axes.plot([low - margin, high + margin], [low - margin, high + margin], color="black", lw=1, ls="--",
              label="prediction = truth")
    axes.set_xlim(low - margin, high + margin)
    axes.set_ylim(low - margin, high + margin)
    axes.set_aspect("equal")
    axes.set_xlabel("true year")
    axes.set_ylabel("predicted year")
    axes.legend(loc="upper left")
    axes.set_title(f"{title + ': ' if title else ''}MAE {mae:.1f} years (n = {true.size})")
    return _save(figure, path)


# ----------------------------------------------------------------------------- training curves


def _panel_of(key: str) -> str | None:
    """Which panel a metrics.jsonl key belongs on, by name; None for keys not plotted."""
    if key == "lr" or key.endswith("_lr") or key.startswith("lr_"):
        return "learning rate"
    if "loss" in key:
        return "loss"
    if "mae" in key:
        return "year MAE"
    if any(part in key for part in ("top1", "top5", "acc", "f1")):
        return "accuracy"
    return None


PANELS = ("loss", "accuracy", "learning rate", "year MAE")


def _series(rows: list[dict[str, Any]], key: str, x_key: str | None) -> tuple[np.ndarray, np.ndarray]:
    """(x, y) of the rows where ``key`` holds a finite number; x is the step or the row index."""
    xs, ys = [], []
    for index, row in enumerate(rows):
        value = row.get(key)
        if isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value):
            xs.append(row.get(x_key, index) if x_key else index)
            ys.append(float(value))
    return np.asarray(xs, dtype=np.float64), np.asarray(ys)


def _collect_panels(rows: list[dict[str, Any]], x_key: str | None) -> dict[str, dict[str, tuple]]:
    panels: dict[str, dict[str, tuple]] = {}
    keys = sorted({key for row in rows for key in row})
    for key in keys:
        panel = _panel_of(key)
        if panel is None or key == x_key:
            continue
        x, y = _series(rows, key, x_key)
        if panel == "learning rate":
            x, y = x[y > 0], y[y > 0]  # log scale: a warm-up starting at 0 cannot be drawn
        if y.size:
            panels.setdefault(panel, {})[key] = (x, y)
    return panels


def plot_training_curves(metrics_rows: list[dict[str, Any]], path: str | Path, title: str | None = None) -> Path:
    """Training curves from metrics.jsonl rows: panels loss / accuracy / lr (log) / year MAE.

    Keys are routed by name (``*loss*``, ``*top1*``/``*top5*``/``*acc*``/``*f1*``, ``lr``,
    ``*mae*``); only panels with data are drawn. The x axis is ``step`` (else ``epoch``, else the row
    number). Rows may carry different keys (train rows vs validation rows); each line uses the rows
    that have its key.
    """
    x_key = next((key for key in ("step", "epoch") if any(key in row for row in metrics_rows)), None)
    panels = _collect_panels(metrics_rows, x_key)
    if not panels:
        raise InputError(f"plot_training_curves: none of the {len(metrics_rows)} rows has a plottable key "
                         f"(names containing loss, top1, top5, acc, f1, mae, or lr)")
    names = [name for name in PANELS if name in panels]
    columns = 1 if len(names) == 1 else 2
    rows = math.ceil(len(names) / columns)
    figure = _new_figure(5.5 * columns, 3.6 * rows)
    grid = np.atleast_1d(figure.subplots(rows, columns, squeeze=False).ravel())
    for axes, name in zip(grid, names):
        for key, (x, y) in panels[name].items():
            axes.plot(x, y, label=key, marker="o" if y.size < 30 else None, markersize=3)
        if name == "learning rate":
            axes.set_yscale("log")
        axes.set_title(name)
        axes.set_xlabel(x_key or "row")
        axes.grid(alpha=0.3)
        axes.legend(fontsize=8)
    for axes in grid[len(names):]:
        axes.set_visible(False)
    if title:
        figure.suptitle(title)
    return _save(figure, path)
