"""The target judging of benchmarks/bench_reports.py on synthetic bench rows (no training, no timing).

The recorded result files claim "met / not met, by how much" for issue 6's int8 targets; those
claims come from these functions, so they are checked here against hand-computed margins.
"""
from __future__ import annotations


import pytest

from benchmark_scripts import load_benchmark


@pytest.fixture(scope="module")
def reports():
    return load_benchmark("bench_reports")


def _int8(fmt, export, speedup, size_ratio=0.25, agreement=99.5, delta_top1=0.0, delta_mae_rel=0.5, cos=0.995,
          threads=2, **extra):
    return {"folder": "export", "format": fmt, "export": export, "flavour": "f", "precision": "int8",
            "threads": threads, "speedup_vs_fp32": speedup, "size_ratio": size_ratio, "agreement": agreement,
            "delta_top1": delta_top1, "delta_mae_rel": delta_mae_rel, "embedding_cosine_p1": cos,
            "load_1m": 1.5, **extra}


def test_margins_and_verdicts_by_hand(reports):
    targets = reports.Int8Targets(min_speedup=2.0)
    rows = [
        {"folder": "export", "format": "onnx", "export": "model_fp32.onnx", "precision": "fp32", "threads": 2},
        _int8("onnx", "a.onnx", speedup=1.5, agreement=98.0),          # too slow, agreement 1 pt short
        _int8("onnx", "b.onnx", speedup=2.4),                          # meets everything
        _int8("onnx", "b.onnx", speedup=9.0, threads=1),               # 1-thread row: not judged
        _int8("tflite", "c.tflite", speedup=2.1, size_ratio=0.31, delta_top1=-0.75, delta_mae_rel=2.5, cos=0.98),
        _int8("coreml", "d.mlpackage", speedup=0.1, simulated=True),  # speed not judged (simulated)
    ]
    checks = reports.judge_int8_rows(rows, targets)
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

    verdicts = {v["runtime"]: v for v in reports.runtime_verdicts(checks)}
    assert verdicts["onnx"]["best_speedup"] == 2.4 and verdicts["onnx"]["best_file"] == "b.onnx"
    assert verdicts["onnx"]["passing_files"] == ["b.onnx"] and verdicts["onnx"]["all_met"]
    assert verdicts["onnx"]["misses"]["a.onnx"] == ["speed-up vs fp32", "top-1 agreement %"]
    assert not verdicts["tflite"]["all_met"]
    assert verdicts["tflite"]["misses"]["c.tflite"] == ["size vs fp32", "Δtop-1 pt", "ΔMAE %", "embedding cosine p1"]
    assert verdicts["coreml"]["best_speedup"] is None and verdicts["coreml"]["all_met"]


def test_missing_values_fail_and_tables_say_so(reports):
    targets = reports.Int8Targets(min_speedup=1.5)
    rows = [_int8("onnx", "x.onnx", speedup=None, cos=float("nan"))]
    checks = reports.judge_int8_rows(rows, targets)
    missing = [c for c in checks if c.value is None]
    assert {c.target for c in missing} == {"speed-up vs fp32", "embedding cosine p1"}
    assert all(not c.met and c.margin is None for c in missing)
    table = reports.format_target_tables(checks, targets)
    assert "| export | onnx | 1 | – | none | x.onnx: speed-up vs fp32, embedding cosine p1 |" in table
    assert table.count("NOT met") == 2


def test_rows_load_per_folder(reports):
    rows = [{"folder": "a", "load_1m": 1.2}, {"folder": "a", "load_1m": 2.5}, {"folder": "b", "load_1m": None},
            {"folder": "b", "load_1m": 0.7}]
    assert reports.rows_load(rows) == "a: 1.20–2.50; b: 0.70–0.70"
    assert reports.rows_load([{"folder": "a"}]) == "not recorded"


def test_summary_lines_state_gap(reports):
    targets = reports.Int8Targets(min_speedup=1.5)
    rows = [_int8("onnx", "slow.onnx", speedup=0.6), _int8("tflite", "fast.tflite", speedup=2.0)]
    lines = reports.summary_lines(reports.judge_int8_rows(rows, targets), targets)
    assert lines == [
        "- **export / onnx**: no int8 file meets every target; best speed-up 0.60x (slow.onnx), "
        "short of the 1.5x target by 0.90x.",
        "- **export / tflite**: all targets met by fast.tflite; best speed-up 2.00x (fast.tflite), "
        "above the 1.5x target by 0.50x."]


def test_thread_contention_lists_only_slower_two_thread_files(reports):
    rows = [{"folder": "e", "export": "a", "threads": 1, "p50_ms": 10.0},
            {"folder": "e", "export": "a", "threads": 2, "p50_ms": 12.5},
            {"folder": "e", "export": "b", "threads": 1, "p50_ms": 10.0},
            {"folder": "e", "export": "b", "threads": 2, "p50_ms": 6.0}]
    assert reports.thread_contention(rows) == ["e/a: 10.0 ms at 1 thread, 12.5 ms at 2"]


def test_a_missing_demo_file_is_named(tmp_path):
    import pytest

    from benchmark_scripts import load_benchmark

    load_benchmark("bench_reports")  # puts benchmarks/ on the path for its helpers
    from _demo_museum import read_demo_file

    with pytest.raises(SystemExit, match=r"bench\.json not found: run `make demo`"):
        read_demo_file(tmp_path / "bench" / "bench.json")
