"""One member pipeline: the classifier and the runner give the same scores, bit for bit."""

from __future__ import annotations

import numpy as np

from dissim import DissimilarityClassifier
from dissim.data import DEFAULT_DATASET
from dissim.pipeline.experiment import Member, dataset_of, fold_of
from dissim.pipeline.member import fit_unit, train_config
from dissim.pipeline.runner import ensure_members
from dissim.profiles import get as get_profile
from dissim.train import train_siamese


def test_classifier_and_runner_give_identical_scores(store):
    """Fold 0 of a smoke member: ``dissim run``'s stored scores are the classifier's, when the
    classifier trains in float32 as the store does (``amp=None``)."""
    members = [Member(dataset=DEFAULT_DATASET, profile="smoke", topology=7, loss="triplet",
                      space=s, k=k, seed=3) for k in (2, 3) for s in ("fully", "deeper")]
    stored = ensure_members(members, store, progress=False)
    ds = dataset_of(members[0], None)
    train, test = fold_of(members[0], None)
    clf = DissimilarityClassifier(topologies=(7,), methods=("triplet",), profile="smoke",
                                  seed=3, k_values=(2, 3), device="cpu", amp=None)  # as stored
    clf.fit([ds.images[i] for i in train], ds.labels[train])
    scores = clf.member_scores([ds.images[i] for i in test])
    assert [(m.space, m.k) for m in clf.members_] == [(m.space, m.k) for m in members]
    for m, s in zip(members, scores, strict=True):
        np.testing.assert_array_equal(s, stored[m].scores)


def test_the_encoder_and_the_trainer_are_replaceable():
    """The seam of the controls: an untrained network (0 training steps) through the same
    prototypes -> space -> SVM path."""
    rng = np.random.default_rng(0)
    x = rng.uniform(0, 255, (12, 3, 62, 62)).astype(np.float32)
    y = np.repeat([0, 1], 6)
    cfg = train_config(7, "cross", get_profile("smoke"), __import__(
        "dissim.pipeline.member", fromlist=["Options"]).Options(), seed=0)
    calls = []

    def untrained(x, y, cfg, **kw):  # the initialised network: no training step
        calls.append(cfg)
        net, log = train_siamese(x, y, cfg, **kw)
        return net, log

    from dissim.pipeline.member import DEFAULT_OPTIONS

    fitted = fit_unit(x, y, cfg, ks=(2,), spaces=("fully", "deeper"), options=DEFAULT_OPTIONS,
                      n_classes=2, kmeans_seed=0, trainer=untrained, device="cpu")
    assert len(calls) == 1 and [m.space for m in fitted.members] == ["fully", "deeper"]
    assert all(s.shape == (12, 2) for s in fitted.scores(x))
