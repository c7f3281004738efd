"""eCNN members in the results store: one fine-tuned CNN per (data set, fold, net, seed).

A CNN member is stored exactly like a Siamese member (a test-fold score matrix and its metadata,
:mod:`dissim.pipeline.store`), on the same folds, so Table 3 fuses both kinds without retraining
(Section 4: "Fusion + eCNN" = sum of z-scored score matrices). The fine-tuning is
:func:`dissim.pipeline.member.fit_cnn`, as in the classifier's ``ecnn=``.

A *frozen* CNN member (``frozen=True``) is the modern reference beside the controls, not part
of the eCNN: the CNN's ImageNet features (no fine-tuning,
:func:`dissim.pipeline.controls.frozen_features`) through a standardised RBF SVM
(:func:`dissim.pipeline.controls.plain_svm`), scored on the same test folds.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from tqdm import tqdm

from dissim.baselines import predict
from dissim.pipeline.controls import frozen_features, plain_svm
from dissim.pipeline.entry_keys import cnn_member_key, cnn_settings
from dissim.pipeline.experiment import (
    dataset_of,
    environment,
    fingerprint_of,
    fold_of,
)
from dissim.pipeline.member import fit_cnn, network_seed
from dissim.pipeline.store import Result, ResultsStore
from dissim.profiles import Profile
from dissim.profiles import get as get_profile

__all__ = ["CNNMember", "cnn_key", "cnn_settings", "compute_cnn", "ensure_cnn_members",
           "frozen_scores"]


@dataclass(frozen=True)
class CNNMember:
    """One fine-tuned CNN on one fold (or, with ``frozen``, its ImageNet features through an
    SVM); ``profile`` is a :class:`~dissim.profiles.Profile` (a name is looked up once, here)."""

    dataset: str
    fold: int
    cnn: str
    seed: int = 0
    profile: Profile = "quick"  # type: ignore[assignment]  # a name becomes its Profile
    frozen: bool = False

    def __post_init__(self) -> None:
        object.__setattr__(self, "profile", get_profile(self.profile))

    def to_dict(self) -> dict:
        d = {"dataset": self.dataset, "fold": self.fold, "cnn": self.cnn, "seed": self.seed,
             "profile": self.profile.name}
        if self.frozen:  # absent when fine-tuned, so the eCNN members keep their keys
            d["frozen"] = True
        return d


def cnn_key(member: CNNMember, fingerprint: str) -> str:
    """Store key: the member, the profile's CNN and data settings, the data content
    (:func:`~dissim.pipeline.entry_keys.cnn_member_key`, which the store also uses to check an
    entry's key against its recorded metadata)."""
    return cnn_member_key(member.to_dict(), member.profile.to_dict(), fingerprint)


def compute_cnn(m: CNNMember, *, root: str | None = None, device=None,
                progress: bool = False) -> tuple[str, tuple]:
    """Fine-tune one CNN member (or fit the SVM of a frozen one) and score its test fold:
    ``(key, (scores, y, index, meta))``."""
    prof = m.profile
    ds = dataset_of(m, root)
    fingerprint = fingerprint_of(m, root)
    train_idx, test_idx = fold_of(m, root)
    t0 = time.perf_counter()
    if m.frozen:
        scores = frozen_scores(m.cnn, [ds.images[i] for i in train_idx], ds.labels[train_idx],
                               [ds.images[i] for i in test_idx], n_classes=len(ds.classes),
                               input_size=prof.cnn_input_size, device=device)
    else:
        model = fit_cnn(m.cnn, [ds.images[i] for i in train_idx], ds.labels[train_idx],
                        n_classes=len(ds.classes), profile=prof,
                        seed=network_seed(m.seed, m.fold), device=device, progress=progress)
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


def frozen_scores(cnn: str, x_train, y_train, x_test, *, n_classes: int,
                  input_size: int | None = None, device=None) -> np.ndarray:
    """Test scores ``(n_test, n_classes)`` of the frozen reference: ``cnn``'s ImageNet
    features of the training images fit a standardised RBF SVM
    (:func:`~dissim.pipeline.controls.plain_svm`), whose one-vs-rest decision values score
    the test images (a class absent from the training fold scores below every other)."""
    feats = frozen_features(cnn, [*x_train, *x_test], input_size=input_size, device=device)
    svm = plain_svm().fit(feats[:len(x_train)], y_train)
    decision = svm.decision_function(feats[len(x_train):])
    classes = svm.classes_
    if len(classes) == 2:  # one column: the second class's margin
        decision = np.stack([-decision, decision], axis=1)
    scores = np.full((len(x_test), n_classes), decision.min() - 1.0 if decision.size else 0.0)
    scores[:, classes] = decision
    return scores


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
