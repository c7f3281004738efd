"""Shared test fixtures: small, offline, deterministic."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

torch.set_num_threads(min(2, torch.get_num_threads()))

# Tests and CI must never touch the network or the user's caches.
os.environ.setdefault("DISSIM_CACHE", str(Path(__file__).parent / ".." / ".pytest_cache" / "dc"))

SHARED = Path(os.environ.get("DISSIM_SHARED_DATASETS",
                             Path(__file__).resolve().parents[1] / ".." / "shared" / "datasets"))


@pytest.fixture
def shared_datasets() -> Path:
    """The real small data sets beside the repository (skip where absent)."""
    if not SHARED.is_dir():
        pytest.skip(f"shared data sets not found at {SHARED}")
    return SHARED


@pytest.fixture
def store(tmp_path):
    from dissim.store import ResultsStore

    return ResultsStore(tmp_path / "results")
