"""The int8 target judging (mocar.bench.targets) that benchmarks/bench_bench_targets.py records, on synthetic rows.

The recorded result files claim "met / not met, by how much" for the int8 targets; those claims
come from these functions, so they are checked here against hand-computed margins, and against the
one verdict engine (mocar.runtime.policy) they must agree with.
"""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from mocar.bench import speedups
from mocar.bench import targets as bench_targets
from mocar.runtime.policy import evaluate_policy

ROOT = Path(__file__).resolve().parents[1]


def _int8(fmt, export, speedup, size_ratio=0.25, agreement=99.5, delta_top1=0.0, delta_mae_rel=0.5, cos=0.995,
          threads=2, **extra):
    return {"folder": "export", "format": fmt, "export": export, "flavour": "f", "precision": "int8",
            "threads": threads, "speedup_vs_fp32": speedup, "size_ratio": size_ratio, "agreement": agreement,
            "delta_top1": delta_top1, "delta_mae_rel": delta_mae_rel, "embedding_cosine_p1": cos,
            "load_1m": 1.5, **extra}


def test_margins_and_verdicts_by_hand():
    targets = bench_targets.Int8Targets(min_speedup=2.0)
    rows = [
        {"folder": "export", "format": "onnx", "export": "model_fp32.onnx", "precision": "fp32", "threads": 2},
        _int8("onnx", "a.onnx", speedup=1.5, agreement=98.0),          # too slow, agreement 1 pt short
        _int8("onnx", "b.onnx", speedup=2.4),                          # meets everything
        _int8("onnx", "b.onnx", speedup=9.0, threads=1),               # 1-thread row: not judged
        _int8("tflite", "c.tflite", speedup=2.1, size_ratio=0.31, delta_top1=-0.75, delta_mae_rel=2.5, cos=0.98),
        _int8("coreml", "d.mlpackage", speedup=0.1, simulated=True),  # speed not judged (simulated)
    ]
    checks = bench_targets.judge_int8_rows(rows, targets)
    by = {(c.export, c.target): c for c in checks}
    assert len(checks) == 3 * 6 + 5  # coreml lacks the speed check; fp32 and 1-thread rows skipped
    assert ("d.mlpackage", "speed-up vs fp32") not in by
    assert by[("a.onnx", "speed-up vs fp32")].margin == pytest.approx(-0.5)
    assert by[("a.onnx", "top-1 agreement %")].margin == pytest.approx(-1.0)
    assert not by[("a.onnx", "top-1 agreement %")].met
    assert by[("b.onnx", "speed-up vs fp32")].met and by[("b.onnx", "speed-up vs fp32")].value == 2.4
    assert by[("c.tflite", "size vs fp32")].margin == pytest.approx(-0.01)
    assert by[("c.tflite", "Δtop-1 pt")].margin == pytest.approx(-0.25)
    assert by[("c.tflite", "ΔMAE %")].margin == pytest.approx(-0.5)
    assert by[("c.tflite", "embedding cosine p1")].margin == pytest.approx(-0.01)
    assert by[("c.tflite", "speed-up vs fp32")].met

    verdicts = {v["runtime"]: v for v in bench_targets.runtime_verdicts(checks)}
    assert verdicts["onnx"]["best_speedup"] == 2.4 and verdicts["onnx"]["best_file"] == "b.onnx"
    assert verdicts["onnx"]["passing_files"] == ["b.onnx"] and verdicts["onnx"]["all_met"]
    assert verdicts["onnx"]["misses"]["a.onnx"] == ["speed-up vs fp32", "top-1 agreement %"]
    assert not verdicts["tflite"]["all_met"]
    assert verdicts["tflite"]["misses"]["c.tflite"] == ["size vs fp32", "Δtop-1 pt", "ΔMAE %", "embedding cosine p1"]
    assert verdicts["coreml"]["best_speedup"] is None and verdicts["coreml"]["all_met"]


def test_missing_values_fail_and_tables_say_so():
    targets = bench_targets.Int8Targets(min_speedup=1.5)
    rows = [_int8("onnx", "x.onnx", speedup=None, cos=float("nan"))]
    checks = bench_targets.judge_int8_rows(rows, targets)
    missing = [c for c in checks if c.value is None]
    assert {c.target for c in missing} == {"speed-up vs fp32", "embedding cosine p1"}
    assert all(not c.met and c.margin is None for c in missing)
    table = bench_targets.format_target_tables(checks, targets)
    assert "| export | onnx | 1 | – | none | x.onnx: speed-up vs fp32, embedding cosine p1 |" in table
    assert table.count("NOT met") == 2


