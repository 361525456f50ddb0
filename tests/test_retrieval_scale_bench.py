"""The museum-scale index measurement (mocar.bench.index_scale) on a small synthetic set (no timing)."""
import pytest

from mocar.bench import index_scale


def test_rerank_rows_recover_exact_search_and_memory_excludes_storage(tmp_path):
    refs, labels = index_scale.synthetic(1500, 64, beta=1.0, seed=0, clusters=5)
    queries, query_labels = index_scale.synthetic(40, 64, beta=1.0, seed=1, clusters=5)
    seen = []
    rows = index_scale.measure_set("tiny", refs, labels, queries, query_labels,
                                   ["full:float32", "16:int8", "16:int8+float32"], timing=False, scratch=tmp_path,
                                   report=seen.append)
    full, compact, reranked = rows
    assert seen == rows
    assert full["recall@5"] == 1.0 and full["median_sim_error"] < 1e-6  # exact search is its own ground truth
    assert compact["recall@5"] < 0.9  # 16 of 64 dimensions in int8 lose near neighbours ...
    assert reranked["recall@5"] >= 0.95  # ... and the float32 re-rank of 100 candidates finds them again
    assert reranked["size_mb"] == compact["size_mb"] < reranked["storage_mb"]
    assert reranked["storage_mb"] - compact["storage_mb"] == pytest.approx(4 * 1500 * 64 / 1e6)  # float32 [N, D]
    assert index_scale.verdict(reranked) == "n/a (not timed)"


def _row(data, config, size_mb, p50_ms, recall, rerank=None):
    return {"data": data, "refs": 140000, "config": config, "rerank": rerank, "size_mb": size_mb,
            "storage_mb": size_mb, "recall@5": recall, "p50_ms": p50_ms}


def test_verdict_and_summary_judge_the_budget_and_recall():
    rows = [_row("s", "a", 30.0, 20.0, 0.98),           # every bound met exactly
            _row("s", "b", 32.5, 5.0, 1.0),             # too big for memory
            _row("s", "c", 10.0, 8.0, 0.97),            # fits, recall short
            _row("s", "d", 10.0, 9.0, 0.99, "float16")]  # fits with the re-rank from storage
    assert [index_scale.verdict(r) for r in rows] == ["yes", "no", "no", "yes"]
    assert index_scale.summary(rows) == [
        "- s, in memory only: 2 configurations fit 32 MB and 20 ms (p50); best recall@5 0.980 (a, 30 MB on storage); "
        "meets the 0.98 target.",
        "- s, with the re-rank from storage: 1 configurations fit 32 MB and 20 ms (p50); best recall@5 0.990 "
        "(d, 10 MB on storage); meets the 0.98 target."]


def test_untimed_rows_take_the_latency_of_the_timed_one():
    timed = _row("beta 1", "a", 1.0, 3.0, 1.0) | {"p90_ms": 4.0}
    untimed = {k: v for k, v in _row("beta 2", "a", 1.0, None, 0.9).items() if k != "p50_ms"}
    index_scale.share_latency([timed, untimed])
    assert (untimed["p50_ms"], untimed["p90_ms"], untimed["latency_from"]) == (3.0, 4.0, "beta 1")
