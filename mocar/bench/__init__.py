"""Benchmark stage: one runner per runtime, parity against the float reference, latency, reports.

``mocar.bench.run(exports_dir | [dir, ...], data_dir, split, threads, runs, ...)`` (the Python API of
``mocar bench``, :func:`mocar.bench.suite.run`) benchmarks one or several export folders side by
side, each against its own float reference, and writes ``bench.json``, ``bench.csv``,
``report.md`` and a one-file ``report.html``.

Modules: :mod:`~mocar.bench.runners` (one runner per runtime), :mod:`~mocar.bench.parity` (pure
numpy metrics), :mod:`~mocar.bench.retrieval` (nearest-neighbour overlap), :mod:`~mocar.bench.suite`
(orchestration), :mod:`~mocar.bench.report` and :mod:`~mocar.bench.plots` (outputs),
:mod:`~mocar.bench.policy` and :mod:`~mocar.bench.junit` (CI gate), :mod:`~mocar.bench.rows` (row
schema, imported rows), :mod:`~mocar.bench.latency` (LiteRT ``benchmark_model`` output parser),
:mod:`~mocar.bench.android` (the TFLite files on a phone via adb + ``benchmark_model``),
:mod:`~mocar.bench.memory` (peak RSS of each file in a fresh child process).

Row schema: every ``bench.json`` row is flat, one per model file x thread count. Identity
(``folder``, ``model``, ``export``, ``format``, ``precision``, ``flavour``, ``status``,
``simulated``, ``imported``, ``threads``), size (``size_mb``), latency (``p50_ms``, ``p90_ms``,
``mean_ms``, ``min_ms``, ``max_ms``, ``std_ms``, ``timed_runs``, ``throughput_ips``, ``load_s``,
``peak_memory_mb``, ``peak_rss_mb``, ``baseline_rss_mb``), machine (``cpu``, ``cores``, ``python``, ``system``, ``load_1m``;
``device``, ``os``, ``runtime``, ``delegate`` for imported rows), parity vs the float reference
(``top1``, ``delta_top1``, ``agreement``, ``year_mae``, ``delta_mae``, ``delta_mae_rel``,
``psnr_logits``, ``max_abs_logits``, ``embedding_cosine_mean``, ``embedding_cosine_p1``,
``retrieval_overlap5``) and computed ratios (``size_ratio``, ``speedup_vs_fp32``,
``delta_top1_vs_first``, ``speedup_vs_first``, ``size_ratio_vs_first``). Types, units and the
import-file rules: :data:`mocar.bench.rows.FIELDS` and ``docs/bench_rows.md``.

Caveat: importing this package stays light (no torch); ``run`` is loaded on first use.
"""
from __future__ import annotations

from typing import Any


def __getattr__(name: str) -> Any:
    if name == "run":
        from mocar.bench.suite import run

        return run
    raise AttributeError(f"module 'mocar.bench' has no attribute {name!r}")
