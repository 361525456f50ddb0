"""Smoke test of benchmarks/model_forward.py (tiny case, two timed rounds) so the suite cannot rot."""

from __future__ import annotations

import json

import torch

from benchmark_scripts import load_benchmark


def _load_script():
    return load_benchmark("model_forward")


def test_tiny_benchmark_writes_markdown_and_json(tmp_path):
    bench = _load_script()
    threads = torch.get_num_threads()
    try:
        # One thread: with two, OpenMP barriers crawl whenever other processes share the cores.
        rows = bench.main(["--only", "tiny", "--threads", "1", "--warmup", "1", "--min-repeats", "2",
                           "--max-repeats", "2", "--budget", "0", "--wait-quiet", "0",
                           "--out", str(tmp_path / "result")])
    finally:
        torch.set_num_threads(threads)
    assert {(r.batch, r.variant) for r in rows} == {(b, v) for b in (1, 16) for v in bench.VARIANTS}
    assert all(r.repeats == 2 and r.p50_ms > 0 and r.p90_ms >= r.p50_ms for r in rows)
    text = (tmp_path / "result.md").read_text()
    assert "| mocar_tiny | 128 | 16 | bf16 folded CL |" in text and "Command: `python " in text
    payload = json.loads((tmp_path / "result.json").read_text())
    assert len(payload["rows"]) == len(rows) and payload["machine"]["torch"] == torch.__version__
