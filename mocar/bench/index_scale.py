"""The reference index at museum scale: memory, storage, one-query latency and recall of each compression.

For a set of reference embeddings and held-out queries, every index configuration (``dims:dtype``
for the codes in memory, ``+dtype`` for full-dimension re-rank codes kept on storage) is built
with :class:`mocar.field.index.ReferenceIndex`, saved and loaded back (so the re-rank reads a
memory map), and measured against exact float32 search on the full embeddings:

* memory (``size_mb``): the arrays a loaded index holds; storage (``storage_mb``) adds the
  memory-mapped re-rank codes; thumbnails excluded;
* latency: one query, top-5, **one thread** (BLAS/OpenMP limited through threadpoolctl), the whole
  ``ReferenceIndex.search``; median and p90 after warm-up runs (the page cache is warm by then);
* ``recall@5``: overlap of the top-5 with the exact top-5; ``cluster_p@5``: share of the top-5 from
  the query's own cluster (the task-level view), also for exact search;
* why recall drops: the median gap between the 5th and 6th exact similarity next to the median
  error the index makes on the exact top-5's similarities (when the error exceeds the gap, the 5th
  neighbour is a coin toss).

The targets (:data:`TARGETS`: ≤ 32 MB in memory, ≤ 20 ms per query, recall@5 ≥ 0.98) are judged by
the one verdict engine (:func:`mocar.bench.targets.judge_row`). :func:`synthetic` makes post-ReLU
clustered embeddings with a power-law spectrum for sizes no real museum here has.
"""
from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
from threadpoolctl import threadpool_limits

from mocar.bench.targets import Target, judge_row
from mocar.field import search
from mocar.field.index import ReferenceIndex
from mocar.field.runs import open_field_run

K = 5
# dims:dtype[+rerank dtype]: the compact codes in memory, then optionally the full codes that re-rank them.
CONFIGS = ("full:float32", "full:float16", "full:int8", "256:int8", "192:int8", "128:float16", "128:int8", "64:int8",
           "192:int8+float16", "192:int8+int8", "128:int8+float16", "128:int8+int8", "64:int8+float16")
SIZE_LIMIT_MB, LATENCY_LIMIT_MS, RECALL_TARGET = 32.0, 20.0, 0.98
BUDGET = (Target("memory MB", "size_mb", "max", SIZE_LIMIT_MB), Target("p50 ms", "p50_ms", "max", LATENCY_LIMIT_MS))
TARGETS = (*BUDGET, Target("recall@5", "recall@5", "min", RECALL_TARGET))


def synthetic(n: int, dims: int, beta: float, seed: int, clusters: int = 50, within: float = 0.7
              ) -> tuple[np.ndarray, np.ndarray]:
    """Post-ReLU clustered embeddings with a power-law spectrum, and their cluster labels.

    Centres and within-cluster offsets are Gaussian with variance ∝ i^-beta along a random
    orthonormal basis (the same basis and centres for every ``seed``: references and queries share
    clusters), offsets scaled by ``within``, then ReLU.
    """
    basis = np.linalg.qr(np.random.default_rng(1000).normal(size=(dims, dims)))[0].astype(np.float32)
    scale = (np.arange(1, dims + 1) ** (-beta / 2)).astype(np.float32)
    centres = (np.random.default_rng(1001).normal(size=(clusters, dims)).astype(np.float32) * scale) @ basis.T
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, clusters, n)
    out = np.empty((n, dims), np.float32)
    for start in range(0, n, 20000):  # blocks keep the temporaries small
        stop = min(n, start + 20000)
        noise = (rng.normal(size=(stop - start, dims)).astype(np.float32) * scale) @ basis.T
        out[start:stop] = np.maximum(centres[labels[start:stop]] + within * noise, 0.0)
    return out, labels


