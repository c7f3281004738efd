"""One member of the ensemble, end to end (DESIGN.md "The pipeline"; paper Section 2).

A member is fully named by: data set, fold, input (orig | hasc), topology (1-8), loss (cross |
triplet), optimizer (adam | dgrad | decaydgrad), space (fully | deeper), k, seed and profile.
Its output is the SVM score matrix on the test fold (test images x classes), stored in the
:class:`~dissim.store.ResultsStore` with its metadata.

Members that differ only in space (and, in the paper, share a k) share one trained network:
the companion trains one network per k and builds both FULLY and DEEPER from it (SPEC 5.1 and
5.4). :func:`run_unit` therefore trains once and stores every sibling member it can build from
that network; the ``quick`` and ``smoke`` profiles also share one network across the k values
(``Profile.one_net_per_k = False``), which the tables say.

The paper's method names map to (loss, optimizer) pairs (Section 3, SPEC 3.5): ``Cross`` =
binary cross-entropy + Adam, ``CrossDD`` = binary cross-entropy + DecayDGrad, ``Triplet`` =
triplet loss + Adam.
"""

from __future__ import annotations

import functools
import platform
import subprocess
import time
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path

import numpy as np

from dissim import __version__
from dissim.errors import ConfigError
from dissim.profiles import Profile
from dissim.profiles import get as get_profile
from dissim.store import Result, ResultsStore, config_key

METHODS: dict[str, tuple[str, str]] = {
    "cross": ("cross", "adam"),
    "crossdd": ("cross", "decaydgrad"),
    "triplet": ("triplet", "adam"),
}
INPUTS = ("orig", "hasc")
SPACE_NAMES = ("fully", "deeper")


@dataclass(frozen=True)
class Options:
    """The open choices of SPEC section 10 that change a member's result (book: Assumptions).

    Defaults follow the paper's text or the companion README; each alternative is a switch.
    """

    triplet_form: str = "printed"  # SPEC 3.4: "printed" | "conventional"
    triplet_margin: float = 1.0
    svm_scaling: str = "none"  # SPEC 6: "none" | "minmax" | "standard"
    svm_C: float = 1000.0
    svm_gamma: float = 0.1
    per_class: bool = True  # SPEC 5.1: k centroids per class
    cluster_space: str = "pixel"  # SPEC 5.1 [R]: k-means on the input images
    pixel_range: str = "0-255"  # SPEC 2.1
    dct_size: int = 9  # paper: 9 x 9 low-frequency block
    convergence_threshold: float = 0.6  # rerun rule, SPEC 0.4 (threshold unknown)

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class Member:
    """One ensemble member (DESIGN.md). ``profile`` is a profile name."""

    dataset: str
    fold: int = 0
    input: str = "orig"
    topology: int = 1
    loss: str = "cross"
    optimizer: str = "adam"
    space: str = "fully"
    k: int = 15
    seed: int = 0
    profile: str = "quick"

    def __post_init__(self) -> None:
        if self.input not in INPUTS:
            raise ConfigError(f"unknown input {self.input!r}; choose orig or hasc")
        if self.space not in SPACE_NAMES:
            raise ConfigError(f"unknown space {self.space!r}; choose fully or deeper")
        for name in ("fold", "topology", "k", "seed"):
            value = getattr(self, name)
            if not isinstance(value, int | np.integer) or isinstance(value, bool):
                raise ConfigError(f"{name} must be an integer; got {value!r}")
        if self.k < 1:
            raise ConfigError(f"k must be >= 1 prototype per class; got {self.k}")

    @property
    def method(self) -> str:
        """The paper's name for (loss, optimizer): Cross, CrossDD, Triplet, or loss/optimizer."""
        for name, pair in METHODS.items():
            if pair == (self.loss, self.optimizer):
                return name
        return f"{self.loss}/{self.optimizer}"

    def to_dict(self) -> dict:
        return asdict(self)


def member_key(member: Member, options: Options, profile: Profile, fingerprint: str) -> str:
    """The store key: a hash of the member, the options, the profile and the data content."""
    settings = {k: v for k, v in profile.to_dict().items() if not k.startswith("cnn")}
    return config_key({
        "member": member.to_dict(), "options": options.to_dict(),
        "profile": settings, "data": fingerprint, "format": 1,
    })


