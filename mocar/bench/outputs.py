"""Images in, model outputs out, in the units a bench compares: decoding, calendar years, targets.

Shared by the bench suite, the int8 search and the conditions benchmark so that all of them feed
every file the same array and read its outputs the same way.
"""
from __future__ import annotations

from typing import Any

import numpy as np
from tqdm import tqdm

from mocar.data.conditions import Condition
from mocar.data.images import load_rgb
from mocar.runtime.preprocessing import Preprocessing


def decode_split(frame, preprocessing: Preprocessing, progress: bool, condition: Condition | None = None) -> np.ndarray:
    """The frame's images preprocessed once with a file's own contract (float32 NCHW).

    With ``condition``, each photo is first put under it (e.g. a seeded corruption, keyed by the row id).
    """
    rows = list(zip(frame["image"], frame["id"].astype(str))) if condition is not None else list(frame["image"])
    label = "decoding images" + (f" ({condition.name})" if condition is not None else "")
    decoded = []
    for row in tqdm(rows, desc=label, unit="img", disable=not progress):
        photo = condition.image(*row) if condition is not None else load_rgb(row)
        decoded.append(preprocessing.image_to_input(photo))
    return np.stack(decoded).astype(np.float32)


def calendar_years(outputs: dict[str, np.ndarray], metadata: dict[str, Any]) -> dict[str, np.ndarray]:
    """The files output a normalised year; metadata says how to turn it into calendar years."""
    year = metadata.get("year")
    if year and "year" in outputs:
        outputs = {**outputs, "year": outputs["year"].reshape(-1) * year["scale"] + year["mean"]}
    return outputs


def targets_of(frame, metadata: dict[str, Any]) -> np.ndarray:
    """The ground-truth class index of each row, for the file's target (collection or epoch)."""
    target = metadata["labels"].get("target", "collection")
    return frame["collection_idx" if target == "collection" else "epoch_idx"].to_numpy()
