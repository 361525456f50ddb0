"""Photo conditions a model is judged under: museum photos, field photos, standard corruptions at a severity.

A model and its int8 files are measured on museum-style photos; an investigator's photo is a phone
photo in the field. A :class:`Condition` names which prepared photos to take (``museum`` or
``field`` rows of a split, :class:`mocar.data.dataset.PreparedData`) and optionally a corruption
from :mod:`mocar.data.corruptions` applied to each photo at a severity 1-5 before preprocessing.

Spec strings (``--conditions``), comma-separated:

* ``museum``, ``field`` — the prepared photos of that condition, as they are;
* ``gaussian_noise:3``, ``fog:1-5`` — a corruption of the museum photos at one or several severities;
* ``all:3`` — every corruption at severity 3 (``all`` alone: every corruption at every severity).

Corruptions are seeded per image (its id) so every run and every model sees the same pixels.
"""
from __future__ import annotations

import zlib
from dataclasses import dataclass

import pandas as pd
from PIL import Image

from mocar.data.corruptions import CORRUPTIONS, SEVERITIES, check_corruption, corrupt
from mocar.data.dataset import PreparedData
from mocar.data.images import load_rgb
from mocar.errors import InputError

PHOTOS = ("museum", "field")


@dataclass(frozen=True)
class Condition:
    """Which photos, and which corruption at which severity (none: the photos as they are)."""

    photos: str = "museum"
    corruption: str | None = None
    severity: int | None = None

    @property
    def name(self) -> str:
        """``museum``, ``field`` or ``<corruption>@<severity>`` (``field+fog@2`` for a corrupted field photo)."""
        if self.corruption is None:
            return self.photos
        prefix = "" if self.photos == "museum" else f"{self.photos}+"
        return f"{prefix}{self.corruption}@{self.severity}"

    def image(self, path: str, image_id: str, seed: int = 0) -> Image.Image:
        """The photo under this condition (the corruption seeded by the image id)."""
        photo = load_rgb(path)
        if self.corruption is None:
            return photo
        return corrupt(photo, self.corruption, int(self.severity), seed=(zlib.crc32(image_id.encode()) + seed) % 2**32)


def _severities(text: str, item: str) -> list[int]:
    if text == "all":
        return list(SEVERITIES)
    try:
        if "-" in text:
            low, high = (int(part) for part in text.split("-", 1))
            values = list(range(low, high + 1))
        else:
            values = [int(text)]
    except ValueError as err:
        raise InputError(f"--conditions {item!r}: severity must be 1-5, a range like 1-5, or all") from err
    if not values or any(v not in SEVERITIES for v in values):
        raise InputError(f"--conditions {item!r}: severities must lie in 1-5")
    return values


def parse_conditions(spec: str) -> list[Condition]:
    """``"museum,field,fog:1-5"`` -> conditions in the given order, duplicates dropped (module docstring).

    Raises:
        InputError: Naming the item and what is valid.
    """
    conditions: list[Condition] = []
    for item in (part.strip() for part in spec.split(",")):
        if not item:
            continue
        if item in PHOTOS:
            conditions.append(Condition(item))
            continue
        name, _, severity = item.partition(":")
        names = list(CORRUPTIONS) if name == "all" else [name]
        if name != "all" and name not in CORRUPTIONS:
            raise InputError(f"--conditions {item!r}: unknown condition; valid: {', '.join(PHOTOS)}, all, "
                             f"{', '.join(CORRUPTIONS)} (a corruption takes :severity, e.g. fog:3 or fog:1-5)")
        for corruption in names:
            for level in _severities(severity or "all", item):
                check_corruption(corruption, level)
                conditions.append(Condition("museum", corruption, level))
    if not conditions:
        raise InputError("--conditions is empty; e.g. museum,field,all:3")
    return list(dict.fromkeys(conditions))


def condition_frame(data: PreparedData, split: str, condition: Condition) -> pd.DataFrame:
    """The prepared rows of ``split`` a condition is measured on (its photos' condition).

    Raises:
        InputError: If the data holds no such photos in that split (e.g. no field photos prepared).
    """
    return data.split(split, condition=condition.photos)
