"""Members of the paper's grid, their store keys, their data, and one unit's computation.

A member is fully named by: data set, fold, input (orig | hasc), topology (1-8), loss (cross |
triplet), optimizer (adam | dgrad | decaydgrad), space (fully | deeper), k, seed and profile (a
:class:`~dissim.profiles.Profile` value, carried by the member). Its output is the SVM score
matrix on the test fold (test images x classes), stored in the
:class:`~dissim.pipeline.store.ResultsStore` with its metadata.

Members that differ only in space (and, in the paper, share a k) share one trained network:
the companion trains one network per k and builds both FULLY and DEEPER from it (Section 4,
"four networks are trained using the four numbers of prototypes"). :func:`compute_unit`
therefore trains once and returns every sibling member it can build from that network; the
``quick`` and ``smoke`` profiles also share one network across the k values
(``Profile.one_net_per_k = False``), which the tables say.

The paper's method names map to (loss, optimizer) pairs (Section 4): ``Cross`` = binary
cross-entropy + Adam, ``CrossDD`` = binary cross-entropy + DecayDGrad, ``Triplet`` = triplet
loss + Adam.
"""

from __future__ import annotations

import functools
import platform
import subprocess
import time
from collections.abc import Iterable
from dataclasses import dataclass, field, fields, replace
from pathlib import Path

import numpy as np
import sklearn
import torch

from dissim import __version__, data
from dissim.errors import ConfigError
from dissim.pipeline.member import (
    DEFAULT_OPTIONS,
    INPUTS,
    METHODS,
    Options,
    Trainer,
    fit_unit,
    input_size,
    method_of,
    network_seed,
    train_config,
)
from dissim.pipeline.store import config_key
from dissim.preprocess import to_network_input
from dissim.profiles import Profile
from dissim.profiles import get as get_profile
from dissim.spaces import SPACE_NAMES, NetworkEncoder, PixelEncoder
from dissim.train import TrainLog, train_siamese, untrained_network

__all__ = [
    "DEFAULT_OPTIONS", "ENCODERS", "INPUTS", "METHODS", "SPACE_NAMES", "Entry", "Member",
    "Options", "Unit",
    "compute_unit", "dataset_fingerprint", "dataset_folds", "dataset_of", "environment",
    "fingerprint_of", "fold_of", "folds_of", "group_units", "input_size", "key_of",
    "load_dataset", "member_key", "network_lock_name",
]


#: What stands in the pipeline's "train" step: the trained Siamese network (the paper's
#: members), the same network at initialisation, or the pixels (the two controls).
ENCODERS = ("trained", "untrained", "pixels")


@dataclass(frozen=True)
class Member:
    """One ensemble member. ``profile`` is a :class:`~dissim.profiles.Profile` (a name is
    looked up once, here); the member carries it to every process that computes it."""

    dataset: str
    fold: int = 0
    input: str = "orig"
    topology: int = 1
    loss: str = "cross"
    optimizer: str = "adam"
    space: str = "fully"
    k: int = 15
    seed: int = 0
    profile: Profile = "quick"  # type: ignore[assignment]  # a name becomes its Profile
    encoder: str = "trained"

    def __post_init__(self) -> None:
        object.__setattr__(self, "profile", get_profile(self.profile))
        if self.encoder not in ENCODERS:
            raise ConfigError(f"unknown encoder {self.encoder!r}; choose one of "
                              f"{', '.join(ENCODERS)}")
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
        return method_of(self.loss, self.optimizer)

    @property
    def is_control(self) -> bool:
        """An untrained-network or pixel control (book: Training health), not a paper member."""
        return self.encoder != "trained"

    def to_dict(self) -> dict:
        """The member's fields, the profile by its name (the settings are keyed separately).

        ``encoder`` appears only for controls, so a trained member's key has the same shape as
        before controls existed."""
        d = {f.name: getattr(self, f.name) for f in fields(self)}
        d["profile"] = self.profile.name
        if d["encoder"] == "trained":
            del d["encoder"]
        return d


def _key_settings(profile: Profile) -> dict:
    """The profile settings that key a Siamese member (the CNN settings do not)."""
    settings = {k: v for k, v in profile.to_dict().items() if not k.startswith("cnn")}
    settings["extra"] = {}  # format-1 keys hashed a since-removed, always empty field: kept
    return settings


