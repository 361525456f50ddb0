"""Which prepared images play which part in checking an int8 file: calibration, selection, parity.

An int8 file is judged by how often it agrees with its float model. Agreement needs no labels, so it
can be measured on far more images than the labelled test split (186 in the demo, where one flip
moves agreement by 0.54 points and the 95 % interval spans ±2–3 points). The images take three roles,
disjoint by construction:

* **calibration** — the first ``calibration`` images of a seeded permutation of the *train* split:
  the int8 ranges are fitted on them, so agreement on them flatters a file;
* **selection** — the next ``selection`` images of the same permutation: the *validation parity set*
  on which ``--int8 auto`` and the float-fallback search choose a file (a choice made on the images
  of the final verdict would grade its own homework);
* **parity** (the report's parity set) — every other prepared image of every split (the rest of
  train, val and test): ``mocar bench`` judges agreement, PSNR, embedding cosine and neighbour
  overlap on them. Accuracy and year-MAE deltas need labels the model never saw and stay on the
  test split.

An export records its roles in ``image_roles.json`` (ids, so that a re-ordered manifest cannot move
an image from one role to another); :func:`parity_frame` removes the calibration and selection ids of
every folder being benchmarked.
"""
from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from mocar.data.dataset import PreparedData
from mocar.errors import InputError

ROLES_FILE = "image_roles.json"
ROLE_SEED = 0
MAX_SELECTION_IMAGES = 1000


def train_permutation(num_train: int, seed: int = ROLE_SEED) -> np.ndarray:
    """Row order of the train split that calibration and selection images are taken from."""
    return np.random.default_rng(seed).permutation(num_train)


def default_selection_count(num_train: int, calibration: int) -> int:
    """Half of the train images outside calibration, at most :data:`MAX_SELECTION_IMAGES`.

    Half, so that the report's parity set keeps the other half plus val and test (demo: 690
    selection images, 1,086 parity images); 1,000 is enough to tell 99 % from 98 % apart.
    """
    return min(MAX_SELECTION_IMAGES, max(num_train - calibration, 0) // 2)


@dataclass(frozen=True)
class ImageRoles:
    """The ids of the calibration and selection images of one export (see the module docstring)."""

    calibration: tuple[str, ...]
    selection: tuple[str, ...]
    seed: int = ROLE_SEED

    @property
    def reserved(self) -> set[str]:
        """Ids that must not count towards the report's parity figures."""
        return set(self.calibration) | set(self.selection)

    def save(self, folder: str | Path) -> Path:
        path = Path(folder) / ROLES_FILE
        path.write_text(json.dumps({"seed": self.seed, "calibration": list(self.calibration),
                                    "selection": list(self.selection)}, indent=1), encoding="utf-8")
        return path

    @classmethod
    def load(cls, folder: str | Path) -> ImageRoles | None:
        """The roles an export folder recorded, or None for a folder exported before roles existed.

        Raises:
            InputError: If the file exists but is not a roles file.
        """
        path = Path(folder) / ROLES_FILE
        if not path.is_file():
            return None
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            return cls(tuple(map(str, data["calibration"])), tuple(map(str, data["selection"])), int(data["seed"]))
        except (ValueError, KeyError, TypeError) as err:
            raise InputError(f"{path}: not an image-roles file ({type(err).__name__}: {err})") from err

    def to_dict(self) -> dict[str, int]:
        """Counts for manifests and reports (the ids stay in :data:`ROLES_FILE`)."""
        return {"seed": self.seed, "calibration_images": len(self.calibration), "selection_images": len(self.selection)}


def assign_roles(data: PreparedData, calibration: int, selection: int | None = None,
                 seed: int = ROLE_SEED) -> ImageRoles:
    """Calibration and selection ids from the train split (``selection=None``: :func:`default_selection_count`).

    Raises:
        InputError: On a negative count.
    """
    if calibration < 0 or (selection is not None and selection < 0):
        raise InputError(f"image counts must be >= 0; got calibration={calibration}, selection={selection}")
    train = data.split("train")
    order = train_permutation(len(train), seed)
    count = default_selection_count(len(train), calibration) if selection is None else selection
    ids = train["id"].astype(str).to_numpy()
    return ImageRoles(tuple(ids[order[:calibration]]), tuple(ids[order[calibration:calibration + count]]), seed)


def calibration_frame(data: PreparedData, roles: ImageRoles) -> pd.DataFrame:
    """The calibration rows in role order (what int8 ranges are fitted on)."""
    return _rows(data.manifest, roles.calibration, "calibration")


def selection_frame(data: PreparedData, roles: Iterable[ImageRoles]) -> pd.DataFrame:
    """The validation parity set: the selection images of the given exports' roles (labelled train images)."""
    ids = list(dict.fromkeys(i for r in roles for i in r.selection))
    if not ids:
        raise InputError(f"{data.root}: no selection images recorded; re-export with selection images > 0")
    return _rows(data.manifest, ids, "selection")


def parity_frame(data: PreparedData, reserved: set[str], limit: int | None = None,
                 seed: int = ROLE_SEED) -> pd.DataFrame:
    """Every prepared image outside ``reserved`` (all splits), or a seeded sample of ``limit`` of them.

    Raises:
        InputError: If nothing is left or ``limit`` < 1.
    """
    if limit is not None and limit < 1:
        raise InputError(f"--parity-images must be >= 1, got {limit}")
    frame = data.manifest[~data.manifest["id"].astype(str).isin(reserved)].reset_index(drop=True)
    if frame.empty:
        raise InputError(f"{data.root}: every prepared image is a calibration or selection image; "
                         "no parity images left (prepare more images or use --parity-dir)")
    if limit is not None and limit < len(frame):
        keep = np.sort(np.random.default_rng(seed).permutation(len(frame))[:limit])
        frame = frame.iloc[keep].reset_index(drop=True)
    return frame


def _rows(manifest: pd.DataFrame, ids: Iterable[str], role: str) -> pd.DataFrame:
    by_id = manifest.assign(_id=manifest["id"].astype(str)).set_index("_id")
    ids = list(ids)
    missing = [i for i in ids if i not in by_id.index]
    if missing:
        raise InputError(f"{len(missing)} {role} image id(s) are not in the prepared data (first: {missing[0]!r}); "
                         "the data changed since the export: re-export")
    return by_id.loc[ids].reset_index(drop=True)


IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".webp", ".bmp")


def image_folder_frame(folder: str | Path) -> pd.DataFrame:
    """Unlabelled photos of a folder (recursively, sorted) as a frame with ``id`` (relative path) and ``image``.

    Raises:
        InputError: If the folder does not exist or holds no image file.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise InputError(f"{folder}: --parity-dir is not a folder")
    paths = sorted(p for p in folder.rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
    if not paths:
        raise InputError(f"{folder}: no image files ({', '.join(IMAGE_SUFFIXES)}) for --parity-dir")
    return pd.DataFrame({"id": [p.relative_to(folder).as_posix() for p in paths], "image": [str(p) for p in paths]})
