"""The paper's tables as DataFrames, read from stored score matrices (Section 4).

Every cell of Tables 1-3 is an average-rule fusion of SVM score matrices (Section 4): the
members selected for the cell are fused per fold, the fused matrix is scored by arg-max
accuracy, and the cell reports the mean and standard deviation over folds. Tables only read:
a page asks the runner (:func:`dissim.pipeline.runner.ensure`) for its members' results, then
hands them to these functions.

The method names follow the paper: ``Cross`` (binary cross-entropy + Adam), ``CrossDD`` (binary
cross-entropy + DecayDGrad), ``Triplet`` (triplet loss + Adam); ``F`` = FULLY, ``D`` = DEEPER,
``F+D`` = their fusion. All k values of the profile are always fused (each paper value "is
already an average-rule fusion of 4 SVMs", k = 15, 30, 45, 60), and so are the profile's inputs
(original and/or HASC images).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import pandas as pd

from dissim.fusion import accuracy, average, zscore_sum
from dissim.pipeline.experiment import METHODS, Member
from dissim.pipeline.store import Result

TABLE1_COLUMNS: dict[str, tuple[str, ...]] = {
    "Cross": ("cross",),
    "CrossDD": ("crossdd",),
    "Triplet": ("triplet",),
    "Triplet+Cross": ("triplet", "cross"),
    "Triplet+Cross+CrossDD": ("triplet", "cross", "crossdd"),
}
BUILDERS: dict[str, tuple[str, ...]] = {
    "F": ("fully",), "D": ("deeper",), "F+D": ("fully", "deeper"),
}
# Table 2's four stacked values per topology (Section 4)
TABLE2_ROWS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "Cross F": (("cross",), ("fully",)),
    "Triplet F": (("triplet",), ("fully",)),
    "Cross+Triplet F+D": (("cross", "triplet"), ("fully", "deeper")),
    "Cross+Triplet+CrossDD F+D": (("cross", "triplet", "crossdd"), ("fully", "deeper")),
}
METHOD_NAMES = tuple(METHODS)  # cross, crossdd, triplet
#: Table 2's control column: Cross F+D with the untrained network (topology rows and their
#: fusions), or with the pixels instead of a network (the pixels row).
CONTROL_COLUMN = "Control: untrained Cross F+D"
FUSIONS = {"Fusion 1-4": range(1, 5), "Fusion 1-6": range(1, 7), "Fusion 1-8": range(1, 9)}


#: The paper's names of the methods (Section 4).
DISPLAY = {"cross": "Cross", "crossdd": "CrossDD", "triplet": "Triplet"}


def trained_methods(results: dict) -> set[str]:
    """The methods of the trained Siamese members in ``results``."""
    return {m.method for m in results if _encoder(m) == "trained" and hasattr(m, "method")}


def configuration(name: str, methods: Sequence[str], present: set[str]) -> str | None:
    """The label of a row or column fusing ``methods``, given the methods ``present`` in the
    results: ``name`` when all are there, ``name`` with the absent ones said when some are
    (a snapshot may hold a part of the grid), None (leave it out) when none are."""
    missing = [DISPLAY.get(m, m) for m in methods if m not in present]
    if len(missing) == len(methods):
        return None
    return f"{name} (no {', '.join(missing)} run)" if missing else name


def _encoder(m) -> str:
    """``trained`` for the paper's members (and CNNs); ``untrained`` / ``pixels`` for controls."""
    return getattr(m, "encoder", "trained")


def fused_scores(results: dict, keep: Callable[[object], bool],
                 encoder: str = "trained") -> dict[int, tuple]:
    """Average-rule fusion (Section 4) of the selected members, per fold.

    Only members whose encoder is ``encoder`` take part: the paper's trained members by
    default, a control when asked. Returns ``{fold: (scores, y_true, test_index)}``; members
    of one fold must have been scored on the same test images.
    """
    by_fold: dict[int, list[Result]] = {}
    for m, r in results.items():
        if _encoder(m) == encoder and keep(m):
            by_fold.setdefault(m.fold, []).append(r)
    if not by_fold:
        raise ValueError("no stored result matches this table cell")
    out = {}
    for fold in sorted(by_fold):
        rs = by_fold[fold]
        ref = rs[0].test_index
        if any(not np.array_equal(r.test_index, ref) for r in rs):
            raise ValueError(f"members of fold {fold} were scored on different test images")
        out[fold] = (average([r.scores for r in rs]), rs[0].y_true, ref)
    return out


