"""Side-by-side helpers, plots and retrieval parity of `mocar bench` on hand-made rows and arrays."""
import base64
from pathlib import Path

import numpy as np
import pytest

from mocar.bench import plots
from mocar.bench.report import columns_for, format_bench_table, html_report
from mocar.bench.retrieval import leave_one_out_neighbours, neighbour_overlap
from mocar.bench.suite import Evidence, ExportFolder, add_first_comparisons, add_ratios, model_label, unique_labels
from mocar.errors import InputError


def _row(folder, export, fmt, precision, threads, p50, top1, size=1.0, status="ok"):
    return {"folder": folder, "export": export, "format": fmt, "precision": precision, "threads": threads,
            "p50_ms": p50, "top1": top1, "size_mb": size, "status": status}


def _folder(label, target="collection"):
    return ExportFolder(Path(label), label, {"files": []}, {"labels": {"target": target}}, label)


def test_unique_labels_use_the_shortest_distinguishing_suffix():
    assert unique_labels([Path("/r/teacher/export"), Path("/r/student/export")]) == ["teacher/export", "student/export"]
    assert unique_labels([Path("/a/x"), Path("/a/y")]) == ["x", "y"]
    with pytest.raises(InputError, match="twice"):
        unique_labels([Path("/a/x"), Path("/a/x")])


def test_model_label_names_preset_and_backbone_without_assuming_bit():
    assert model_label({"model": {"preset": "student_tiny", "backbone": "mobilenetv2_050"}}) == \
        "student_tiny · mobilenetv2_050"
    assert model_label({"model": {"backbone": "resnet18"}}) == "resnet18"
    assert model_label({}) == "unknown model"


def test_ratios_and_first_folder_comparisons():
    rows = [_row("t", "model.pt", "torch", "fp32", 1, 8.0, 0.80, status="reference"),
            _row("t", "a_fp32.onnx", "onnx", "fp32", 1, 4.0, 0.80, size=100.0),
            _row("t", "a_int8.onnx", "onnx", "int8", 1, 2.0, 0.79, size=25.0),
            _row("s", "model.pt", "torch", "fp32", 1, 2.0, 0.70, status="reference"),
            _row("s", "b_fp32.onnx", "onnx", "fp32", 1, 1.0, 0.70, size=10.0),
            _row("s", "b_int8.onnx", "onnx", "int8", 1, 0.5, 0.69, size=3.0)]
    parity_rows = [{k: v for k, v in r.items() if k not in ("threads", "p50_ms")} for r in rows]
    add_ratios(rows)
    add_first_comparisons(rows, parity_rows, [_folder("t"), _folder("s")])
    by = {(r["folder"], r["export"]): r for r in rows}
    # own folder's fp32 of the same runtime
    assert by["t", "a_int8.onnx"]["speedup_vs_fp32"] == pytest.approx(2.0)
    assert by["s", "b_int8.onnx"]["speedup_vs_fp32"] == pytest.approx(2.0)
    assert by["s", "b_int8.onnx"]["size_ratio"] == pytest.approx(0.3)
    # vs the first folder: its reference's top-1 and its fp32 file of the same runtime
    assert by["s", "b_int8.onnx"]["delta_top1_vs_first"] == pytest.approx(-11.0)
    assert by["s", "b_int8.onnx"]["speedup_vs_first"] == pytest.approx(8.0)
    assert by["s", "b_int8.onnx"]["size_ratio_vs_first"] == pytest.approx(0.03)
    assert by["s", "model.pt"]["speedup_vs_first"] == pytest.approx(4.0)
    assert by["t", "a_fp32.onnx"]["speedup_vs_first"] == pytest.approx(1.0)
    assert parity_rows[4]["delta_top1_vs_first"] == pytest.approx(-10.0)


def test_other_target_gets_no_accuracy_comparison():
    rows = [_row("t", "model.pt", "torch", "fp32", 1, 8.0, 0.8, status="reference"),
            _row("e", "model.pt", "torch", "fp32", 1, 4.0, 0.5, status="reference")]
    parity_rows = [dict(r) for r in rows]
    add_first_comparisons(rows, parity_rows, [_folder("t"), _folder("e", target="epoch")])
    assert rows[1]["delta_top1_vs_first"] is None and rows[1]["speedup_vs_first"] == pytest.approx(2.0)


def test_table_shows_source_and_first_columns_only_side_by_side():
    one = [_row("t", "m.onnx", "onnx", "fp32", 1, 1.0, 0.5)]
    assert "source" not in format_bench_table(one) and "× 1st fp32" not in format_bench_table(one)
    two = one + [_row("s", "m.onnx", "onnx", "fp32", 1, 1.0, 0.5)]
    keys = [key for key, _, _ in columns_for(two)]
    assert keys[:2] == ["folder", "model"] and "speedup_vs_first" in keys
    imported = one + [{**_row("Pixel 7", "m.tflite", "tflite", "fp32", 4, 9.0, None), "imported": True}]
    keys = [key for key, _, _ in columns_for(imported)]
    assert "folder" in keys and "speedup_vs_first" not in keys


