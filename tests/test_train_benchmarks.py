"""Cheap checks of the training benchmark scripts' pure parts (no training here).

benchmarks/train_throughput.py and benchmarks/paper_tables.py take minutes; these tests only make
sure their summaries and table renderers compute and print what the result files claim.
"""
from __future__ import annotations

import sys
import time

import pytest

from benchmark_scripts import load_benchmark


def _load(name: str):
    return load_benchmark(name)


def _row(paper, spec, top1, loss=None, year_mae=None):
    metrics = {"top1": top1, "top5": 0.5, "macro_f1": 0.25, "loss_combined": loss, "loss_cls": loss,
               "loss_reg": loss, "year_mae": year_mae}
    metrics["n"] = 200
    return {"spec": spec, "steps": 40, "train_s": 12.0, "best_step": 30, "load": None, "finished": None,
            "reused": True, "val": metrics, "test": {**metrics, "top1": top1 / 2}}


def test_paper_tables_render_val_and_test_cells():
    paper = _load("paper_tables")
    specs = {s.name: s for s in paper.run_specs(dropout=0.5)}
    assert len(specs) == 9 and {s.loss for s in specs.values() if s.table == 2} == set(
        ("sum", "product", "both", "uncertainty"))
    row1 = _row(paper, paper.asdict(specs["maxavgcat_h3840_drop"]), 0.8)
    row2 = _row(paper, paper.asdict(specs["mocar_product"]), 0.6, loss=1.25, year_mae=321.4)
    table1 = "\n".join(paper.render_table1([row1]))
    assert "| MaxAvg-Cat | 3840 | 0.5 | 0.8000 / 0.4000 | 0.5000 / 0.5000 | 0.2500 / 0.2500 | 30 |" in table1
    table2 = "\n".join(paper.render_table2([row2]))
    assert "| product (mult) | 0.6000 / 0.3000 | 1.2500 / 1.2500 |" in table2 and "| 321 / 321 | 30 |" in table2
    runs = "\n".join(paper.render_runs([row2]))
    assert "| mocar_product | 40 | 12 | ? | ? | yes | ? | ? → ? |" in runs
    # sqrt(0.8 * 0.2 / 200) = 0.0283
    assert "top-1 near 0.80 on 200 images has a binomial standard error of 0.028" in paper.standard_error_note([row1])


def test_paper_tables_budget_tag_separates_budgets():
    paper = _load("paper_tables")
    a, b = paper.parse_args(["--steps", "100"]), paper.parse_args(["--steps", "200", "--image-size", "64"])
    assert a.resize == 112 and b.resize == 80
    assert paper.budget_tag(a) != paper.budget_tag(b) and "s100_" in paper.budget_tag(a)


def test_train_throughput_summary_ratio_is_mocar_over_timm():
    bench = _load("train_throughput")
    case = bench.CASES[0]
    timings = {("mocar", v, 2): [0.2, 0.4, 0.3] for v in bench.VARIANTS}
    timings |= {("timm", v, 2): [0.1, 0.1, 0.5] for v in bench.VARIANTS}
    timings |= {("mocar", v, 1): [0.6] for v in bench.VARIANTS} | {("timm", v, 1): [0.3] for v in bench.VARIANTS}
    rows = bench.summarise(case, timings)
    assert [(r.threads, r.impl) for r in rows[:2]] == [(2, "mocar"), (2, "timm")] and len(rows) == 12
    mocar = next(r for r in rows if r.impl == "mocar" and r.variant == "fp32" and r.threads == 2)
    timm_row = next(r for r in rows if r.impl == "timm" and r.variant == "fp32" and r.threads == 2)
    assert next(r for r in rows if r.threads == 1 and r.impl == "mocar").mocar_over_timm == pytest.approx(0.5)
    assert mocar.median_ms == pytest.approx(300.0) and timm_row.median_ms == pytest.approx(100.0)
    assert mocar.images_per_s == pytest.approx(case.batch / 0.3, abs=0.1)
    assert mocar.mocar_over_timm == pytest.approx(0.33) and timm_row.mocar_over_timm is None
    text = bench.render_markdown(rows, [], {"tiny": "quiet"}, {"command": "x", "date": "d", "seconds": "1",
                                                                  "data": "p"}, {"cpu": "test"})
    assert "| tiny | mocar_tiny | mocar | fp32 | 2 | 128 | 32 | 3 | 300.0 | 400.0 |" in text and "| 0.33 |" in text


def test_load_monitor_counts_other_processes_not_itself(monkeypatch):
    machine = _load("_machine")
    ticks = machine.os.sysconf("SC_CLK_TCK")
    # 1000 jiffies elapse on all cores, 400 of them idle; this process used 2 s of CPU (2 * ticks).
    jiffies = iter([(10_000, 5_000), (11_000, 5_400)])
    own = iter([1.0, 3.0])
    monkeypatch.setattr(machine, "_cpu_jiffies", lambda: next(jiffies))
    monkeypatch.setattr(machine, "_own_cpu_seconds", lambda: next(own))
    with machine.LoadMonitor() as load:
        pass
    assert load.record.others_share == pytest.approx(round((600 - 2 * ticks) / 1000, 3))
    assert "load average" in load.record.describe()
