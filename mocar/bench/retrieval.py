"""Retrieval parity: does an export find the same nearest neighbours as its float reference?

The field app identifies an object by searching reference embeddings, so an int8 file whose top-1
class agrees can still rank neighbours differently. Here both the reference and the export embed
the same split; each image then searches the *other* images of the split (leave-one-out, exact
cosine search with :mod:`mocar.field.search`), and overlap@k is the fraction of the reference's
k neighbours that the export also returns (order ignored), averaged over the images.

Caveat: neighbours whose cosine similarities differ by ~1e-6 may swap between any two float
implementations, so even a float32 export can score slightly below 1 on near-duplicate images.
"""
from __future__ import annotations

import numpy as np

from mocar.errors import InputError
from mocar.field.search import l2_normalize, top_k


def leave_one_out_neighbours(embeddings: np.ndarray, k: int) -> np.ndarray:
    """The ``k`` most cosine-similar *other* rows of each row (int64 [N, k], best first).

    Raises:
        InputError: If there are not more than ``k`` rows.
    """
    vectors = l2_normalize(embeddings)
    if len(vectors) <= k:
        raise InputError(f"overlap@{k} needs more than {k} images; the split has {len(vectors)}")
    similarities = vectors @ vectors.T
    np.fill_diagonal(similarities, -np.inf)  # an image is not its own neighbour
    indices, _ = top_k(similarities, k)
    return indices


def neighbour_overlap(reference: np.ndarray, candidate: np.ndarray, k: int = 5) -> float:
    """Mean overlap@k (in [0, 1]) of the leave-one-out neighbours of two embeddings of the same images.

    Args:
        reference: Reference embeddings [N, D] (the float model).
        candidate: The export's embeddings of the same N images, same order (any width).
        k: Neighbours per image.

    Raises:
        InputError: If the row counts differ or N <= k.
    """
    if len(reference) != len(candidate):
        raise InputError(f"reference has {len(reference)} embeddings, candidate {len(candidate)}")
    ref_nn = leave_one_out_neighbours(reference, k)
    cand_nn = leave_one_out_neighbours(candidate, k)
    shared = [len(np.intersect1d(a, b, assume_unique=True)) for a, b in zip(ref_nn, cand_nn)]
    return float(np.mean(shared) / k)
