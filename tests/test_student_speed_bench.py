"""Student speed summaries (mocar.bench.speedups) and verdicts (mocar.bench.targets) on synthetic bench rows.

benchmarks/student_speed.py records these tables and met/not-met verdicts for the distilled
students' targets, so they are checked here against hand-computed numbers (no export, no timing).
"""
from __future__ import annotations

import pytest

from mocar.bench.speedups import format_summary_table, slower_count, summarise
from mocar.bench.targets import StudentTargets, Target, format_verdicts, judge_accuracy, judge_speed, judge_row, verdict
from mocar.errors import InputError


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


def test_summary_picks_fastest_int8_and_computes_ratios():
    summaries = summarise(_rows(), teacher="teacher")
    assert [(s.folder, s.runtime, s.threads) for s in summaries][:2] == [("teacher", "onnx", 1), ("teacher", "onnx", 2)]
    assert all(s.runtime != "torch" for s in summaries)
    onnx = next(s for s in summaries if s.folder == "student" and s.runtime == "onnx" and s.threads == 2)
    assert onnx.int8_flavour == "u8s8_all" and onnx.int8_p50_ms == pytest.approx(7.5)
    assert onnx.speedup_own == pytest.approx(20.0 / 7.5)
    assert onnx.speedup_vs_teacher == pytest.approx(40.0 / 7.5)
    assert onnx.int8_agreement_pct == pytest.approx(97.0) and onnx.fp32_mb == pytest.approx(40.0)
    teacher_tflite = next(s for s in summaries if s.folder == "teacher" and s.runtime == "tflite" and s.threads == 2)
    assert teacher_tflite.int8_p50_ms is None and teacher_tflite.speedup_own is None and teacher_tflite.is_teacher


def test_a_policy_excludes_files_that_change_answers():
    summaries = summarise(_rows(), teacher="teacher", policy=StudentTargets().agreement_policy())
    onnx = next(s for s in summaries if s.folder == "student" and s.runtime == "onnx" and s.threads == 2)
    assert onnx.int8_flavour == "u8s8_conv" and onnx.speedup_own == pytest.approx(2.0)


def test_speed_verdicts_met_and_not_met_with_margin():
    summaries = summarise(_rows(), teacher="teacher")
    verdicts = {(v.target, v.subject.split()[1]): v for v in judge_speed(summaries, threads=(2,))}
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


def test_missing_int8_file_is_not_measured_rather_than_met():
    rows = [r for r in _rows()
            if not (r["folder"] == "student" and r["format"] == "tflite" and r["precision"] == "int8")]
    verdicts = judge_speed(summarise(rows, teacher="teacher"))
    tflite = [v for v in verdicts if " tflite " in v.subject]
    assert len(tflite) == 6 and all(v.met is None and v.value is None for v in tflite)


def test_every_measured_thread_count_is_judged_by_default():
    summaries = summarise(_rows(), teacher="teacher")
    verdicts = judge_speed(summaries)
    assert len(verdicts) == 12 and [v.subject.split()[2] for v in verdicts[::3]] == ["1t", "1t", "2t", "2t"]


def test_thread_scaling_counts_files_slower_with_more_threads():
    rows = _rows()
    for row in rows:
        if row["threads"] == 2 and row["folder"] == "student":
            row["p50_ms"] *= 1.5
    assert slower_count(rows) == (5, 9)
    assert slower_count([r for r in rows if r["threads"] == 1]) == (0, 0)


def test_accuracy_verdicts():
    teacher = {"top1": 0.50, "year_mae": 100.0}
    ok = judge_accuracy(teacher, {"top1": 0.485, "year_mae": 109.0})
    assert [v.met for v in ok] == [True, True]
    assert ok[0].value == pytest.approx(1.5) and ok[1].value == pytest.approx(9.0)
    bad = judge_accuracy(teacher, {"top1": 0.47, "year_mae": 111.0})
    assert [v.met for v in bad] == [False, False]
    assert bad[0].value == pytest.approx(3.0) and bad[1].value == pytest.approx(11.0)


@pytest.mark.parametrize("teacher, student, message", [
    ({"year_mae": 100.0}, {"top1": 0.5, "year_mae": 100.0},
     r"the teacher's eval_test\.json has no 'top1' \(it holds \['year_mae'\]\)"),
    ({"top1": 0.5, "year_mae": 100.0}, {}, r"the student's eval_test\.json has no 'top1' \(it holds nothing\)"),
])
def test_accuracy_needs_top1_of_both_runs(teacher, student, message):
    with pytest.raises(InputError, match=message):
        judge_accuracy(teacher, student)
    without_mae = judge_accuracy({"top1": 0.5}, {"top1": 0.49})
    assert [v.met for v in without_mae] == [True, None]


def test_tables_render_every_summary_and_verdict():
    summaries = summarise(_rows(), teacher="teacher")
    table = format_summary_table(summaries)
    assert table.count("\n") == len(summaries) + 1
    assert "| student · net | onnx | 2 | 20.00 | 7.50 | u8s8_all | 2.67x | 5.33x | 40.0 | 10.0 | 97.0 |" in table
    assert "teacher · net (teacher) | tflite | 2 | 60.00 | - |" in table
    text = format_verdicts(judge_speed(summaries, threads=(2,)))
    assert text.endswith("3 of 6 checks met.")


def _judged(value, target):
    return verdict(target, "s", judge_row({"export": "s", target.metric: value}, [target], "int8")[0][1])


def test_threshold_itself_counts_as_met():
    speed, gap = Target("x", "speedup", "min", 2.5, "x"), Target("gap", "points", "max", 2.0, " pt")
    assert _judged(2.5, speed).met is True
    assert _judged(2.4999, speed).met is False and "NOT met, 1.00x short" in _judged(2.4999, speed).detail
    assert _judged(2.0, gap).met is True
    assert _judged(2.5, gap).detail == "2.50 pt (target ≤ 2 pt): NOT met, 0.50pt off"
    assert _judged(float("nan"), speed).met is None  # not measured, rather than failed or met


def test_student_targets_as_a_policy():
    """The verdicts come from mocar.runtime.policy: the same thresholds, stated as a policy."""
    row = {"export": "s", "speedup_own": 2.5, "speedup_vs_teacher": 4.9, "int8_agreement_pct": None}
    checks = judge_row(row, StudentTargets().speed_targets(), "int8")
    assert [(t.metric, c.bound, c.threshold, c.passed) for t, c in checks] == [
        ("speedup_own", "min", 2.5, True), ("speedup_vs_teacher", "min", 5.0, False),
        ("int8_agreement_pct", "min", 99.0, False)]
