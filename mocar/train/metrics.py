"""Evaluation metrics for mocar's models and the per-image predictions table.

Models emit ``logits`` [N, C] (C = collections for MOCaR, collection x epoch classes for MaxAvg-Cat
and the baseline), optionally ``year`` [N] (already de-normalised by the caller) and ``embedding``
[N, D]. The paper reports top-1, top-5, macro F1 and year MAE; this module computes those, plus the
diagnostics needed to read them (per-class accuracy, confusion matrix, loss, year error spread).

Caveats:
- Ties: exactly equal scores rank the lower class index first (stable sort). Top-1 and top-k are
  therefore deterministic, and slightly pessimistic when the target ties with the k-th class.
- Macro F1 averages over *all* C classes (scikit-learn, ``labels=range(C)``, ``zero_division=0``).
  A class that is absent from the split scores 0 in that average: precision and recall are both
  undefined when it is neither present nor predicted, and recall is undefined when it is only
  predicted. Small splits that miss classes thus get a lower macro F1; ``macro_f1_present`` averages
  over the classes that occur in the targets only, for comparison.
- Torch tensors are accepted anywhere an array is (via ``.detach().cpu()``); this module does not
  import torch.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd

from mocar.errors import InputError

ScoreKind = Literal["auto", "logits", "probs"]

TOP_K = 5
YEAR_TOLERANCES = (50, 100)
PREDICTION_COLUMNS = (
    "id", "true", "true_label", "pred", "pred_label", "top5", "top5_labels", "top5_probs",
    "year_true", "year_pred",
)
LIST_COLUMNS = ("top5", "top5_labels", "top5_probs", "embedding")
_MIN_PROB = 1e-12  # floor for log(p) when probabilities are given, so a hard 0 costs ~27.6 nats


# ----------------------------------------------------------------------------- input checks


def _as_numpy(values: Any) -> np.ndarray:
    """Convert arrays, lists and torch tensors (on any device, any float dtype) to numpy."""
    if hasattr(values, "detach"):  # torch.Tensor; duck-typed so this module never imports torch
        values = values.detach().cpu()
        if values.is_floating_point():
            values = values.float()  # bfloat16/float16 have no (exact) numpy twin
        values = values.numpy()
    return np.asarray(values)


def _check_scores(scores: Any, num_classes: int, name: str = "logits") -> np.ndarray:
    """Return scores as float64 [N, C]; raise InputError naming the shape or first bad row."""
    array = _as_numpy(scores).astype(np.float64, copy=False)
    if array.ndim != 2 or array.shape[1] != num_classes:
        raise InputError(f"{name} has shape {array.shape}; expected [N, {num_classes}] (num_classes)")
    if array.shape[0] == 0:
        raise InputError(f"{name} is empty: need at least one sample")
    bad_rows = np.flatnonzero(~np.isfinite(array).all(axis=1))
    if bad_rows.size:
        row = int(bad_rows[0])
        raise InputError(f"{name} row {row} is not finite ({array[row].tolist()[:8]}...); "
                         f"{bad_rows.size} such row(s) in all")
    return array


def _check_targets(targets: Any, n: int, num_classes: int) -> np.ndarray:
    """Return targets as int64 [N] with every value in [0, C)."""
    array = _as_numpy(targets)
    if array.shape != (n,):
        raise InputError(f"targets has shape {array.shape}; expected ({n},), one class index per row")
    if not np.issubdtype(array.dtype, np.integer):
        raise InputError(f"targets has dtype {array.dtype}; expected integer class indices")
    outside = np.flatnonzero((array < 0) | (array >= num_classes))
    if outside.size:
        row = int(outside[0])
        raise InputError(f"targets row {row} is {array[row]}; valid class indices are 0..{num_classes - 1}")
    return array.astype(np.int64, copy=False)


def _resolve_class_names(class_names: Sequence[str] | None, num_classes: int) -> list[str]:
    """Class names as a list of C unique strings; default names are the indices."""
    if class_names is None:
        return [str(i) for i in range(num_classes)]
    names = [str(name) for name in class_names]
    if len(names) != num_classes:
        raise InputError(f"class_names has {len(names)} entries; expected {num_classes} (num_classes)")
    if len(set(names)) != len(names):
        duplicates = sorted({name for name in names if names.count(name) > 1})
        raise InputError(f"class_names must be unique; repeated: {duplicates[:10]}")
    return names


def _looks_like_probabilities(scores: np.ndarray) -> bool:
    """Rows in [0, 1] summing to 1 are taken for probabilities (softmax output)."""
    in_range = bool(((scores >= 0) & (scores <= 1)).all())
    return in_range and bool(np.allclose(scores.sum(axis=1), 1.0, atol=1e-4))


# ----------------------------------------------------------------------------- classification


def log_softmax(logits: np.ndarray) -> np.ndarray:
    """Numerically stable log-softmax over the last axis (float64)."""
    shifted = np.asarray(logits, dtype=np.float64)
    shifted = shifted - shifted.max(axis=-1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))


def rank_classes(scores: np.ndarray, k: int) -> np.ndarray:
    """Indices of the k highest scores per row, best first; equal scores rank the lower index first."""
    return np.argsort(-scores, axis=1, kind="stable")[:, :k]


def _mean_nll(scores: np.ndarray, targets: np.ndarray, are_probs: bool) -> float:
    """Mean negative log-likelihood of the targets: softmax cross-entropy for logits."""
    rows = np.arange(len(targets))
    if are_probs:
        log_probs = np.log(np.clip(scores[rows, targets], _MIN_PROB, None))
    else:
        log_probs = log_softmax(scores)[rows, targets]
    return float(-log_probs.mean())


def _per_class(confusion: np.ndarray, names: list[str]) -> dict[str, dict[str, float | int | None]]:
    """Accuracy (= recall) and support per class; accuracy is None for classes absent from the split."""
    support = confusion.sum(axis=1)
    correct = np.diag(confusion)
    return {
        name: {"accuracy": float(correct[i] / support[i]) if support[i] else None, "support": int(support[i])}
        for i, name in enumerate(names)
    }


def classification_metrics(
    logits_or_probs: Any,
    targets: Any,
    num_classes: int,
    class_names: Sequence[str] | None = None,
    *,
    scores: ScoreKind = "auto",
) -> dict[str, Any]:
    """Top-1, top-k, macro F1, per-class accuracy, confusion matrix and loss of one prediction set.

    Args:
        logits_or_probs: Scores [N, C], either logits or softmax probabilities.
        targets: True class indices [N].
        num_classes: C; classes never seen in this split still count (see the module docstring).
        class_names: Names of the C classes (keys of ``per_class``); defaults to "0".."C-1".
        scores: "logits", "probs", or "auto" (rows in [0, 1] summing to 1 are probabilities).

    Returns:
        A JSON-serialisable dict: ``n``, ``num_classes``, ``top1``, ``top5`` (top-k with
        k = ``top5_k`` = min(5, C)), ``macro_f1``, ``macro_f1_present``, ``loss`` (mean NLL: softmax
        cross-entropy for logits, -log p for probabilities), ``per_class`` (name ->
        {accuracy, support}) and ``confusion_matrix`` (nested list, rows = true, columns = predicted).
    """
    from sklearn.metrics import confusion_matrix, f1_score

    values = _check_scores(logits_or_probs, num_classes)
    truth = _check_targets(targets, len(values), num_classes)
    names = _resolve_class_names(class_names, num_classes)
    are_probs = scores == "probs" or (scores == "auto" and _looks_like_probabilities(values))
    k = min(TOP_K, num_classes)
    ranked = rank_classes(values, k)
    predicted = ranked[:, 0]
    labels = np.arange(num_classes)
    present = np.unique(truth)
    confusion = confusion_matrix(truth, predicted, labels=labels)
    return {
        "n": int(len(truth)),
        "num_classes": int(num_classes),
        "top1": float(np.mean(predicted == truth)),
        "top5": float(np.mean((ranked == truth[:, None]).any(axis=1))),
        "top5_k": int(k),
        "macro_f1": float(f1_score(truth, predicted, labels=labels, average="macro", zero_division=0)),
        "macro_f1_present": float(f1_score(truth, predicted, labels=present, average="macro", zero_division=0)),
        "loss": _mean_nll(values, truth, are_probs),
        "per_class": _per_class(confusion, names),
        "confusion_matrix": confusion.tolist(),
    }


# ----------------------------------------------------------------------------- year regression


def regression_metrics(
    year_pred: Any, year_true: Any, tolerances: Sequence[int] = YEAR_TOLERANCES
) -> dict[str, float | int]:
    """Year error statistics; rows whose true year is unknown (NaN) are left out and counted.

    Args:
        year_pred: Predicted years [N] (de-normalised).
        year_true: True years [N]; NaN marks an object without a usable dating.
        tolerances: Absolute errors (years) for the ``within_<t>`` shares; inclusive.

    Returns:
        ``n`` (rows scored), ``n_missing_true``, ``mae``, ``median_ae``, ``rmse``, ``bias`` (mean of
        pred - true: positive means predictions are too late) and ``within_<t>`` in percent.
    """
    pred = _as_numpy(year_pred).astype(np.float64, copy=False).reshape(-1)
    true = _as_numpy(year_true).astype(np.float64, copy=False).reshape(-1)
    if pred.shape != true.shape:
        raise InputError(f"year_pred has {pred.size} values but year_true has {true.size}; expected equal")
    known = np.isfinite(true)
    bad = np.flatnonzero(known & ~np.isfinite(pred))
    if bad.size:
        raise InputError(f"year_pred row {int(bad[0])} is {pred[bad[0]]}; predictions must be finite")
    if not known.any():
        raise InputError(f"no row has a known year_true (all {true.size} are NaN or empty)")
    error = pred[known] - true[known]
    absolute = np.abs(error)
    result: dict[str, float | int] = {
        "n": int(known.sum()),
        "n_missing_true": int((~known).sum()),
        "mae": float(absolute.mean()),
        "median_ae": float(np.median(absolute)),
        "rmse": float(np.sqrt(np.mean(error**2))),
        "bias": float(error.mean()),
    }
    for tolerance in tolerances:
        result[f"within_{tolerance}"] = float(100.0 * np.mean(absolute <= tolerance))
    return result


def evaluate_predictions(
    logits: Any,
    targets: Any,
    num_classes: int,
    class_names: Sequence[str] | None = None,
    year_pred: Any = None,
    year_true: Any = None,
    *,
    scores: ScoreKind = "auto",
) -> dict[str, Any]:
    """Classification metrics plus, when years are given, regression metrics prefixed ``year_``."""
    if (year_pred is None) != (year_true is None):
        raise InputError("give both year_pred and year_true, or neither")
    result = classification_metrics(logits, targets, num_classes, class_names, scores=scores)
    if year_pred is not None:
        year = regression_metrics(year_pred, year_true)
        result.update({f"year_{key}": value for key, value in year.items()})
    return result


# ----------------------------------------------------------------------------- predictions table


def topk_predictions(logits: Any, k: int = TOP_K) -> tuple[np.ndarray, np.ndarray]:
    """The k most likely classes per row and their softmax probabilities.

    Args:
        logits: Scores [N, C].
        k: How many classes; values above C are clipped to C.

    Returns:
        (indices [N, k] int64, probabilities [N, k] float64), best first; equal logits rank the
        lower class index first.
    """
    if k < 1:
        raise InputError(f"k is {k}; expected a positive number of classes")
    array = _as_numpy(logits)
    if array.ndim != 2:
        raise InputError(f"logits has shape {array.shape}; expected [N, C]")
    values = _check_scores(array, array.shape[1])
    indices = rank_classes(values, min(k, values.shape[1])).astype(np.int64)
    probs = np.exp(log_softmax(values))
    return indices, np.take_along_axis(probs, indices, axis=1)


def _optional_years(values: Any, n: int, name: str) -> np.ndarray:
    """Years as float64 [N]; NaN everywhere when not given."""
    if values is None:
        return np.full(n, np.nan)
    array = _as_numpy(values).astype(np.float64, copy=False).reshape(-1)
    if array.size != n:
        raise InputError(f"{name} has {array.size} values; expected {n}, one per row")
    return array


def predictions_table(
    ids: Any,
    targets: Any,
    logits: Any,
    class_names: Sequence[str],
    year_pred: Any = None,
    year_true: Any = None,
    embeddings: Any = None,
) -> pd.DataFrame:
    """One row per image: truth, top-1, top-5 (indices, labels, probabilities), years, embedding.

    Columns: ``PREDICTION_COLUMNS`` and, when embeddings are given, ``embedding`` (float32 values
    as a list). List cells are Python lists; year columns are NaN when years are not given.
    """
    values = _check_scores(logits, len(class_names))
    truth = _check_targets(targets, len(values), len(class_names))
    names = np.asarray(_resolve_class_names(class_names, len(class_names)), dtype=object)
    id_values = _as_numpy(ids).reshape(-1).tolist()
    if len(id_values) != len(values):
        raise InputError(f"ids has {len(id_values)} values; expected {len(values)}, one per row of logits")
    top_indices, top_probs = topk_predictions(values, TOP_K)
    columns: dict[str, Any] = {
        "id": id_values,
        "true": truth,
        "true_label": names[truth],
        "pred": top_indices[:, 0],
        "pred_label": names[top_indices[:, 0]],
        "top5": top_indices.tolist(),
        "top5_labels": names[top_indices].tolist(),
        "top5_probs": top_probs.tolist(),
        "year_true": _optional_years(year_true, len(values), "year_true"),
        "year_pred": _optional_years(year_pred, len(values), "year_pred"),
    }
    if embeddings is not None:
        vectors = _as_numpy(embeddings).astype(np.float32)
        if vectors.ndim != 2 or len(vectors) != len(values):
            raise InputError(f"embeddings has shape {vectors.shape}; expected [{len(values)}, D]")
        columns["embedding"] = vectors.tolist()
    return pd.DataFrame(columns)


def _check_prediction_columns(df: pd.DataFrame, where: str) -> None:
    missing = [column for column in PREDICTION_COLUMNS if column not in df.columns]
    if missing:
        raise InputError(f"{where}: missing columns {missing}; a predictions table has {list(PREDICTION_COLUMNS)}")


def write_predictions(df: pd.DataFrame, path: str | Path) -> Path:
    """Write a predictions table to Parquet (pyarrow); embeddings are stored as list<float32>."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    _check_prediction_columns(df, "write_predictions")
    table = pa.Table.from_pandas(df, preserve_index=False)
    if "embedding" in table.column_names:
        index = table.column_names.index("embedding")
        embedding = table.column(index).cast(pa.list_(pa.float32()))
        table = table.set_column(index, "embedding", embedding)
    out_path = Path(path)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(table, out_path)
    return out_path


