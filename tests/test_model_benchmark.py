"""Forward-latency measurement (mocar.bench.forward) on the tiny case, two timed rounds, so it cannot rot."""

from __future__ import annotations

import torch

from mocar.bench.forward import CASES, VARIANTS, Timing, forward_machine, measure_case, render_markdown


def test_tiny_case_measures_every_variant_and_renders():
    threads = torch.get_num_threads()
    seen = []
    try:
        # One thread: with two, OpenMP barriers crawl whenever other processes share the cores.
        torch.set_num_threads(1)
        rows = measure_case(next(c for c in CASES if c.group == "tiny"),
                            Timing(warmup=1, min_repeats=2, max_repeats=2, budget_s=0.0, wait_quiet_s=0.0),
                            report=seen.append)
    finally:
        torch.set_num_threads(threads)
    assert seen == rows
    assert {(r.batch, r.variant) for r in rows} == {(b, v) for b in (1, 16) for v in VARIANTS}
    assert all(r.repeats == 2 and r.p50_ms > 0 and r.p90_ms >= r.p50_ms and r.threads == 1 for r in rows)
    assert all(r.others_cpu_during is None or 0.0 <= r.others_cpu_during <= 1.0 for r in rows)
    machine = forward_machine()
    assert machine["torch"] == torch.__version__ and machine["onednn_bf16_supported"] in ("True", "False")
    text = render_markdown(rows, machine, "cmd", "today", 1.0)
    assert "| mocar_tiny | 128 | 16 | bf16 folded CL |" in text and "- Command: `cmd`" in text
    assert text.count("\n| mocar_tiny |") == len(rows)
