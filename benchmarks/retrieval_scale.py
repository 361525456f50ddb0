"""How big and how fast is the reference index at museum scale (140k objects), and what does compression cost?

For synthetic clustered embeddings (D = 1024, the MOCaR/MaxAvg-Cat R50x1 embedding size, post-ReLU
like the real head) and, optionally, for a trained run's real embeddings, every (dims, dtype) index
configuration is measured for:

* memory: bytes of the search data a loaded index holds (codes + scales + offsets + projection; the
  search scores the codes block by block and never makes a float32 copy); thumbnails excluded;
* storage: memory + the full-dimension re-rank codes, which stay on storage (memory-mapped) and are
  read a few rows per query;
* latency: one query, top-5, **one thread** (OMP/BLAS limited to 1 via threadpoolctl), the whole
  ``ReferenceIndex.search`` (normalise, project, similarities, top-k, re-rank) of an index saved to
  disk and loaded back (so the re-rank reads a memory map; the page cache is warm after the warm-up
  runs, a first query after boot reads ~100 rows from flash); median and p90 of 100 runs after 10
  warm-up runs;
* recall@5: |top-5 of the compressed index ∩ top-5 of exact float32 search on the full embeddings| / 5,
  averaged over held-out queries;
* cluster precision@5: share of the top-5 from the query's cluster (the task-level view), for the
  compressed index and for the exact search;
* why recall drops: the median gap between the 5th and 6th exact similarity (how close the ranking
  is to a tie) next to the median error the compressed index makes on the similarities of the exact
  top-5 (when the error exceeds the gap, the 5th neighbour is a coin toss).

Synthetic data: 50 clusters; centres and within-cluster offsets are Gaussian with variance ∝ i^-beta
along a random orthonormal basis (beta controls how fast the spectrum decays), within-cluster scale
0.7, then ReLU. Real embeddings decay differently; ``--run`` measures them too.

    .venv/bin/python benchmarks/retrieval_scale.py [--refs 140000] [--betas 1.0,1.5,2.0] [--run RUN --data PREPARED]
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "2")
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from threadpoolctl import threadpool_limits  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _machine import LoadMonitor, command_line, describe_machine, machine_lines, now  # noqa: E402

from mocar.field import search  # noqa: E402
from mocar.field.index import ReferenceIndex  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results"
# dims:dtype[+rerank dtype]: the compact codes in memory, then optionally the full codes that re-rank them.
CONFIGS = ("full:float32", "full:float16", "full:int8", "256:int8", "192:int8", "128:float16", "128:int8", "64:int8",
           "192:int8+float16", "192:int8+int8", "128:int8+float16", "128:int8+int8", "64:int8+float16")
SIZE_LIMIT_MB, LATENCY_LIMIT_MS, RECALL_TARGET = 32.0, 20.0, 0.98
K = 5


def synthetic(n: int, dims: int, beta: float, seed: int, clusters: int = 50, within: float = 0.7) -> tuple[np.ndarray, np.ndarray]:
    """Post-ReLU clustered embeddings with a power-law spectrum (see the module docstring)."""
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
    return float(np.mean([len(set(a) & set(b)) / exact.shape[1] for a, b in zip(found, exact)]))


def final_similarities(index: ReferenceIndex, rows: np.ndarray, queries: np.ndarray) -> np.ndarray:
    """The similarity the index's last search step gives ``rows`` [Q, k] (re-rank codes when present)."""
    space = search.l2_normalize(queries) if index.rerank is not None else index.project(queries)
    vectors = index.stored_vectors(rows.ravel()).reshape(*rows.shape, -1)
    return np.einsum("qkd,qd->qk", vectors, space)


def build(refs: np.ndarray, objects: pd.DataFrame, config: str, components: np.ndarray | None, folder: Path) -> ReferenceIndex:
    """The index of one configuration, saved to ``folder`` and loaded back (re-rank codes memory-mapped)."""
    compact, _, rerank = config.partition("+")
    dims_text, dtype = compact.split(":")
    ReferenceIndex.from_embeddings(refs, objects, {"fingerprint": "synthetic"}, dtype=dtype,
                                   components=None if dims_text == "full" else components[: int(dims_text)],
                                   rerank=rerank or None).save(folder)
    return ReferenceIndex.load(folder)


