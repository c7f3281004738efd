"""The eight Siamese subnetworks of Appendix A, as PyTorch modules with a tiny registry.

Each topology is a stack of named layers (``conv1``, ``relu1``, ``pool1`` ... counted per kind,
as a MATLAB layer array would name them) followed by one fully connected layer whose output is
the embedding (pre-sigmoid; the sigmoid belongs to the Siamese wrapper, Section 2.2).

Conventions (inferred from Appendix A's activation sizes): convolutions are stride 1 and
unpadded; max-pools are 2x2 stride 2 with floor; the FC input size follows ``input_size`` and is
measured by a forward pass on the ``meta`` device (nothing is allocated).  Appendix A's learnable
counts imply one input channel; the paper's text feeds three, so ``in_channels`` is a parameter
and only the first layer's count changes (Section 2).

Topology-specific points:

* 2 -- LeakyReLU (MATLAB default slope 0.01) and an FC of 2048.
* 3 -- the first convolution has stride 4.
* 4 -- the first max-pool is 4x4 with stride 4.
* 5 -- conv 7x7 stride 4, then conv 5x5 stride 3 with MATLAB ``'same'`` padding: output
  ``ceil(n / 3)``, the odd pixel of padding going bottom/right (at 224 px: ``F.pad(1, 2, 1, 2)``
  on a 26x26 map, giving 9x9).  The padding is computed from the incoming size, as MATLAB does
  when it initialises the network, so other input sizes stay MATLAB-exact; this is why the
  minimum side of topology 5 is 95 px (a fixed ``(1, 2, 1, 2)`` pad would need 103).
* 7 -- Dropout (MATLAB default p = 0.5) as the first layer and no ReLU anywhere.  Appendix A
  prints 16,781,312 FC learnables (= 4096 * 4096 + 4096, a 4096-d input) but an 11x11x256
  activation before it (30,976 inputs, 126,881,792 learnables).  We follow the activation sizes:
  the FC reads the 11x11x256 map.
* 8 -- two grouped convolutions (2 groups); the FC reads 46x46x256 and has 2,218,790,912
  learnables at 224 px (8.9 GB in fp32): build it on ``device="meta"`` to inspect it.

Input layer (book: Assumptions, "Input normalisation").  Every backbone starts with MATLAB's
``imageInputLayer``: with ``normalization="zerocenter"`` (MATLAB's default) it subtracts the mean
image of the training set, a buffer ``input_mean`` set by :meth:`Backbone.fit_input` and saved
with the weights; with ``"none"`` (the MathWorks Siamese example) it passes the 0-255 pixels on.
Without zero-centring, every first-layer filter of a Glorot-initialised topology sees a large
common-mode term (all pixels are positive), the embeddings of different images are nearly the
same, and topologies 3, 5 and 7 never leave the chance loss ln 2.

Weight initialisation (paper Section 2.2; MathWorks example): topology 1, the MathWorks example
net, uses the example's "narrow-normal" N(0, 0.01^2) for weights *and* biases of every conv/FC
layer.  For topologies 2-8 the paper gives nothing; our choice is MATLAB's default: Glorot
(Xavier) uniform weights with MATLAB's fans (``k*k*in_per_group``, ``k*k*out_per_group``)
and zero biases.

DEEPER tap (Section 2.1).  The paper's rule is "the layer before the last ReLU or fully connected
layer"; the bold rows of Appendix A that would say more were lost.  The default tap is the
literal rule -- the layer just before the last (Leaky)ReLU, or the last layer before the FC when
there is no ReLU -- and ``create(..., deeper_layer="pool2")`` picks any other layer:

========  ==================  =============  ============
topology  default tap         shape at 224   DEEPER dim
========  ==================  =============  ============
1         ``conv4``           64x19x19       5,184
2         ``conv6``           64x20x20       5,184
3         ``conv4``           64x7x7         5,184
4         ``conv4``           128x22x22      10,368
5         ``conv4``           64x6x6         5,184
6         ``pool4``           64x11x11       5,184
7         ``pool4``           256x11x11      20,736
8         ``pool2``           128x48x48      10,368
========  ==================  =============  ============

Example
-------
>>> net = create(1, in_channels=3, input_size=224, device="meta")
>>> net.embedding_dim, net.deeper_layer
(4096, 'conv4')
"""

