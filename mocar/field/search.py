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
4. **similarity**: ``s_r = sum_j y_r[j] * y_q[j]`` (float32). Without dequantising the rows:
   ``s_r = sum_j code_r[j] * (scale[j] * y_q[j]) + sum_j offset[j] * y_q[j]`` (the last sum is one
   number per query), the same value up to rounding.
5. **top-k**: the k largest ``s_r``; equal similarities rank the **lower reference index first**.

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
    """The float32 reference vectors a search compares against: ``offset + code (* scale)``."""
    matrix = codes.astype(np.float32)
    if scales is not None:
        matrix *= scales
    if offsets is not None:
        matrix += offsets
    return matrix


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


def exact_search(queries: np.ndarray, references: np.ndarray, k: int,
                 block: int = 256) -> tuple[np.ndarray, np.ndarray]:
    """Steps 4-5 for projected queries [N, d] against float32 references [R, d], in query blocks."""
    parts = [top_k(queries[start : start + block] @ references.T, k) for start in range(0, len(queries), block)]
    if not parts:
        return np.empty((0, min(k, len(references))), np.int64), np.empty((0, min(k, len(references))), np.float32)
    return np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])