def fold_accuracies(results: dict, keep: Callable[[object], bool],
                    encoder: str = "trained") -> dict[int, float]:
    """``{fold: accuracy}`` of the average-rule fusion of the selected members (Section 4)."""
    return {fold: accuracy(s, y)
            for fold, (s, y, _) in fused_scores(results, keep, encoder).items()}


def fold_decisions(results: dict, keep: Callable[[object], bool],
                   encoder: str = "trained") -> dict[int, tuple[np.ndarray, np.ndarray]]:
    """``{fold: (correct, test_index)}``: per test image, whether the average-rule fusion of
    the selected members (Section 4) puts its arg-max on the true class; the per-image
    decisions behind :func:`fold_accuracies` (``correct.mean()`` is the fold's accuracy), for
    the paired per-image test of the claims pages (book: Results on real images)."""
    return {fold: (s.argmax(axis=1) == np.asarray(y), idx)
            for fold, (s, y, idx) in fused_scores(results, keep, encoder).items()}


def fused_accuracy(results: dict, keep: Callable[[object], bool],
                   encoder: str = "trained") -> np.ndarray:
    """Per-fold accuracy of the average-rule fusion of the selected members (Section 4)."""
    return np.array(list(fold_accuracies(results, keep, encoder).values()))


def with_ecnn_accuracies(results: dict, cnn_results: dict, keep: Callable[[object], bool]
                         ) -> dict[int, float]:
    """``{fold: accuracy}`` of "Fusion + eCNN" (Section 4): the sum of the z-scored Siamese
    fusion of the selected members and the z-scored eCNN (average rule over the CNNs)."""
    return {fold: accuracy(s, y)
            for fold, (s, y, _) in with_ecnn_scores(results, cnn_results, keep).items()}


def with_ecnn_scores(results: dict, cnn_results: dict, keep: Callable[[object], bool]
                     ) -> dict[int, tuple]:
    """``{fold: (scores, y_true, test_index)}`` of "Fusion + eCNN" (Section 4), on the folds
    both sides have: the sum of the z-scored Siamese fusion and the z-scored eCNN."""
    siamese = fused_scores(results, keep)
    ecnn = fused_scores(cnn_results, lambda m: True)
    out = {}
    for fold, (s, y, idx) in siamese.items():
        if fold not in ecnn:
            continue
        e, _, e_idx = ecnn[fold]
        if not np.array_equal(idx, e_idx):
            raise ValueError(f"fold {fold}: CNN and Siamese test images differ")
        out[fold] = (zscore_sum([s, e]), y, idx)
    return out


def with_ecnn_decisions(results: dict, cnn_results: dict, keep: Callable[[object], bool]
                        ) -> dict[int, tuple[np.ndarray, np.ndarray]]:
    """``{fold: (correct, test_index)}`` of "Fusion + eCNN" (:func:`with_ecnn_scores`), per
    test image, as :func:`fold_decisions`."""
    return {fold: (s.argmax(axis=1) == np.asarray(y), idx)
            for fold, (s, y, idx) in with_ecnn_scores(results, cnn_results, keep).items()}


def convergence(results: dict, keep: Callable[[object], bool]) -> tuple[int, int]:
    """(converged, trained) networks behind the selected trained members.

    A network counts once however many members (spaces, k values) were built from it; it
    converged when the rerun rule's test passed (:class:`dissim.train.TrainConfig`).
    """
    nets: dict[tuple, bool] = {}
    for m, r in results.items():
        if _encoder(m) != "trained" or not keep(m) or "train" not in r.meta:
            continue
        net = (m.fold, m.input, m.topology, m.loss, m.optimizer,
               m.k if m.profile.one_net_per_k else None)
        nets[net] = bool(r.meta["train"].get("converged"))
    return sum(nets.values()), len(nets)


def _has(results: dict, encoder: str) -> bool:
    return any(_encoder(m) == encoder for m in results)


def bottom(topologies) -> Callable[[Member], bool]:
    """Table 2's Bottom configuration (Cross+Triplet+CrossDD, FULLY+DEEPER) over
    ``topologies``: the members of the Fusion rows of Tables 2 and 3."""
    return _bottom(topologies)


def _bottom(topologies) -> Callable[[Member], bool]:
    """Table 2's Bottom configuration (Cross+Triplet+CrossDD, FULLY+DEEPER) over topologies."""
    methods, spaces = TABLE2_ROWS["Cross+Triplet+CrossDD F+D"]
    return lambda m: m.topology in topologies and m.method in methods and m.space in spaces


def _cell(accs: np.ndarray, conv: tuple[int, int] | None = None) -> dict:
    """Mean and sd (%) over folds, and how many of the networks behind the cell converged."""
    cell = {"mean": 100 * accs.mean(), "std": 100 * accs.std(), "folds": len(accs)}
    if conv is not None:
        cell["converged"], cell["networks"] = conv
    return cell


