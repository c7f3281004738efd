"""A snapshot's pages as the reader sees them: every table cell and verdict, as printed text
(book: Results on real images, the snapshot and claims pages).

Snapshots keep float32 scores (:mod:`dissim.pipeline.snapshot_files`); a cell of Tables 1-3 or
a verdict is an arg-max over fused scores, so it could differ from the float64 computation only
where two classes' fused scores tie to float32's precision. :func:`pages` renders what the
pages print, :func:`differences` names what differs between two renderings;
``dissim results export`` keeps float64 where any does.
"""

from __future__ import annotations

import functools

from dissim.report import claims, tables, views

__all__ = ["differences", "pages"]


def pages(results: dict, cnn_results: dict, frozen_results: dict | None = None
          ) -> dict[str, str]:
    """``{part: printed text}`` of the snapshot and claims pages of ``results`` (Siamese
    members, controls), ``cnn_results`` (eCNN members) and ``frozen_results`` (frozen-CNN
    references): Tables 1-3, training health, the training check, the claims with their
    verdicts, tests and p values, and their context."""
    topologies = sorted({m.topology for m in results if getattr(m, "encoder", "") == "trained"})
    parts = {}
    if topologies:
        parts["table 1"] = lambda: views.table1_view(tables.table1(results, topologies[0]))
        parts["table 2"] = lambda: views.table2_view(tables.table2(results, topologies))
        parts["table 3"] = lambda: views.table3_or_note(results, cnn_results, topologies)
        parts["training health"] = lambda: views.training_health_view(
            tables.training_health(results))
    parts["training check"] = lambda: claims.claims_view([claims.training_check(results)])
    found = functools.cache(lambda: claims.claims(results, cnn_results))
    parts["claims"] = lambda: claims.claims_view(found())
    parts["verdicts"] = lambda: claims.verdicts(found())
    parts["context"] = lambda: claims.context(results, cnn_results,
                                              frozen_results=frozen_results)
    out = {}
    for name, part in parts.items():
        try:
            out[name] = part().to_string()
        except ValueError as err:  # a partial grid: a table without every member it needs
            out[name] = f"not computable from these members: {err}"
    return out


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
