"""Each plot writes a valid PNG, scales with its content and leaves no pyplot figure open."""
import struct

import numpy as np
import pytest

from mocar.errors import InputError
from mocar.train.plots import plot_confusion_matrix, plot_training_curves, plot_year_scatter

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def _png_size(path):
    """(width, height) from the IHDR chunk, after checking the signature."""
    data = path.read_bytes()
    assert data[:8] == PNG_SIGNATURE and data[12:16] == b"IHDR"
    return struct.unpack(">II", data[16:24])


@pytest.fixture(autouse=True)
def _no_figures_left_open():
    import matplotlib.pyplot as plt

    before = plt.get_fignums()
    yield
    assert plt.get_fignums() == before == []


def _confusion(num_classes, seed=0):
    rng = np.random.default_rng(seed)
    cm = rng.integers(0, 5, size=(num_classes, num_classes)) + np.diag(rng.integers(5, 30, num_classes))
    cm[-1] = 0  # a class absent from the split must not produce NaN
    return cm


@pytest.mark.parametrize("normalize", [True, False])
def test_confusion_matrix_scales_with_classes(tmp_path, normalize):
    small = plot_confusion_matrix(_confusion(8), [f"collection {i}" for i in range(8)], tmp_path / "cm8.png", normalize)
    labels = [f"Antikensammlung Berlin (a very long name), epoch {i}" for i in range(50)]
    large = plot_confusion_matrix(_confusion(50).tolist(), labels, tmp_path / "cm50.png", normalize)
    (w8, h8), (w50, h50) = _png_size(small), _png_size(large)
    assert 400 < w8 < 1200 and 400 < h8 < 1200
    assert w50 > 2 * w8 and h50 > 2 * h8


def test_confusion_matrix_rejects_mismatched_labels(tmp_path):
    with pytest.raises(InputError, match="expected C x C"):
        plot_confusion_matrix(np.eye(3), ["a", "b"], tmp_path / "cm.png")


def test_year_scatter(tmp_path):
    rng = np.random.default_rng(0)
    true = rng.uniform(-800, 1800, 300)
    pred = true + rng.normal(0, 80, 300)
    true[:5] = np.nan  # undated objects are skipped
    path = plot_year_scatter(true, pred, tmp_path / "deep" / "years.png", title="val")
    width, height = _png_size(path)
    assert width > 300 and height > 300 and path.stat().st_size > 10_000
    with pytest.raises(InputError, match="no row"):
        plot_year_scatter([np.nan], [1.0], tmp_path / "none.png")


def test_training_curves_from_jsonl_rows(tmp_path):
    rows = []
    for step in range(0, 200, 10):
        rows.append({"step": step, "lr": 0.003 * min(1.0, step / 50), "train_loss": 2.0 / (1 + step / 50)})
        if step % 50 == 0:
            rows.append({"step": step, "val_loss": 2.1 / (1 + step / 60), "val_top1": step / 250,
                         "val_top5": step / 210, "val_year_mae": 300 - step})
    four_panels = _png_size(plot_training_curves(rows, tmp_path / "curves.png"))
    loss_only = _png_size(plot_training_curves([{"step": 1, "train_loss": 1.0}, {"step": 2, "train_loss": 0.5}],
                                               tmp_path / "loss.png"))
    assert four_panels[0] > loss_only[0] and four_panels[1] > loss_only[1]


def test_training_curves_without_known_keys(tmp_path):
    with pytest.raises(InputError, match="plottable key"):
        plot_training_curves([{"step": 1, "images_per_s": 100.0}], tmp_path / "x.png")


def test_search_plots_draw_records_and_skip_empty_ones():
    import base64

    from mocar.bench import plots

    estimate = {"value": 0.99, "low": 0.98, "high": 0.995, "n": 700}
    point = {"float_groups": ["stem"], "agreement": estimate, "speedup": 1.3, "p50_ms": 0.4}
    record = {"target_agreement": 0.99, "points": [point, {**point, "float_groups": [], "speedup": 1.8}],
              "chosen": point, "sensitivities": [{"group": "stem", "agreement_alone": 0.98},
                                                 {"group": "head", "agreement_alone": 1.0}]}
    for png in (plots.search_pareto_png([("student onnx", record)]), plots.sensitivity_png([("student onnx", record)])):
        assert base64.b64decode(png)[:4] == b"\x89PNG"
    assert plots.search_pareto_png([("x", {"points": []})]) is None
    assert plots.sensitivity_png([]) is None
