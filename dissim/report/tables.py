"""The paper's tables as DataFrames, computed from stored score matrices (Section 3).

Every cell of Tables 1-3 is an average-rule fusion of SVM score matrices (SPEC 6): the members
selected for the cell are fused per fold, the fused matrix is scored by arg-max accuracy, and the
cell reports the mean and standard deviation over folds. Fusing never retrains: the members come
from the :class:`~dissim.store.ResultsStore`, and :func:`ensure` computes only what is missing.

The method names follow the paper: ``Cross`` (binary cross-entropy + Adam), ``CrossDD`` (binary
cross-entropy + DecayDGrad), ``Triplet`` (triplet loss + Adam); ``F`` = FULLY, ``D`` = DEEPER,
``F+D`` = their fusion. All k values of the profile are always fused (each paper value "is
already an average-rule fusion of 4 SVMs", k = 15, 30, 45, 60), and so are the profile's inputs
(original and/or HASC images).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from dissim.experiment import METHODS, Member, Options, run_members
from dissim.fusion import accuracy, average, zscore_sum
from dissim.profiles import get as get_profile
from dissim.store import Result, ResultsStore

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
# Table 2's four stacked values per topology (SPEC 1.3)
TABLE2_ROWS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "Cross F": (("cross",), ("fully",)),
    "Triplet F": (("triplet",), ("fully",)),
    "Cross+Triplet F+D": (("cross", "triplet"), ("fully", "deeper")),
    "Cross+Triplet+CrossDD F+D": (("cross", "triplet", "crossdd"), ("fully", "deeper")),
}
METHOD_NAMES = tuple(METHODS)  # cross, crossdd, triplet
FUSIONS = {"Fusion 1-4": range(1, 5), "Fusion 1-6": range(1, 7), "Fusion 1-8": range(1, 9)}


@dataclass(frozen=True)
class Run:
    """Which results a table is built from: data set, profile, seed and where they live."""

    dataset: str
    profile: str = "quick"
    seed: int = 0
    results_dir: str = "results"
    data_root: str | None = None
    inputs: tuple[str, ...] = ("orig",)
    options: Options = Options()

    def __post_init__(self) -> None:
        if isinstance(self.inputs, str):  # "orig+hasc", as a papermill parameter
            object.__setattr__(self, "inputs", tuple(self.inputs.split("+")))

    @property
    def store(self) -> ResultsStore:
        return ResultsStore(self.results_dir)

    def folds(self) -> list[int]:
        from dissim.experiment import dataset_folds

        return list(range(len(dataset_folds(self.dataset, self.data_root, self.profile,
                                            self.seed))))

    def members(self, topologies: Iterable[int], methods: Iterable[str]) -> list[Member]:
        """Every member of the grid (folds x inputs x topologies x methods x spaces x k)."""
        prof = get_profile(self.profile)
        out = []
        for fold in self.folds():
            for inp in self.inputs:
                for t in topologies:
                    for method in methods:
                        loss, opt = METHODS[method]
                        for space in ("fully", "deeper"):
                            for k in prof.k_values:
                                out.append(Member(
                                    dataset=self.dataset, fold=fold, input=inp, topology=t,
                                    loss=loss, optimizer=opt, space=space, k=k,
                                    seed=self.seed, profile=self.profile))
        return out

    def caption(self) -> str:
        """Who produced the numbers: shown under every table."""
        prof = get_profile(self.profile)
        nets = "one network per k" if prof.one_net_per_k else "one network shared by all k"
        return (f"Ours: data set `{self.dataset}`, profile `{self.profile}` "
                f"({prof.input_size} px or the topology's minimum, {prof.iterations} iterations, "
                f"batch {prof.batch_size}, k = {', '.join(map(str, prof.k_values))}, {nets}), "
                f"inputs {' + '.join(self.inputs)}, seed {self.seed}, {len(self.folds())} folds; "
                f"mean ± standard deviation over folds.")


def ensure(run: Run, topologies: Iterable[int], methods: Iterable[str], *, device=None,
           progress: bool = True) -> dict[Member, Result]:
    """All results for the grid, computing (and storing) the missing ones."""
    members = run.members(list(topologies), list(methods))
    return run_members(members, run.store, options=run.options, root=run.data_root,
                       device=device, progress=progress)


def fused_scores(results: dict, keep: Callable[[object], bool]) -> dict[int, tuple]:
    """Average-rule fusion (SPEC 6) of the selected members, per fold.

    Returns ``{fold: (scores, y_true, test_index)}``; members of one fold must have been scored
    on the same test images.
    """
    by_fold: dict[int, list[Result]] = {}
    for m, r in results.items():
        if keep(m):
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


def fused_accuracy(results: dict, keep: Callable[[object], bool]) -> np.ndarray:
    """Per-fold accuracy of the average-rule fusion of the selected members (SPEC 6)."""
    return np.array([accuracy(s, y) for s, y, _ in fused_scores(results, keep).values()])


def _bottom(topologies) -> Callable[[Member], bool]:
    """Table 2's Bottom configuration (Cross+Triplet+CrossDD, FULLY+DEEPER) over topologies."""
    methods, spaces = TABLE2_ROWS["Cross+Triplet+CrossDD F+D"]
    return lambda m: m.topology in topologies and m.method in methods and m.space in spaces


