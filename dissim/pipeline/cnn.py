"""eCNN members in the results store: one fine-tuned CNN per (data set, fold, net, seed).

A CNN member is stored exactly like a Siamese member (a test-fold score matrix and its metadata,
:mod:`dissim.pipeline.store`), on the same folds, so Table 3 fuses both kinds without retraining
(Section 4: "Fusion + eCNN" = sum of z-scored score matrices). The fine-tuning is
:func:`dissim.pipeline.member.fit_cnn`, as in the classifier's ``ecnn=``.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass

from tqdm import tqdm

from dissim.baselines import predict
from dissim.pipeline.experiment import (
    dataset_of,
    environment,
    fingerprint_of,
    fold_of,
)
from dissim.pipeline.member import fit_cnn, network_seed
from dissim.pipeline.store import Result, ResultsStore, config_key
from dissim.profiles import Profile
from dissim.profiles import get as get_profile


@dataclass(frozen=True)
class CNNMember:
    """One fine-tuned CNN on one fold; ``profile`` is a :class:`~dissim.profiles.Profile`
    (a name is looked up once, here)."""

    dataset: str
    fold: int
    cnn: str
    seed: int = 0
    profile: Profile = "quick"  # type: ignore[assignment]  # a name becomes its Profile

    def __post_init__(self) -> None:
        object.__setattr__(self, "profile", get_profile(self.profile))

    def to_dict(self) -> dict:
        return {"dataset": self.dataset, "fold": self.fold, "cnn": self.cnn, "seed": self.seed,
                "profile": self.profile.name}


def cnn_key(member: CNNMember, fingerprint: str) -> str:
    """Store key: the member, the profile's CNN and data settings, the data content."""
    settings = {k: v for k, v in member.profile.to_dict().items()
                if k.startswith("cnn") or k in ("max_folds", "max_per_class")}
    return config_key({"cnn_member": member.to_dict(), "profile": settings,
                       "data": fingerprint, "format": 1})


def compute_cnn(m: CNNMember, *, root: str | None = None, device=None,
                progress: bool = False) -> tuple[str, tuple]:
    """Fine-tune one CNN member and score its test fold: ``(key, (scores, y, index, meta))``."""
    prof = m.profile
    ds = dataset_of(m, root)
    fingerprint = fingerprint_of(m, root)
    train_idx, test_idx = fold_of(m, root)
    t0 = time.perf_counter()
    model = fit_cnn(m.cnn, [ds.images[i] for i in train_idx], ds.labels[train_idx],
                    n_classes=len(ds.classes), profile=prof, seed=network_seed(m.seed, m.fold),
                    device=device, progress=progress)
    scores = predict(model, m.cnn, [ds.images[i] for i in test_idx],
                     batch_size=prof.cnn_batch_size, input_size=prof.cnn_input_size,
                     device=device)
    meta = {
        "cnn_member": m.to_dict(), "kind": "cnn", "profile_settings": prof.to_dict(),
        "data": {"fingerprint": fingerprint, "classes": list(ds.classes),
                 "n_train": int(len(train_idx)), "n_test": int(len(test_idx))},
        "timings": {"train_seconds": time.perf_counter() - t0},
        "environment": environment(),
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    return cnn_key(m, fingerprint), (scores, ds.labels[test_idx], test_idx, meta)


def ensure_cnn_members(
    members: Sequence[CNNMember],
    store: ResultsStore,
    *,
    root: str | None = None,
    device=None,
    progress: bool = True,
) -> dict[CNNMember, Result]:
    """Fine-tune (or reuse from ``store``) every CNN member and return its stored result.

    Each member is computed under its store lock, and the store is read again once the lock
    is held, so two runs sharing a store never fine-tune the same CNN twice.
    """
    out: dict[CNNMember, Result] = {}
    for m in tqdm(members, desc="CNNs", disable=not progress or len(members) < 2):
        key = cnn_key(m, fingerprint_of(m, root))
        hit = store.get(key)
        if hit is None:
            with store.lock(key):
                hit = store.get(key)
                if hit is None:
                    _, entry = compute_cnn(m, root=root, device=device, progress=progress)
                    hit = store.put(key, *entry)
        out[m] = hit
    return out