#: The control columns / rows of the results tables (book: Training health).
CONTROLS = {"untrained": "Control: untrained network", "pixels": "Control: pixels"}


def pixel_control(results: dict) -> Callable[[object], bool]:
    """The pixel members of one input side: those keyed under the lowest topology that any
    pixel member of ``results`` names (grids key them under
    :data:`dissim.pipeline.runner.PIXEL_TOPOLOGY`). A store where an older grid on a later
    topology range keyed a second pixel set, at that range's input side, fuses one set, not
    both."""
    tops = [m.topology for m in results if getattr(m, "encoder", "") == "pixels"]
    first = min(tops, default=None)
    return lambda m: m.topology == first


def table1(results: dict[Member, Result], topology: int = 1) -> pd.DataFrame:
    """Table 1: losses x builders for one topology; accuracy (%) mean/std over folds.

    When ``results`` holds the controls (:func:`dissim.pipeline.runner.ensure_controls`), two
    more columns: the Cross configuration with the untrained network, and the pixels.
    """
    rows = []
    present = {m.method for m in results if _encoder(m) == "trained" and m.topology == topology}
    for col, methods in TABLE1_COLUMNS.items():
        label = configuration(col, methods, present)
        if label is None:
            continue
        for builder, spaces in BUILDERS.items():
            def keep(m, ms=methods, ss=spaces):
                return m.topology == topology and m.method in ms and m.space in ss
            rows.append({"method": label, "builder": builder,
                         **_cell(fused_accuracy(results, keep), convergence(results, keep))})
    for encoder, col in CONTROLS.items():
        if not _has(results, encoder):
            continue
        same = (pixel_control(results) if encoder == "pixels"
                else (lambda m: m.topology == topology))
        for builder, spaces in BUILDERS.items():
            accs = fused_accuracy(results, lambda m, ss=spaces, same=same: (
                same(m) and m.method == "cross" and m.space in ss), encoder)
            rows.append({"method": col, "builder": builder, **_cell(accs)})
    return pd.DataFrame(rows)


def table2(results: dict[Member, Result], topologies: Sequence[int] = range(1, 9)) -> pd.DataFrame:
    """Table 2: per topology the four stacked configurations, then Fusion 1-4 / 1-6 / 1-8."""
    rows = []
    untrained = _has(results, "untrained")
    present = trained_methods(results)
    bottom_label = configuration("Cross+Triplet+CrossDD F+D",
                                 TABLE2_ROWS["Cross+Triplet+CrossDD F+D"][0], present)
    for t in topologies:
        for name, (methods, spaces) in TABLE2_ROWS.items():
            label = configuration(name, methods, present)
            if label is None:
                continue
            def keep(m, t=t, ms=methods, ss=spaces):
                return m.topology == t and m.method in ms and m.space in ss
            rows.append({"row": f"Topology {t}", "configuration": label,
                         **_cell(fused_accuracy(results, keep), convergence(results, keep))})
        if untrained:
            accs = fused_accuracy(results, lambda m, t=t: m.topology == t, "untrained")
            rows.append({"row": f"Topology {t}", "configuration": CONTROL_COLUMN,
                         **_cell(accs)})
    for name, ts in FUSIONS.items():
        if not set(ts) <= set(topologies):
            continue
        rows.append({"row": name, "configuration": bottom_label,
                     **_cell(fused_accuracy(results, _bottom(ts)),
                             convergence(results, _bottom(ts)))})
        if untrained:
            accs = fused_accuracy(results, lambda m, ts=ts: m.topology in ts, "untrained")
            rows.append({"row": name, "configuration": CONTROL_COLUMN, **_cell(accs)})
    if _has(results, "pixels"):
        rows.append({"row": CONTROLS["pixels"], "configuration": CONTROL_COLUMN,
                     **_cell(fused_accuracy(results, pixel_control(results), "pixels"))})
    return pd.DataFrame(rows)


