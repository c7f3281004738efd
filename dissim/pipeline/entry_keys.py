"""How a results-store key is made from a member's recorded fields, and made again on reading.

A store key (book: Scale) is the SHA-256 of a JSON document: for a Siamese member its fields,
the options, the profile's settings as its network sees them and the data fingerprint; for a
CNN member its fields, the profile's CNN and data settings and the fingerprint. Every entry
records exactly those fields in its metadata (``member``, ``options``, ``profile_settings``,
``data.fingerprint``; ``cnn_member`` for a CNN), so :func:`recorded_key` computes the key again
from the metadata with the functions that made it (:func:`siamese_key`, :func:`cnn_member_key`,
used by :func:`dissim.pipeline.keys.member_key` and :func:`dissim.pipeline.cnn.cnn_key`). The
store refuses an entry whose recomputed key is not its own (:mod:`dissim.pipeline.store`): an
entry relabelled as another member (an edited ``meta.member.topology``, with its arrays and
checksum untouched) would otherwise be listed, exported and imported as that member.

This module depends on nothing but :mod:`dissim.profiles`, so the store can use it.
"""

from __future__ import annotations

import hashlib
import json

from dissim.profiles import settings_for

__all__ = ["KEY_FORMAT", "cnn_member_key", "cnn_settings", "config_key", "recorded_key",
           "siamese_key", "siamese_settings"]

#: The ``format`` field every key hashes (format 1: the only one the store has known).
KEY_FORMAT = 1


def config_key(config: dict) -> str:
    """Stable SHA-256 hex key of a JSON-serialisable configuration."""
    blob = json.dumps(config, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(blob.encode()).hexdigest()


def siamese_settings(settings: dict, topology: int, loss: str) -> dict:
    """The profile settings (:meth:`dissim.profiles.Profile.to_dict`) that key a Siamese member
    of ``topology`` and ``loss``: as that network sees them
    (:func:`dissim.profiles.settings_for`), without the CNN settings."""
    out = {k: v for k, v in settings_for(settings, topology, loss).items()
           if not k.startswith("cnn")}
    out["extra"] = {}  # format-1 keys hashed a since-removed, always empty field: kept
    return out


#: The profile settings a frozen CNN member depends on (no fine-tuning: no epochs, no rate).
_FROZEN_SETTINGS = ("cnn_input_size", "max_folds", "max_per_class")


def cnn_settings(settings: dict, frozen: bool = False) -> dict:
    """The part of a profile's settings (:meth:`Profile.to_dict`) a CNN member depends on: its
    store key hashes it, and a snapshot keeps the member while it is unchanged."""
    if frozen:
        return {k: v for k, v in settings.items() if k in _FROZEN_SETTINGS}
    return {k: v for k, v in settings.items()
            if k.startswith("cnn") or k in ("max_folds", "max_per_class")}


def siamese_key(member: dict, options: dict, settings: dict, fingerprint: str) -> str:
    """The key of a Siamese member from its fields (``Member.to_dict``), the options
    (``Options.to_dict``), the profile's settings (``Profile.to_dict``) and the data
    fingerprint."""
    return config_key({
        "member": member, "options": options,
        "profile": siamese_settings(settings, member["topology"], member["loss"]),
        "data": fingerprint, "format": KEY_FORMAT,
    })


def cnn_member_key(member: dict, settings: dict, fingerprint: str) -> str:
    """The key of a CNN member from its fields (``CNNMember.to_dict``), the profile's settings
    and the data fingerprint."""
    return config_key({"cnn_member": member,
                       "profile": cnn_settings(settings, bool(member.get("frozen"))),
                       "data": fingerprint, "format": KEY_FORMAT})


def recorded_key(meta: dict) -> str | None:
    """The key an entry's metadata says it has: computed again from the recorded fields, as
    :func:`siamese_key` or :func:`cnn_member_key` made it. None when the metadata names no
    member at all (neither ``member`` nor ``cnn_member``: a raw store entry, not one of the
    pipeline's, which is checked by its checksum only).

    Raises
    ------
    ValueError
        When the metadata names a member but lacks, or has malformed, a field its key is made
        of; the message names the field.
    """
    is_cnn = meta.get("kind") == "cnn"
    name = "cnn_member" if is_cnn else "member"
    if not is_cnn and "member" not in meta and "cnn_member" not in meta:
        return None
    need = (name, "profile_settings", "data") if is_cnn else (name, "options",
                                                               "profile_settings", "data")
    for field in need:
        if not isinstance(meta.get(field), dict):
            raise ValueError(f"its metadata lacks {field!r}")
    fingerprint = meta["data"].get("fingerprint")
    if not isinstance(fingerprint, str):
        raise ValueError("its metadata lacks 'data.fingerprint'")
    try:
        if is_cnn:
            return cnn_member_key(meta[name], meta["profile_settings"], fingerprint)
        return siamese_key(meta[name], meta["options"], meta["profile_settings"], fingerprint)
    except (KeyError, TypeError, ValueError) as err:
        raise ValueError(f"its metadata has a malformed member or profile "
                         f"({type(err).__name__}: {err})") from None