def _cell(accs: np.ndarray) -> dict:
    return {"mean": 100 * accs.mean(), "std": 100 * accs.std(), "folds": len(accs)}


def table1(results: dict[Member, Result], topology: int = 1) -> pd.DataFrame:
    """Table 1: losses x builders for one topology; accuracy (%) mean/std over folds."""
    rows = []
    for col, methods in TABLE1_COLUMNS.items():
        for builder, spaces in BUILDERS.items():
            accs = fused_accuracy(results, lambda m, ms=methods, ss=spaces: (
                m.topology == topology and m.method in ms and m.space in ss))
            rows.append({"method": col, "builder": builder, **_cell(accs)})
    return pd.DataFrame(rows)


def table2(results: dict[Member, Result], topologies: Sequence[int] = range(1, 9)) -> pd.DataFrame:
    """Table 2: per topology the four stacked configurations, then Fusion 1-4 / 1-6 / 1-8."""
    rows = []
    for t in topologies:
        for name, (methods, spaces) in TABLE2_ROWS.items():
            accs = fused_accuracy(results, lambda m, t=t, ms=methods, ss=spaces: (
                m.topology == t and m.method in ms and m.space in ss))
            rows.append({"row": f"Topology {t}", "configuration": name, **_cell(accs)})
    for name, ts in FUSIONS.items():
        if not set(ts) <= set(topologies):
            continue
        accs = fused_accuracy(results, _bottom(ts))
        rows.append({"row": name, "configuration": "Cross+Triplet+CrossDD F+D",
                     **_cell(accs)})
    return pd.DataFrame(rows)


def ensure_cnns(run: Run, *, device=None, progress: bool = True) -> dict:
    """The profile's eCNN members on every fold (fine-tuned or reused from the store)."""
    from dissim.baselines.member import CNNMember, run_cnn_members

    prof = get_profile(run.profile)
    members = [CNNMember(run.dataset, fold, cnn, run.seed, run.profile)
               for fold in run.folds() for cnn in prof.cnns]
    return run_cnn_members(members, run.store, root=run.data_root, device=device,
                           progress=progress)


def table3(results: dict, cnn_results: dict, topologies: Sequence[int] = range(1, 9)
           ) -> pd.DataFrame:
    """Table 3: single CNNs, eCNN, the Siamese fusions, and Fusion + eCNN (Section 4).

    eCNN is the average rule over the CNNs; "Fusion a-b + eCNN" is the sum of the z-scored
    Siamese fusion and the z-scored eCNN score matrices, per fold (SPEC 6).
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
        siamese = fused_scores(results, _bottom(ts))
        rows.append({"row": name, **_cell(np.array(
            [accuracy(s, y) for s, y, _ in siamese.values()]))})
        both = []
        for fold, (s, y, idx) in siamese.items():
            e, _, e_idx = ecnn[fold]
            if not np.array_equal(idx, e_idx):
                raise ValueError(f"fold {fold}: CNN and Siamese test images differ")
            both.append(accuracy(zscore_sum([s, e]), y))
        rows.append({"row": f"{name} + eCNN", **_cell(np.array(both))})
    return pd.DataFrame(rows)


def table4(results: dict[Member, Result]) -> pd.DataFrame:
    """Table 4: seconds to train one Siamese network, per topology and loss (Adam)."""
    rows = []
    seen = set()
    for m, r in results.items():
        if m.optimizer != "adam":
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


# Each ablation of the Assumptions chapter: option name -> (values, methods it concerns).
ABLATIONS: dict[str, tuple[tuple, tuple[str, ...]]] = {
    "triplet_form": (("printed", "conventional"), ("triplet",)),
    "svm_scaling": (("none", "minmax", "standard"), ("cross",)),
    "per_class": ((True, False), ("cross",)),
    "cluster_space": (("pixel", "feature"), ("cross",)),
    "pixel_range": (("0-255", "unit"), ("cross",)),
}


def ablation(run: Run, option: str, values=None, methods=None, topology: int = 1, *,
             device=None, progress: bool = True) -> pd.DataFrame:
    """Accuracy of one open choice's values (SPEC 10), F / D / F+D, mean/std over folds.

    ``option`` is a field of :class:`~dissim.experiment.Options` or ``"input"`` (orig vs HASC).
    """
    from dataclasses import replace

    if option == "input":
        values, methods = values or ("orig", "hasc"), methods or ("cross",)
    else:
        default_values, default_methods = ABLATIONS[option]
        values, methods = values or default_values, methods or default_methods
    rows = []
    for value in values:
        if option == "input":
            r = replace(run, inputs=(value,))
        else:
            r = replace(run, options=replace(run.options, **{option: value}))
        results = ensure(r, [topology], methods, device=device, progress=progress)
        for builder, spaces in BUILDERS.items():
            accs = fused_accuracy(results, lambda m, ss=spaces: m.space in ss)
            rows.append({"option": option, "value": str(value), "builder": builder,
                         **_cell(accs)})
    return pd.DataFrame(rows)