def member_key(member: Member, options: Options, profile: Profile, fingerprint: str) -> str:
    """The store key: a hash of the member, the options, the profile and the data content."""
    return config_key({
        "member": member.to_dict(), "options": options.to_dict(),
        "profile": _key_settings(profile), "data": fingerprint, "format": 1,
    })


def key_of(member: Member, options: Options, root: str | None) -> str:
    """:func:`member_key` with the member's own profile and data fingerprint."""
    return member_key(member, options, member.profile, fingerprint_of(member, root))


# ---------------------------------------------------------------------------------------------
# data access, cached per process: a grid reuses the loaded data set and network inputs
# ---------------------------------------------------------------------------------------------
@functools.lru_cache(maxsize=4)
def load_dataset(name: str, root: str | None, max_per_class: int | None, seed: int):
    """The data set subsampled to ``max_per_class`` images per class (cached per process)."""
    return data.load(name, root, max_per_class=max_per_class, seed=seed, progress=False)


@functools.lru_cache(maxsize=4)
def dataset_fingerprint(name: str, root: str | None, max_per_class: int | None,
                        seed: int) -> str:
    """The data content hash that keys the results store (computed once per process)."""
    return load_dataset(name, root, max_per_class, seed).fingerprint()


@functools.lru_cache(maxsize=4)
def dataset_folds(name: str, root: str | None, max_per_class: int | None,
                  max_folds: int | None, seed: int):
    """The protocol's folds (train, test index arrays), at most ``max_folds``."""
    folds = data.folds(load_dataset(name, root, max_per_class, seed), seed=seed)
    return folds[:max_folds] if max_folds else folds


def fingerprint_of(member, root: str | None) -> str:
    """The data fingerprint of a member (Siamese or CNN) as its profile subsamples the set."""
    return dataset_fingerprint(member.dataset, root, member.profile.max_per_class, member.seed)


def folds_of(member, root: str | None) -> list:
    """The folds a member's profile evaluates on its data set."""
    prof = member.profile
    return dataset_folds(member.dataset, root, prof.max_per_class, prof.max_folds, member.seed)


def dataset_of(member, root: str | None):
    """The data set of a member, subsampled as its profile says."""
    return load_dataset(member.dataset, root, member.profile.max_per_class, member.seed)


def fold_of(member, root: str | None) -> tuple[np.ndarray, np.ndarray]:
    """``(train_index, test_index)`` of the member's fold; a one-line error when absent."""
    folds = folds_of(member, root)
    if not 0 <= member.fold < len(folds):
        raise ConfigError(
            f"fold {member.fold} does not exist: {member.dataset} has {len(folds)} folds in "
            f"profile {member.profile.name}"
        )
    return folds[member.fold]


@functools.lru_cache(maxsize=8)
def network_inputs(name, root, max_per_class, seed, representation, size,
                   pixel_range) -> np.ndarray:
    """All images of the data set as network inputs (N, 3, size, size) (cached per process)."""
    ds = load_dataset(name, root, max_per_class, seed)
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
    return {
        "dissim": __version__, "torch": torch.__version__, "sklearn": sklearn.__version__,
        "numpy": np.__version__, "python": platform.python_version(),
        "machine": platform.machine(), "processor": platform.processor() or None,
        "cuda": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
        "git_commit": _git_commit(),
    }


# ---------------------------------------------------------------------------------------------
# units: one network each
# ---------------------------------------------------------------------------------------------
@dataclass
class Unit:
    """Members that share one trained network: same everything but space (and k)."""

    base: Member
    ks: tuple[int, ...]
    spaces: tuple[str, ...] = SPACE_NAMES
    members: list[Member] = field(default_factory=list)

    def all_members(self) -> list[Member]:
        """The members asked for, or (none asked) every k and space the unit builds."""
        return self.members or [replace(self.base, space=s, k=k)
                                for k in self.ks for s in self.spaces]


def group_units(members: Iterable[Member]) -> list[Unit]:
    """Group members by the network they need (one per k in the paper profile)."""
    units: dict[tuple, Unit] = {}
    for m in members:
        base = replace(m, space="fully")
        key = tuple(getattr(base, f.name) for f in fields(base)
                    if f.name != "k" or m.profile.one_net_per_k)
        unit = units.setdefault(key, Unit(base=base, ks=()))
        unit.members.append(m)
        if m.k not in unit.ks:
            unit.ks = tuple(sorted((*unit.ks, m.k)))
    for unit in units.values():
        unit.spaces = tuple(s for s in SPACE_NAMES if any(x.space == s for x in unit.members))
    return list(units.values())