def test_rows_load_per_folder():
    rows = [{"folder": "a", "load_1m": 1.2}, {"folder": "a", "load_1m": 2.5}, {"folder": "b", "load_1m": None},
            {"folder": "b", "load_1m": 0.7}]
    assert speedups.rows_load(rows) == "a: 1.20–2.50; b: 0.70–0.70"
    assert speedups.rows_load([{"folder": "a"}]) == "not recorded"


def test_summary_lines_state_gap():
    targets = bench_targets.Int8Targets(min_speedup=1.5)
    rows = [_int8("onnx", "slow.onnx", speedup=0.6), _int8("tflite", "fast.tflite", speedup=2.0)]
    lines = bench_targets.summary_lines(bench_targets.judge_int8_rows(rows, targets), targets)
    assert lines == [
        "- **export / onnx**: no int8 file meets every target; best speed-up 0.60x (slow.onnx), "
        "short of the 1.5x target by 0.90x.",
        "- **export / tflite**: all targets met by fast.tflite; best speed-up 2.00x (fast.tflite), "
        "above the 1.5x target by 0.50x."]


def test_thread_contention_lists_only_slower_two_thread_files():
    rows = [{"folder": "e", "export": "a", "threads": 1, "p50_ms": 10.0},
            {"folder": "e", "export": "a", "threads": 2, "p50_ms": 12.5},
            {"folder": "e", "export": "b", "threads": 1, "p50_ms": 10.0},
            {"folder": "e", "export": "b", "threads": 2, "p50_ms": 6.0}]
    assert speedups.thread_contention(rows) == ["e/a: 10.0 ms at 1 thread, 12.5 ms at 2"]
    assert [s.slower for s in speedups.thread_scaling(rows)] == [True, False]


def test_checks_agree_with_the_policy_engine():
    """Every TargetCheck is the verdict of mocar.runtime.policy on the same row and thresholds."""
    targets = bench_targets.Int8Targets(min_speedup=1.5)
    row = _int8("tflite", "e.tflite", speedup=1.5, size_ratio=0.3000001, agreement=99.0, delta_top1=-0.6)
    policy = targets.policy()
    assert set(policy["int8"]) == {"speedup_vs_fp32", "size_ratio", "agreement", "delta_top1", "delta_mae_rel",
                                   "embedding_cosine_p1"}
    engine = {c.metric: c.passed for c in evaluate_policy([row], policy)}
    by_field = dict(zip([t.metric for t in targets.targets()], bench_targets.judge_int8_rows([row], targets)))
    assert {field: check.met for field, check in by_field.items()} == engine
    assert by_field["speedup_vs_fp32"].met and by_field["agreement"].met  # the threshold itself is met
    assert not by_field["size_ratio"].met and not by_field["delta_top1"].met


def test_a_missing_demo_file_is_named(tmp_path):
    """The script stops with the file it needs and how to make it, not with a traceback."""
    done = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "bench_reports.py"), "--demo", str(tmp_path),
                           "--out", str(tmp_path / "out")], capture_output=True, text=True, cwd=ROOT, check=False)
    assert done.returncode == 1
    assert "bench.json not found: run `make demo`" in done.stderr and "Traceback" not in done.stderr


def test_tables_judge_each_runtime_once_with_the_speedup_runtimes_of_speedups(monkeypatch):
    targets = bench_targets.Int8Targets(min_speedup=1.5)
    rows = [_int8("onnx", "a.onnx", speedup=2.0), _int8("tflite", "b.tflite", speedup=1.0)]
    checks = bench_targets.judge_int8_rows(rows, targets)
    calls = []
    real = bench_targets.runtime_verdicts
    monkeypatch.setattr(bench_targets, "runtime_verdicts", lambda c: calls.append(c) or real(c))
    table = bench_targets.format_target_tables(checks, targets)
    assert len(calls) == 1 and "- **export / tflite**: no int8 file meets every target" in table
    assert not hasattr(bench_targets, "SPEED_RUNTIMES") and bench_targets.RUNTIMES is speedups.RUNTIMES
