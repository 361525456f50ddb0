"""Floor 5: the benchmark — every exported file against its float reference, latency, memory, reports, the CI gate.

``mocar.bench.suite.run(exports_dir | [dir, ...], data_dir, split, threads, runs, ...)`` (the Python API
of ``mocar bench``) benchmarks one or several export folders side by side, each against its own
float reference, and writes ``bench.json``, ``bench.csv``, ``report.md`` and a one-file
``report.html``.

Modules: :mod:`~mocar.bench.suite` (orchestration), :mod:`~mocar.bench.evidence` (per-image outputs
for the plots), :mod:`~mocar.bench.report` and :mod:`~mocar.bench.plots` (outputs),
:mod:`~mocar.bench.junit` (CI gate; the verdicts themselves are :mod:`mocar.runtime.policy`),
:mod:`~mocar.bench.rows` (row schema, imported rows), :mod:`~mocar.bench.retrieval`
(nearest-neighbour overlap), :mod:`~mocar.bench.latency` (LiteRT ``benchmark_model`` output parser),
:mod:`~mocar.bench.android` (the TFLite files on a phone via adb + ``benchmark_model``),
:mod:`~mocar.bench.memory` (peak RSS of each file in a fresh child process),
:mod:`~mocar.bench.int8_select` (export every int8 candidate, measure, keep the fastest that passes),
:mod:`~mocar.bench.machine` (the one machine description and load record of rows and benchmark files),
:mod:`~mocar.bench.targets` and :mod:`~mocar.bench.speedups` (benchmark targets judged by the policy,
speed-up summaries), and the measurements the benchmark scripts record: :mod:`~mocar.bench.forward`,
:mod:`~mocar.bench.index_scale`, :mod:`~mocar.bench.ood_scores`, :mod:`~mocar.bench.tflite_drift`.
Runners, parity measures and the policy live one floor down, in :mod:`mocar.runtime`.

Row schema: every ``bench.json`` row is flat, one per model file x thread count; types, units and
the import-file rules: :data:`mocar.bench.rows.FIELDS` and ``docs/bench_rows.md``.
"""