def input_size(topology: int, profile: Profile) -> int:
    """The profile's input side, raised to the topology's minimum valid side."""
    from dissim.topologies import min_input_size

    return max(profile.input_size, min_input_size(topology))


# ---------------------------------------------------------------------------------------------
# data access, cached per process: a grid reuses the loaded data set and network inputs
# ---------------------------------------------------------------------------------------------
@functools.lru_cache(maxsize=4)
def load_dataset(name: str, root: str | None, profile: str, seed: int):
    """The data set subsampled as the profile says (cached per process)."""
    from dissim import data

    prof = get_profile(profile)
    return data.load(name, root, max_per_class=prof.max_per_class, seed=seed, progress=False)


@functools.lru_cache(maxsize=4)
def dataset_fingerprint(name: str, root: str | None, profile: str, seed: int) -> str:
    """The data content hash that keys the results store (computed once per process)."""
    return load_dataset(name, root, profile, seed).fingerprint()


@functools.lru_cache(maxsize=4)
def dataset_folds(name: str, root: str | None, profile: str, seed: int):
    """The protocol's folds (train, test index arrays), at most ``profile.max_folds``."""
    from dissim import data

    prof = get_profile(profile)
    folds = data.folds(load_dataset(name, root, profile, seed), seed=seed)
    return folds[: prof.max_folds] if prof.max_folds else folds


@functools.lru_cache(maxsize=8)
def network_inputs(name, root, profile, seed, representation, size, pixel_range) -> np.ndarray:
    """All images of the data set as network inputs (N, 3, size, size) (cached per process)."""
    from dissim.preprocess import to_network_input

    ds = load_dataset(name, root, profile, seed)
    return to_network_input(ds.images, size, representation=representation,
                            pixel_range=pixel_range, progress=representation == "hasc")


def _git_commit() -> str | None:
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True,
                             timeout=5, cwd=Path(__file__).parent)
        return out.stdout.strip() or None
    except Exception:
        return None


@functools.lru_cache(maxsize=1)
def environment() -> dict:
    """Package versions, git commit and machine, stored with every result."""
    import sklearn
    import torch

    return {
        "dissim": __version__, "torch": torch.__version__, "sklearn": sklearn.__version__,
        "numpy": np.__version__, "python": platform.python_version(),
        "machine": platform.machine(), "processor": platform.processor() or None,
        "cuda": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
        "git_commit": _git_commit(),
    }


# ---------------------------------------------------------------------------------------------
# running
# ---------------------------------------------------------------------------------------------
@dataclass
class Unit:
    """Members that share one trained network: same everything but space (and k)."""

    base: Member
    ks: tuple[int, ...]
    spaces: tuple[str, ...] = SPACE_NAMES
    members: list[Member] = field(default_factory=list)


def group_units(members: Iterable[Member]) -> list[Unit]:
    """Group members by the network they need (one per k in the paper profile)."""
    units: dict[tuple, Unit] = {}
    for m in members:
        prof = get_profile(m.profile)
        base = replace(m, space="fully")
        key = tuple(getattr(base, f.name) for f in fields(base)
                    if f.name != "k" or prof.one_net_per_k)
        unit = units.setdefault(key, Unit(base=base, ks=()))
        unit.members.append(m)
        if m.k not in unit.ks:
            unit.ks = tuple(sorted((*unit.ks, m.k)))
    for unit in units.values():
        unit.spaces = tuple(s for s in SPACE_NAMES if any(x.space == s for x in unit.members))
    return list(units.values())


@dataclass
class Entry:
    """A computed member, not yet stored: what :func:`compute_unit` returns (picklable)."""

    member: Member
    key: str
    scores: np.ndarray
    y_true: np.ndarray
    test_index: np.ndarray
    meta: dict