def read_predictions(path: str | Path) -> pd.DataFrame:
    """Read a table written by ``write_predictions``; list cells come back as Python lists."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        df = pq.read_table(path).to_pandas()
    except (FileNotFoundError, pa.ArrowInvalid) as error:
        raise InputError(f"{path}: cannot read a predictions Parquet file ({error})") from error
    _check_prediction_columns(df, str(path))
    for column in LIST_COLUMNS:
        if column in df.columns:
            df[column] = [None if cell is None else cell.tolist() for cell in df[column]]
    return df


# ----------------------------------------------------------------------------- terminal table

_PERCENT_OF_ONE = ("top1", "top5", "macro_f1", "macro_f1_present")
_LABELS = {
    "n": "samples", "num_classes": "classes", "top1": "top-1 accuracy", "top5": "top-5 accuracy",
    "macro_f1": "macro F1 (all classes)", "macro_f1_present": "macro F1 (present classes)",
    "loss": "loss (mean NLL)", "year_n": "samples with a year", "year_n_missing_true": "samples without a year",
    "year_mae": "year MAE", "year_median_ae": "year median abs. error", "year_rmse": "year RMSE",
    "year_bias": "year bias (pred - true)", "n_duplicates_dropped": "duplicate ids dropped",
}
_SKIPPED = ("per_class", "confusion_matrix", "top5_k")


def _metric_label(key: str, metrics: dict[str, Any]) -> str:
    if key == "top5" and metrics.get("top5_k", TOP_K) != TOP_K:
        return f"top-{metrics['top5_k']} accuracy"
    if key.startswith("year_within_") or key.startswith("within_"):
        return f"year within ±{key.rsplit('_', 1)[1]}"
    return _LABELS.get(key, _LABELS.get(f"year_{key}", key))


def _metric_value(key: str, value: Any) -> str:
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, float, np.number)):
        return str(value)
    if isinstance(value, (int, np.integer)):
        return f"{int(value):d}"
    if key in _PERCENT_OF_ONE:
        return f"{100.0 * value:.2f} %"
    if "within_" in key:
        return f"{value:.2f} %"
    if any(part in key for part in ("mae", "median_ae", "rmse", "bias")):
        return f"{value:.1f} y"
    return f"{value:.4f}"


def _per_class_lines(per_class: dict[str, dict[str, Any]], name_width: int) -> list[str]:
    lines = [f"{'class':<{name_width}}  {'support':>8}  {'accuracy':>9}", "-" * (name_width + 21)]
    for name, row in per_class.items():
        shown = name if len(name) <= name_width else name[: name_width - 1] + "…"
        accuracy = "-" if row["accuracy"] is None else f"{100.0 * row['accuracy']:.2f} %"
        lines.append(f"{shown:<{name_width}}  {row['support']:>8d}  {accuracy:>9}")
    return lines


def format_metrics_table(metrics: dict[str, Any], per_class: bool = True, name_width: int = 32) -> str:
    """Fixed-width text of the scalar metrics, then (optionally) per-class support and accuracy.

    Accepts the dicts of ``classification_metrics``, ``regression_metrics`` and
    ``evaluate_predictions``; unknown numeric keys are printed as they are. The confusion matrix
    is left out (see ``plots.plot_confusion_matrix``).
    """
    scalar_keys = [key for key in metrics if key not in _SKIPPED and not isinstance(metrics[key], (dict, list))]
    labels = [_metric_label(key, metrics) for key in scalar_keys]
    width = max([len(label) for label in labels] + [len("metric")])
    lines = [f"{'metric':<{width}}  {'value':>12}", "-" * (width + 14)]
    lines += [f"{label:<{width}}  {_metric_value(key, metrics[key]):>12}" for key, label in zip(scalar_keys, labels)]
    if per_class and metrics.get("per_class"):
        lines += [""] + _per_class_lines(metrics["per_class"], name_width)
    return "\n".join(lines)


# ----------------------------------------------------------------------------- accumulation


_BATCH_FIELDS = ("logits", "targets", "ids", "year_pred", "year_true")


@dataclass
class MetricAccumulator:
    """Collects per-batch outputs (as numpy copies) and computes metrics over all of them.

    For distributed evaluation, gather ``arrays()`` from every rank, rebuild with ``from_arrays``
    and ``merge``. Samples repeated by a padding sampler (e.g. ``DistributedSampler``) are dropped
    in ``compute`` by id, keeping the first occurrence, when ids were given.

    Attributes:
        num_classes: C, the width of the logits.
        class_names: Optional names of the C classes.
    """

    num_classes: int
    class_names: list[str] | None = None
    _batches: list[dict[str, np.ndarray]] = field(default_factory=list, repr=False)

    def update(self, logits: Any, targets: Any, *, ids: Any = None, year_pred: Any = None,
               year_true: Any = None) -> None:
        """Add one batch; optional fields must be given for every batch or for none."""
        batch = {"logits": np.array(_as_numpy(logits)), "targets": np.array(_as_numpy(targets)).reshape(-1)}
        for name, value in (("ids", ids), ("year_pred", year_pred), ("year_true", year_true)):
            if value is not None:
                batch[name] = np.array(_as_numpy(value)).reshape(-1)
        self._add(batch)

    def _add(self, batch: dict[str, np.ndarray]) -> None:
        if batch["logits"].ndim != 2 or batch["logits"].shape[1] != self.num_classes:
            raise InputError(f"batch logits have shape {batch['logits'].shape}; expected [B, {self.num_classes}]")
        size = len(batch["logits"])
        wrong = [name for name, value in batch.items() if len(value) != size]
        if wrong:
            raise InputError(f"batch fields {wrong} do not have {size} rows like the logits")
        if self._batches and set(batch) != set(self._batches[0]):
            raise InputError(f"batch has fields {sorted(batch)}; earlier batches had {sorted(self._batches[0])}")
        self._batches.append(batch)

    def merge(self, other: MetricAccumulator) -> MetricAccumulator:
        """Append another accumulator's batches (after this one's); returns self."""
        if other.num_classes != self.num_classes:
            raise InputError(f"cannot merge accumulators with {self.num_classes} and {other.num_classes} classes")
        for batch in other._batches:
            self._add(batch)
        return self

    def __len__(self) -> int:
        return sum(len(batch["logits"]) for batch in self._batches)

    def arrays(self) -> dict[str, np.ndarray]:
        """All batches concatenated, per field, in the order they were added."""
        if not self._batches:
            return {}
        return {name: np.concatenate([b[name] for b in self._batches]) for name in _BATCH_FIELDS
                if name in self._batches[0]}

    @classmethod
    def from_arrays(cls, num_classes: int, arrays: dict[str, np.ndarray],
                    class_names: list[str] | None = None) -> MetricAccumulator:
        """Rebuild an accumulator from ``arrays()`` output (e.g. after an all-gather)."""
        accumulator = cls(num_classes, class_names)
        if arrays:
            accumulator.update(**arrays)
        return accumulator

    def compute(self, dedupe_ids: bool = True) -> dict[str, Any]:
        """Metrics over everything added (``evaluate_predictions`` keys, plus duplicates dropped)."""
        data = self.arrays()
        if not data:
            raise InputError("MetricAccumulator.compute: no batches were added")
        dropped = None
        if dedupe_ids and "ids" in data:
            _, first = np.unique(data["ids"], return_index=True)
            keep = np.sort(first)
            dropped = len(data["ids"]) - len(keep)
            data = {name: value[keep] for name, value in data.items()}
        result = evaluate_predictions(data["logits"], data["targets"], self.num_classes, self.class_names,
                                      data.get("year_pred"), data.get("year_true"))
        if dropped is not None:
            result["n_duplicates_dropped"] = int(dropped)
        return result
