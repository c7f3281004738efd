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
def no_training(monkeypatch):
    """Fail the test if a Siamese network is trained (input errors must come before)."""
    import dissim.train

    def refuse(*args, **kwargs):
        raise AssertionError("training started before the input error was found")

    monkeypatch.setattr(dissim.train, "train_siamese", refuse)
    monkeypatch.setattr(dissim.train, "_train_once", refuse)


@pytest.fixture
def no_work(no_training, monkeypatch):
    """:func:`no_training`, and fail if a notebook kernel starts."""
    import papermill

    def refuse(*args, **kwargs):
        raise AssertionError("a kernel started before the input error was found")

    monkeypatch.setattr(papermill, "execute_notebook", refuse)


@pytest.fixture
def store(tmp_path):
    from dissim.pipeline.store import ResultsStore

    return ResultsStore(tmp_path / "results")


@pytest.fixture
def fast_trainer():
    """The pipeline's training step scoring convergence on 8 fresh pairs, not 256 or 16
    (seconds saved; the path is unchanged): pass it as ``trainer=``."""
    import dataclasses

    from dissim.train import train_siamese

    def fast(x, y, cfg, **kwargs):
        return train_siamese(x, y, dataclasses.replace(cfg, eval_pairs=8), **kwargs)

    return fast
