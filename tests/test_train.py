"""Pair and triplet sampling (SPEC 3.1, 3.2) and the training loop on tiny inputs."""

from __future__ import annotations

import numpy as np
import pytest

from dissim.errors import ConfigError, DataError
from dissim.train import TrainConfig, sample_pairs, sample_triplets, train_siamese

# Unbalanced classes: sampling must still be uniform over classes, not over images.
LABELS = np.array([0] * 50 + [1] * 5 + [2] * 5)


def test_pairs_are_half_similar_and_labelled_right():
    rng = np.random.default_rng(0)
    i1, i2, y = sample_pairs(LABELS, 20000, rng)
    assert abs(y.mean() - 0.5) < 0.02  # u < 0.5 -> similar
    same = LABELS[i1] == LABELS[i2]
    np.testing.assert_array_equal(same, y == 1)
    assert np.all(i1[y == 1] != i2[y == 1])  # two *different* images of the class


def test_pair_classes_are_uniform_not_image_weighted():
    rng = np.random.default_rng(1)
    i1, i2, y = sample_pairs(LABELS, 30000, rng)
    sim_classes = np.bincount(LABELS[i1[y == 1]], minlength=3) / (y == 1).sum()
    np.testing.assert_allclose(sim_classes, 1 / 3, atol=0.02)
    dis = np.concatenate([LABELS[i1[y == 0]], LABELS[i2[y == 0]]])
    np.testing.assert_allclose(np.bincount(dis, minlength=3) / len(dis), 1 / 3, atol=0.02)


def test_triplets_are_valid():
    rng = np.random.default_rng(2)
    a, p, n = sample_triplets(LABELS, 5000, rng)
    assert np.all(LABELS[a] == LABELS[p]) and np.all(a != p)
    assert np.all(LABELS[a] != LABELS[n])
    np.testing.assert_allclose(np.bincount(LABELS[a]) / len(a), 1 / 3, atol=0.03)


def test_sampling_is_seeded():
    a = sample_pairs(LABELS, 50, np.random.default_rng(5))
    b = sample_pairs(LABELS, 50, np.random.default_rng(5))
    for u, v in zip(a, b, strict=True):
        np.testing.assert_array_equal(u, v)


def test_one_class_cannot_make_pairs():
    with pytest.raises(DataError, match="two classes"):
        sample_pairs(np.zeros(10, int), 4, np.random.default_rng(0))


def test_bad_config_is_one_line_error():
    with pytest.raises(ConfigError, match="unknown loss"):
        TrainConfig(topology=1, loss="hinge")
    with pytest.raises(ConfigError, match="iterations"):
        TrainConfig(topology=1, iterations=0)


def _toy(n_per_class=6, size=62, seed=0):
    """Two visually different classes at topology 7's minimum size."""
    rng = np.random.default_rng(seed)
    x = rng.uniform(0, 40, size=(2 * n_per_class, 3, size, size)).astype(np.float32)
    x[n_per_class:] += 150  # class 1 is bright
    y = np.repeat([0, 1], n_per_class)
    return x, y


@pytest.mark.parametrize("loss", ["cross", "triplet"])
def test_training_is_deterministic_and_logs(loss):
    x, y = _toy()
    cfg = TrainConfig(topology=7, loss=loss, iterations=3, batch_size=4, max_retries=0,
                      eval_pairs=16)
    n1, log1 = train_siamese(x, y, cfg, device="cpu", progress=False)
    n2, log2 = train_siamese(x, y, cfg, device="cpu", progress=False)
    assert len(log1.loss) == 3 and np.all(np.isfinite(log1.loss))
    assert log1.loss == log2.loss  # bit-identical on CPU with one seed
    for p1, p2 in zip(n1.parameters(), n2.parameters(), strict=True):
        assert (p1 == p2).all()
    assert 0.0 <= log1.pair_accuracy <= 1.0 and log1.attempts == 1
    assert not n1.training  # returned in inference mode


def test_rerun_rule_retries_until_threshold():
    x, y = _toy()
    cfg = TrainConfig(topology=7, iterations=1, batch_size=2, max_retries=2,
                      convergence_threshold=1.01, eval_pairs=8)  # impossible threshold
    _, log = train_siamese(x, y, cfg, device="cpu", progress=False)
    assert log.attempts == 3 and not log.converged
    assert log.total_seconds >= log.seconds
