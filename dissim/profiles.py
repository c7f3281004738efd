"""Profiles: the scale at which the paper's protocol runs (book: Scale).

A profile may shrink iterations, batch size, folds, data-set size and input size (never below a
topology's minimum valid side, see :func:`dissim.topologies.min_input_size`); it never changes a
topology's layers. Every stored result and every table names the profile that produced it.

>>> get("smoke").iterations
4
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace

from dissim.errors import ConfigError


@dataclass(frozen=True)
class Profile:
    """The scale knobs of one reproduction run.

    Parameters
    ----------
    name : str
        ``paper``, ``medium``, ``quick`` or ``smoke``.
    input_size : int
        Network input side in pixels (paper: 224, Appendix A). Raised per topology to its minimum
        valid side when smaller.
    iterations : int
        Siamese training iterations (paper: 3000, Section 3).
    batch_size : int
        Pairs (or triplets) per iteration (paper: unknown; MathWorks default 180, Section 4).
    k_values : tuple of int
        Prototypes per class (paper: 15, 30, 45, 60; Section 2.2.1).
    one_net_per_k : bool
        Paper: one Siamese network is trained per k value ([R] README). A profile may train one
        network and reuse it for every k (a 4x saving); the table footers say so.
    max_folds : int or None
        Evaluate only the first ``max_folds`` folds of the protocol (None = all).
    max_per_class : int or None
        Subsample each class to at most this many images (None = all), seeded.
    max_train_retries : int
        "If the siamese network does not converge in the training set we rerun the training"
        ([R]); how many reruns before the member is stored as not converged.
    eval_pairs : int
        Balanced pairs on which each pair accuracy (training, held-out, untrained) is measured.
    cnns : tuple of str
        The eCNN members (:mod:`dissim.baselines`): the paper's four are unknown (Section 4).
    cnn_epochs, cnn_batch_size : int
        Fine-tuning epochs and batch (paper: 20 epochs, batch 30; Section 4).
    cnn_lr : float
        Fine-tuning learning rate of SGD with momentum 0.9 (paper: unknown). 1e-3 by default;
        the medium profile's 10 epochs on 40 classes need 1e-2 (see its comment).
    cnn_input_size : int or None
        CNN input side (None: each net's native size).
    sampler : str
        How a training mini-batch is formed (:mod:`dissim.sampling`): ``"pairs"``, the paper's
        MathWorks sampler, or ``"batch"``, every pair / valid triplet among as many
        class-balanced images (the same forward passes, many more pairs).
    lr : float
        Siamese learning rate (paper: 1e-4, Section 3).
    triplet_sampler, triplet_lr : str or float, optional
        The triplet networks' own sampler and learning rate (None: ``sampler``, ``lr``); see
        :meth:`sampler_for`, :meth:`lr_for`.
    triplet_topology_lr : tuple of (topology, lr) pairs, optional
        The triplet learning rate of the listed topologies in place of ``triplet_lr`` (a rate
        that suits one topology may make another's triplet network collapse); see
        :meth:`lr_for`.
    topology_iterations : tuple of (topology, iterations) pairs, optional
        Iterations of the listed topologies in place of ``iterations`` (the others keep it):
        a CPU profile may give the cheap topologies more of them, so each network costs about
        the same time (equal compute rather than equal iterations); see
        :meth:`iterations_for`.
    amp : str or None
        Siamese training under autocast: ``"bf16"`` (bfloat16, no loss scaling needed) or None
        (float32). Evaluation, spaces and SVMs stay in float32.
    tf32 : bool
        Allow TensorFloat-32 matmuls and convolutions during training (Ampere and later GPUs;
        no effect on the CPU). False leaves PyTorch's defaults.
    channels_last : bool
        Train with NHWC (channels-last) weights and inputs, faster on tensor-core GPUs.
    """

    name: str
    input_size: int
    iterations: int
    batch_size: int
    k_values: tuple[int, ...] = (15, 30, 45, 60)
    one_net_per_k: bool = True
    max_folds: int | None = None
    max_per_class: int | None = None
    max_train_retries: int = 2
    eval_pairs: int = 256
    cnns: tuple[str, ...] = ("resnet50", "googlenet", "densenet201", "vgg16")
    cnn_epochs: int = 20
    cnn_batch_size: int = 30
    cnn_input_size: int | None = None
    cnn_lr: float = 1e-3
    sampler: str = "pairs"
    lr: float = 1e-4
    triplet_sampler: str | None = None
    triplet_lr: float | None = None
    triplet_topology_lr: tuple[tuple[int, float], ...] | None = None
    topology_iterations: tuple[tuple[int, int], ...] | None = None
    amp: str | None = None
    tf32: bool = False
    channels_last: bool = False

    def to_dict(self) -> dict:
        """A JSON-serialisable view, stored with every result."""
        d = asdict(self)
        d["k_values"] = list(self.k_values)
        d["cnns"] = list(self.cnns)
        if self.topology_iterations is not None:
            d["topology_iterations"] = {str(t): n for t, n in self.topology_iterations}
        if self.triplet_topology_lr is not None:
            d["triplet_topology_lr"] = {str(t): lr for t, lr in self.triplet_topology_lr}
        for name, off in _DEFAULT_OFF.items():  # off: absent, so older store keys stay valid
            if d[name] == off:
                del d[name]
        return d

    def iterations_for(self, topology: int) -> int:
        """Training iterations of ``topology``'s networks (``topology_iterations`` or
        ``iterations``).

        >>> get("medium").iterations_for(8) > get("medium").iterations_for(1)
        True
        """
        return dict(self.topology_iterations or ()).get(int(topology), self.iterations)

    def sampler_for(self, loss: str) -> str:
        """The training sampler of ``loss``'s networks (:mod:`dissim.sampling`)."""
        return self.triplet_sampler if loss == "triplet" and self.triplet_sampler else \
            self.sampler

    def lr_for(self, loss: str, topology: int | None = None) -> float:
        """The learning rate of ``loss``'s networks of ``topology``.

        >>> medium = get("medium")
        >>> medium.lr_for("cross", 8), medium.lr_for("triplet", 6), medium.lr_for("triplet", 8)
        (0.0001, 0.001, 0.0001)
        """
        if loss != "triplet":
            return self.lr
        per = dict(self.triplet_topology_lr or ())
        if topology is not None and int(topology) in per:
            return per[int(topology)]
        return self.triplet_lr or self.lr

    def with_(self, **changes) -> Profile:
        """A copy with some fields changed (``profile.with_(iterations=10)``)."""
        return replace(self, **changes)


#: The GPU speed switches and their "off" values (:mod:`dissim.train`).
_GPU_SWITCHES = {"amp": None, "tf32": False, "channels_last": False}
#: Fields left out of :meth:`Profile.to_dict` at these values (added after results were stored).
_DEFAULT_OFF = {**_GPU_SWITCHES, "cnn_lr": 1e-3, "sampler": "pairs", "lr": 1e-4,
                "triplet_sampler": None, "triplet_lr": None, "triplet_topology_lr": None,
                "topology_iterations": None}

_OFFLINE_CNNS = ("efficientnet_lite0", "efficientnet_lite1", "efficientnet_lite2")

PROFILES: dict[str, Profile] = {
    # Exactly the paper's settings (Sections 2-3; batch size unknown -> MathWorks default).
    "paper": Profile("paper", input_size=224, iterations=3000, batch_size=180),
    # The embedded default data set on a 2-core laptop CPU: the whole book well under an hour.
    "quick": Profile(
        # k = 60 needs 60 training images per class; the embedded sets have about 50 per fold.
        # 100 iterations of 8 pairs at each topology's smallest input, on the first fold only:
        # twice the training of the first quick profile (50 iterations, two folds), where the
        # networks learn on the embedded textures (book: Training health), inside the
        # 30-minute book budget; no rerun, the tables mark the networks that did not converge.
        # The medium profile runs every fold.
        "quick", input_size=48, iterations=100, batch_size=8, k_values=(15, 30, 45),
        one_net_per_k=False, max_folds=1, max_per_class=60, max_train_retries=0,
        eval_pairs=128, cnns=_OFFLINE_CNNS, cnn_epochs=3, cnn_input_size=96,
    ),
    # Real image folders on a CPU machine, the committed evidence (book: Results on real
    # images): each topology's smallest input side, every fold, every image, the paper's four
    # k values (a class needs 60 training images per fold; smaller classes pass their own k:
    # `dissim grid --k`, the book's `k_values` parameter), no rerun (the tables mark networks
    # that did not converge), 128 evaluation pairs, the offline EfficientNet-Lite eCNN
    # fine-tuned 10 epochs at learning rate 1e-2 (at the default 1e-3, 5 epochs left a 40-class
    # head near chance: EfficientNet-Lite0, ORL faces fold 0, 8.75 %; at 1e-2 81.25 % after
    # 10 epochs).
    # Training, chosen from the payoff curves (benchmarks/payoff.py, book: Assumptions 11),
    # because 100 iterations of the paper's 16 pairs for every network left the fused space
    # level with the same networks untrained and with the pixels on both snapshots of the
    # first medium profile:
    # * Cross: the paper's sampler and rate (16 pairs, lr 1e-4). At lr 1e-3 Cross did worse
    #   (Omniglot Greek fold 0, k = 4, F+D: topology 6 with the paper's sampler 62.5 % untrained
    #   -> 50.0 % after 100 iterations; topology 1 with the batch sampler 65.6 % at 200
    #   iterations against 74.0 % at 1e-4).
    # * Triplet: the batch sampler (every valid triplet among 48 class-balanced images, the
    #   forward passes of 16 triplets) at lr 1e-3: topology 1 on Omniglot fold 0 (k = 4-16,
    #   F+D) 81.2 % after 100 iterations, against 71.9 % with 16 triplets at 1e-4; topology 6
    #   93.8 %. But at this rate the Triplet networks of topologies 3, 4, 5, 7 and 8 collapsed
    #   (16-46 % on folds 0-2, below their untrained control), so they train at lr 1e-4
    #   (triplet_topology_lr): topology 8 on Omniglot fold 0 (k = 4, F+D) 66.7 % untrained ->
    #   77.1 % after 100 iterations, 78.1 % after 400; topology 3 58.3 % -> 72.9 % after 100.
    # * Equal compute rather than equal iterations: topologies 3, 5, 6, 7 and 8 cost 0.1-0.6 of
    #   topology 1's time per iteration, so they train 200-400 iterations (topology_iterations).
    # Cost, measured on 2 shared cores with one torch thread per network: see the snapshot
    # pages (each states its compute time).
    "medium": Profile(
        "medium", input_size=48, iterations=100, batch_size=16, k_values=(15, 30, 45, 60),
        one_net_per_k=False, max_folds=None, max_per_class=None, max_train_retries=0,
        eval_pairs=128, cnns=_OFFLINE_CNNS, cnn_epochs=10, cnn_input_size=128, cnn_lr=1e-2,
        triplet_sampler="batch", triplet_lr=1e-3,
        triplet_topology_lr=((3, 1e-4), (4, 1e-4), (5, 1e-4), (7, 1e-4), (8, 1e-4)),
        topology_iterations=((3, 200), (5, 200), (6, 300), (7, 200), (8, 400)),
    ),
    # Seconds: tests and CI.
    "smoke": Profile(
        "smoke", input_size=48, iterations=4, batch_size=4, k_values=(2, 3),
        one_net_per_k=False, max_folds=2, max_per_class=8, max_train_retries=0, eval_pairs=16,
        cnns=("efficientnet_lite0",), cnn_epochs=1, cnn_batch_size=8, cnn_input_size=32,
    ),
}



def _trained_longer(profile: Profile, name: str, factor: int) -> Profile:
    """``profile`` with ``factor`` times the iterations of every network, nothing else."""
    per = tuple((t, factor * n) for t, n in profile.topology_iterations or ())
    return profile.with_(name=name, iterations=factor * profile.iterations,
                         topology_iterations=per or None)


# The training budget as an axis of the evidence (book: Reproducing at scale): medium's
# choices with 4x its iterations, every network 400-1600 iterations (Cross: 6,400-25,600
# pairs, 1.2-4.7 % of the paper's 540,000). `dissim grid --profile large` trains it under
# bfloat16 autocast with channels-last where the CPU or GPU computes bfloat16 in hardware
# (--amp auto, the profile then named large+bf16+nhwc in keys and tables), float32
# elsewhere.
PROFILES["large"] = _trained_longer(PROFILES["medium"], "large", 4)

def settings_for(settings: dict, topology: int | None, loss: str | None = None) -> dict:
    """A profile's settings (:meth:`Profile.to_dict`) as one topology's networks of one loss
    see them: ``topology_iterations`` resolved into ``iterations``, ``triplet_sampler`` and
    ``triplet_lr`` (or ``triplet_topology_lr``) into ``sampler`` and ``lr`` (for
    ``loss="triplet"``). Store keys hash this form, so a profile that sets some networks apart
    keys the others as before."""
    d = dict(settings)
    per = d.pop("topology_iterations", None)
    if per and topology is not None:
        d["iterations"] = int(per.get(str(int(topology)), d["iterations"]))
    sampler, lr = d.pop("triplet_sampler", None), d.pop("triplet_lr", None)
    per_lr = d.pop("triplet_topology_lr", None)
    if per_lr and topology is not None and str(int(topology)) in per_lr:
        lr = float(per_lr[str(int(topology))])
    if loss == "triplet":
        for name, value, off in (("sampler", sampler, "pairs"), ("lr", lr, 1e-4)):
            if value is not None:
                d[name] = value
            if d.get(name) == off:  # the paper's value: absent, as in to_dict
                d.pop(name, None)
    return d


def switch_tags(*, amp: str | None = None, tf32: bool = False,
                channels_last: bool = False) -> list[str]:
    """The suffixes :func:`with_switches` names a profile with, in order: the autocast dtype,
    ``tf32``, ``nhwc`` (channels-last); empty in float32.

    >>> switch_tags(amp="bf16", channels_last=True), switch_tags()
    (['bf16', 'nhwc'], [])
    """
    return [t for t, on in ((amp, bool(amp)), ("tf32", tf32), ("nhwc", channels_last)) if on]


def with_switches(profile: str | Profile, *, amp: str | None = None, tf32: bool = False,
                  channels_last: bool = False) -> Profile:
    """``profile`` with the GPU speed switches on, as a value named after them.

    The name says which switches are on (``paper+bf16+tf32``), so tables never mistake such
    results for float32 ones; with every switch off it is ``profile`` itself. Nothing is
    registered: members carry the profile to wherever they are computed.
    """
    prof = get(profile)
    tags = switch_tags(amp=amp, tf32=tf32, channels_last=channels_last)
    if not tags:
        return prof
    return prof.with_(name="+".join([prof.name, *tags]), amp=amp or prof.amp,
                      tf32=tf32 or prof.tf32, channels_last=channels_last or prof.channels_last)


def base_name(name: str | Profile) -> str:
    """The registered profile a (possibly switched) profile name was made from: the inverse of
    :func:`with_switches`' naming.

    >>> base_name("large+bf16+nhwc"), base_name("medium")
    ('large', 'medium')
    """
    return (name.name if isinstance(name, Profile) else str(name)).split("+")[0]


#: The training arithmetic ``dissim grid`` uses for a profile when ``--amp`` is not given:
#: ``large`` trains under bfloat16 where the hardware computes it (book: Reproducing at scale);
#: the others in float32, the arithmetic their stored results' keys name.
DEFAULT_AMP = {"large": "auto"}


def default_amp(profile: str | Profile) -> str:
    """``"auto"``, ``"bf16"`` or ``"float32"``: the arithmetic a grid of ``profile`` trains in
    unless told (:data:`DEFAULT_AMP`).

    >>> default_amp("large"), default_amp("medium")
    ('auto', 'float32')
    """
    return DEFAULT_AMP.get(get(profile).name, "float32")


def get(name: str | Profile) -> Profile:
    """Return the profile called ``name`` (a :class:`Profile` is returned unchanged)."""
    if isinstance(name, Profile):
        return name
    try:
        return PROFILES[name]
    except KeyError:
        raise ConfigError(
            f"unknown profile {name!r}; choose one of {', '.join(PROFILES)}"
        ) from None
