"""The pure parts of benchmarks/student_speed.py on synthetic bench rows (no export, no timing).

The script's tables and met/not-met verdicts are what the recorded result file claims about
issue 9's targets, so they are checked here against hand-computed numbers.
"""
from __future__ import annotations


import pytest

from benchmark_scripts import load_benchmark


@pytest.fixture(scope="module")
def bench():
    return load_benchmark("student_speed")


def _row(folder, fmt, precision, flavour, threads, p50, size, agreement=100.0):
    return {"folder": folder, "model": f"{folder} · net", "export": f"model_{flavour}.{fmt}", "format": fmt,
            "precision": precision, "flavour": flavour, "threads": threads, "p50_ms": p50, "size_mb": size,
            "agreement": agreement}


def _rows():
    rows = []
    for threads in (1, 2):
        rows += [_row("teacher", "torch", "fp32", "reference", threads, 90.0, 100.0),
                 _row("teacher", "onnx", "fp32", "float", threads, 40.0, 100.0),
                 _row("teacher", "onnx", "int8", "u8s8_conv", threads, 30.0, 25.0),
                 _row("teacher", "tflite", "fp32", "float32", threads, 60.0, 100.0),
                 _row("student", "onnx", "fp32", "float", threads, 20.0, 40.0),
                 _row("student", "onnx", "int8", "u8s8_conv", threads, 10.0, 10.0, 99.5),
                 _row("student", "onnx", "int8", "u8s8_all", threads, 7.5, 10.0, 97.0),
                 _row("student", "tflite", "fp32", "float32", threads, 30.0, 40.0),
                 _row("student", "tflite", "int8", "dynamic_range", threads, 15.0, 10.0, 99.9)]
    return rows


def test_summary_picks_fastest_int8_and_computes_ratios(bench):
    summaries = bench.summarise(_rows(), teacher="teacher")
    assert [(s.folder, s.runtime, s.threads) for s in summaries][:2] == [("teacher", "onnx", 1), ("teacher", "onnx", 2)]
    assert all(s.runtime != "torch" for s in summaries)
    onnx = next(s for s in summaries if s.folder == "student" and s.runtime == "onnx" and s.threads == 2)
    assert onnx.int8_flavour == "u8s8_all" and onnx.int8_p50_ms == pytest.approx(7.5)
    assert onnx.speedup_own == pytest.approx(20.0 / 7.5)
    assert onnx.speedup_vs_teacher == pytest.approx(40.0 / 7.5)
    assert onnx.int8_agreement_pct == pytest.approx(97.0) and onnx.fp32_mb == pytest.approx(40.0)
    teacher_tflite = next(s for s in summaries if s.folder == "teacher" and s.runtime == "tflite" and s.threads == 2)
    assert teacher_tflite.int8_p50_ms is None and teacher_tflite.speedup_own is None and teacher_tflite.is_teacher


def test_min_agreement_excludes_files_that_change_answers(bench):
    summaries = bench.summarise(_rows(), teacher="teacher", min_agreement=99.0)
    onnx = next(s for s in summaries if s.folder == "student" and s.runtime == "onnx" and s.threads == 2)
    assert onnx.int8_flavour == "u8s8_conv" and onnx.speedup_own == pytest.approx(2.0)


def test_speed_verdicts_met_and_not_met_with_margin(bench):
    summaries = bench.summarise(_rows(), teacher="teacher")
    verdicts = {(v.target, v.subject.split()[1]): v for v in bench.judge_speed(summaries, threads=(2,))}
    assert len(verdicts) == 6 and all("2t" in v.subject for v in verdicts.values())
    own_onnx = verdicts[("int8 vs own fp32", "onnx")]
    assert own_onnx.met is True and own_onnx.value == pytest.approx(2.6667, rel=1e-3)
    vs_teacher = verdicts[("int8 vs teacher fp32", "onnx")]
    assert vs_teacher.met is True and vs_teacher.value == pytest.approx(5.3333, rel=1e-3)
    own_tflite = verdicts[("int8 vs own fp32", "tflite")]
    assert own_tflite.met is False and own_tflite.value == pytest.approx(2.0) and "1.25x short" in own_tflite.detail
    tflite_teacher = verdicts[("int8 vs teacher fp32", "tflite")]
    assert tflite_teacher.met is False and tflite_teacher.value == pytest.approx(4.0)
    assert verdicts[("int8 top-1 agreement", "tflite")].met is True
    assert verdicts[("int8 top-1 agreement", "onnx")].met is False


def test_missing_int8_file_is_not_measured_rather_than_met(bench):
    rows = [r for r in _rows()
            if not (r["folder"] == "student" and r["format"] == "tflite" and r["precision"] == "int8")]
    verdicts = bench.judge_speed(bench.summarise(rows, teacher="teacher"))
    tflite = [v for v in verdicts if " tflite " in v.subject]
    assert len(tflite) == 6 and all(v.met is None and v.value is None for v in tflite)


def test_every_measured_thread_count_is_judged_by_default(bench):
    summaries = bench.summarise(_rows(), teacher="teacher")
    verdicts = bench.judge_speed(summaries)
    assert len(verdicts) == 12 and [v.subject.split()[2] for v in verdicts[::3]] == ["1t", "1t", "2t", "2t"]


def test_thread_scaling_counts_files_slower_with_more_threads(bench):
    rows = _rows()
    for row in rows:
        if row["threads"] == 2 and row["folder"] == "student":
            row["p50_ms"] *= 1.5
    assert bench.slower_with_more_threads(rows) == (5, 9)
    assert bench.slower_with_more_threads([r for r in rows if r["threads"] == 1]) == (0, 0)


def test_accuracy_verdicts(bench):
    teacher = {"top1": 0.50, "year_mae": 100.0}
    ok = bench.judge_accuracy(teacher, {"top1": 0.485, "year_mae": 109.0})
    assert [v.met for v in ok] == [True, True]
    assert ok[0].value == pytest.approx(1.5) and ok[1].value == pytest.approx(9.0)
    bad = bench.judge_accuracy(teacher, {"top1": 0.47, "year_mae": 111.0})
    assert [v.met for v in bad] == [False, False]
    assert bad[0].value == pytest.approx(3.0) and bad[1].value == pytest.approx(11.0)


def test_tables_render_every_summary_and_verdict(bench):
    summaries = bench.summarise(_rows(), teacher="teacher")
    table = bench.format_summary_table(summaries)
    assert table.count("\n") == len(summaries) + 1
    assert "| student · net | onnx | 2 | 20.00 | 7.50 | u8s8_all | 2.67x | 5.33x | 40.0 | 10.0 | 97.0 |" in table
    assert "teacher · net (teacher) | tflite | 2 | 60.00 | - |" in table
    text = bench.format_verdicts(bench.judge_speed(summaries, threads=(2,)))
    assert text.endswith("3 of 6 checks met.")


def test_threshold_itself_counts_as_met(bench):
    assert bench._verdict("x", "s", 2.5, 2.5, "x").met is True
    assert bench._verdict("x", "s", 2.4999, 2.5, "x").met is False
    assert bench._verdict("gap", "s", 2.0, 2.0, " pt", higher_is_better=False).met is True
