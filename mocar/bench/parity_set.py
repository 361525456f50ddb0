"""The images a bench run measures on: a parity set (no labels needed) and a labelled split.

Agreement, PSNR, embedding cosine, neighbour overlap and year shifts compare a file with its float
model and need no labels, so they are measured on as many images as the data offers
(:mod:`mocar.data.image_roles`):

* ``report`` (default): every prepared image that no benchmarked folder used for calibration or
  int8 selection (the rest of train, val and test);
* ``selection``: the folders' selection images — the validation parity set ``--int8 auto`` chooses on;
* ``sample``: a seeded sample of N report images (``--parity-images N``), for quicker runs;
* ``folder``: a folder of unlabelled photos (``--parity-dir``; users have many more of those).

Accuracy and year-MAE deltas need labels the model never trained on and are measured on the
labelled ``split`` (default ``test``); with ``split=None`` they are measured on the parity images
themselves (what the selection does: its images are labelled train images).

Both sets are decoded once, as one array (:attr:`ParitySet.frame`): the labelled images that are
also parity images are not decoded twice.
"""
from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from mocar.data.dataset import PreparedData
from mocar.data.image_roles import (
    ImageRoles,
    assign_roles,
    image_folder_frame,
    parity_frame,
    selection_frame,
)
from mocar.errors import InputError

KINDS = ("report", "selection", "sample", "folder")


@dataclass(frozen=True)
class ParitySet:
    """Decoding plan of one bench run.

    Attributes:
        frame: Every image to decode (parity images first, then labelled images not among them).
        parity: Row positions in ``frame`` of the parity images.
        labelled: Row positions in ``frame`` of the labelled images.
        kind: One of :data:`KINDS`.
        labelled_split: The split the labelled figures come from (None: the parity images).
    """

    frame: pd.DataFrame
    parity: np.ndarray
    labelled: np.ndarray
    kind: str
    labelled_split: str | None

    def describe(self) -> dict[str, Any]:
        """For bench.json and the report header."""
        splits = self.frame.iloc[self.parity].get("split")
        counts = {} if splits is None else {str(k): int(v) for k, v in splits.value_counts().sort_index().items()}
        return {"kind": self.kind, "parity_images": len(self.parity), "parity_splits": counts,
                "labelled_split": self.labelled_split or "parity images", "labelled_images": len(self.labelled)}


def folder_roles(data: PreparedData, folder: Path, manifest: dict[str, Any]) -> ImageRoles:
    """The roles an export recorded; for an export made before roles existed, its calibration images only."""
    roles = ImageRoles.load(folder)
    if roles is not None:
        return roles
    count = int((manifest.get("reference") or {}).get("calibration_images") or 0)
    warnings.warn(f"{folder}: no image_roles.json (exported by an older mocar); leaving out its {count} "
                  "calibration images only", stacklevel=2)
    return assign_roles(data, count, 0)


def build_parity_set(data: PreparedData, roles: Sequence[ImageRoles], split: str | None = "test",
                     parity_images: int | None = None, parity_dir: str | Path | None = None,
                     selection: bool = False) -> ParitySet:
    """The images of one bench run (see the module docstring).

    Raises:
        InputError: On conflicting options, an empty set, or ``split=None`` with unlabelled parity images.
    """
    if sum([parity_images is not None, parity_dir is not None, selection]) > 1:
        raise InputError("choose one of --parity-images, --parity-dir and the selection set")
    reserved = set().union(*(r.reserved for r in roles)) if roles else set()
    if selection:
        kind, parity = "selection", selection_frame(data, roles)
    elif parity_dir is not None:
        kind, parity = "folder", image_folder_frame(parity_dir)
    else:
        kind = "report" if parity_images is None else "sample"
        parity = parity_frame(data, reserved, parity_images)
    if split is None:
        if kind == "folder":
            raise InputError("photos of --parity-dir have no labels; accuracy deltas need a labelled split")
        return ParitySet(parity, np.arange(len(parity)), np.arange(len(parity)), kind, None)
    labelled = data.split(split)
    overlap = labelled["image"].astype(str).isin(set(parity["image"].astype(str)))
    frame = pd.concat([parity, labelled[~overlap.to_numpy()]], ignore_index=True)
    position = {image: i for i, image in enumerate(frame["image"].astype(str))}
    labelled_rows = np.array([position[image] for image in labelled["image"].astype(str)], dtype=np.int64)
    return ParitySet(frame, np.arange(len(parity)), labelled_rows, kind, split)
