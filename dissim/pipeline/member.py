"""The member pipeline, once: train -> encode -> prototypes -> space -> SVM scores (Section 2).

A *unit* is one Siamese network and every member built from it: for each k the supervised
k-means prototypes (Section 2.1), for each space (FULLY, DEEPER) a
:class:`~dissim.spaces.DissimilaritySpace` and one one-vs-rest RBF SVM
(:class:`~dissim.fusion.RBFSVMs`). Each step is a small part that can be passed in:

``trainer``
    ``trainer(x, y, cfg, device=, progress=) -> (net, log)``; default
    :func:`dissim.train.train_siamese`.
``make_encoder``
    ``make_encoder(net, dct_size) -> encoder`` with ``encode`` and ``compare``; default
    :class:`dissim.spaces.NetworkEncoder`. A control replaces the trained network here (an
    initialised network: a trainer that runs 0 iterations; plain pixels: an encoder that
    ignores the network).

:func:`fit_unit` is used by :func:`dissim.pipeline.compute.compute_unit` (the results
store, the book) and by :class:`~dissim.pipeline.classifier.DissimilarityClassifier` (any
images), so the two give the same scores for the same images, options and seed.
:func:`fit_cnn` is the eCNN member of both (Section 4).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field

import numpy as np
import torch

from dissim.baselines import fit as fit_cnn_model
from dissim.errors import ConfigError
from dissim.fusion import RBFSVMs
from dissim.profiles import Profile
from dissim.prototypes import SupervisedKMeans
from dissim.spaces import DissimilaritySpace, NetworkEncoder, features
from dissim.topologies import min_input_size
from dissim.train import TrainConfig, TrainLog, train_siamese

METHODS: dict[str, tuple[str, str]] = {
    "cross": ("cross", "adam"),
    "crossdd": ("cross", "decaydgrad"),
    "triplet": ("triplet", "adam"),
}
"""The paper's method names (Section 4) -> (loss, optimizer)."""
INPUTS = ("orig", "hasc")

Trainer = Callable[..., tuple[torch.nn.Module, TrainLog]]
EncoderFactory = Callable[..., object]


@dataclass(frozen=True)
class Options:
    """The open choices that change a member's result (book: Assumptions).

    Defaults follow the paper's text or the companion README; each alternative is a switch.
    """

    triplet_form: str = "conventional"  # Section 2.2.2: the printed form cannot train (book)
    triplet_margin: float = 1.0
    svm_scaling: str = "none"  # Section 2: "none" | "minmax" | "standard"
    svm_C: float = 1000.0
    svm_gamma: float = 0.1
    per_class: bool = True  # Section 2.1: k centroids per class
    cluster_space: str = "pixel"  # Section 2.1 and the companion README: k-means on the images
    pixel_range: str = "0-255"  # Section 2: network input
    normalization: str = "zerocenter"  # input layer: MATLAB's default "zerocenter" | "none"
    dct_size: int = 9  # Section 2.1: 9 x 9 low-frequency block
    convergence_threshold: float = 0.8  # rerun rule of the companion README: pair accuracy
    sampler: str | None = None  # None: the profile's (paper: "pairs"); dissim.sampling

    def to_dict(self) -> dict:
        d = asdict(self)
        if d["sampler"] is None:  # added later: absent at its default, so keys stay valid
            del d["sampler"]
        return d


#: The defaults of every open choice (the paper's text or the companion README).
DEFAULT_OPTIONS = Options()


def input_size(topology: int, profile: Profile) -> int:
    """The profile's input side, raised to the topology's minimum valid side."""
    return max(profile.input_size, min_input_size(topology))


def network_seed(seed: int, fold: int = 0, k: int | None = None) -> int:
    """The training seed of the network of (seed, fold[, k]): ``seed + 7919 fold + 104729 k``.

    ``k`` is given only when the profile trains one network per k (the paper's protocol).
    """
    return seed + 7919 * fold + (104729 * k if k is not None else 0)


def train_config(topology: int, method: str, profile: Profile, options: Options,
                 seed: int) -> TrainConfig:
    """The :class:`~dissim.train.TrainConfig` of one network of ``profile`` (Section 4).

    Pair accuracies are measured on the profile's ``eval_pairs`` balanced pairs.
    """
    if method not in METHODS:
        raise ConfigError(f"unknown method {method!r}; choose from {', '.join(METHODS)}")
    loss, optimizer = METHODS[method]
    return TrainConfig(
        topology=topology, loss=loss, optimizer=optimizer,
        iterations=profile.iterations_for(topology),
        batch_size=profile.batch_size, lr=profile.lr_for(loss, topology), seed=seed,
        sampler=options.sampler or profile.sampler_for(loss), triplet_form=options.triplet_form,
        margin=options.triplet_margin, convergence_threshold=options.convergence_threshold,
        normalization=options.normalization, max_retries=profile.max_train_retries,
        eval_pairs=profile.eval_pairs,
        amp=profile.amp, tf32=profile.tf32, channels_last=profile.channels_last,
    )


def method_of(loss: str, optimizer: str) -> str:
    """The paper's name for (loss, optimizer): cross, crossdd, triplet, or ``loss/optimizer``."""
    for name, pair in METHODS.items():
        if pair == (loss, optimizer):
            return name
    return f"{loss}/{optimizer}"


# ---------------------------------------------------------------------------------------------
# fitted parts
# ---------------------------------------------------------------------------------------------
@dataclass
class SpaceMember:
    """One fitted member: a space at one k and its SVMs."""

    space: str
    k: int
    transformer: DissimilaritySpace
    svms: RBFSVMs
    space_range: tuple[float, float] = (0.0, 0.0)
    seconds: dict = field(default_factory=dict)


