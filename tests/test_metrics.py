"""Metrics against values computed by hand on small fixed prediction sets."""
import math

import numpy as np
import pandas as pd
import pytest

from mocar.errors import InputError
from mocar.train.metrics import (
    MetricAccumulator,
    classification_metrics,
    evaluate_predictions,
    format_metrics_table,
    predictions_table,
    read_predictions,
    regression_metrics,
    topk_predictions,
    write_predictions,
)

# Six samples, three classes. Row 2 ties classes 0 and 1: the lower index wins, so it predicts 0.
LOGITS = np.array([
    [2.0, 1.0, 0.0],  # true 0 -> 0
    [0.5, 3.0, 0.1],  # true 1 -> 1
    [1.0, 1.0, 0.0],  # true 1 -> 0 (tie)
    [0.0, 0.0, 4.0],  # true 2 -> 2
    [0.2, 0.1, 0.3],  # true 2 -> 2
    [0.0, 1.0, 2.0],  # true 0 -> 2
])
TARGETS = np.array([0, 1, 1, 2, 2, 0])
NAMES = ["amphora", "bowl", "coin"]
# Rows = true, columns = predicted.
EXPECTED_CM = [[1, 0, 1], [1, 1, 0], [0, 0, 2]]
# F1 per class from EXPECTED_CM: class 0 P=1/2 R=1/2 -> 1/2; class 1 P=1 R=1/2 -> 2/3;
# class 2 P=2/3 R=1 -> 4/5.  Macro = (1/2 + 2/3 + 4/5) / 3 = 59/90.
EXPECTED_MACRO_F1 = 59 / 90


def test_hand_computed_classification():
    m = classification_metrics(LOGITS, TARGETS, 3, NAMES)
    assert m["n"] == 6
    assert m["top1"] == pytest.approx(4 / 6)
    assert m["top5_k"] == 3 and m["top5"] == pytest.approx(1.0)  # k = min(5, C) covers every class
    assert m["confusion_matrix"] == EXPECTED_CM
    assert m["macro_f1"] == pytest.approx(EXPECTED_MACRO_F1)
    assert m["per_class"] == {
        "amphora": {"accuracy": 0.5, "support": 2},
        "bowl": {"accuracy": 0.5, "support": 2},
        "coin": {"accuracy": 1.0, "support": 2},
    }


def test_top5_with_a_tie_at_the_boundary():
    logits = np.array([
        [6, 5, 4, 3, 2, 2, 0],  # target 5 ties index 4 for 5th place; index 4 wins -> miss
        [0, 1, 2, 3, 4, 5, 6],  # target 2 is exactly 5th -> hit
    ], dtype=float)
    m = classification_metrics(logits, np.array([5, 2]), 7)
    assert m["top5_k"] == 5
    assert m["top5"] == pytest.approx(0.5)
    assert m["top1"] == 0.0


def test_absent_class_counts_as_zero_in_macro_f1():
    padded = np.hstack([LOGITS, np.full((6, 1), -9.0)])  # a 4th class nobody has or predicts
    m = classification_metrics(padded, TARGETS, 4)
    assert m["macro_f1"] == pytest.approx(EXPECTED_MACRO_F1 * 3 / 4)
    assert m["macro_f1_present"] == pytest.approx(EXPECTED_MACRO_F1)
    assert m["per_class"]["3"] == {"accuracy": None, "support": 0}


def test_loss_is_softmax_cross_entropy_or_nll_of_probs():
    uniform = classification_metrics(np.zeros((4, 3)), np.array([0, 1, 2, 0]), 3, scores="logits")
    assert uniform["loss"] == pytest.approx(math.log(3))
    # softmax([ln 1, ln 3]) = [1/4, 3/4]
    two = classification_metrics(np.log([[1.0, 3.0], [1.0, 3.0]]), np.array([1, 0]), 2)
    assert two["loss"] == pytest.approx((-math.log(0.75) - math.log(0.25)) / 2)
    probs = classification_metrics(np.array([[0.2, 0.8], [0.6, 0.4]]), np.array([1, 1]), 2)
    assert probs["loss"] == pytest.approx((-math.log(0.8) - math.log(0.4)) / 2)


def test_bad_inputs_name_the_problem():
    with pytest.raises(InputError, match=r"row 2 is 3; valid class indices are 0\.\.2"):
        classification_metrics(LOGITS, np.array([0, 1, 3, 2, 2, 0]), 3)
    with pytest.raises(InputError, match=r"expected \[N, 4\]"):
        classification_metrics(LOGITS, TARGETS, 4)
    broken = LOGITS.copy()
    broken[1, 2] = np.nan
    with pytest.raises(InputError, match="row 1 is not finite"):
        classification_metrics(broken, TARGETS, 3)
    with pytest.raises(InputError, match="repeated"):
        classification_metrics(LOGITS, TARGETS, 3, ["a", "a", "b"])


def test_hand_computed_regression():
    pred = np.array([1000.0, 1100.0, 1250.0, 900.0, 5.0])
    true = np.array([1000.0, 1000.0, 1200.0, 1100.0, np.nan])  # last one undated: left out
    m = regression_metrics(pred, true)
    # signed errors 0, +100, +50, -200
    assert m["n"] == 4 and m["n_missing_true"] == 1
    assert m["mae"] == pytest.approx(87.5)
    assert m["median_ae"] == pytest.approx(75.0)
    assert m["rmse"] == pytest.approx(math.sqrt(52500 / 4))
    assert m["bias"] == pytest.approx(-12.5)
    assert m["within_50"] == pytest.approx(50.0)
    assert m["within_100"] == pytest.approx(75.0)