def measure_set(name: str, refs: np.ndarray, ref_labels: np.ndarray, queries: np.ndarray, query_labels: np.ndarray,
                configs: list[str], timing: bool, scratch: Path) -> list[dict]:
    """All configurations on one reference set; ground truth = exact float32 full-dim search."""
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
        embedding = index.meta["embedding"]  # what was built, described by the index itself
        dims_text, dtype = str(embedding["dims"]) if embedding["pca"] else "full", embedding["dtype"]
        rerank = (embedding["rerank"] or {}).get("dtype")
        label = f"{dims_text} dims, {dtype}" + (f" + re-rank {index.rerank_candidates} on full {rerank}" if rerank else "")
        row = {"data": name, "refs": len(refs), "config": label, "dims": index.codes.shape[1], "dtype": dtype,
               "rerank": rerank or None, "size_mb": index.size_bytes() / 1e6,
               "storage_mb": index.size_bytes(rerank=True) / 1e6, "recall@5": overlap(found, exact),
               "cluster_p@5": float(np.mean(ref_labels[found] == query_labels[:, None])),
               "cluster_p@5_exact": float(np.mean(ref_labels[exact] == query_labels[:, None])),
               "median_gap_5_6": gap, "median_sim_error": float(np.median(np.abs(compressed_sims - exact_sims)))}
        if timing:
            row["p50_ms"], row["p90_ms"] = latency_ms(index, queries)
        rows.append(row)
        print(json.dumps(row), flush=True)
        del index
    return rows


