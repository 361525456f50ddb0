"""The exact reference-search math, in plain numpy, step by step as a phone repeats it.

For a query embedding ``e`` (the model's ``embedding`` output, float32, D values):

1. **normalise**: ``q = e / max(||e||, 1e-12)`` (cosine similarity becomes a dot product).
2. **project** (only when the index has ``pca``): ``y = C @ q`` with ``C`` = ``pca_components.npy``
   (float32 [d, D]). ``C`` holds the top-d right singular vectors of the *normalised reference
   matrix*, i.e. PCA without centring: ``C.T @ C @ x`` is the best rank-d approximation of the
   references, so ``y_q . y_r`` approximates the full cosine ``q . r`` and needs no mean or offset.
   No re-normalisation after the projection (similarities stay estimates of the full cosine).
3. **references** are stored relative to a per-dimension offset (``offsets.npy``, float32 [d], the
   mid-range ``(max_r y_r[j] + min_r y_r[j]) / 2``): ``float16`` codes give ``y_r[j] = offset[j] +
   float32(code[j])``; ``int8`` codes in [-127, 127] give ``y_r[j] = offset[j] + code[j] * scale[j]``
   with ``scale = scales.npy`` (float32 [d], ``(max_r y_r[j] - min_r y_r[j]) / 254``). The offset
   matters: post-ReLU embeddings share a large common component, and coding only the spread around
   it keeps the fine differences between close neighbours. The query is never quantised.
4. **similarity**, computed on the codes without dequantising the rows (memory stays at the codes'
   size): ``w[j] = scale[j] * y_q[j]`` (float32; ``w = y_q`` for float16/float32 codes),
   ``b = sum_j offset[j] * y_q[j]`` (one number per query; 0 without offsets), and
   ``s_r = sum_j float32(code_r[j]) * w[j] + b``. This equals ``sum_j y_r[j] * y_q[j]`` up to rounding.
5. **top-k**: the k largest ``s_r``; equal similarities rank the **lower reference index first**.
6. **re-rank** (only when the index has ``rerank``): step 5 keeps the best ``candidates`` (at least
   k) rows; each is scored again on its stored *full-dimension* normalised embedding
   (``rerank.npy``, [N, D], coded as in step 3 around ``rerank_offsets``/``rerank_scales``, but
   never projected) against ``q`` from step 1, with the formula of step 4; the k best of these
   scores are the answer (ties again to the lower reference index). The compact codes find the
   neighbourhood; the full embeddings order it, so PCA and int8 no longer decide near ties. The
   full codes are read from storage, a few rows per query (memory-mapped, not held in memory).

Caveat: float32 sums in another order (another BLAS, the phone) differ in the last bits; two
references whose similarities differ by less than ~1e-6 may swap places. Exactly equal ones never do.
"""
from __future__ import annotations

import numpy as np

from mocar.errors import InputError

DTYPES = ("float32", "float16", "int8")
INT8_MAX = 127
NORM_EPS = 1e-12
PCA_MAX_ROWS = 50_000
CODE_BLOCK = 1024  # rows converted to float32 at a time (fastest of 1024/4096/16384 here)


def l2_normalize(vectors: np.ndarray) -> np.ndarray:
    """Rows divided by their L2 norm (float32); an all-zero row stays zero."""
    array = np.asarray(vectors, dtype=np.float32)
    if array.ndim != 2:
        raise InputError(f"embeddings have shape {array.shape}; expected [N, D]")
    norms = np.linalg.norm(array, axis=1, keepdims=True)
    return array / np.maximum(norms, NORM_EPS)


def fit_pca(normalized: np.ndarray, dims: int, max_rows: int = PCA_MAX_ROWS, seed: int = 0) -> np.ndarray:
    """Top-``dims`` principal directions of the (un-centred) normalised references.

    Args:
        normalized: Normalised reference embeddings [N, D].
        dims: Output dimensions d (1 <= d <= D).
        max_rows: Fit on at most this many rows (an evenly random, seeded subset) to bound the cost.
        seed: Seed of that subset.

    Returns:
        ``components`` float32 [d, D], rows orthonormal, strongest first; each row's largest-magnitude
        entry is positive, so the result does not depend on the eigen-solver's sign choice.
    """
    rows, width = normalized.shape
    if not 1 <= dims <= width:
        raise InputError(f"dims={dims}: the PCA needs 1 <= dims <= {width} (the embedding size)")
    sample = normalized
    if rows > max_rows:
        sample = normalized[np.sort(np.random.default_rng(seed).choice(rows, max_rows, replace=False))]
    gram = (sample.T @ sample).astype(np.float64) / len(sample)
    values, vectors = np.linalg.eigh(gram)
    components = vectors[:, np.argsort(-values, kind="stable")[:dims]].T
    peaks = components[np.arange(dims), np.abs(components).argmax(axis=1)]
    return (components * np.sign(peaks)[:, None]).astype(np.float32)


def project(embeddings: np.ndarray, components: np.ndarray | None) -> np.ndarray:
    """Steps 1-2: normalise, then project onto ``components`` when given (float32 [N, d])."""
    normalized = l2_normalize(embeddings)
    if components is None:
        return normalized
    if normalized.shape[1] != components.shape[1]:
        raise InputError(f"embeddings have {normalized.shape[1]} values; this index expects {components.shape[1]}")
    return normalized @ components.T


