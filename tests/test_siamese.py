"""The Siamese wrapper: pair scores, the score matrix against a brute-force loop, head init."""

from __future__ import annotations

import math

import pytest
import torch

from dissim.errors import ConfigError
from dissim.siamese import SiameseNet, euclidean
from dissim.topologies import create

SIZE = 58  # topology 6's minimum side: a real, cheap network on CPU


@pytest.fixture(scope="module")
def backbone():
    torch.manual_seed(0)
    return create(6, in_channels=1, input_size=SIZE)


@pytest.mark.parametrize("mode", ["cross", "triplet"])
@pytest.mark.parametrize("chunk", [None, 1, 2, 100])
def test_score_matrix_equals_brute_force_loop(backbone, mode, chunk):
    torch.manual_seed(1)
    net = SiameseNet(backbone, mode)
    E, P = torch.rand(5, backbone.embedding_dim), torch.rand(7, backbone.embedding_dim)
    P[3] = E[2]  # an exact match: distance sqrt(delta)
    with torch.no_grad():
        S = net.score_matrix(E, P, chunk=chunk)
        brute = torch.tensor([[net.pair_score(E[i:i + 1], P[j:j + 1]).item()
                               for j in range(7)] for i in range(5)])
    assert S.shape == (5, 7)
    torch.testing.assert_close(S, brute, rtol=1e-6, atol=1e-6)
    if mode == "triplet":
        assert S[2, 3].item() == pytest.approx(1e-3)


def test_score_matrix_of_no_rows(backbone):
    net = SiameseNet(backbone, "triplet")
    assert net.score_matrix(torch.rand(0, 8), torch.rand(3, 8)).shape == (0, 3)
    with pytest.raises(ConfigError, match="score_matrix needs"):
        net.score_matrix(torch.rand(2, 8), torch.rand(3, 9))


def test_cross_forward_scores_are_similarities(backbone):
    torch.manual_seed(2)
    net = SiameseNet(backbone, "cross")
    x1, x2 = torch.rand(4, 1, SIZE, SIZE) * 255, torch.rand(4, 1, SIZE, SIZE) * 255
    p = net(x1, x2)
    assert p.shape == (4,)
    assert ((p > 0) & (p < 1)).all()
    e1, e2 = net.embed(x1), net.embed(x2)
    assert ((e1 > 0) & (e1 < 1)).all() and e1.shape == (4, backbone.embedding_dim)
    torch.testing.assert_close(torch.sigmoid(net.pair_logits(e1, e2)), p)
    loss = torch.nn.functional.binary_cross_entropy_with_logits(
        net.pair_logits(e1, e2), torch.tensor([1.0, 0.0, 1.0, 0.0]))
    loss.backward()
    assert net.head.weight.grad is not None
    assert backbone.features.conv1.weight.grad is not None
    backbone.zero_grad(set_to_none=True)


def test_triplet_distance_of_identical_embeddings():
    e = torch.rand(3, 16)
    torch.testing.assert_close(euclidean(e, e), torch.full((3,), 1e-3))
    a, b = torch.zeros(1, 2), torch.tensor([[3.0, 4.0]])
    assert euclidean(a, b, delta=0.0).item() == 5.0
    assert euclidean(a, b).item() == pytest.approx(math.sqrt(25 + 1e-6))


def test_triplet_has_no_head(backbone):
    net = SiameseNet(backbone, "triplet")
    assert net.head is None
    e = torch.rand(2, backbone.embedding_dim)
    torch.testing.assert_close(net.pair_score(e, e), torch.full((2,), 1e-3))
    with pytest.raises(ConfigError, match="only in cross mode"):
        net.pair_logits(e, e)


def test_head_init_is_narrow_normal(backbone):
    torch.manual_seed(3)
    heads = [SiameseNet(backbone, "cross").head for _ in range(20)]
    w = torch.cat([h.weight.flatten() for h in heads])
    b = torch.cat([h.bias for h in heads])
    assert heads[0].weight.shape == (1, backbone.embedding_dim)
    assert w.std().item() == pytest.approx(0.01, rel=0.05)
    assert abs(w.mean().item()) < 1e-3
    assert b.abs().max().item() < 0.05 and b.std().item() > 0


def test_bad_mode_raises_config_error(backbone):
    with pytest.raises(ConfigError, match="unknown Siamese mode 'contrastive'"):
        SiameseNet(backbone, "contrastive")


def test_head_follows_a_meta_backbone():
    net = SiameseNet(create(8, 3, 224, device="meta"), "cross")
    assert net.head.weight.is_meta
