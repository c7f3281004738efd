"""FULLY and DEEPER spaces (SPEC 5) against direct, per-pair oracles."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy.fft import dctn
from scipy.spatial.distance import cdist

from dissim.errors import ConfigError
from dissim.siamese import SiameseNet
from dissim.spaces import DissimilaritySpace, NetworkEncoder, cosine_distance, encode
from dissim.topologies import create

SIZE = 62  # topology 7's smallest valid input: cheap


@pytest.fixture(scope="module", params=["cross", "triplet"])
def net(request):
    torch.manual_seed(0)
    return SiameseNet(create(7, input_size=SIZE), mode=request.param).eval()


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(0)
    x = rng.uniform(0, 255, size=(12, 3, SIZE, SIZE)).astype(np.float32)
    return x, np.repeat([0, 1, 2], 4)


def test_cosine_distance_equals_scipy():
    rng = np.random.default_rng(1)
    a, b = rng.normal(size=(5, 7)), rng.normal(size=(3, 7))
    got = cosine_distance(torch.from_numpy(a), torch.from_numpy(b)).numpy()
    np.testing.assert_allclose(got, cdist(a, b, "cosine"), atol=1e-12)


def test_fully_equals_per_pair_siamese_forward(net, data):
    x, y = data
    space = DissimilaritySpace(NetworkEncoder(net), "fully", k=2).fit(x, y)
    d = space.transform(x[:5])
    assert d.shape == (5, 2 * 3)  # k per class
    with torch.no_grad():  # oracle: run the network on every (image, prototype) pair
        protos = torch.from_numpy(space.prototypes_)
        for i in range(5):
            xi = torch.from_numpy(x[i : i + 1]).expand(len(protos), -1, -1, -1)
            np.testing.assert_allclose(d[i], net(xi, protos).numpy(), rtol=1e-5, atol=1e-6)
    if net.mode == "cross":
        assert d.min() > 0 and d.max() < 1  # similarities
    else:
        assert d.min() >= 1e-3 - 1e-7  # sqrt(0 + 1e-6) at least


def test_deeper_equals_scipy_dct_and_cosine(net, data):
    x, y = data
    space = DissimilaritySpace(NetworkEncoder(net), "deeper", k=2).fit(x, y)
    d = space.transform(x[:3])

    def code(images):  # oracle: scipy's orthonormal DCT-II, top-left 9x9 of every channel
        with torch.no_grad():
            tap = net.backbone.deeper(torch.from_numpy(images)).double().numpy()
        out = []
        for t in tap:
            chans = []
            for ch in t:
                if ch.shape[0] < 9 or ch.shape[1] < 9:
                    pad = np.zeros((max(9, ch.shape[0]), max(9, ch.shape[1])))
                    pad[: ch.shape[0], : ch.shape[1]] = ch
                    ch = pad
                chans.append(dctn(ch, type=2, norm="ortho")[:9, :9].ravel())
            out.append(np.concatenate(chans))
        return np.array(out)

    want = cdist(code(x[:3]), code(space.prototypes_), "cosine")
    np.testing.assert_allclose(d, want, atol=2e-5)


def test_one_pass_encoding_matches_separate_calls(net, data):
    x, _ = data
    enc = encode(net, x[:4], deeper=True)
    with torch.no_grad():
        np.testing.assert_allclose(enc.embedding, net.embed(torch.from_numpy(x[:4])), atol=1e-6)
    assert enc.code.shape == (4, 81 * net.backbone.deeper(torch.from_numpy(x[:1])).shape[1])


def test_feature_space_clustering_switch(net, data):
    x, y = data
    space = DissimilaritySpace(NetworkEncoder(net), "fully", k=2,
                               cluster_space="feature").fit(x, y)
    assert space.prototypes_ is None and space.transform(x).shape == (12, 6)


def test_errors(net, data):
    x, y = data
    with pytest.raises(ConfigError, match="cluster_space"):
        DissimilaritySpace(NetworkEncoder(net), cluster_space="wavelet").fit(x, y)
    with pytest.raises(ConfigError, match="unknown space 'sobel'"):
        DissimilaritySpace(NetworkEncoder(net), "sobel").fit(x, y)
    with pytest.raises(ConfigError, match="needs an encoder"):
        DissimilaritySpace(space="deeper").fit(x, y)


def test_sklearn_clone_and_params(net):
    from sklearn.base import clone

    space = DissimilaritySpace(NetworkEncoder(net), k=3)
    assert clone(space).get_params()["k"] == 3
