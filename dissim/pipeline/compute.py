"""The compute step: one unit's network trained, and every member built from it scored.

:func:`compute_unit` trains once and returns every sibling member it can build from that network
(Section 4: one network per k in the paper profile, both spaces from it), as picklable
:class:`Entry` values with their metadata (timings, training log, package versions), so it can
run on any worker and hand its entries to the process that owns the results store.
"""

from __future__ import annotations

import functools
import platform
import subprocess
import time
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import sklearn
import torch

from dissim import __version__
from dissim.pipeline.data_cache import dataset_of, fingerprint_of, fold_of, network_inputs
from dissim.pipeline.keys import member_key
from dissim.pipeline.member import (
    DEFAULT_OPTIONS,
    Options,
    Trainer,
    fit_unit,
    input_size,
    network_seed,
    train_config,
)
from dissim.pipeline.spec import Member, Unit
from dissim.spaces import NetworkEncoder, PixelEncoder
from dissim.train import TrainLog, train_siamese, untrained_network

__all__ = ["Entry", "compute_unit", "environment"]


def _git_commit() -> str | None:
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True,
                             timeout=5, cwd=Path(__file__).parent)
        return out.stdout.strip() or None
    except Exception:
        return None


@functools.lru_cache(maxsize=1)
def environment() -> dict:
    """Package versions, git commit and machine, stored with every result."""
    return {
        "dissim": __version__, "torch": torch.__version__, "sklearn": sklearn.__version__,
        "numpy": np.__version__, "python": platform.python_version(),
        "machine": platform.machine(), "processor": platform.processor() or None,
        "cuda": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
        "git_commit": _git_commit(),
    }


@dataclass
class Entry:
    """A computed member, not yet stored: what :func:`compute_unit` returns (picklable)."""

    member: Member
    key: str
    scores: np.ndarray
    y_true: np.ndarray
    test_index: np.ndarray
    meta: dict


def compute_unit(
    unit: Unit,
    *,
    options: Options = DEFAULT_OPTIONS,
    root: str | None = None,
    device=None,
    progress: bool = True,
    trainer: Trainer = train_siamese,
) -> list[Entry]:
    """Train one network and build every member of ``unit`` (all its k values and spaces).

    A pure function of its arguments and the data: it writes nothing, so it can run on any
    worker (Dask) and hand its entries back to the process that owns the results store. The
    work is :func:`dissim.pipeline.member.fit_unit`, as in the classifier.
    """
    m0 = unit.base
    prof = m0.profile
    ds = dataset_of(m0, root)
    train_idx, test_idx = fold_of(m0, root)
    size = input_size(m0.topology, prof)
    x_all = network_inputs(m0.dataset, root, prof.max_per_class, m0.seed, m0.input, size,
                           options.pixel_range)
    x_train, x_test = x_all[train_idx], x_all[test_idx]
    y_train, y_test = ds.labels[train_idx], ds.labels[test_idx]
    fingerprint = fingerprint_of(m0, root)
    seed = network_seed(m0.seed, m0.fold, m0.k if prof.one_net_per_k else None)
    make_encoder = NetworkEncoder
    if m0.encoder == "untrained":
        trainer = untrained_network
    elif m0.encoder == "pixels":
        def trainer(*args, **kwargs):  # no network: the pixels are the encoder
            return None, TrainLog(attempts=0)

        def make_encoder(net, dct_size):
            return PixelEncoder(x_train.mean(0), dct_size)
    t0 = time.perf_counter()
    fitted = fit_unit(
        x_train, y_train, train_config(m0.topology, m0.method, prof, options, seed),
        ks=unit.ks, spaces=unit.spaces, options=options, n_classes=len(ds.classes),
        kmeans_seed=m0.seed, class_names=ds.classes, trainer=trainer,
        make_encoder=make_encoder, device=device, progress=progress)
    t_score = time.perf_counter()
    scores = fitted.scores(x_test)
    t_score = (time.perf_counter() - t_score) / max(1, len(scores))
    log = fitted.log
    out: list[Entry] = []
    for fm, s in zip(fitted.members, scores, strict=True):
        member = replace(m0, space=fm.space, k=fm.k)
        meta = {
            "member": member.to_dict(), "method": member.method,
            "options": options.to_dict(), "profile_settings": prof.to_dict(),
            "data": {"fingerprint": fingerprint, "classes": list(ds.classes),
                     "n_train": int(len(train_idx)), "n_test": int(len(test_idx)),
                     "input_size": size},
            "space_range": list(fm.space_range),
            "timings": {"train_seconds": log.seconds,
                        "train_total_seconds": log.total_seconds,
                        "prototypes_seconds": fm.seconds["prototypes"],
                        "space_svm_seconds": fm.seconds["space_svm"] + t_score,
                        "unit_seconds": time.perf_counter() - t0},
            "train": {"converged": log.converged, "attempts": log.attempts,
                      "iterations": len(log.loss),
                      "pair_accuracy": log.pair_accuracy,
                      "heldout_pair_accuracy": log.heldout_pair_accuracy,
                      "untrained_pair_accuracy": log.untrained_pair_accuracy,
                      "untrained_heldout_pair_accuracy": log.untrained_heldout_pair_accuracy,
                      "pair_threshold": log.pair_threshold,
                      "heldout_images": log.heldout_images, "device": log.device,
                      "first_loss": log.loss[0] if log.loss else None,
                      "final_loss": log.loss[-1] if log.loss else None,
                      "loss_curve": log.loss[:: max(1, len(log.loss) // 200)]},
            "environment": environment(),
            "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        }
        out.append(Entry(member, member_key(member, options, prof, fingerprint), s, y_test,
                         test_idx, meta))
    return out