def compute_unit(
    unit: Unit,
    *,
    options: Options = Options(),
    root: str | None = None,
    device=None,
    progress: bool = True,
) -> list[Entry]:
    """Train one network and build every member of ``unit`` (all its k values and spaces).

    A pure function of its arguments and the data: it writes nothing, so it can run on any
    worker (Dask) and hand its entries back to the process that owns the results store.
    """
    from dissim.fusion import svm_scores
    from dissim.prototypes import SupervisedKMeans
    from dissim.spaces import deeper_matrix, encode, fully_matrix
    from dissim.train import TrainConfig, train_siamese

    m0 = unit.base
    prof = get_profile(m0.profile)
    ds = load_dataset(m0.dataset, root, m0.profile, m0.seed)
    folds = dataset_folds(m0.dataset, root, m0.profile, m0.seed)
    if not 0 <= m0.fold < len(folds):
        raise ConfigError(
            f"fold {m0.fold} does not exist: {m0.dataset} has {len(folds)} folds in profile "
            f"{m0.profile}"
        )
    train_idx, test_idx = folds[m0.fold]
    size = input_size(m0.topology, prof)
    x_all = network_inputs(m0.dataset, root, m0.profile, m0.seed, m0.input, size,
                           options.pixel_range)
    x_train, x_test = x_all[train_idx], x_all[test_idx]
    y_train, y_test = ds.labels[train_idx], ds.labels[test_idx]
    fingerprint = dataset_fingerprint(m0.dataset, root, m0.profile, m0.seed)
    n_classes = len(ds.classes)

    # Pixel-space prototypes do not depend on the network: cluster first, so a class with
    # fewer images than k fails in seconds, not after the training.
    pixel_protos: dict[int, tuple[np.ndarray, float]] = {}
    if options.cluster_space == "pixel":
        for k in unit.ks:
            t_k = time.perf_counter()
            km = SupervisedKMeans(k=k, per_class=options.per_class, random_state=m0.seed)
            km.fit(x_train, y_train, class_names=list(ds.classes))
            pixel_protos[k] = (km.prototypes_, time.perf_counter() - t_k)

    cfg = TrainConfig(
        topology=m0.topology, loss=m0.loss, optimizer=m0.optimizer, iterations=prof.iterations,
        batch_size=prof.batch_size,
        seed=m0.seed + 7919 * m0.fold + (104729 * m0.k if prof.one_net_per_k else 0),
        triplet_form=options.triplet_form, margin=options.triplet_margin,
        convergence_threshold=options.convergence_threshold, max_retries=prof.max_train_retries,
        amp=prof.amp, tf32=prof.tf32, channels_last=prof.channels_last,
    )
    t0 = time.perf_counter()
    net, log = train_siamese(x_train, y_train, cfg, device=device, progress=progress)
    need_deeper = "deeper" in unit.spaces
    enc_train = encode(net, x_train, deeper=need_deeper, dct_size=options.dct_size)
    enc_test = encode(net, x_test, deeper=need_deeper, dct_size=options.dct_size)

    out: list[Entry] = []
    for k in unit.ks:
        t_k = time.perf_counter()
        if options.cluster_space == "pixel":
            prototypes, t_proto = pixel_protos[k]
            enc_proto = encode(net, prototypes, deeper=need_deeper, dct_size=options.dct_size)
            proto = {"fully": enc_proto.embedding, "deeper": enc_proto.code}
        else:  # ablation: cluster the compared features themselves (SPEC 5.1)
            import torch

            proto = {}
            km = SupervisedKMeans(k=k, per_class=options.per_class, random_state=m0.seed)
            for space, feats in (("fully", enc_train.embedding), ("deeper", enc_train.code)):
                if space in unit.spaces:
                    km.fit(feats.numpy(), y_train, class_names=list(ds.classes))
                    proto[space] = torch.as_tensor(km.prototypes_)
            t_proto = 0.0
        t_proto += time.perf_counter() - t_k
        for space in unit.spaces:
            t_s = time.perf_counter()
            if space == "fully":
                d_train = fully_matrix(net, enc_train.embedding, proto["fully"]).numpy()
                d_test = fully_matrix(net, enc_test.embedding, proto["fully"]).numpy()
            else:
                d_train = deeper_matrix(enc_train.code, proto["deeper"]).numpy()
                d_test = deeper_matrix(enc_test.code, proto["deeper"]).numpy()
            scores = svm_scores(d_train, y_train, d_test, C=options.svm_C,
                                gamma=options.svm_gamma, scaling=options.svm_scaling,
                                n_classes=n_classes)
            member = replace(m0, space=space, k=k)
            key = member_key(member, options, prof, fingerprint)
            meta = {
                "member": member.to_dict(), "method": member.method,
                "options": options.to_dict(), "profile_settings": prof.to_dict(),
                "data": {"fingerprint": fingerprint, "classes": list(ds.classes),
                         "n_train": int(len(train_idx)), "n_test": int(len(test_idx)),
                         "input_size": size},
                "space_range": [float(d_train.min()), float(d_train.max())],
                "timings": {"train_seconds": log.seconds,
                            "train_total_seconds": log.total_seconds,
                            "prototypes_seconds": t_proto,
                            "space_svm_seconds": time.perf_counter() - t_s,
                            "unit_seconds": time.perf_counter() - t0},
                "train": {"converged": log.converged, "attempts": log.attempts,
                          "pair_accuracy": log.pair_accuracy, "device": log.device,
                          "final_loss": log.loss[-1] if log.loss else None,
                          "loss_curve": log.loss[:: max(1, len(log.loss) // 200)]},
                "environment": environment(),
                "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            }
            out.append(Entry(member, key, scores, y_test, test_idx, meta))
    return out


def network_lock_name(unit: Unit, options: Options, fingerprint: str) -> str:
    """The store lock of the network ``unit`` trains: its members minus space (and k when the
    profile shares one network across k), the options, the profile and the data."""
    m0 = unit.base
    prof = get_profile(m0.profile)
    net = {k: v for k, v in m0.to_dict().items()
           if k != "space" and (k != "k" or prof.one_net_per_k)}
    settings = {k: v for k, v in prof.to_dict().items() if not k.startswith("cnn")}  # as keys
    return config_key({"network": net, "options": options.to_dict(), "profile": settings,
                       "data": fingerprint})


def run_unit(unit: Unit, store: ResultsStore, **kw) -> dict[Member, Result]:
    """:func:`compute_unit` under the network's store lock; write each entry atomically.

    Two runs that share a store (two grids, a grid and a notebook) never train the same network
    at once: the second waits for the lock (:meth:`ResultsStore.lock`), then reads the store
    again and computes only the members still missing, usually none. ``kw`` are the keyword
    arguments of :func:`compute_unit`. Returns every member of ``unit`` (a unit without
    members stands for all its k values and spaces) and every sibling computed with them.
    """
    options = kw.get("options", Options())
    root = kw.get("root")
    m0 = unit.base
    prof = get_profile(m0.profile)
    members = unit.members or [replace(m0, space=s, k=k) for k in unit.ks for s in unit.spaces]
    fingerprint = dataset_fingerprint(m0.dataset, root, m0.profile, m0.seed)
    out: dict[Member, Result] = {}
    with store.lock(network_lock_name(unit, options, fingerprint)):
        missing = []
        for m in members:
            hit = store.get(member_key(m, options, prof, fingerprint))
            if hit is None:
                missing.append(m)
            else:
                out[m] = hit
        for todo in group_units(missing):  # one unit (one network), or none when all stored
            for e in compute_unit(todo, **kw):
                out[e.member] = store.put(e.key, e.scores, e.y_true, e.test_index, e.meta)
    return out


def run_members(
    members: Sequence[Member],
    store: ResultsStore,
    *,
    options: Options = Options(),
    root: str | None = None,
    device=None,
    progress: bool = True,
) -> dict[Member, Result]:
    """Return the result of every member, computing only those the store does not hold.

    Safe to run in several processes on one store at once (see :func:`run_unit`); temporary
    files of writes killed more than an hour ago are removed first.
    """
    store.clean_tmp()
    results: dict[Member, Result] = {}
    todo: list[Member] = []
    for m in members:
        fingerprint = dataset_fingerprint(m.dataset, root, m.profile, m.seed)
        hit = store.get(member_key(m, options, get_profile(m.profile), fingerprint))
        if hit is not None:
            results[m] = hit
        else:
            todo.append(m)
    units = group_units(todo)
    from tqdm import tqdm

    # One bar over the networks; a single network shows its own training bar instead.
    for unit in tqdm(units, desc="networks", disable=not progress or len(units) < 2):
        done = run_unit(unit, store, options=options, root=root, device=device,
                        progress=progress and len(units) == 1)
        results.update({m: r for m, r in done.items() if m in set(unit.members)})
    return {m: results[m] for m in members}


def run_member(member: Member, store: ResultsStore, **kw) -> Result:
    """Run (or reuse) one member; see :func:`run_members`."""
    return run_members([member], store, **kw)[member]
