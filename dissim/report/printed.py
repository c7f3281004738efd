"""A snapshot's pages as the reader sees them: every table cell and verdict, as printed text
(book: Results on real images, the snapshot and claims pages).

Snapshots keep float16 scores with float32 rows where needed
(:mod:`dissim.pipeline.snapshot_files`); a cell of Tables 1-3 or a verdict is an arg-max over
fused scores, so it could differ from the float64 computation only where two classes' fused
scores tie to that precision. :func:`pages` renders what the
pages print, :func:`differences` names what differs between two renderings;
``dissim results export`` keeps a wider type where any does.
"""

from __future__ import annotations

import functools
import os
from pathlib import Path
from unittest import mock

import numpy as np

from dissim.pipeline import snapshot_files, snapshots
from dissim.report import claims, tables, views

__all__ = ["LADDER", "differences", "exact_images", "export", "pages"]

#: Score precisions :func:`export` tries, narrowest first: the first whose pages print as the
#: float64 ones do is kept (``auto6``, ``auto``: float16 of 6 or 10 mantissa bits, float32 for
#: the rows of the images whose decision, a member's or a fusion's on the pages, the rounding
#: moves; see :mod:`dissim.pipeline.snapshot_files`).
LADDER = (snapshots.AUTO6, snapshots.AUTO, "float32", "float64")


def pages(results: dict, cnn_results: dict, frozen_results: dict | None = None
          ) -> dict[str, str]:
    """``{part: printed text}`` of the snapshot and claims pages of ``results`` (Siamese
    members, controls), ``cnn_results`` (eCNN members) and ``frozen_results`` (frozen-CNN
    references): Tables 1-3, training health, the training check, the claims with their
    verdicts, tests and p values, and their context."""
    topologies = sorted({m.topology for m in results if getattr(m, "encoder", "") == "trained"})
    parts = {}
    if topologies:
        parts["table 1"] = lambda: views.table1_frame(tables.table1(results, topologies[0]))
        parts["table 2"] = lambda: views.table2_frame(tables.table2(results, topologies))
        parts["table 3"] = lambda: views.table3_or_note_frame(results, cnn_results, topologies)
        parts["training health"] = lambda: views.training_health_frame(
            tables.training_health(results))
    parts["training check"] = lambda: claims.claims_frame([claims.training_check(results)])
    found = functools.cache(lambda: claims.claims(results, cnn_results))
    parts["claims"] = lambda: claims.claims_frame(found())
    parts["verdicts"] = lambda: claims.verdicts(found())
    parts["context"] = lambda: claims.context_frame(results, cnn_results,
                                                    frozen_results=frozen_results)
    out = {}
    for name, part in parts.items():
        try:
            out[name] = part().to_string()
        except ValueError as err:  # a partial grid: a table without every member it needs
            out[name] = f"not computable from these members: {err}"
    return out


def export(picked: list, out: str | os.PathLike, *, dataset: str, profile: str,
           description: str | None = None) -> tuple[Path, str | None]:
    """Write the store entries ``picked`` as a snapshot ``out`` (``dissim results export``)
    with the narrowest score precision of :data:`LADDER` whose pages print every table cell
    and verdict as the entries' own (float64) scores do. Returns the index path and, where a
    narrower precision would have changed a page, one warning naming it."""
    held = snapshots.by_member(picked)
    before = pages(*held)
    first = None  # the first narrower precision that would change a page, and what it changes
    for precision in LADDER:
        bits = snapshot_files.AUTOS.get(precision)
        exact = exact_images(*held, bits=bits) if bits else None
        try:
            index = snapshots.export(picked, out, dataset=dataset, profile=profile,
                                     description=description, precision=precision,
                                     exact_images=exact)
        except snapshot_files.RangeError as err:  # beyond float16's range (auto takes float32)
            if precision != snapshots.AUTO6:  # 6 bits are a bonus: falling back is silent
                first = first or (precision, str(err))
            continue
        snap = snapshots.load(index.parent)
        changed = differences(before, pages(snap.results, snap.cnn_results,
                                            snap.frozen_results))
        if not changed:
            break
        if precision != snapshots.AUTO6:  # a tie at this precision would move a cell
            first = first or (precision, changed[0])
    if first is None:
        return index, None
    name = "float16" if first[0] == snapshots.AUTO else first[0]
    return index, (f"with {name} scores the pages of {index.parent} would differ "
                   f"({first[1]}); the snapshot keeps {precision} scores")


