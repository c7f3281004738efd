"""One grammar for lists on the command line: one word of ranges and commas.

    dissim grid     --topologies 1-8 --methods cross,triplet --k 15,30 --folds 0-4
    dissim evaluate DIR --topologies 1,3,7 --methods cross,triplet --spaces fully,deeper
    dissim book run --dataset textures,digits --notebooks table1,figure4

Every sub-command reads a list option as one word, which reads well in a shell and in
papermill's ``-p`` (book: Scale). The space-separated form (``--topologies 1 2 3``) is refused
before any work, in one line that shows the right one::

    dissim: error: --topologies takes one list, ranges and commas without spaces: write
    --topologies 1,2,3 (not --topologies 1 2 3) (see dissim evaluate --help)

:class:`ListType` is the ``type=`` of such an option; :class:`~dissim.cli.argparse_oneline.
OneLineParser` calls :func:`refuse_spaced_lists` on the words each (sub-)parser reads.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Sequence

from dissim.errors import ConfigError

__all__ = ["ListType", "ints", "names", "parse_ints", "parse_names", "refuse_spaced_lists",
           "words"]


def _ints(text: str) -> tuple[int, ...]:
    out: list[int] = []
    for item in str(text).split(","):
        lo, sep, hi = item.strip().partition("-")
        try:
            values = range(int(lo), int(hi) + 1) if sep else [int(lo)]
        except ValueError:
            raise ValueError(f"{item.strip()!r} is not an integer or a range like 1-8") from None
        out.extend(v for v in values if v not in out)
    if not out:
        raise ValueError("is empty; give e.g. 1-8 or 0,2")
    return tuple(out)


def _names(text: str, allowed: Sequence[str] | None, what: str = "") -> tuple[str, ...]:
    names_ = tuple(dict.fromkeys(n.strip() for n in str(text).split(",") if n.strip()))
    if allowed is not None:
        names_ = tuple(dict.fromkeys(n.lower() for n in names_))
        for name in names_:
            if name not in allowed:
                raise ValueError(f"unknown {what + ' ' if what else ''}{name!r}; choose from "
                                 f"{','.join(allowed)}")
    if not names_:
        raise ValueError("is empty" + (f"; choose from {','.join(allowed)}" if allowed else ""))
    return names_


def parse_ints(text: str, what: str) -> tuple[int, ...]:
    """``"1-3,7"`` -> ``(1, 2, 3, 7)``; a one-line :class:`ConfigError` names ``--what``."""
    try:
        return _ints(text)
    except ValueError as err:
        raise ConfigError(f"--{what}{'' if str(err).startswith('is ') else ':'} {err}") from None


def parse_names(text: str, allowed: Sequence[str], what: str) -> tuple[str, ...]:
    """``"cross,triplet"`` -> ``("cross", "triplet")``, each checked against ``allowed``."""
    try:
        return _names(text, tuple(allowed))
    except ValueError as err:
        raise ConfigError(f"--{what}{'' if str(err).startswith('is ') else ':'} {err}") from None


class ListType:
    """The ``type=`` of a list option: one word -> a tuple; a bad word is argparse's one line.

    ``parse`` raises :class:`ValueError` with the reason; ``metavar`` shows the grammar in
    ``--help``.
    """

    def __init__(self, parse: Callable[[str], tuple], metavar: str) -> None:
        self.parse = parse
        self.metavar = metavar
        self.__name__ = "list"  # argparse names the type in its messages

    def __call__(self, text: str) -> tuple:
        try:
            return self.parse(text)
        except ValueError as err:
            raise argparse.ArgumentTypeError(str(err)) from None

    def accepts(self, word: str) -> bool:
        """Whether ``word`` is itself a valid list (a stray item of a space-separated list)."""
        try:
            self.parse(word)
        except ValueError:
            return False
        return True


def ints(allowed: Sequence[int] | None = None, metavar: str = "N,M-N") -> ListType:
    """Integers and ranges (``1-3,7``), each in ``allowed`` when given."""
    def parse(text: str) -> tuple[int, ...]:
        values = _ints(text)
        bad = [v for v in values if allowed is not None and v not in allowed]
        if bad:
            known = f"{min(allowed)}-{max(allowed)}" if allowed else "none"
            raise ValueError(f"invalid choice: {bad[0]} (choose from {known})")
        return values
    return ListType(parse, metavar)


def names(allowed: Sequence[str], metavar: str | None = None, what: str = "") -> ListType:
    """Names from ``allowed`` (case-insensitive), comma-separated; ``what`` names one in a
    message (``unknown notebook 'nope'``)."""
    allowed = tuple(allowed)
    return ListType(lambda text: _names(text, allowed, what), metavar or ",".join(allowed))


def words(metavar: str) -> ListType:
    """Any comma-separated names (checked later, e.g. data set names against the manifests)."""
    return ListType(lambda text: _names(text, None), metavar)


def refuse_spaced_lists(parser: argparse.ArgumentParser, args: Sequence[str]) -> None:
    """Refuse ``--option a b c`` for a list option of ``parser``: one line showing
    ``--option a,b,c``. Only words that are themselves valid lists count as stray items, so a
    positional argument after a list option (``--methods cross DIR``) is left alone."""
    lists = {opt: a.type for a in parser._actions if isinstance(a.type, ListType)
             for opt in a.option_strings}
    for i, word in enumerate(args):
        if word == "--":
            return
        opt, eq, value = word.partition("=")
        kind = lists.get(opt)
        if kind is None:
            continue
        items = [value] if eq else args[i + 1:i + 2]
        for nxt in args[i + 1 + (0 if eq else 1):]:
            if nxt.startswith("-") or not kind.accepts(nxt):
                break
            items.append(nxt)
        if len(items) > 1:
            parser.error(f"{opt} takes one list, ranges and commas without spaces: write "
                         f"{opt} {','.join(items)} (not {opt} {' '.join(items)})")
