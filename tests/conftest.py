"""Shared fixtures: small, deterministic inputs built on the fly."""
from __future__ import annotations

import os

import pytest

# Keep tests deterministic and polite on a 2-core machine.
os.environ.setdefault("OMP_NUM_THREADS", "2")


@pytest.fixture(autouse=True)
def _torch_threads():
    try:
        import torch
    except ImportError:  # data-only environments
        yield
        return
    torch.set_num_threads(2)
    yield