from __future__ import annotations

import math
from collections import Counter, OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from numbers import Integral

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from dissim.errors import ConfigError

__all__ = [
    "NORMALIZATIONS", "Backbone", "MatlabSameConv2d", "available", "create", "deeper_shape",
    "min_input_size", "register",
]

#: MATLAB ``imageInputLayer`` normalisations we support (module docstring).
NORMALIZATIONS = ("zerocenter", "none")


class MatlabSameConv2d(nn.Conv2d):
    """A convolution with MATLAB's ``'Padding','same'`` (Appendix A, topology 5).

    The output side is ``ceil(n / stride)``; the total padding ``(out-1)*stride + k - n`` is
    split with the odd pixel at the bottom/right, exactly as MATLAB's ``convolution2dLayer``.
    """

    @staticmethod
    def same_padding(n: int, k: int, stride: int) -> tuple[int, int]:
        """(before, after) padding of one side of length ``n``."""
        out = math.ceil(n / stride)
        total = max((out - 1) * stride + k - n, 0)
        return total // 2, total - total // 2

    def forward(self, x: Tensor) -> Tensor:
        top, bottom = self.same_padding(x.shape[-2], self.kernel_size[0], self.stride[0])
        left, right = self.same_padding(x.shape[-1], self.kernel_size[1], self.stride[1])
        return super().forward(F.pad(x, (left, right, top, bottom)))


class _Stack:
    """Builds a named layer list; tracks the channel count (a few lines, not a framework)."""

    def __init__(self, in_channels: int, device) -> None:
        self.c, self.device = in_channels, device
        self.layers: list[tuple[str, nn.Module]] = []
        self._count: Counter[str] = Counter()

    def _add(self, kind: str, module: nn.Module) -> _Stack:
        self._count[kind] += 1
        self.layers.append((f"{kind}{self._count[kind]}", module))
        return self

    def conv(self, out: int, k: int, stride: int = 1, *, groups: int = 1, same: bool = False):
        cls = MatlabSameConv2d if same else nn.Conv2d
        layer = cls(self.c, out, k, stride=stride, groups=groups, device=self.device)
        self.c = out
        return self._add("gconv" if groups > 1 else "conv", layer)

    def relu(self) -> _Stack:
        return self._add("relu", nn.ReLU())

    def lrelu(self) -> _Stack:
        return self._add("lrelu", nn.LeakyReLU(0.01))

    def pool(self, k: int = 2, stride: int = 2) -> _Stack:
        return self._add("pool", nn.MaxPool2d(k, stride))

    def dropout(self, p: float = 0.5) -> _Stack:
        return self._add("dropout", nn.Dropout(p))


@dataclass(frozen=True)
class _Recipe:
    layers: Callable[[int, object], list[tuple[str, nn.Module]]]
    embedding_dim: int
    init: str  # "narrow-normal" or "glorot"


_REGISTRY: dict[int, _Recipe] = {}


def register(topology_id: int, *, embedding_dim: int = 4096, init: str = "glorot"):
    """Register a factory ``f(in_channels, device) -> [(name, module), ...]`` for a topology.

    The factory returns the layers before the FC; the FC (``embedding_dim`` outputs) is added by
    :func:`create`.  ``init`` is ``"narrow-normal"`` or ``"glorot"`` (see the module docstring).
    """

    def decorator(factory):
        _REGISTRY[topology_id] = _Recipe(factory, embedding_dim, init)
        return factory

    return decorator


def available() -> list[int]:
    """The registered topology ids (1-8)."""
    return sorted(_REGISTRY)


# ---- Appendix A, one factory per network (the book's Topologies page checks the arithmetic)


