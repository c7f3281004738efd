"""Store keys: what names a member's entry and its network's lock in the results store.

A key hashes the member (:class:`~dissim.pipeline.spec.Member`), the options (book:
Assumptions), the profile's settings and the data content (its fingerprint), so a member is
recomputed exactly when one of them changes (book: Scale).
"""

from __future__ import annotations

from dissim.pipeline.data_cache import fingerprint_of
from dissim.pipeline.entry_keys import config_key, siamese_key, siamese_settings
from dissim.pipeline.member import Options
from dissim.pipeline.spec import Member, Unit
from dissim.profiles import Profile

__all__ = ["key_of", "member_key", "network_lock_name"]


def _key_settings(profile: Profile, topology: int, loss: str) -> dict:
    """The profile settings that key a Siamese member of ``topology`` and ``loss`` (the CNN
    settings do not; per-topology and per-loss settings enter as the network's own,
    :func:`dissim.profiles.settings_for`; :func:`~dissim.pipeline.entry_keys.siamese_settings`)."""
    return siamese_settings(profile.to_dict(), topology, loss)


def member_key(member: Member, options: Options, profile: Profile, fingerprint: str) -> str:
    """The store key: a hash of the member, the options, the profile and the data content
    (:func:`~dissim.pipeline.entry_keys.siamese_key`, which the store also uses to check an
    entry's key against its recorded metadata)."""
    return siamese_key(member.to_dict(), options.to_dict(), profile.to_dict(), fingerprint)


def key_of(member: Member, options: Options, root: str | None) -> str:
    """:func:`member_key` with the member's own profile and data fingerprint."""
    return member_key(member, options, member.profile, fingerprint_of(member, root))


def network_lock_name(unit: Unit, options: Options, root: str | None) -> str:
    """The store lock of the network ``unit`` trains: its members minus space (and k when the
    profile shares one network across k), the options, the profile and the data."""
    m0 = unit.base
    net = {k: v for k, v in m0.to_dict().items()
           if k != "space" and (k != "k" or m0.profile.one_net_per_k)}
    return config_key({"network": net, "options": options.to_dict(),
                       "profile": _key_settings(m0.profile, m0.topology, m0.loss),
                       "data": fingerprint_of(m0, root)})