def real_embeddings(run: Path, data: Path | None) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Train (references) and test (queries) embeddings of a trained run, labelled by epoch class."""
    field_run = open_field_run(run, data)
    (train_frame, train), (test_frame, test) = (field_run.split_outputs(s) for s in ("train", "test"))
    return train.embeddings, train_frame["epoch_idx"].to_numpy(), test.embeddings, test_frame["epoch_idx"].to_numpy()


def latency_ms(index: ReferenceIndex, queries: np.ndarray, runs: int = 100, warmup: int = 10) -> tuple[float, float]:
    """Median and p90 of one-query top-5 searches on one thread."""
    times = []
    with threadpool_limits(limits=1):
        for i in range(warmup + runs):
            start = time.perf_counter()
            index.search(queries[i % len(queries)][None, :], k=K)
            times.append(time.perf_counter() - start)
    measured = np.array(times[warmup:]) * 1000
    return float(np.median(measured)), float(np.percentile(measured, 90))


def overlap(found: np.ndarray, exact: np.ndarray) -> float:
    """Mean share of each exact row's neighbours that ``found`` also holds (recall@k)."""
    return float(np.mean([len(set(a) & set(b)) / exact.shape[1] for a, b in zip(found, exact)]))


def final_similarities(index: ReferenceIndex, rows: np.ndarray, queries: np.ndarray) -> np.ndarray:
    """The similarity the index's last search step gives ``rows`` [Q, k] (re-rank codes when present)."""
    space = search.l2_normalize(queries) if index.rerank is not None else index.project(queries)
    vectors = index.stored_vectors(rows.ravel()).reshape(*rows.shape, -1)
    return np.einsum("qkd,qd->qk", vectors, space)


def build(refs: np.ndarray, objects: pd.DataFrame, config: str, components: np.ndarray | None,
          folder: Path) -> ReferenceIndex:
    """The index of one configuration, saved to ``folder`` and loaded back (re-rank codes memory-mapped)."""
    compact, _, rerank = config.partition("+")
    dims_text, dtype = compact.split(":")
    ReferenceIndex.from_embeddings(refs, objects, {"fingerprint": "synthetic"}, dtype=dtype,
                                   components=None if dims_text == "full" else components[: int(dims_text)],
                                   rerank=rerank or None).save(folder)
    return ReferenceIndex.load(folder)


def _label(index: ReferenceIndex) -> tuple[str, str, str | None]:
    """(table label, dtype, re-rank dtype) of what was built, as the index describes itself."""
    embedding = index.meta["embedding"]
    dims_text, dtype = str(embedding["dims"]) if embedding["pca"] else "full", embedding["dtype"]
    rerank = (embedding["rerank"] or {}).get("dtype")
    label = f"{dims_text} dims, {dtype}" + (f" + re-rank {index.rerank_candidates} on full {rerank}" if rerank else "")
    return label, dtype, rerank


