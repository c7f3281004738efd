"""eCNN members in the results store: one fine-tuned CNN per (data set, fold, net, seed).

A CNN member is stored exactly like a Siamese member (a test-fold score matrix and its metadata,
:mod:`dissim.store`), on the same folds, so Table 3 fuses both kinds without retraining
(Section 4: "Fusion + eCNN" = sum of z-scored score matrices, SPEC 6).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass

from tqdm import tqdm

from dissim.errors import ConfigError
from dissim.profiles import get as get_profile
from dissim.store import Result, ResultsStore, config_key


@dataclass(frozen=True)
class CNNMember:
    """One fine-tuned CNN on one fold (``profile`` is a profile name)."""

    dataset: str
    fold: int
    cnn: str
    seed: int = 0
    profile: str = "quick"

    def to_dict(self) -> dict:
        return asdict(self)


def cnn_key(member: CNNMember, fingerprint: str) -> str:
    """Store key: the member, the profile's CNN and data settings, the data content."""
    prof = get_profile(member.profile).to_dict()
    settings = {k: v for k, v in prof.items()
                if k.startswith("cnn") or k in ("max_folds", "max_per_class")}
    return config_key({"cnn_member": member.to_dict(), "profile": settings,
                       "data": fingerprint, "format": 1})


def run_cnn_members(
    members: Sequence[CNNMember],
    store: ResultsStore,
    *,
    root: str | None = None,
    device=None,
    progress: bool = True,
) -> dict[CNNMember, Result]:
    """Fine-tune (or reuse from ``store``) every CNN member and return its stored result."""
    from dissim.baselines.finetune import fine_tune
    from dissim.experiment import (
        dataset_fingerprint,
        dataset_folds,
        environment,
        load_dataset,
    )

    out: dict[CNNMember, Result] = {}
    bar = tqdm(members, desc="CNNs", disable=not progress or len(members) < 2)
    for m in bar:
        prof = get_profile(m.profile)
        ds = load_dataset(m.dataset, root, m.profile, m.seed)
        fingerprint = dataset_fingerprint(m.dataset, root, m.profile, m.seed)
        key = cnn_key(m, fingerprint)
        hit = store.get(key)
        if hit is not None:
            out[m] = hit
            continue
        folds = dataset_folds(m.dataset, root, m.profile, m.seed)
        if not 0 <= m.fold < len(folds):
            raise ConfigError(f"fold {m.fold} does not exist: {m.dataset} has {len(folds)} "
                              f"folds in profile {m.profile}")
        train_idx, test_idx = folds[m.fold]
        t0 = time.perf_counter()
        scores = fine_tune(
            m.cnn, [ds.images[i] for i in train_idx], ds.labels[train_idx],
            [ds.images[i] for i in test_idx], n_classes=len(ds.classes),
            epochs=prof.cnn_epochs, batch_size=prof.cnn_batch_size,
            input_size=prof.cnn_input_size, seed=m.seed + 7919 * m.fold, device=device,
            progress=progress,
        )
        meta = {
            "cnn_member": m.to_dict(), "kind": "cnn", "profile_settings": prof.to_dict(),
            "data": {"fingerprint": fingerprint, "classes": list(ds.classes),
                     "n_train": int(len(train_idx)), "n_test": int(len(test_idx))},
            "timings": {"train_seconds": time.perf_counter() - t0},
            "environment": environment(),
            "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        }
        out[m] = store.put(key, scores, ds.labels[test_idx], test_idx, meta)
    return out
