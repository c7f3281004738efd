"""Networks that learn: the input layer, held-out pairs, the rerun rule's measures, the sync
cadence and NaN guard of the training loop, the controls, and one real learning check."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch
from scipy.spatial.distance import cdist

import dissim.train
from dissim.data import DEFAULT_DATASET
from dissim.dct import reduce as dct_reduce
from dissim.errors import ConfigError
from dissim.pipeline.experiment import group_units
from dissim.pipeline.runner import Run, ensure_members
from dissim.preprocess import to_network_input
from dissim.report import tables, views
from dissim.spaces import PixelEncoder
from dissim.topologies import create
from dissim.train import (
    TrainConfig,
    best_threshold,
    place_inputs,
    resident,
    sample_pairs_between,
    split_holdout,
    train_siamese,
    untrained_network,
)


def _toy(n_per_class=8, size=62, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.uniform(0, 40, size=(2 * n_per_class, 3, size, size)).astype(np.float32)
    x[n_per_class:] += 150
    return x, np.repeat([0, 1], n_per_class)


# ---- the input layer ------------------------------------------------------------------------

def test_zerocenter_subtracts_the_training_mean_image():
    x, _ = _toy(size=58)
    torch.manual_seed(0)
    net = create(6, 3, 58).fit_input(x)
    np.testing.assert_allclose(net.input_mean.numpy(), x.astype(np.float64).mean(0), rtol=1e-6)
    xt = torch.from_numpy(x)
    by_hand = net.fc(torch.flatten(net.features(xt - torch.from_numpy(x.mean(0))), 1))
    torch.testing.assert_close(net(xt), by_hand, rtol=1e-4, atol=1e-4)


def test_normalization_none_passes_the_pixels_and_bad_names_fail():
    x, _ = _toy(size=58)
    net = create(6, 3, 58, normalization="none").fit_input(x)
    assert float(net.input_mean.abs().max()) == 0.0
    xt = torch.from_numpy(x)
    torch.testing.assert_close(net(xt), net.fc(torch.flatten(net.features(xt), 1)))
    with pytest.raises(ConfigError, match="normalization"):
        create(6, 3, 58, normalization="unit")
    with pytest.raises(ConfigError, match="normalization"):
        TrainConfig(topology=6, normalization="zscore")


def test_the_mean_image_travels_in_the_state_dict():
    x, _ = _toy(size=58)
    a = create(6, 3, 58).fit_input(x)
    b = create(6, 3, 58)
    b.load_state_dict(a.state_dict())
    torch.testing.assert_close(a.input_mean, b.input_mean)


# ---- held-out pairs and pair accuracy -------------------------------------------------------

def test_split_holdout_keeps_three_per_class_and_is_seeded():
    labels = np.array([0] * 10 + [1] * 4 + [2] * 3 + [3] * 40)
    train, held = split_holdout(labels, 0.1, seed=1)
    assert len(np.intersect1d(train, held)) == 0 and len(train) + len(held) == len(labels)
    per_class = {c: int((labels[held] == c).sum()) for c in range(4)}
    assert per_class == {0: 1, 1: 1, 2: 0, 3: 4}  # round(0.1 n), >= 1, only classes >= 4
    assert all((labels[train] == c).sum() >= 3 for c in range(4))
    np.testing.assert_array_equal(held, split_holdout(labels, 0.1, seed=1)[1])
    assert len(split_holdout(labels, 0.0, seed=1)[1]) == 0


def test_heldout_pairs_join_a_query_and_a_reference_image():
    q = np.array([0, 1, 2, 2])
    r = np.array([0, 0, 1, 1, 2, 3])
    i, j, y = sample_pairs_between(q, r, 4000, np.random.default_rng(0))
    assert i.max() < len(q) and j.max() < len(r)
    np.testing.assert_array_equal(q[i] == r[j], y == 1)
    assert abs(y.mean() - 0.5) < 0.03


def test_best_threshold_is_the_brute_force_optimum():
    rng = np.random.default_rng(3)
    d = np.round(rng.uniform(0, 1, 60), 2)  # ties included
    same = rng.random(60) < 0.5
    cut, acc = best_threshold(d, same)
    brute = max(np.mean((d < t) == same) for t in np.concatenate([[-1.0], d, [2.0]]))
    assert acc == pytest.approx(brute)
    assert np.mean((d < cut) == same) == pytest.approx(acc)


@pytest.mark.parametrize("loss", ["cross", "triplet"])
def test_log_has_both_pair_accuracies_and_the_untrained_control(loss):
    x, y = _toy(n_per_class=10)
    cfg = TrainConfig(topology=7, loss=loss, iterations=2, batch_size=4, max_retries=0,
                      eval_pairs=32)
    _, log = train_siamese(x, y, cfg, device="cpu", progress=False)
    assert log.heldout_images == 2  # one per class of ten
    for v in (log.pair_accuracy, log.heldout_pair_accuracy, log.untrained_pair_accuracy,
              log.untrained_heldout_pair_accuracy):
        assert 0.0 <= v <= 1.0
    assert (log.pair_threshold is None) == (loss == "cross")
    _, log0 = untrained_network(x, y, cfg, device="cpu")
    assert log0.loss == [] and not log0.converged and log0.attempts == 0
    assert log0.pair_accuracy == log.untrained_pair_accuracy  # same seed, same network


# ---- the training loop: sync cadence and NaN guard (issue: the GPU path) --------------------

def test_sync_cadence_gives_the_step_by_step_losses_bit_for_bit():
    x, y = _toy()
    base = TrainConfig(topology=7, iterations=7, batch_size=4, max_retries=0, eval_pairs=8)
    n1, l1 = train_siamese(x, y, dataclasses.replace(base, sync_every=1), device="cpu",
                           progress=False)
    n3, l3 = train_siamese(x, y, dataclasses.replace(base, sync_every=3), device="cpu",
                           progress=False)
    assert l1.loss == l3.loss and len(l3.loss) == 7
    for a, b in zip(n1.parameters(), n3.parameters(), strict=True):
        assert torch.equal(a, b)


def test_nan_between_reads_applies_no_bad_step_and_stops_at_the_read(monkeypatch):
    real = dissim.train._loss
    calls = {"n": 0}

    def loss(*args, **kwargs):
        calls["n"] += 1
        value = real(*args, **kwargs)
        return value * torch.tensor(float("nan")) if calls["n"] == 2 else value

    monkeypatch.setattr(dissim.train, "_loss", loss)
    x, y = _toy()
    cfg = TrainConfig(topology=7, iterations=9, batch_size=4, max_retries=0, eval_pairs=8,
                      sync_every=4)
    net, log = train_siamese(x, y, cfg, device="cpu", progress=False)
    assert len(log.loss) == 2 and np.isnan(log.loss[-1])  # the history ends at the NaN
    assert calls["n"] == 4  # stopped at the first read (4 steps), not at 9
    assert not log.converged and log.pair_accuracy == 0.0
    assert all(torch.isfinite(p).all() for p in net.parameters())


def test_training_data_placement():
    x, _ = _toy()
    t = place_inputs(x, torch.device("cpu"))
    assert isinstance(t, torch.Tensor) and np.shares_memory(t.numpy(), x)  # no copy on CPU
    assert resident(10, 80, 100) and not resident(10, 81, 100)  # 90 % of the free memory


# ---- the controls ---------------------------------------------------------------------------

def test_pixel_encoder_is_centred_pixels_through_the_same_spaces():
    rng = np.random.default_rng(0)
    x = rng.uniform(0, 255, (5, 3, 16, 16)).astype(np.float32)
    mean = x[:3].mean(0)
    enc = PixelEncoder(mean, dct_size=4).encode(x)
    centred = torch.from_numpy(x - mean)
    torch.testing.assert_close(enc.embedding, centred.flatten(1))
    torch.testing.assert_close(enc.code, dct_reduce(centred, 4))
    d = PixelEncoder(mean).compare("fully", enc.embedding[:2], enc.embedding[2:])
    np.testing.assert_allclose(d.numpy(), cdist(enc.embedding[:2], enc.embedding[2:]),
                               rtol=1e-5)


def test_controls_run_on_the_same_folds_and_keep_trained_keys(tmp_path):
    run = Run(DEFAULT_DATASET, profile="smoke", results_dir=str(tmp_path / "r"))
    controls = run.control_members([7])
    assert {m.encoder for m in controls} == {"untrained", "pixels"}
    assert all("encoder" not in m.to_dict() for m in run.members([7], ["cross"]))
    assert all(m.to_dict()["encoder"] == m.encoder for m in controls)
    assert len(group_units(controls)) == 2 * len(run.folds())  # no network trained for them
    trained = ensure_members(run.members([7], tables.METHOD_NAMES), run.store, progress=False)
    ctrl = ensure_members(controls, run.store, progress=False)
    for r in ctrl.values():
        assert r.meta["train"]["attempts"] == 0 and r.meta["train"]["iterations"] == 0
        assert np.all(np.isfinite(r.scores))
    df = tables.table1({**trained, **ctrl}, topology=7)
    assert set(tables.CONTROLS.values()) <= set(df["method"])
    cell = df[(df["method"] == "Cross") & (df["builder"] == "F")].iloc[0]
    assert cell["networks"] == len(run.folds())  # one network per fold behind the cell
    assert 0 <= cell["converged"] <= cell["networks"]
    health = tables.training_health(trained)
    assert len(health) == 3 * len(run.folds())  # three methods per fold, controls left out
    fig = views.plot_learning_curves(health)
    # per network: the moving average of its loss; plus the ln 2 line
    assert len(fig.axes[0].lines) == 3 * len(run.folds()) + 1


# ---- one real learning check (the regression guard of "networks that learn") ----------------

@pytest.mark.slow
def test_a_small_topology_learns_on_real_images():
    """Topology 8 (48 px) on the embedded textures: the loss leaves ln 2 and held-out pair
    accuracy rises well above chance and above the same network untrained."""
    from dissim.data import load

    ds = load(DEFAULT_DATASET, None, max_per_class=40, seed=0)
    x = to_network_input(ds.images, 48)
    cfg = TrainConfig(topology=8, iterations=80, batch_size=16, max_retries=0, eval_pairs=128)
    _, log = train_siamese(x, ds.labels, cfg, device="cpu", progress=False)
    first, last = np.mean(log.loss[:8]), np.mean(log.loss[-8:])
    assert last < 0.6 < first + 0.2  # well below ln 2 = 0.693 at the end
    assert log.pair_accuracy >= 0.75 and log.heldout_pair_accuracy >= 0.7
    assert log.heldout_pair_accuracy > log.untrained_heldout_pair_accuracy + 0.1