def measure_set(name: str, refs: np.ndarray, ref_labels: np.ndarray, queries: np.ndarray, query_labels: np.ndarray,
                configs: list[str], timing: bool, scratch: Path,
                report: Callable[[dict], None] | None = None) -> list[dict]:
    """All configurations on one reference set; ground truth = exact float32 full-dimension search.

    Args:
        name: The ``data`` column of the rows.
        refs, ref_labels: Reference embeddings [N, D] and their cluster (or class) labels.
        queries, query_labels: Held-out query embeddings and labels.
        configs: Entries like :data:`CONFIGS`.
        timing: Measure the latency (``p50_ms``/``p90_ms``).
        scratch: Folder the index is saved to and loaded from (overwritten per configuration).
        report: Called with each row as soon as it is measured (e.g. to print it).
    """
    normalized = search.l2_normalize(refs)
    exact, exact_sims = search.exact_search(search.l2_normalize(queries), normalized, K + 1)
    gap = float(np.median(exact_sims[:, K - 1] - exact_sims[:, K]))
    exact, exact_sims = exact[:, :K], exact_sims[:, :K]
    dims_needed = [int(c.split(":")[0]) for c in configs if not c.startswith("full")]
    components = search.fit_pca(normalized, max(dims_needed)) if dims_needed else None
    objects = pd.DataFrame({"id": np.arange(len(refs)).astype(str), "collection": ref_labels.astype(str)})
    rows = []
    for config in configs:
        index = build(refs, objects, config, components, scratch / "index")
        found, _ = index.search(queries, k=K)
        compressed_sims = final_similarities(index, exact, queries)
        label, dtype, rerank = _label(index)
        row = {"data": name, "refs": len(refs), "config": label, "dims": index.codes.shape[1], "dtype": dtype,
               "rerank": rerank or None, "size_mb": index.size_bytes() / 1e6,
               "storage_mb": index.size_bytes(rerank=True) / 1e6, "recall@5": overlap(found, exact),
               "cluster_p@5": float(np.mean(ref_labels[found] == query_labels[:, None])),
               "cluster_p@5_exact": float(np.mean(ref_labels[exact] == query_labels[:, None])),
               "median_gap_5_6": gap, "median_sim_error": float(np.median(np.abs(compressed_sims - exact_sims)))}
        if timing:
            row["p50_ms"], row["p90_ms"] = latency_ms(index, queries)
        rows.append(row)
        if report is not None:
            report(row)
        del index
    return rows


def share_latency(rows: list[dict]) -> None:
    """Latency does not depend on the data's spectrum: rows measured without timing take the timed row's."""
    timed = {(r["refs"], r["config"]): r for r in rows if "p50_ms" in r}
    for row in rows:
        source = timed.get((row["refs"], row["config"]))
        if "p50_ms" not in row and source is not None:
            row.update({"p50_ms": source["p50_ms"], "p90_ms": source["p90_ms"], "latency_from": source["data"]})


def _meets(row: dict, targets: tuple[Target, ...]) -> bool:
    return all(check.passed for _, check in judge_row({**row, "export": row["config"]}, targets, "index"))


def verdict(row: dict) -> str:
    """``yes`` when a row meets every target of :data:`TARGETS`, ``no`` otherwise, n/a when not timed."""
    if row.get("p50_ms") is None:
        return "n/a (not timed)"
    return "yes" if _meets(row, TARGETS) else "no"


def summary(rows: list[dict]) -> list[str]:
    """Per data set: the best recall among configurations within the memory and latency budget, without
    and with the re-rank (whose full codes live on storage, outside the memory budget)."""
    lines = []
    for data in dict.fromkeys(r["data"] for r in rows):
        fitting = [r for r in rows if r["data"] == data and _meets(r, BUDGET)]
        for kind, group in (("in memory only", [r for r in fitting if not r["rerank"]]),
                            ("with the re-rank from storage", [r for r in fitting if r["rerank"]])):
            if group:
                best = max(group, key=lambda r: r["recall@5"])
                lines.append(f"- {data}, {kind}: {len(group)} configurations fit {SIZE_LIMIT_MB:.0f} MB and "
                             f"{LATENCY_LIMIT_MS:.0f} ms (p50); best recall@5 {best['recall@5']:.3f} ({best['config']}, "
                             f"{best['storage_mb']:.0f} MB on storage); "
                             f"{'meets' if best['recall@5'] >= RECALL_TARGET else 'misses'} the {RECALL_TARGET} target.")
    return lines


def thumbnail_note(index_dir: Path | None, refs: int) -> str:
    """Measured thumbnail bytes of a real index, scaled to ``refs`` objects (empty without an index)."""
    if index_dir is None:
        return ""
    index = ReferenceIndex.load(index_dir)
    mean_kb = index.objects["thumb_size"].mean() / 1e3
    px = (index.meta.get("thumbnails") or {}).get("px")
    return (f"; measured on {index_dir} ({len(index)} objects, {px} px JPEG): {mean_kb:.1f} kB per thumbnail, "
            f"i.e. {mean_kb * refs / 1e6:.2f} GB for {refs} objects")