def quantize(vectors: np.ndarray, dtype: str) -> tuple[np.ndarray, np.ndarray | None, np.ndarray | None]:
    """Step 3: (codes, scales (int8 only), offsets (float16 and int8)) of projected references [N, d]."""
    if dtype not in DTYPES:
        raise InputError(f"dtype {dtype!r}: expected one of {DTYPES}")
    if dtype == "float32":
        return vectors.astype(np.float32), None, None
    low, high = vectors.min(axis=0), vectors.max(axis=0)
    offsets = ((low + high) / 2).astype(np.float32)
    spread = vectors - offsets
    if dtype == "float16":
        return spread.astype(np.float16), None, offsets
    scales = np.where(high > low, (high - low) / (2 * INT8_MAX), 1.0).astype(np.float32)
    codes = np.clip(np.rint(spread / scales), -INT8_MAX, INT8_MAX).astype(np.int8)
    return codes, scales, offsets


def dequantize(codes: np.ndarray, scales: np.ndarray | None, offsets: np.ndarray | None) -> np.ndarray:
    """The float32 reference vectors ``offset + code (* scale)`` (tests and benchmarks; search avoids the copy)."""
    matrix = codes.astype(np.float32)
    if scales is not None:
        matrix *= scales
    if offsets is not None:
        matrix += offsets
    return matrix


def code_similarities(queries: np.ndarray, codes: np.ndarray, scales: np.ndarray | None,
                      offsets: np.ndarray | None, block: int = CODE_BLOCK) -> np.ndarray:
    """Step 4: similarities [Q, N] of projected queries [Q, d] to coded references [N, d].

    The codes are converted to float32 a block of rows at a time: a full float32 copy would take 4x
    (int8) the index's memory, and small blocks stay in cache (measured faster than one big matmul).
    """
    weights = np.asarray(queries, np.float32) * (scales if scales is not None else np.float32(1))
    bias = queries @ offsets if offsets is not None else np.zeros(len(queries), np.float32)
    out = np.empty((len(queries), len(codes)), np.float32)
    for start in range(0, len(codes), block):
        out[:, start : start + block] = (_as_float32(codes[start : start + block]) @ weights.T).T
    return out + bias[:, None].astype(np.float32)


def _as_float32(block: np.ndarray) -> np.ndarray:
    """Exact float32 copy of a block of codes. numpy's float16 conversion is ~5x slower than torch's
    (measured: 28 vs 5 ms for 140k x 128 on one core), so float16 goes through torch when it can
    share the memory (torch warns on read-only arrays such as memory maps)."""
    if block.dtype == np.float16 and block.flags.writeable:
        import torch

        return torch.from_numpy(block).float().numpy()
    return block.astype(np.float32)


def top_k(similarities: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Step 5: the ``k`` best references per row, best first, ties to the lower index.

    Args:
        similarities: [N, R] scores.
        k: How many; clipped to R.

    Returns:
        (indices int64 [N, k], similarities float32 [N, k]).
    """
    count = min(int(k), similarities.shape[1])
    if count < 1:
        raise InputError(f"k={k}: need k >= 1 and a non-empty index")
    indices = np.empty((len(similarities), count), dtype=np.int64)
    for row, scores in enumerate(similarities):
        # Everything tied with the k-th best is a candidate, so the tie-break below sees all ties.
        kth = np.partition(scores, len(scores) - count)[len(scores) - count]
        candidates = np.flatnonzero(scores >= kth)
        order = np.lexsort((candidates, -scores[candidates]))
        indices[row] = candidates[order[:count]]
    return indices, np.take_along_axis(similarities, indices, axis=1).astype(np.float32)


def exact_search(queries: np.ndarray, codes: np.ndarray, k: int, scales: np.ndarray | None = None,
                 offsets: np.ndarray | None = None, block: int = 256) -> tuple[np.ndarray, np.ndarray]:
    """Steps 4-5 for projected queries [Q, d] against references coded as in step 3 (plain float32
    references: no scales, no offsets), in blocks of ``block`` queries."""
    parts = [top_k(code_similarities(queries[start : start + block], codes, scales, offsets), k)
             for start in range(0, len(queries), block)]
    if not parts:
        return np.empty((0, min(k, len(codes))), np.int64), np.empty((0, min(k, len(codes))), np.float32)
    return np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])


def rerank(normalized: np.ndarray, candidates: np.ndarray, codes: np.ndarray, k: int,
           scales: np.ndarray | None = None, offsets: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Step 6: the k best of each query's candidate rows, scored on full-dimension codes.

    Args:
        normalized: Normalised (not projected) queries [Q, D].
        candidates: Candidate reference rows per query [Q, R] (from step 5).
        codes: Full-dimension reference codes [N, D] (may be a read-only memory map).
        k: How many to keep (clipped to R).
        scales, offsets: The codes' per-dimension scales (int8) and offsets, as in step 3.

    Returns:
        (indices int64 [Q, k], similarities float32 [Q, k]); equal scores keep the lower row first.
    """
    count = min(int(k), candidates.shape[1])
    indices = np.empty((len(candidates), count), np.int64)
    sims = np.empty((len(candidates), count), np.float32)
    for row, (query, rows) in enumerate(zip(normalized, candidates)):
        ordered = np.sort(rows)  # ascending rows: sequential reads, and the stable sort below keeps ties low
        scores = code_similarities(query[None, :], codes[ordered], scales, offsets)[0]
        best = np.argsort(-scores, kind="stable")[:count]
        indices[row], sims[row] = ordered[best], scores[best]
    return indices, sims