@dataclass
class FittedUnit:
    """One trained network (its encoder) and the members built from it."""

    net: torch.nn.Module
    log: TrainLog
    encoder: object
    members: list[SpaceMember]

    def scores(self, x) -> list[np.ndarray]:
        """The SVM score matrix of every member on network inputs ``x``."""
        return score_members(self.encoder, self.members, x)


@dataclass
class Network:
    """One trained Siamese network of a classifier and what it was trained on."""

    input: str
    topology: int
    method: str
    input_size: int
    net: torch.nn.Module


@dataclass
class ClassifierMember:
    """One member of a fitted classifier: network ``network``'s fitted space at one k and its
    SVMs (the grid's member *specification* is :class:`dissim.pipeline.spec.Member`)."""

    network: int
    fitted: SpaceMember

    @property
    def space(self) -> str:
        return self.fitted.space

    @property
    def k(self) -> int:
        return self.fitted.k


def score_members(encoder, members: Sequence[SpaceMember], x) -> list[np.ndarray]:
    """Encode ``x`` once and score it with every member (``(n, n_classes)`` each)."""
    enc = encoder.encode(x, deeper=any(m.space == "deeper" for m in members))
    return [m.svms.decision_function(m.transformer.transform_encoded(enc)) for m in members]


def pixel_prototypes(x, y, ks: Sequence[int], options: Options, seed: int,
                     class_names=None) -> dict[int, tuple[np.ndarray, float]]:
    """Supervised k-means of the network inputs for every k: ``{k: (prototypes, seconds)}``."""
    out = {}
    for k in ks:
        t = time.perf_counter()
        km = SupervisedKMeans(k=k, per_class=options.per_class, random_state=seed)
        km.fit(x, y, class_names=class_names)
        out[k] = (km.prototypes_, time.perf_counter() - t)
    return out


def fit_unit(
    x_train: np.ndarray,
    y_train: np.ndarray,
    cfg: TrainConfig,
    *,
    ks: Sequence[int],
    spaces: Sequence[str],
    options: Options,
    n_classes: int,
    kmeans_seed: int,
    class_names: Sequence[str] | None = None,
    trainer: Trainer = train_siamese,
    make_encoder: EncoderFactory = NetworkEncoder,
    device=None,
    progress: bool = False,
    prototypes: dict[int, tuple[np.ndarray, float]] | None = None,
) -> FittedUnit:
    """Train one network (``cfg``) and fit every (k, space) member on the training images.

    Pixel-space prototypes do not depend on the network: they are found first, so a class
    with fewer images than k fails in seconds, not after the training. ``prototypes`` passes
    those :func:`pixel_prototypes` found already for the same ``x_train``, ``y_train``, k
    values, options and seed (networks that share their inputs share their prototypes).
    """
    names = None if class_names is None else list(class_names)
    pixel = options.cluster_space == "pixel"
    protos = {}
    if pixel:
        protos = prototypes if prototypes is not None else pixel_prototypes(
            x_train, y_train, ks, options, kmeans_seed, names)
    net, log = trainer(x_train, y_train, cfg, device=device, progress=progress)
    encoder = make_encoder(net, dct_size=options.dct_size)
    need_deeper = "deeper" in spaces
    enc_train = encoder.encode(x_train, deeper=need_deeper)
    members: list[SpaceMember] = []
    for k in ks:
        t_k = time.perf_counter()
        if pixel:
            prototypes, t_proto = protos[k]
            penc = encoder.encode(prototypes, deeper=need_deeper)
            proto = {s: features(penc, s) for s in spaces}
        else:  # ablation: cluster the compared features themselves (Section 2.1)
            proto, t_proto = {}, 0.0
            km = SupervisedKMeans(k=k, per_class=options.per_class, random_state=kmeans_seed)
            for space in spaces:
                km.fit(features(enc_train, space).numpy(), y_train, class_names=names)
                proto[space] = torch.as_tensor(km.prototypes_)
        t_proto += time.perf_counter() - t_k
        for space in spaces:
            t_s = time.perf_counter()
            transformer = DissimilaritySpace.from_prototypes(
                encoder, space, proto[space], k=k, per_class=options.per_class,
                cluster_space=options.cluster_space, random_state=kmeans_seed)
            d_train = transformer.transform_encoded(enc_train)
            svms = RBFSVMs.fit(d_train, y_train, n_classes, C=options.svm_C,
                               gamma=options.svm_gamma, scaling=options.svm_scaling)
            members.append(SpaceMember(
                space, k, transformer, svms, (float(d_train.min()), float(d_train.max())),
                {"prototypes": t_proto, "space_svm": time.perf_counter() - t_s}))
    return FittedUnit(net, log, encoder, members)


# ---------------------------------------------------------------------------------------------
# the eCNN member (Section 4)
# ---------------------------------------------------------------------------------------------
def fit_cnn(name: str, images, labels, *, n_classes: int, profile: Profile, seed: int,
            epochs: int | None = None, device=None, progress: bool = False):
    """Fine-tune ImageNet CNN ``name`` as ``profile`` says (epochs, batch, input side; None:
    each net's native side)."""
    return fit_cnn_model(name, images, labels, n_classes=n_classes,
                         epochs=epochs or profile.cnn_epochs,
                         batch_size=profile.cnn_batch_size, input_size=profile.cnn_input_size,
                         lr=profile.cnn_lr, seed=seed, device=device, progress=progress)
