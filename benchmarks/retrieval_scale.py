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
0.7, then ReLU. Real embeddings decay differently; ``--run`` measures them too. The measurement and
the targets are :mod:`mocar.bench.index_scale`; this script runs it and writes the result file.

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
sys.path.insert(0, str(Path(__file__).resolve().parent))
from _machine import command_line, machine_lines, now  # noqa: E402

from mocar.bench.index_scale import (  # noqa: E402
    CONFIGS, K, LATENCY_LIMIT_MS, RECALL_TARGET, SIZE_LIMIT_MB, measure_set, real_embeddings, share_latency, summary,
    synthetic, thumbnail_note, verdict)
from mocar.bench.machine import LoadMonitor, describe_machine  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results"


def _print_row(row: dict) -> None:
    print(json.dumps(row), flush=True)


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
                                timing=i == 0, scratch=Path(scratch), report=_print_row)
            del refs
        if args.run is not None:
            refs, ref_labels, queries, query_labels = real_embeddings(args.run, args.data)
            small = [c for c in configs if c.startswith("full") or int(c.split(":")[0]) < refs.shape[1]]
            rows += measure_set(f"real ({args.run.name}, D={refs.shape[1]})", refs, ref_labels, queries, query_labels,
                                small, timing=False, scratch=Path(scratch), report=_print_row)
    share_latency(rows)
    write_report(rows, args, load.record, machine, time.perf_counter() - started)


if __name__ == "__main__":
    main()