def differences(before: dict[str, str], after: dict[str, str]) -> list[str]:
    """The first differing line of each part, ``part: 'before' != 'after'``; empty when the
    two renderings are the same."""
    found = []
    for part in sorted(set(before) | set(after)):
        a, b = before.get(part, "").splitlines(), after.get(part, "").splitlines()
        if a != b:
            diff = next(((x, y) for x, y in zip(a, b, strict=False) if x != y),
                        (len(a), len(b)))
            found.append(f"{part}: {diff[0]!r} != {diff[1]!r}")
    return found


def exact_images(results: dict, cnn_results: dict, frozen_results: dict | None = None,
                 margin: float = 4.0, rounds: int = 8, bits: int = 10) -> dict[str, set[int]]:
    """``{entry key: test indices}``: the rows a compact (``auto``) snapshot keeps in float32
    beyond each member's own (:func:`dissim.pipeline.snapshot_files.exact_rows`), so that no
    fusion on these pages decides an image differently from the float64 scores.

    Every fusion the pages compute (:func:`dissim.report.tables.fused_scores` and the eCNN
    fusion) is recorded while they render, once from the scores and once from the scores as
    the snapshot would store them; where a fusion's arg-max differs, its members keep that
    image's row in float32. A row kept for one fusion changes what another sees, so this
    repeats until nothing moves (at most ``rounds`` times; ``dissim results export`` checks
    the printed pages either way). ``bits``: the mantissa bits the stored float16 values keep
    (10 for ``auto``, 6 for ``auto6``)."""
    members = (results, cnn_results, frozen_results or {})
    original = _fusions(*members)
    kept: dict[str, set[int]] = {}
    for _ in range(rounds):
        stored = _fusions(*(_as_stored(part, kept, margin, bits) for part in members))
        if len(stored) != len(original):  # a page chose its fusions from the scores
            break
        grew = False
        for (s, idx, keys), (h, _, _) in zip(original, stored, strict=True):
            if s.ndim != 2 or s.shape[1] < 2:
                continue
            moved = {int(i) for i in idx[s.argmax(axis=1) != h.argmax(axis=1)]}
            for key in keys if moved else ():
                if not moved <= kept.get(key, set()):
                    kept.setdefault(key, set()).update(moved)
                    grew = True
        if not grew:
            break
    return kept


def _as_stored(part: dict, kept: dict[str, set[int]], margin: float, bits: int = 10) -> dict:
    """``part`` with each result's scores as an ``auto`` (``auto6``) snapshot stores them
    (:func:`dissim.pipeline.snapshot_files.as_stored`), the rows of the test images in
    ``kept[key]`` in float32."""
    out = {}
    for m, r in part.items():
        rows = np.flatnonzero(np.isin(r.test_index, list(kept.get(r.key, ()))))
        stored = snapshot_files.as_stored(r.scores, margin, bits, rows)
        out[m] = type(r)(r.key, stored, r.y_true, r.test_index, r.meta)
    return out


def _fusions(results: dict, cnn_results: dict, frozen_results: dict
             ) -> list[tuple[np.ndarray, np.ndarray, list[str]]]:
    """``(fused scores, test indices, the fused entries' keys)`` of every fusion of one fold
    that the pages compute, in the order they compute them."""
    seen: list[tuple[np.ndarray, np.ndarray, list[str]]] = []
    plain, ecnn = tables.fused_scores, tables.with_ecnn_scores

    def keys(part: dict, keep, encoder: str, fold: int) -> list[str]:
        return [r.key for m, r in part.items()
                if tables._encoder(m) == encoder and keep(m) and m.fold == fold]

    def fused(part, keep, encoder="trained"):
        out = plain(part, keep, encoder)
        seen.extend((np.asarray(s), np.asarray(idx), keys(part, keep, encoder, fold))
                    for fold, (s, _, idx) in out.items())
        return out

    def with_ecnn(part, cnns, keep):
        out = ecnn(part, cnns, keep)
        seen.extend((np.asarray(s), np.asarray(idx),
                     keys(part, keep, "trained", fold) + keys(cnns, lambda m: True, "trained",
                                                              fold))
                    for fold, (s, _, idx) in out.items())
        return out

    with mock.patch.object(tables, "fused_scores", fused), \
            mock.patch.object(tables, "with_ecnn_scores", with_ecnn):
        pages(results, cnn_results, frozen_results)
    return seen