def network_lock_name(unit: Unit, options: Options, root: str | None) -> str:
    """The store lock of the network ``unit`` trains: its members minus space (and k when the
    profile shares one network across k), the options, the profile and the data."""
    m0 = unit.base
    net = {k: v for k, v in m0.to_dict().items()
           if k != "space" and (k != "k" or m0.profile.one_net_per_k)}
    return config_key({"network": net, "options": options.to_dict(),
                       "profile": _key_settings(m0.profile), "data": fingerprint_of(m0, root)})


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
    options: Options = DEFAULT_OPTIONS,
    root: str | None = None,
    device=None,
    progress: bool = True,
    trainer: Trainer = train_siamese,
) -> list[Entry]:
    """Train one network and build every member of ``unit`` (all its k values and spaces).

    A pure function of its arguments and the data: it writes nothing, so it can run on any
    worker (Dask) and hand its entries back to the process that owns the results store. The
    work is :func:`dissim.pipeline.member.fit_unit`, as in the classifier.
    """
    m0 = unit.base
    prof = m0.profile
    ds = dataset_of(m0, root)
    train_idx, test_idx = fold_of(m0, root)
    size = input_size(m0.topology, prof)
    x_all = network_inputs(m0.dataset, root, prof.max_per_class, m0.seed, m0.input, size,
                           options.pixel_range)
    x_train, x_test = x_all[train_idx], x_all[test_idx]
    y_train, y_test = ds.labels[train_idx], ds.labels[test_idx]
    fingerprint = fingerprint_of(m0, root)
    seed = network_seed(m0.seed, m0.fold, m0.k if prof.one_net_per_k else None)
    make_encoder = NetworkEncoder
    if m0.encoder == "untrained":
        trainer = untrained_network
    elif m0.encoder == "pixels":
        def trainer(*args, **kwargs):  # no network: the pixels are the encoder
            return None, TrainLog(attempts=0)

        def make_encoder(net, dct_size):
            return PixelEncoder(x_train.mean(0), dct_size)
    t0 = time.perf_counter()
    fitted = fit_unit(
        x_train, y_train, train_config(m0.topology, m0.method, prof, options, seed),
        ks=unit.ks, spaces=unit.spaces, options=options, n_classes=len(ds.classes),
        kmeans_seed=m0.seed, class_names=ds.classes, trainer=trainer,
        make_encoder=make_encoder, device=device, progress=progress)
    t_score = time.perf_counter()
    scores = fitted.scores(x_test)
    t_score = (time.perf_counter() - t_score) / max(1, len(scores))
    log = fitted.log
    out: list[Entry] = []
    for fm, s in zip(fitted.members, scores, strict=True):
        member = replace(m0, space=fm.space, k=fm.k)
        meta = {
            "member": member.to_dict(), "method": member.method,
            "options": options.to_dict(), "profile_settings": prof.to_dict(),
            "data": {"fingerprint": fingerprint, "classes": list(ds.classes),
                     "n_train": int(len(train_idx)), "n_test": int(len(test_idx)),
                     "input_size": size},
            "space_range": list(fm.space_range),
            "timings": {"train_seconds": log.seconds,
                        "train_total_seconds": log.total_seconds,
                        "prototypes_seconds": fm.seconds["prototypes"],
                        "space_svm_seconds": fm.seconds["space_svm"] + t_score,
                        "unit_seconds": time.perf_counter() - t0},
            "train": {"converged": log.converged, "attempts": log.attempts,
                      "iterations": len(log.loss),
                      "pair_accuracy": log.pair_accuracy,
                      "heldout_pair_accuracy": log.heldout_pair_accuracy,
                      "untrained_pair_accuracy": log.untrained_pair_accuracy,
                      "untrained_heldout_pair_accuracy": log.untrained_heldout_pair_accuracy,
                      "pair_threshold": log.pair_threshold,
                      "heldout_images": log.heldout_images, "device": log.device,
                      "first_loss": log.loss[0] if log.loss else None,
                      "final_loss": log.loss[-1] if log.loss else None,
                      "loss_curve": log.loss[:: max(1, len(log.loss) // 200)]},
            "environment": environment(),
            "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        }
        out.append(Entry(member, member_key(member, options, prof, fingerprint), s, y_test,
                         test_idx, meta))
    return out