def test_pareto_front_and_numbering():
    assert plots.pareto_front([(1.0, 0.5), (2.0, 0.6), (3.0, 0.55), (0.5, 0.4)]) == [0, 1, 3]
    rows = [_row("t", "a", "onnx", "fp32", 1, 1.0, 0.5), _row("t", "b", "onnx", "int8", 1, 2.0, 0.4),
            {**_row("Pixel", "c", "tflite", "fp32", 1, 3.0, None), "imported": True}]
    points = plots.plotted_rows(rows)
    assert [(p["point"], p["export"], p["pareto"]) for p in points] == [(1, "a", True), (2, "b", False)]


def _evidence(export, ref_pred, out_pred, targets, years=None, shift=0.0):
    def onehot(pred):
        return np.eye(3)[np.asarray(pred)]

    ref = {"logits": onehot(ref_pred)}
    out = {"logits": onehot(out_pred)}
    if years is not None:
        ref["year"], out["year"] = np.asarray(years, float), np.asarray(years, float) + shift
    return Evidence("t", export, ["a", "b", "c"], np.asarray(targets), ref, out)


def test_confusion_difference_of_the_worst_export():
    targets = [0, 1, 2, 2]
    good = _evidence("good.onnx", [0, 1, 2, 2], [0, 1, 2, 2], targets)
    bad = _evidence("bad.onnx", [0, 1, 2, 2], [0, 1, 2, 0], targets)
    assert plots.worst_export([good, bad]).export == "bad.onnx"
    diff = plots.confusion_difference(bad)
    expected = np.zeros((3, 3), int)
    expected[2, 2], expected[2, 0] = -1, 1  # one true-c image moved from predicted c to predicted a
    np.testing.assert_array_equal(diff, expected)
    png, name = plots.confusion_diff_png([good, bad])
    assert name == "bad.onnx" and base64.b64decode(png)[:4] == b"\x89PNG"  # one folder: no folder prefix


def test_html_is_one_file_with_all_plots():
    targets = [0, 1, 2, 2]
    evidence = [_evidence("model.pt", targets, targets, targets, years=[10, 20, 30, 40]),
                _evidence("x.onnx", targets, [0, 1, 2, 0], targets, years=[10, 20, 30, 40], shift=5.0)]
    rows = [_row("t", "model.pt", "torch", "fp32", t, 2.0 * t, 1.0, status="reference") for t in (1, 2)]
    rows += [_row("t", "x.onnx", "onnx", "int8", t, 1.0 * t, 0.75) for t in (1, 2)]
    result = {"rows": rows, "parity": [], "split": "test", "images": 4, "folders": []}
    page = html_report(result, "## Flipped\n", evidence)
    assert page.count("data:image/png;base64,") == 4  # Pareto, latency bars, year scatter, confusion difference
    assert "Year: reference vs export" in page and "(x.onnx)" in page and "<td>★</td>" in page
    without_years = html_report(result, "", evidence[:1] + [_evidence("x.onnx", targets, targets, targets)])
    assert without_years.count("data:image/png;base64,") == 3


def test_neighbour_overlap_hand_example():
    def on_circle(degrees):
        radians = np.radians(degrees)
        return np.stack([np.cos(radians), np.sin(radians)], axis=1)

    reference = on_circle([0, 10, 30, 70])  # nearest neighbours: 1, 0, 1, 2
    candidate = on_circle([0, 10, 30, 45])  # nearest neighbours: 1, 0, 3, 2
    np.testing.assert_array_equal(leave_one_out_neighbours(reference, 1)[:, 0], [1, 0, 1, 2])
    assert neighbour_overlap(reference, candidate, k=1) == pytest.approx(0.75)


def test_neighbour_overlap_is_one_under_rotation_and_scaling():
    rng = np.random.default_rng(0)
    embeddings = rng.normal(size=(40, 8))
    rotation, _ = np.linalg.qr(rng.normal(size=(8, 8)))
    assert neighbour_overlap(embeddings, 3.0 * embeddings @ rotation, k=5) == pytest.approx(1.0)
    unrelated = rng.normal(size=(40, 8))
    assert neighbour_overlap(embeddings, unrelated, k=5) < 0.5


def test_neighbour_overlap_needs_more_images_than_k():
    with pytest.raises(InputError, match="more than 5"):
        neighbour_overlap(np.ones((5, 3)), np.ones((5, 3)), k=5)


def test_label_groups_merge_nearby_numbers():
    points = [{"point": 1, "p50_ms": 1.00, "top1": 0.50}, {"point": 2, "p50_ms": 1.01, "top1": 0.50},
              {"point": 3, "p50_ms": 100.0, "top1": 0.50}, {"point": 4, "p50_ms": 1.0, "top1": 0.90}]
    labels = plots.label_groups(points)
    assert [text for _, _, text in labels] == ["1,2", "3", "4"]
    many = [{"point": i, "p50_ms": 1.0, "top1": 0.5} for i in range(1, 9)] + [{"point": 9, "p50_ms": 50.0, "top1": 0.9}]
    assert plots.label_groups(many, per_line=6)[0][2] == "1,2,3,4,5,6\n7,8"


def test_label_offsets_move_colliding_labels_apart():
    offsets = plots.label_offsets([(100.0, 100.0), (104.0, 100.0), (300.0, 100.0)], ["1,2,3", "4", "5"])
    assert offsets[0] == (5, 3) and offsets[2] == (5, 3)  # far apart: both at the default place
    assert offsets[1] != (5, 3)  # would cover label 0: moved
