"""Reference index: exact search math, compression paths, file round trip, model check, retrieval metrics."""
import numpy as np
import pandas as pd
import pytest

from mocar.field import search
from mocar.field.errors import ModelMismatchError, ReferenceIndexError
from mocar.field.index import FILES, ReferenceIndex
from mocar.field.retrieval import retrieval_metrics


def _clustered(n, dims=32, clusters=6, seed=0):
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(clusters, dims))
    labels = rng.integers(0, clusters, n)
    return (centres[labels] + 0.4 * rng.normal(size=(n, dims))).astype(np.float32), labels


def _objects(labels):
    return pd.DataFrame({"id": [f"R-{i}" for i in range(len(labels))], "collection": [f"C{v % 3}" for v in labels],
                         "dating": ["um 450 v. Chr."] * len(labels), "year_begin": -475.0, "year_end": -425.0,
                         "year": -450.0, "epoch_label": [f"E{v}" for v in labels]})


def _brute_force(queries, references, k):
    """Float64 reference: full similarity matrix, then sort by (-similarity, index)."""
    sims = queries.astype(np.float64) @ references.astype(np.float64).T
    order = np.array([np.lexsort((np.arange(len(row)), -row))[:k] for row in sims])
    return order, np.take_along_axis(sims, order, axis=1)


def test_top_k_breaks_ties_by_lower_index():
    sims = np.array([[0.5, 0.9, 0.9, 0.1, 0.9], [0.2, 0.2, 0.2, 0.2, 0.2]], np.float32)
    indices, values = search.top_k(sims, 3)
    assert indices.tolist() == [[1, 2, 4], [0, 1, 2]]
    assert values[0].tolist() == pytest.approx([0.9, 0.9, 0.9])
    assert search.top_k(sims, 10)[0].shape == (2, 5)  # k is clipped to the index size


def test_float32_search_equals_brute_force():
    references, _ = _clustered(500)
    queries, _ = _clustered(40, seed=1)
    indices, sims = search.exact_search(search.l2_normalize(queries), search.l2_normalize(references), k=7, block=16)
    expected, expected_sims = _brute_force(search.l2_normalize(queries), search.l2_normalize(references), 7)
    np.testing.assert_array_equal(indices, expected)
    np.testing.assert_allclose(sims, expected_sims, atol=1e-5)


@pytest.mark.parametrize("dims, dtype", [(None, "float16"), (12, "int8"), (None, "int8"), (12, "float16")])
def test_compressed_index_equals_its_own_float64_math(dims, dtype):
    embeddings, labels = _clustered(400)
    index = ReferenceIndex.from_embeddings(embeddings, _objects(labels), {"fingerprint": "f" * 64}, dims, dtype)
    queries, _ = _clustered(30, seed=2)
    q = queries.astype(np.float64) / np.linalg.norm(queries, axis=1, keepdims=True)
    if dims is not None:
        q = q @ index.components.astype(np.float64).T
    refs = index.codes.astype(np.float64) * (index.scales.astype(np.float64) if dtype == "int8" else 1.0)
    refs += index.offsets.astype(np.float64)
    expected, expected_sims = _brute_force(q, refs, 5)
    indices, sims = index.search(queries, k=5)
    np.testing.assert_array_equal(indices, expected)
    np.testing.assert_allclose(sims, expected_sims, atol=2e-5)
    assert index.codes.dtype == np.dtype(dtype) and index.codes.shape == (400, dims or 32)


def test_pca_keeps_inner_products_and_int8_error_is_half_a_step():
    embeddings, _ = _clustered(300, dims=16)
    normalized = search.l2_normalize(embeddings)
    components = search.fit_pca(normalized, 16)
    np.testing.assert_allclose(components @ components.T, np.eye(16), atol=1e-5)
    projected = search.project(embeddings, components)  # full rank: a rotation, inner products unchanged
    np.testing.assert_allclose(projected @ projected.T, normalized @ normalized.T, atol=1e-5)
    top = search.project(embeddings, search.fit_pca(normalized, 4))
    assert np.mean(top[:, 0] ** 2) >= np.mean(top[:, 3] ** 2)  # strongest direction first
    codes, scales, offsets = search.quantize(projected, "int8")
    assert np.abs(codes).max() == 127 and np.all(codes.min(axis=0) == -127)  # the range is used symmetrically
    assert np.all(np.abs(search.dequantize(codes, scales, offsets) - projected) <= scales / 2 + 1e-6)


