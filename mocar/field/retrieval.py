"""Retrieval quality: do the nearest references share the query's collection / epoch class?

Definitions (per attribute, ``collection`` or ``epoch``; a reference is *relevant* to a query when it
has the same value):

* ``recall@k``: share of queries with at least one relevant reference among their k nearest (the
  usual image-retrieval "hit rate"; recall@1 is the 1-nearest-neighbour accuracy).
* ``precision@k``: mean share of relevant references among the k nearest.
* ``mAP@K``: mean over queries of AP@K = sum_{r <= K} precision@r * rel_r / min(K, R_q), where R_q is
  the number of relevant references in the whole index (so a perfect ranking scores 1). ``K`` is
  ``map_k`` or, with ``map_k=None``, the whole index (classic mAP). Queries with R_q = 0 (a value the
  index does not hold) are left out of mAP and counted as ``no_relevant``.

Neighbours come from :meth:`ReferenceIndex.search` (the compressed index, exactly as shipped).
"""
from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from mocar.errors import InputError
from mocar.field.index import ReferenceIndex
from mocar.field.runs import open_field_run
from mocar.utils.io import atomic_write_text

KS = (1, 5, 10)
MAP_K = 100


def _attribute_metrics(relevant: np.ndarray, totals: np.ndarray, ks: Sequence[int], map_depth: int) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for k in ks:
        result[f"recall@{k}"] = float(relevant[:, :k].any(axis=1).mean())
        result[f"precision@{k}"] = float(relevant[:, :k].mean(axis=1).mean())
    ranked = relevant[:, :map_depth].astype(np.float64)
    precision_at = np.cumsum(ranked, axis=1) / np.arange(1, ranked.shape[1] + 1)
    has_relevant = totals > 0
    ap = (precision_at * ranked).sum(axis=1)[has_relevant] / np.minimum(map_depth, totals[has_relevant])
    result[f"mAP@{map_depth}"] = float(ap.mean()) if ap.size else None
    result["no_relevant"] = int((~has_relevant).sum())
    return result


def retrieval_metrics(query_emb: np.ndarray, query_collection: Sequence[str], query_epoch: Sequence[str],
                      index: ReferenceIndex, ks: Sequence[int] = KS, map_k: int | None = MAP_K) -> dict[str, Any]:
    """Retrieval quality of query embeddings against an index (see the module docstring).

    Args:
        query_emb: Raw model embeddings [N, D] of the queries.
        query_collection: Collection name of each query.
        query_epoch: Epoch class label of each query (as in the index's ``epoch_label``).
        index: The reference index.
        ks: Cut-offs for recall@k and precision@k.
        map_k: Depth of mAP; None = the whole ranking.
    """
    depth = len(index) if map_k is None else min(map_k, len(index))
    neighbours, _ = index.search(query_emb, k=max(depth, *ks))
    result: dict[str, Any] = {"n_queries": int(len(neighbours)), "n_references": len(index), "map_depth": depth}
    attributes = (("collection", "collection", query_collection), ("epoch", "epoch_label", query_epoch))
    for name, column, queries in attributes:
        references = index.objects[column].astype(str).to_numpy()
        values = np.asarray(queries).astype(str)
        if len(values) != len(neighbours):
            raise InputError(f"{len(values)} query {name} values for {len(neighbours)} query embeddings")
        counts = dict(zip(*np.unique(references, return_counts=True)))
        totals = np.array([counts.get(v, 0) for v in values])
        result[name] = _attribute_metrics(references[neighbours] == values[:, None], totals, ks, depth)
    return result


def evaluate_retrieval(run_dir: str | Path, index_dir: str | Path, split: str = "test",
                       data_dir: str | Path | None = None, checkpoint: str = "best", ks: Sequence[int] = KS,
                       map_k: int | None = MAP_K, batch_size: int = 64) -> dict[str, Any]:
    """Retrieval quality of a run's ``split`` against an index of the same model; writes ``retrieval_<split>.json``.

    Raises:
        ModelMismatchError: If the index was built with another model.
    """
    field_run = open_field_run(run_dir, data_dir, checkpoint)
    index = ReferenceIndex.load(index_dir)
    index.check_model(field_run.fingerprint)
    frame, outputs = field_run.split_outputs(split, batch_size)
    metrics = retrieval_metrics(outputs.embeddings, frame["collection"], frame["epoch_label"], index, ks, map_k)
    metrics.update({"split": split, "index": str(index_dir), "index_dims": index.meta["embedding"]["dims"],
                    "index_dtype": index.meta["embedding"]["dtype"],
                    "reference_split": index.meta.get("references", {}).get("split")})
    atomic_write_text(Path(run_dir) / f"retrieval_{split}.json", json.dumps(metrics, indent=2))
    return metrics


def format_retrieval(metrics: dict[str, Any]) -> str:
    """A small table for the terminal."""
    keys = [k for k in metrics["collection"] if k != "no_relevant"]
    lines = [f"retrieval on {metrics.get('split', '?')}: {metrics['n_queries']} queries, "
             f"{metrics['n_references']} references", f"{'':12}" + "".join(f"{k:>14}" for k in keys)]
    for name in ("collection", "epoch"):
        values = metrics[name]
        cells = ["-" if values[k] is None else format(values[k], ".3f") for k in keys]
        lines.append(f"{name:12}" + "".join(f"{cell:>14}" for cell in cells))
    return "\n".join(lines)
