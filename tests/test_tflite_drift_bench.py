"""The int8-drift measure (mocar.bench.tflite_drift) on the tiny TFLite export: per-operator errors of the
full-integer file."""
import numpy as np

from mocar.bench import tflite_drift as bench


def test_drift_rows_follow_the_int8_graph(tiny_tflite_export):
    export = tiny_tflite_export["export"]
    fp32, int8 = export / "model_fp32.tflite", export / "model_int8_full_integer_quant.tflite"
    images = bench.test_split_images(tiny_tflite_export["prepared"], fp32, 3)
    assert images.shape == (3, 32, 32, 3)
    rows = bench.drift(fp32, int8, images)
    assert len(rows) >= 10 and [r["op"] for r in rows] == sorted(r["op"] for r in rows)  # execution order
    assert all(r["error"] >= 0 for r in rows) and rows[0]["error"] < 0.1  # the first layers barely drift
    assert any(r["jump"] is not None for r in rows)
    same = bench.drift(fp32, fp32, images)  # a file against itself: nothing drifts
    assert same and max(r["error"] for r in same) == 0.0 and np.all([r["jump"] in (None, 0.0) for r in same])