def table3(results: dict, cnn_results: dict, topologies: Sequence[int] = range(1, 9)
           ) -> pd.DataFrame:
    """Table 3: single CNNs, eCNN, the Siamese fusions, and Fusion + eCNN (Section 4).

    eCNN is the average rule over the CNNs; "Fusion a-b + eCNN" is the sum of the z-scored
    Siamese fusion and the z-scored eCNN score matrices, per fold (Section 4).
    """
    rows = []
    cnns = list(dict.fromkeys(m.cnn for m in cnn_results))
    for cnn in cnns:
        accs = fused_accuracy(cnn_results, lambda m, c=cnn: m.cnn == c)
        rows.append({"row": cnn, **_cell(accs)})
    ecnn = fused_scores(cnn_results, lambda m: True)
    rows.append({"row": "eCNN", **_cell(np.array([accuracy(s, y) for s, y, _ in
                                                   ecnn.values()]))})
    for name, ts in FUSIONS.items():
        if not set(ts) <= set(topologies):
            continue
        rows.append({"row": name, **_cell(fused_accuracy(results, _bottom(ts)),
                                          convergence(results, _bottom(ts)))})
        both = with_ecnn_accuracies(results, cnn_results, _bottom(ts))
        rows.append({"row": f"{name} + eCNN", **_cell(np.array(list(both.values())))})
    if _has(results, "untrained"):
        accs = fused_accuracy(results, lambda m: m.topology in topologies, "untrained")
        rows.append({"row": f"{CONTROLS['untrained']} (Cross F+D, topologies "
                            f"{min(topologies)}-{max(topologies)})", **_cell(accs)})
    if _has(results, "pixels"):
        rows.append({"row": f"{CONTROLS['pixels']} (F+D)",
                     **_cell(fused_accuracy(results, pixel_control(results), "pixels"))})
    return pd.DataFrame(rows)


def table4(results: dict[Member, Result]) -> pd.DataFrame:
    """Table 4: seconds to train one Siamese network, per topology and loss (Adam)."""
    rows = []
    seen = set()
    for m, r in results.items():
        if m.optimizer != "adam" or _encoder(m) != "trained":
            continue
        net_id = (m.topology, m.loss, m.fold, m.input, r.meta["timings"]["train_seconds"])
        if net_id in seen:
            continue  # one row per trained network, not per member built from it
        seen.add(net_id)
        rows.append({"topology": m.topology, "loss": m.loss,
                     "seconds": r.meta["timings"]["train_seconds"],
                     "iterations": r.meta["profile_settings"]["iterations"],
                     "device": r.meta["train"]["device"]})
    df = pd.DataFrame(rows)
    return (df.groupby(["loss", "topology"])["seconds"].agg(["mean", "std", "count"])
            .reset_index())


def ablation(option: str, results: dict[str, dict]) -> pd.DataFrame:
    """Accuracy of each value of one open choice (book: Assumptions), F / D / F+D, mean/std over
    folds; ``results`` maps each value to its members' results
    (:func:`dissim.pipeline.runner.ensure_ablation`)."""
    rows = []
    for value, res in results.items():
        for builder, spaces in BUILDERS.items():
            def keep(m, ss=spaces):
                return m.space in ss
            rows.append({"option": option, "value": str(value), "builder": builder,
                         **_cell(fused_accuracy(res, keep), convergence(res, keep))})
    return pd.DataFrame(rows)


def training_health(results: dict[Member, Result]) -> pd.DataFrame:
    """One row per trained network behind ``results``: did it learn? (book: Training health).

    Columns: topology, method, fold, input, iterations, first and final loss, the loss curve
    (thinned), pair accuracy on training pairs and on held-out pairs after training and for the
    same network at initialisation, and the rerun rule's verdict.
    """
    rows = {}
    for m, r in results.items():
        if _encoder(m) != "trained" or "train" not in r.meta:
            continue
        net = (m.fold, m.input, m.topology, m.loss, m.optimizer,
               m.k if m.profile.one_net_per_k else None)
        t = r.meta["train"]
        rows[net] = {
            "topology": m.topology, "method": m.method, "fold": m.fold, "input": m.input,
            "iterations": t.get("iterations", len(t.get("loss_curve", []))),
            "first_loss": t.get("first_loss"), "final_loss": t.get("final_loss"),
            "loss_curve": t.get("loss_curve", []),
            "pair_accuracy": t.get("pair_accuracy"),
            "heldout_pair_accuracy": t.get("heldout_pair_accuracy"),
            "untrained_pair_accuracy": t.get("untrained_pair_accuracy"),
            "untrained_heldout_pair_accuracy": t.get("untrained_heldout_pair_accuracy"),
            "converged": bool(t.get("converged")), "attempts": t.get("attempts"),
        }
    cols = ["topology", "method", "fold", "input", "iterations", "first_loss", "final_loss",
            "loss_curve", "pair_accuracy", "heldout_pair_accuracy", "untrained_pair_accuracy",
            "untrained_heldout_pair_accuracy", "converged", "attempts"]
    df = pd.DataFrame(list(rows.values()), columns=cols)
    return df.sort_values(["topology", "method", "fold"], ignore_index=True)
