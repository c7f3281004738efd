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


@pytest.fixture
def fast_pair_accuracy(monkeypatch):
    """Score convergence on 8 fresh pairs, not 256 (seconds saved; the path is unchanged)."""
    import dataclasses

    import dissim.train

    real = dissim.train.train_siamese

    def fast(x, y, cfg, **kwargs):
        return real(x, y, dataclasses.replace(cfg, eval_pairs=8), **kwargs)

    monkeypatch.setattr(dissim.train, "train_siamese", fast)