def real_embeddings(run: Path, data: Path | None) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Train (references) and test (queries) embeddings of a trained run, labelled by epoch class."""
    from mocar.field.runs import open_field_run

    field_run = open_field_run(run, data)
    (train_frame, train), (test_frame, test) = (field_run.split_outputs(s) for s in ("train", "test"))
    return train.embeddings, train_frame["epoch_idx"].to_numpy(), test.embeddings, test_frame["epoch_idx"].to_numpy()


def share_latency(rows: list[dict]) -> None:
    """Latency does not depend on the data's spectrum: rows measured without timing take the timed row's."""
    timed = {(r["refs"], r["config"]): r for r in rows if "p50_ms" in r}
    for row in rows:
        source = timed.get((row["refs"], row["config"]))
        if "p50_ms" not in row and source is not None:
            row.update({"p50_ms": source["p50_ms"], "p90_ms": source["p90_ms"], "latency_from": source["data"]})


def verdict(row: dict) -> str:
    if row.get("p50_ms") is None:
        return "n/a (not timed)"
    met = row["size_mb"] <= SIZE_LIMIT_MB and row["p50_ms"] <= LATENCY_LIMIT_MS and row["recall@5"] >= RECALL_TARGET
    return "yes" if met else "no"


def summary(rows: list[dict]) -> list[str]:
    """Per data set: the best recall among configurations within the memory and latency budget, without
    and with the re-rank (whose full codes live on storage, outside the memory budget)."""
    lines = []
    for data in dict.fromkeys(r["data"] for r in rows):
        fitting = [r for r in rows if r["data"] == data and r["size_mb"] <= SIZE_LIMIT_MB
                   and r.get("p50_ms") is not None and r["p50_ms"] <= LATENCY_LIMIT_MS]
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
    """Measured thumbnail bytes of a real index, scaled to ``refs`` objects."""
    if index_dir is None:
        return ""
    index = ReferenceIndex.load(index_dir)
    mean_kb = index.objects["thumb_size"].mean() / 1e3
    px = (index.meta.get("thumbnails") or {}).get("px")
    return (f"; measured on {index_dir} ({len(index)} objects, {px} px JPEG): {mean_kb:.1f} kB per thumbnail, "
            f"i.e. {mean_kb * refs / 1e6:.2f} GB for {refs} objects")


def write_report(rows: list[dict], args: argparse.Namespace, load, machine: dict, seconds: float) -> None:
    fmt = lambda v, spec: "–" if v is None else format(v, spec)  # noqa: E731
    lines = ["# Reference index at museum scale", "", f"Command: `{command_line(__file__)}`  ", f"Date: {now()}  ",
             f"Targets: ≤ {SIZE_LIMIT_MB:.0f} MB of search data in memory, ≤ {LATENCY_LIMIT_MS:.0f} ms per top-{K} query on one "
             f"thread, recall@5 ≥ {RECALL_TARGET} against exact float32 search on the full embeddings.", "",
             "| data | refs | index | memory MB | storage MB | p50 ms | p90 ms | recall@5 | cluster p@5 (exact: …) | "
             "gap s5−s6 | sim error | meets all targets |", "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        scale = "140k" if r["refs"] == 140000 else str(r["refs"])
        lines.append(f"| {r['data']} | {scale} | {r['config']} | {r['size_mb']:.1f} | {r['storage_mb']:.1f} | "
                     f"{fmt(r.get('p50_ms'), '.1f')} | "
                     f"{fmt(r.get('p90_ms'), '.1f')} | {r['recall@5']:.3f} | {r['cluster_p@5']:.3f} ({r['cluster_p@5_exact']:.3f}) | "
                     f"{r['median_gap_5_6']:.1e} | {r['median_sim_error']:.1e} | {verdict(r)} |")
    thumbs = thumbnail_note(args.thumbs_from, args.refs)
    lines += ["", *summary(rows), "", "Latency is measured once per configuration (first synthetic row) and repeated for the other spectra. "
              "For real embeddings, 'cluster' is the epoch class; small real sets are not timed (nothing to learn at that size). "
              "When the similarity error of a configuration exceeds the gap between the 5th and 6th exact neighbour, which "
              "references make the top-5 is decided by rounding: recall@5 then says little about retrieval quality, "
              "the cluster precision does.",
              "", f"Memory = the arrays a loaded index holds (the search scores the codes block by block, no float32 "
              "copy); storage adds the memory-mapped full-dimension re-rank codes. Both exclude the thumbnails (stored "
              f"apart in thumbnails.bin){thumbs}. The re-rank latency is measured with a warm page cache.",
              "", "## Machine and load", *machine_lines(machine), f"- {load.describe()}", f"- total: {seconds:.0f} s"]
    (RESULTS / "retrieval_scale.md").write_text("\n".join(lines) + "\n", encoding="utf-8")
    (RESULTS / "retrieval_scale.json").write_text(json.dumps({"rows": rows, "args": {k: str(v) for k, v in vars(args).items()},
                                                              "machine": machine, "load": load.describe()}, indent=2))
    print("\n".join(lines))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--refs", type=int, default=140_000)
    parser.add_argument("--queries", type=int, default=500)
    parser.add_argument("--dims", type=int, default=1024, help="synthetic embedding size")
    parser.add_argument("--betas", default="1.0,1.5,2.0")
    parser.add_argument("--configs", default=",".join(CONFIGS))
    parser.add_argument("--run", type=Path, default=None, help="also measure this run's real embeddings")
    parser.add_argument("--data", type=Path, default=None)
    parser.add_argument("--thumbs-from", type=Path, default=None, help="an index folder whose thumbnail sizes to report")
    args = parser.parse_args(argv)
    configs, machine, rows = args.configs.split(","), describe_machine(), []
    started = time.perf_counter()
    with LoadMonitor() as load, tempfile.TemporaryDirectory(prefix="mocar_retrieval_scale_") as scratch:
        for i, beta in enumerate(float(b) for b in args.betas.split(",")):
            refs, ref_labels = synthetic(args.refs, args.dims, beta, seed=0)
            queries, query_labels = synthetic(args.queries, args.dims, beta, seed=1)
            rows += measure_set(f"synthetic, beta {beta:g}", refs, ref_labels, queries, query_labels, configs,
                                timing=i == 0, scratch=Path(scratch))
            del refs
        if args.run is not None:
            refs, ref_labels, queries, query_labels = real_embeddings(args.run, args.data)
            small = [c for c in configs if c.startswith("full") or int(c.split(":")[0]) < refs.shape[1]]
            rows += measure_set(f"real ({args.run.name}, D={refs.shape[1]})", refs, ref_labels, queries, query_labels,
                                small, timing=False, scratch=Path(scratch))
    share_latency(rows)
    write_report(rows, args, load.record, machine, time.perf_counter() - started)


if __name__ == "__main__":
    main()
