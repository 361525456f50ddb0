"""What the report's plots need beyond the flat rows: each file's per-image outputs (kept in memory only)."""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass
class Evidence:
    """Per-image outputs kept for the plots (not written to JSON)."""

    folder: str
    export: str
    labels: list[str]
    targets: np.ndarray
    reference: dict[str, np.ndarray]
    outputs: dict[str, np.ndarray] = field(repr=False)