@register(1, init="narrow-normal")
def _topology1(c: int, device) -> list[tuple[str, nn.Module]]:
    s = _Stack(c, device)
    s.conv(64, 10).relu().pool().conv(128, 7).relu().pool().conv(128, 4).relu().pool()
    return s.conv(64, 5).relu().layers


@register(2, embedding_dim=2048)
def _topology2(c: int, device) -> list[tuple[str, nn.Module]]:
    s = _Stack(c, device)
    s.conv(64, 5).lrelu().conv(64, 5).lrelu().pool().conv(128, 3).lrelu().conv(128, 3).lrelu()
    return s.pool().conv(128, 4).lrelu().pool().conv(64, 5).lrelu().layers


@register(3)
def _topology3(c: int, device) -> list[tuple[str, nn.Module]]:
    s = _Stack(c, device)
    s.conv(128, 7, stride=4).pool().conv(256, 5).relu().conv(128, 5).pool()
    return s.conv(64, 3).relu().pool().layers


@register(4)
def _topology4(c: int, device) -> list[tuple[str, nn.Module]]:
    s = _Stack(c, device)
    s.conv(128, 7).pool(4, 4).relu().conv(256, 5).relu().conv(64, 3).pool()
    return s.conv(128, 3).relu().conv(64, 5).layers


@register(5)
def _topology5(c: int, device) -> list[tuple[str, nn.Module]]:
    s = _Stack(c, device)
    s.conv(64, 10).pool().relu().conv(128, 7, stride=4).relu()
    return s.conv(128, 5, stride=3, same=True).relu().conv(64, 4).relu().layers


@register(6)
def _topology6(c: int, device) -> list[tuple[str, nn.Module]]:
    s = _Stack(c, device)
    s.conv(64, 7).pool().relu().conv(128, 3).pool().relu().conv(64, 1).relu()
    s.conv(128, 3).relu().pool().conv(128, 1).relu().conv(64, 4).pool().relu()
    return s.layers


@register(7)
def _topology7(c: int, device) -> list[tuple[str, nn.Module]]:
    s = _Stack(c, device)
    s.dropout(0.5).conv(64, 7).pool().conv(128, 5).pool().conv(64, 5).pool()
    return s.conv(256, 3).pool().layers


@register(8)
def _topology8(c: int, device) -> list[tuple[str, nn.Module]]:
    s = _Stack(c, device)
    s.conv(32, 10).pool().relu().conv(64, 7, groups=2).conv(128, 5).pool().relu()
    return s.conv(256, 3, groups=2).layers


# ---- the module ------------------------------------------------------------------------------


