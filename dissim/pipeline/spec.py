"""A grid member's specification, and the units of members that share one network.

A member is fully named by: data set, fold, input (orig | hasc), topology (1-8), loss (cross |
triplet), optimizer (adam | dgrad | decaydgrad), space (fully | deeper), k, seed and profile (a
:class:`~dissim.profiles.Profile` value, carried by the member); ``encoder`` names the two
controls (book: Training health). The paper's method names map to (loss, optimizer) pairs
(Section 4): ``Cross`` = binary cross-entropy + Adam, ``CrossDD`` = binary cross-entropy +
DecayDGrad, ``Triplet`` = triplet loss + Adam.

Members that differ only in space (and, in the paper, share a k) share one trained network:
the companion trains one network per k and builds both FULLY and DEEPER from it (Section 4,
"four networks are trained using the four numbers of prototypes"); :func:`group_units` groups
them into :class:`Unit` values, one network each. The ``quick`` and ``smoke`` profiles also share
one network across the k values (``Profile.one_net_per_k = False``), which the tables say.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field, fields, replace

import numpy as np

from dissim.errors import ConfigError
from dissim.pipeline.member import INPUTS, method_of
from dissim.profiles import Profile
from dissim.profiles import get as get_profile
from dissim.spaces import SPACE_NAMES

__all__ = ["ENCODERS", "Member", "Unit", "group_units"]


#: What stands in the pipeline's "train" step: the trained Siamese network (the paper's
#: members), the same network at initialisation, or the pixels (the two controls).
ENCODERS = ("trained", "untrained", "pixels")


@dataclass(frozen=True)
class Member:
    """One ensemble member of the grid, as a specification (its fitted counterpart in a
    classifier is :class:`~dissim.pipeline.member.ClassifierMember`). ``profile`` is a
    :class:`~dissim.profiles.Profile` (a name is looked up once, here); the member carries it
    to every process that computes it."""

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
