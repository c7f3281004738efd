"""The in-batch sampler (dissim.sampling) against combinatorics and the paper's loss formulas."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch

from dissim.errors import ConfigError, DataError
from dissim.losses import pair_bce, triplet_loss
from dissim.profiles import get as get_profile
from dissim.sampling import all_pairs, all_triplets, class_balanced_batch, images_per_iteration
from dissim.siamese import SiameseNet
from dissim.topologies import create
from dissim.train import TrainConfig, _batch_loss, train_siamese


def test_class_balanced_batch_draws_whole_classes_without_repeats():
    labels = np.repeat(np.arange(10), 6)
    rng = np.random.default_rng(0)
    for n in (8, 12, 32):
        idx = class_balanced_batch(labels, n, rng)
        assert len(idx) == n and len(set(idx.tolist())) == n
        counts = np.bincount(labels[idx], minlength=10)
        assert set(counts[counts > 0].tolist()) == {4}  # 4 images of each drawn class
    # 10 classes x 4 = 40 < 48: the batch stops when the classes run out
    assert len(class_balanced_batch(labels, 48, rng)) == 40


def test_class_balanced_batch_refuses_what_cannot_pair():
    with pytest.raises(DataError, match="two classes"):
        class_balanced_batch(np.zeros(5, int), 4, np.random.default_rng(0))
    with pytest.raises(ConfigError, match="2 images"):
        class_balanced_batch(np.arange(4), 1, np.random.default_rng(0))


def test_all_pairs_and_triplets_count_as_combinatorics_says():
    labels = torch.tensor([0, 0, 0, 1, 1, 2])
    pi, pj, ni, nj = all_pairs(labels)
    brute = list(itertools.combinations(range(6), 2))
    same = {(i, j) for i, j in brute if labels[i] == labels[j]}
    assert set(zip(pi.tolist(), pj.tolist(), strict=True)) == same
    assert set(zip(ni.tolist(), nj.tolist(), strict=True)) == set(brute) - same
    a, p, n = all_triplets(labels)
    expected = {(i, j, k) for i in range(6) for j in range(6) for k in range(6)
                if i != j and labels[i] == labels[j] and labels[k] != labels[i]}
    assert set(zip(a.tolist(), p.tolist(), n.tolist(), strict=True)) == expected


def test_images_per_iteration_matches_the_paper_sampler():
    assert images_per_iteration(16, "cross") == 32
    assert images_per_iteration(16, "triplet") == 48


@pytest.mark.parametrize("loss", ["cross", "triplet"])
def test_batch_loss_equals_the_brute_force_loss_of_every_pair(loss):
    torch.manual_seed(0)
    labels = np.repeat(np.arange(3), 4)
    x = torch.rand(12, 1, 58, 58)
    net = SiameseNet(create(6, in_channels=1, input_size=58), mode=loss)
    cfg = TrainConfig(topology=6, loss=loss, batch_size=6, sampler="batch")  # 12/18 images
    got = _batch_loss(net, x, labels, np.random.default_rng(1), cfg, torch.device("cpu"),
                      lambda i: i, None)
    idx = class_balanced_batch(labels, images_per_iteration(6, loss), np.random.default_rng(1))
    e = net.embed(x[idx])
    lab = labels[idx]
    n = len(idx)
    if loss == "cross":  # the mean BCE of the same pairs and of the different pairs, halved
        pos = [(i, j) for i in range(n) for j in range(i + 1, n) if lab[i] == lab[j]]
        neg = [(i, j) for i in range(n) for j in range(i + 1, n) if lab[i] != lab[j]]
        def bce(pairs, y):
            i, j = map(list, zip(*pairs, strict=True))
            logits = net.pair_logits(e[i], e[j])
            return pair_bce(logits, torch.full_like(logits, y))
        want = 0.5 * (bce(pos, 1.0) + bce(neg, 0.0))
    else:  # the project's triplet loss on every valid triplet
        t = [(i, j, k) for i in range(n) for j in range(n) for k in range(n)
             if i != j and lab[i] == lab[j] and lab[k] != lab[i]]
        a, p, q = map(list, zip(*t, strict=True))
        want = triplet_loss(e[a], e[p], e[q], margin=1.0, form="conventional")
    assert float(got.detach()) == pytest.approx(float(want.detach()), rel=1e-4)


def test_batch_sampler_trains_and_is_a_profile_and_option_switch():
    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    labels = np.repeat(np.arange(4), 6)
    x = rng.random((24, 1, 58, 58)).astype(np.float32)
    cfg = TrainConfig(topology=6, loss="cross", iterations=3, batch_size=4, sampler="batch",
                      max_retries=0, eval_pairs=8)
    seen = []
    _, log = train_siamese(x, labels, cfg, device="cpu", progress=False,
                           on_checkpoint=lambda done, net: seen.append(done), checkpoints=(0, 3))
    assert len(log.loss) == 3 and all(np.isfinite(log.loss)) and seen == [0, 3]
    with pytest.raises(ConfigError, match="sampler"):
        TrainConfig(topology=1, sampler="hard")
    # the paper profile keeps the paper's sampler, and the default stays out of the store key
    assert get_profile("paper").sampler == "pairs"
    assert "sampler" not in get_profile("paper").to_dict()
    from dissim.pipeline.member import DEFAULT_OPTIONS, Options, train_config
    assert "sampler" not in DEFAULT_OPTIONS.to_dict()
    prof = get_profile("paper")
    assert train_config(1, "cross", prof, Options(sampler="batch"), 0).sampler == "batch"
    assert train_config(1, "cross", prof.with_(sampler="batch"), DEFAULT_OPTIONS, 0).sampler \
        == "batch"


def test_topology_iterations_key_only_the_topologies_they_change():
    """Equal compute per topology (the medium profile): the listed topologies train longer,
    and only their store keys change; the others keep the keys of the plain profile."""
    from dissim.pipeline.keys import member_key
    from dissim.pipeline.member import DEFAULT_OPTIONS, train_config
    from dissim.pipeline.spec import Member
    from dissim.profiles import settings_for

    prof = get_profile("medium")
    plain = prof.with_(topology_iterations=None)
    assert [prof.iterations_for(t) for t in (1, 8)] == [prof.iterations, 400]
    assert train_config(8, "cross", prof, DEFAULT_OPTIONS, 0).iterations == 400
    assert train_config(1, "cross", prof, DEFAULT_OPTIONS, 0).iterations == prof.iterations

    def key(p, t):
        return member_key(Member("folder", topology=t, profile=p), DEFAULT_OPTIONS, p, "f")

    assert key(prof, 1) == key(plain, 1)
    assert key(prof, 8) != key(plain, 8)
    assert key(prof, 8) == key(plain.with_(iterations=400), 8)
    resolved = settings_for(prof.to_dict(), 8)
    assert resolved["iterations"] == 400 and "topology_iterations" not in resolved


def test_triplet_settings_key_only_the_triplet_networks():
    """The medium profile trains its Triplet networks with the batch sampler at lr 1e-3 and
    its Cross networks as the paper does: the Cross networks keep the keys they had."""
    from dissim.pipeline.keys import member_key
    from dissim.pipeline.member import DEFAULT_OPTIONS, train_config
    from dissim.pipeline.spec import Member

    prof = get_profile("medium")
    plain = prof.with_(triplet_sampler=None, triplet_lr=None)
    cross = train_config(1, "cross", prof, DEFAULT_OPTIONS, 0)
    triplet = train_config(1, "triplet", prof, DEFAULT_OPTIONS, 0)
    assert (cross.sampler, cross.lr) == ("pairs", 1e-4)
    assert (triplet.sampler, triplet.lr) == ("batch", 1e-3)

    def key(p, loss):
        return member_key(Member("folder", loss=loss, profile=p), DEFAULT_OPTIONS, p, "f")

    assert key(prof, "cross") == key(plain, "cross")
    assert key(prof, "triplet") != key(plain, "triplet")
    assert key(prof, "triplet") == key(plain.with_(sampler="batch", lr=1e-3), "triplet")


def test_triplet_topology_lr_keys_only_the_topologies_it_lists():
    """Medium's Triplet networks of topologies 3, 4, 5, 7 and 8 train at lr 1e-4 (at 1e-3 they
    collapsed): only their keys change; topologies 1, 2 and 6 keep 1e-3 and their keys, and the
    resolved settings of a listed topology are those of a profile with that rate for all."""
    from dissim.pipeline.keys import member_key
    from dissim.pipeline.member import DEFAULT_OPTIONS, train_config
    from dissim.pipeline.spec import Member
    from dissim.profiles import settings_for

    prof = get_profile("medium")
    plain = prof.with_(triplet_topology_lr=None)
    assert [train_config(t, "triplet", prof, DEFAULT_OPTIONS, 0).lr for t in range(1, 9)] == \
        [1e-3, 1e-3, 1e-4, 1e-4, 1e-4, 1e-3, 1e-4, 1e-4]
    assert train_config(8, "cross", prof, DEFAULT_OPTIONS, 0).lr == 1e-4

    def key(p, t, loss="triplet"):
        return member_key(Member("folder", topology=t, loss=loss, profile=p), DEFAULT_OPTIONS,
                          p, "f")

    assert key(prof, 6) == key(plain, 6) and key(prof, 8, "cross") == key(plain, 8, "cross")
    assert key(prof, 8) != key(plain, 8)
    assert key(prof, 8) == key(plain.with_(triplet_lr=1e-4), 8)
    resolved = settings_for(prof.to_dict(), 8, "triplet")
    assert "lr" not in resolved and "triplet_topology_lr" not in resolved  # 1e-4: the paper's
