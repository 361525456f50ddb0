"""Cheap checks of what the training benchmarks record (no training here).

benchmarks/train_throughput.py and benchmarks/paper_tables.py take minutes; these tests only make
sure the library parts they record (mocar.train.throughput, mocar.train.paper_comparison) compute and
print what the result files claim.
"""
from __future__ import annotations

from dataclasses import asdict

import pytest

from mocar.train import paper_comparison as paper
from mocar.train import throughput as bench


def _row(spec, top1, loss=None, year_mae=None):
    metrics = {"top1": top1, "top5": 0.5, "macro_f1": 0.25, "loss_combined": loss, "loss_cls": loss,
               "loss_reg": loss, "year_mae": year_mae}
    metrics["n"] = 200
    return {"spec": spec, "steps": 40, "train_s": 12.0, "best_step": 30, "load": None, "finished": None,
            "reused": True, "val": metrics, "test": {**metrics, "top1": top1 / 2}}


def test_paper_tables_render_val_and_test_cells():
    specs = {s.name: s for s in paper.run_specs(dropout=0.5)}
    assert len(specs) == 9 and {s.loss for s in specs.values() if s.table == 2} == set(
        ("sum", "product", "both", "uncertainty"))
    row1 = _row(asdict(specs["maxavgcat_h3840_drop"]), 0.8)
    row2 = _row(asdict(specs["mocar_product"]), 0.6, loss=1.25, year_mae=321.4)
    table1 = "\n".join(paper.render_table1([row1]))
    assert "| MaxAvg-Cat | 3840 | 0.5 | 0.8000 / 0.4000 | 0.5000 / 0.5000 | 0.2500 / 0.2500 | 30 |" in table1
    table2 = "\n".join(paper.render_table2([row2]))
    assert "| product (mult) | 0.6000 / 0.3000 | 1.2500 / 1.2500 |" in table2 and "| 321 / 321 | 30 |" in table2
    runs = "\n".join(paper.render_runs([row2]))
    assert "| mocar_product | 40 | 12 | ? | ? | yes | ? | ? → ? |" in runs
    # sqrt(0.8 * 0.2 / 200) = 0.0283
    assert "top-1 near 0.80 on 200 images has a binomial standard error of 0.028" in paper.standard_error_note([row1])


def test_paper_tables_budget_tag_separates_budgets(tmp_path):
    a, b = paper.Budget(steps=100), paper.Budget(steps=200, image_size=64)
    assert a.resize == 112 and b.resize == 80 and paper.Budget(resize=200).resize == 200
    assert paper.budget_tag(a) != paper.budget_tag(b) and "s100_" in paper.budget_tag(a)
    config = paper.train_config(paper.run_specs(0.5)[2], tmp_path / "data", tmp_path / "run", b)
    assert (config.steps, config.input_size, config.resize, config.dropout, config.eval_every) == (200, 64, 80, 0.5, 50)


def test_best_step_is_the_last_marked_best():
    assert paper.best_step([{"step": 10, "best": True}, {"step": 20, "best": True}, {"step": 30}]) == 20
    assert paper.best_step([{"step": 10}, {"step": 20}]) == 20


def test_train_throughput_summary_ratio_is_mocar_over_timm():
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