def test_regression_rejects_missing_predictions():
    with pytest.raises(InputError, match="year_pred row 1"):
        regression_metrics([1.0, np.nan], [1.0, 2.0])


def test_topk_predictions_ties_and_probabilities():
    indices, probs = topk_predictions(np.array([[1.0, 1.0, 0.0], [0.0, 0.0, 0.0], [0.0, 2.0, 1.0]]), k=2)
    assert indices.tolist() == [[0, 1], [0, 1], [1, 2]]
    e = math.e
    assert probs[0] == pytest.approx([e / (2 * e + 1)] * 2)
    assert probs[1] == pytest.approx([1 / 3, 1 / 3])
    assert probs[2] == pytest.approx([e**2 / (e**2 + e + 1), e / (e**2 + e + 1)])
    assert topk_predictions(LOGITS, k=10)[0].shape == (6, 3)  # clipped to C


def test_predictions_table_parquet_round_trip(tmp_path):
    embeddings = np.random.default_rng(0).normal(size=(6, 4)).astype(np.float32)
    years = np.array([100.0, -250.0, 1300.0, 800.0, 5.0, np.nan])
    df = predictions_table([f"obj-{i}" for i in range(6)], TARGETS, LOGITS, NAMES,
                           year_pred=years + 10, year_true=years, embeddings=embeddings)
    assert df["pred"].tolist() == [0, 1, 0, 2, 2, 2]
    assert df["true_label"].tolist() == ["amphora", "bowl", "bowl", "coin", "coin", "amphora"]
    assert df.loc[2, "top5"] == [0, 1, 2] and df.loc[2, "top5_labels"] == NAMES
    assert df.loc[0, "top5_probs"][0] == pytest.approx(math.exp(2) / (math.exp(2) + math.e + 1))
    path = write_predictions(df, tmp_path / "sub" / "predictions.parquet")
    back = read_predictions(path)
    pd.testing.assert_frame_equal(back, df)
    assert np.array_equal(np.array(back["embedding"].tolist(), dtype=np.float32), embeddings)
    import pyarrow.parquet as pq
    assert str(pq.read_schema(path).field("embedding").type) == "list<element: float>"


def test_read_predictions_reports_the_file(tmp_path):
    bad = tmp_path / "not.parquet"
    bad.write_text("id,true\n")
    with pytest.raises(InputError, match="not.parquet"):
        read_predictions(bad)


def test_format_metrics_table_is_aligned_and_readable():
    m = evaluate_predictions(LOGITS, TARGETS, 3, NAMES, year_pred=[1000, 1100, 1250, 900, 0, 0],
                             year_true=[1000, 1000, 1200, 1100, 0, 0])
    text = format_metrics_table(m)
    assert "top-1 accuracy" in text and "66.67 %" in text
    assert "macro F1 (all classes)" in text and "65.56 %" in text
    assert "year within ±100" in text and "year MAE" in text
    assert "coin" in text and "100.00 %" in text
    scalar_lines = text.split("\n\n")[0].splitlines()
    assert len({len(line) for line in scalar_lines}) == 1, "scalar rows should share one width"


def _random_batches(seed=1, sizes=(5, 7, 4)):
    rng = np.random.default_rng(seed)
    batches, start = [], 0
    for size in sizes:
        batches.append({
            "logits": rng.normal(size=(size, 4)).astype(np.float32),
            "targets": rng.integers(0, 4, size),
            "ids": np.arange(start, start + size),
            "year_pred": rng.normal(800, 300, size),
            "year_true": rng.normal(800, 300, size),
        })
        start += size
    return batches


ORDER_SENSITIVE = ("loss", "year_mae", "year_rmse", "year_bias")


def test_accumulator_merge_equals_single_pass():
    batches = _random_batches()
    single, rank0, rank1 = MetricAccumulator(4), MetricAccumulator(4), MetricAccumulator(4)
    for batch in batches:
        single.update(**batch)
    rank0.update(**batches[0])  # a strided sampler: rank 0 sees batches 0 and 2, rank 1 batch 1
    rank0.update(**batches[2])
    rank1.update(**batches[1])
    merged = rank0.merge(MetricAccumulator.from_arrays(4, rank1.arrays()))
    assert len(merged) == 16
    whole = {name: np.concatenate([b[name] for b in batches]) for name in batches[0]}
    direct = evaluate_predictions(whole["logits"], whole["targets"], 4, None, whole["year_pred"], whole["year_true"])
    assert 0.1 < direct["top1"] < 0.9 and direct["year_mae"] > 0  # not a degenerate fixture
    for result in (single.compute(), merged.compute()):
        assert result.pop("n_duplicates_dropped") == 0
        # Means over a different order may differ in the last bits; everything else is exact.
        for key in ORDER_SENSITIVE:
            assert result.pop(key) == pytest.approx(direct[key], rel=1e-12)
        assert result == {key: value for key, value in direct.items() if key not in ORDER_SENSITIVE}


def test_accumulator_drops_padding_duplicates_by_id():
    batches = _random_batches(sizes=(6,))
    acc = MetricAccumulator(4)
    acc.update(**batches[0])
    repeated = {name: value[:2] for name, value in batches[0].items()}  # sampler padding
    acc.update(**repeated)
    result = acc.compute()
    assert result["n"] == 6 and result["n_duplicates_dropped"] == 2
    assert acc.compute(dedupe_ids=False)["n"] == 8


def test_accumulator_rejects_inconsistent_batches():
    acc = MetricAccumulator(3)
    acc.update(LOGITS, TARGETS, ids=np.arange(6))
    with pytest.raises(InputError, match="earlier batches"):
        acc.update(LOGITS, TARGETS)
    with pytest.raises(InputError, match="no batches"):
        MetricAccumulator(3).compute()