def test_index_round_trip(tmp_path):
    embeddings, labels = _clustered(120)
    thumbs = [bytes([i % 256]) * (i % 7 + 1) for i in range(120)]
    index = ReferenceIndex.from_embeddings(embeddings, _objects(labels), {"fingerprint": "a" * 64, "architecture": "mocar"},
                                           dims=8, dtype="int8", thumbnails=thumbs)
    index.save(tmp_path / "idx")
    loaded = ReferenceIndex.load(tmp_path / "idx")
    np.testing.assert_array_equal(loaded.codes, index.codes)
    np.testing.assert_array_equal(loaded.scales, index.scales)
    np.testing.assert_array_equal(loaded.offsets, index.offsets)
    np.testing.assert_array_equal(loaded.components, index.components)
    pd.testing.assert_frame_equal(loaded.objects, index.objects)
    assert [loaded.thumbnail(i) for i in (0, 5, 119)] == [thumbs[0], thumbs[5], thumbs[119]]
    queries, _ = _clustered(10, seed=3)
    for a, b in zip(loaded.search(queries, 4), index.search(queries, 4)):
        np.testing.assert_array_equal(a, b)
    assert loaded.meta["model"]["fingerprint"] == "a" * 64 and loaded.meta["embedding"]["dims"] == 8
    assert loaded.object_record(3)["id"] == "R-3" and loaded.object_record(3)["year"] == -450.0


@pytest.mark.parametrize("rerank", ["float32", "float16", "int8"])
def test_rerank_orders_the_compact_candidates_by_the_full_embeddings(rerank):
    embeddings, labels = _clustered(400)
    index = ReferenceIndex.from_embeddings(embeddings, _objects(labels), {"fingerprint": "f" * 64}, dims=4,
                                           dtype="int8", rerank=rerank, rerank_candidates=25)
    queries, _ = _clustered(30, seed=2)
    compact = ReferenceIndex.from_embeddings(embeddings, _objects(labels), {"fingerprint": "f" * 64}, dims=4, dtype="int8")
    candidates, _ = compact.search(queries, k=25)
    full = index.rerank.astype(np.float64) * (index.rerank_scales if rerank == "int8" else 1.0)
    full += index.rerank_offsets if index.rerank_offsets is not None else 0.0
    q = queries.astype(np.float64) / np.linalg.norm(queries, axis=1, keepdims=True)
    indices, sims = index.search(queries, k=5)
    for row in range(len(queries)):  # the k best candidates by full-dimension similarity, ties to the lower row
        pool = np.sort(candidates[row])
        scores = full[pool] @ q[row]
        expected = pool[np.lexsort((pool, -scores))[:5]]
        np.testing.assert_array_equal(indices[row], expected)
        np.testing.assert_allclose(sims[row], full[expected] @ q[row], atol=2e-5)
    exact, _ = _brute_force(q, search.l2_normalize(embeddings), 5)
    assert np.mean(indices == exact) > np.mean(compact.search(queries, k=5)[0] == exact)  # 4-d int8 alone is worse
    assert index.size_bytes() == compact.size_bytes() < index.size_bytes(rerank=True)


def test_rerank_with_every_candidate_is_exact_full_search(tmp_path):
    embeddings, labels = _clustered(150)
    ReferenceIndex.from_embeddings(embeddings, _objects(labels), {"fingerprint": "f" * 64}, dims=3, dtype="int8",
                                   rerank="float32", rerank_candidates=150).save(tmp_path / "idx")
    loaded = ReferenceIndex.load(tmp_path / "idx")
    assert isinstance(loaded.rerank, np.memmap) and loaded.rerank_candidates == 150
    queries, _ = _clustered(20, seed=4)
    indices, sims = loaded.search(queries, k=6)
    expected, expected_sims = _brute_force(search.l2_normalize(queries), search.l2_normalize(embeddings), 6)
    np.testing.assert_array_equal(indices, expected)
    np.testing.assert_allclose(sims, expected_sims, atol=1e-5)
    assert loaded.search(queries, k=200)[0].shape == (20, 150)  # k above the candidates: all of them, re-ranked