class Backbone(nn.Module):
    """One Appendix A subnetwork: named feature layers, then the FC embedding layer.

    Build it with :func:`create`.  Attributes: ``topology``, ``input_size``, ``in_channels``,
    ``embedding_dim`` (D), ``deeper_layer`` (the name of the DEEPER tap, Section 2.1), ``features``
    (an ``nn.Sequential`` of named layers) and ``fc``.
    """

    def __init__(self, topology: int, features: nn.Sequential, fc: nn.Linear, *,
                 input_size: int, in_channels: int, deeper_layer: str,
                 normalization: str = "zerocenter") -> None:
        super().__init__()
        if normalization not in NORMALIZATIONS:
            raise ConfigError(f"unknown normalization {normalization!r}; choose one of "
                              f"{', '.join(NORMALIZATIONS)}")
        self.topology, self.input_size, self.in_channels = topology, input_size, in_channels
        self.embedding_dim = fc.out_features
        self.deeper_layer = deeper_layer
        self.normalization = normalization
        self.features = features
        self.fc = fc
        # MATLAB imageInputLayer's Mean: zeros until fit_input (identity for "none")
        self.register_buffer("input_mean", torch.zeros(
            in_channels, input_size, input_size, device=fc.weight.device))

    @torch.no_grad()
    def fit_input(self, x: Tensor | np.ndarray, chunk: int = 256) -> Backbone:
        """Set the input layer's mean image from training inputs ``x`` (N, C, S, S); returns self.

        ``"zerocenter"``: the per-pixel mean over the N images, as MATLAB's ``imageInputLayer``
        computes it from the training data; ``"none"``: zeros.  Accumulated in float64 in
        chunks, so a large host array is never copied whole.
        """
        if self.normalization == "none":
            self.input_mean.zero_()
            return self
        total = torch.zeros(self.input_mean.shape, dtype=torch.float64,
                            device=self.input_mean.device)
        for start in range(0, len(x), chunk):
            part = x[start:start + chunk]
            part = torch.as_tensor(part).to(self.input_mean.device, torch.float64)
            self._check_input(part)
            total += part.sum(0)
        self.input_mean.copy_(total / max(len(x), 1))
        return self

    def _check_input(self, x: Tensor) -> None:
        s = self.input_size
        if x.dim() != 4 or x.shape[1] != self.in_channels or tuple(x.shape[-2:]) != (s, s):
            raise ConfigError(
                f"topology {self.topology} was built for (N, {self.in_channels}, {s}, {s}) "
                f"inputs; got {tuple(x.shape)} (resize the images to {s} px or create the "
                "backbone with the matching input_size/in_channels)"
            )

    def _input(self, x: Tensor) -> Tensor:
        """The input layer: shape check, then subtract the mean image (zeros for "none")."""
        self._check_input(x)
        return x - self.input_mean.to(x.dtype)

    def forward_with_tap(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """The FC embedding (N, D), pre-sigmoid, and the DEEPER tap (N, C, H, W), in one pass."""
        x = self._input(x)
        tap = None
        for name, layer in self.features.named_children():
            x = layer(x)
            if name == self.deeper_layer:
                tap = x
        return self.fc(torch.flatten(x, 1)), tap

    def forward(self, x: Tensor) -> Tensor:
        """The FC embedding (N, D), pre-sigmoid (Section 2.2)."""
        return self.fc(torch.flatten(self.features(self._input(x)), 1))

    def deeper(self, x: Tensor) -> Tensor:
        """The DEEPER tap activation (N, C, H, W); stops at the tap layer."""
        x = self._input(x)
        for name, layer in self.features.named_children():
            x = layer(x)
            if name == self.deeper_layer:
                return x
        raise AssertionError("unreachable: deeper_layer is validated by create()")

    def extra_repr(self) -> str:
        return (f"topology={self.topology}, input_size={self.input_size}, "
                f"in_channels={self.in_channels}, deeper_layer={self.deeper_layer!r}, "
                f"normalization={self.normalization!r}")


def _default_tap(names: list[str]) -> str:
    """Section 2.1's literal rule: the layer before the last (Leaky)ReLU, else the last layer."""
    relus = [i for i, n in enumerate(names) if n.startswith(("relu", "lrelu"))]
    return names[relus[-1] - 1] if relus else names[-1]


def _init_(module: nn.Module, how: str) -> None:
    """Initialise every conv/FC of ``module`` in place (module docstring)."""
    for m in module.modules():
        if not isinstance(m, nn.Conv2d | nn.Linear):
            continue
        if how == "narrow-normal":
            nn.init.normal_(m.weight, 0.0, 0.01)
            nn.init.normal_(m.bias, 0.0, 0.01)
            continue
        if isinstance(m, nn.Conv2d):  # MATLAB fans: per-group input and output channels
            area = m.kernel_size[0] * m.kernel_size[1]
            fan_in, fan_out = area * m.in_channels // m.groups, area * m.out_channels // m.groups
        else:
            fan_in, fan_out = m.in_features, m.out_features
        bound = math.sqrt(6.0 / (fan_in + fan_out))
        nn.init.uniform_(m.weight, -bound, bound)
        nn.init.zeros_(m.bias)


def _recipe(topology: int) -> _Recipe:
    if isinstance(topology, bool) or not isinstance(topology, Integral) or (
            int(topology) not in _REGISTRY):
        raise ConfigError(
            f"unknown topology {topology!r}; choose one of {', '.join(map(str, available()))}"
        )
    return _REGISTRY[int(topology)]


def _meta_features(topology: int, in_channels: int, input_size: int) -> Tensor | None:
    """The output of the feature stack on ``meta`` (shape only), or None if the size is invalid."""
    layers = nn.Sequential(*[m for _, m in _recipe(topology).layers(in_channels, "meta")])
    try:
        return layers(torch.empty(1, in_channels, input_size, input_size, device="meta"))
    except RuntimeError:  # a kernel larger than its input, or a pool with an empty output
        return None


@cache
def min_input_size(topology: int) -> int:
    """The smallest input side (px) for which every layer of ``topology`` has a non-empty output.

    Found by bisection over meta-device forwards (output sides are monotone in the input side):
    73, 68, 131, 86, 95, 58, 62, 41 px for topologies 1-8.
    """
    lo, hi = 1, 4096
    while lo < hi:
        mid = (lo + hi) // 2
        if _meta_features(topology, 1, mid) is None:
            lo = mid + 1
        else:
            hi = mid
    return lo


def _check_int(name: str, value, low: int) -> int:
    if isinstance(value, bool) or not isinstance(value, Integral) or value < low:
        raise ConfigError(f"{name} must be an integer >= {low}; got {value!r}")
    return int(value)


def create(topology: int, in_channels: int = 3, input_size: int = 224, *, device=None,
           deeper_layer: str | None = None, normalization: str = "zerocenter") -> Backbone:
    """Build the Appendix A subnetwork ``topology`` (1-8) for square inputs of side ``input_size``.

    Parameters
    ----------
    topology : int
        Network number of Appendix A.
    in_channels : int
        Input channels (3 in the paper's text; Appendix A's counts assume 1, Section 2).
    input_size : int
        Input side in pixels (224 in the paper); must be at least :func:`min_input_size`.
    device : torch.device or str, optional
        Where the parameters live; ``"meta"`` builds shapes only and allocates nothing.
    deeper_layer : str, optional
        Name of the DEEPER tap layer (e.g. ``"conv4"``); None picks the Section 2.1 default.
    normalization : {"zerocenter", "none"}
        The input layer (module docstring); the mean image is set later by
        :meth:`Backbone.fit_input` and is zero until then.

    Raises
    ------
    ConfigError
        Unknown topology or tap name, bad ``in_channels``, or ``input_size`` too small.
    """
    recipe, topology = _recipe(topology), int(topology)
    in_channels = _check_int("in_channels", in_channels, 1)
    input_size = _check_int("input_size", input_size, 1)
    m = min_input_size(topology)
    if input_size < m:
        raise ConfigError(
            f"topology {topology} needs inputs of at least {m} px; got {input_size} "
            f"(use input_size >= {m}; profiles raise their input_size to it)"
        )
    out = _meta_features(topology, in_channels, input_size)
    layers = recipe.layers(in_channels, device)
    names = [n for n, _ in layers]
    tap = _default_tap(names) if deeper_layer is None else deeper_layer
    if tap not in names:
        raise ConfigError(
            f"topology {topology} has no layer {deeper_layer!r}; choose one of {', '.join(names)}"
        )
    features = nn.Sequential(OrderedDict(layers))
    fc = nn.Linear(out[0].numel(), recipe.embedding_dim, device=device)
    net = Backbone(topology, features, fc, input_size=input_size, in_channels=in_channels,
                   deeper_layer=tap, normalization=normalization)
    with torch.no_grad():
        _init_(net, recipe.init)
    return net


def deeper_shape(topology: int, input_size: int, in_channels: int = 3,
                 deeper_layer: str | None = None) -> tuple[int, int, int]:
    """(C, H, W) of the DEEPER tap of ``topology`` at ``input_size`` (computed on ``meta``)."""
    net = create(topology, in_channels, input_size, device="meta", deeper_layer=deeper_layer)
    x = torch.empty(1, in_channels, input_size, input_size, device="meta")
    return tuple(net.deeper(x).shape[1:])