def test_broken_rerank_files_are_named(tmp_path):
    embeddings, labels = _clustered(20)
    ReferenceIndex.from_embeddings(embeddings, _objects(labels), {"fingerprint": "a" * 64}, 4, "int8",
                                   rerank="int8").save(tmp_path / "i")
    np.save(tmp_path / "i" / FILES["rerank"], np.zeros((20, 31), np.int8))
    with pytest.raises(ReferenceIndexError, match=r"rerank.npy is int8 \[20, 31\], index.json says int8 \[20, 32\]"):
        ReferenceIndex.load(tmp_path / "i")
    (tmp_path / "i" / FILES["rerank_scales"]).unlink()
    with pytest.raises(ReferenceIndexError, match="rerank_scales.npy"):
        ReferenceIndex.load(tmp_path / "i")
    with pytest.raises(ReferenceIndexError, match="rerank_candidates=0"):
        ReferenceIndex.from_embeddings(embeddings, _objects(labels), {"fingerprint": "a" * 64}, rerank="int8",
                                       rerank_candidates=0)


def test_model_mismatch_names_both_fingerprints(tmp_path):
    embeddings, labels = _clustered(20)
    index = ReferenceIndex.from_embeddings(embeddings, _objects(labels), {"fingerprint": "a" * 64})
    index.check_model("a" * 64)
    with pytest.raises(ModelMismatchError) as caught:
        index.check_model("b" * 64)
    assert "a" * 64 in str(caught.value) and "b" * 64 in str(caught.value)
    assert caught.value.expected == "a" * 64 and caught.value.actual == "b" * 64


def test_broken_index_folders_are_named(tmp_path):
    embeddings, labels = _clustered(20)
    ReferenceIndex.from_embeddings(embeddings, _objects(labels), {"fingerprint": "a" * 64}, 4, "int8").save(tmp_path / "i")
    (tmp_path / "i" / FILES["scales"]).unlink()
    with pytest.raises(ReferenceIndexError, match="scales.npy"):
        ReferenceIndex.load(tmp_path / "i")
    with pytest.raises(ReferenceIndexError, match="index.json"):
        ReferenceIndex.load(tmp_path / "missing")
    ReferenceIndex.from_embeddings(embeddings, _objects(labels), {"fingerprint": "a" * 64}, thumbnails=[b"jpg"] * 20).save(tmp_path / "t")
    (tmp_path / "t" / FILES["thumbnails"]).write_bytes(b"short")
    with pytest.raises(ReferenceIndexError, match="thumbnails.bin has 5 bytes"):
        ReferenceIndex.load(tmp_path / "t")
    index = ReferenceIndex.from_embeddings(embeddings, _objects(labels), {"fingerprint": "a" * 64})
    with pytest.raises(ReferenceIndexError, match=r"\[N, 32\]"):
        index.search(np.zeros((2, 31), np.float32))


def test_retrieval_metrics_on_a_known_ranking():
    # References on the unit circle at 0°, 10°, 90°, 100°; queries near 0° and near 90°.
    angles = np.deg2rad([0, 10, 90, 100])
    refs = np.stack([np.cos(angles), np.sin(angles)], 1).astype(np.float32)
    objects = pd.DataFrame({"id": list("abcd"), "collection": ["A", "B", "B", "A"], "epoch_label": ["e1", "e2", "e3", "e1"]})
    index = ReferenceIndex.from_embeddings(refs, objects, {"fingerprint": "x"}, dtype="float32")
    queries = np.array([[1.0, 0.01], [0.01, 1.0]], np.float32)  # rankings: a,b,c,d and c,d,b,a
    metrics = retrieval_metrics(queries, ["A", "A"], ["e1", "e9"], index, ks=(1, 2), map_k=None)
    assert metrics["collection"]["recall@1"] == 0.5 and metrics["collection"]["recall@2"] == 1.0
    assert metrics["collection"]["precision@2"] == pytest.approx(0.5)
    # query 1: relevant at ranks 1, 4 -> AP = (1 + 2/4) / 2; query 2: ranks 2, 4 -> AP = (1/2 + 2/4) / 2
    assert metrics["collection"]["mAP@4"] == pytest.approx(((1 + 0.5) / 2 + (0.5 + 0.5) / 2) / 2)
    assert metrics["epoch"]["no_relevant"] == 1 and metrics["epoch"]["mAP@4"] == pytest.approx((1 + 0.5) / 2)
