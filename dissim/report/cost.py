"""The compute cost of a grid: what a result snapshot's evidence cost, and what the same grid
would cost at a larger training budget (book: Reproducing at scale; the Performance page's
section "What the evidence cost").

A snapshot (:mod:`dissim.pipeline.snapshots`) keeps, for every member, the seconds its unit spent
(``timings``): ``train_total_seconds`` (the Siamese training loop, every rerun included),
``prototypes_seconds`` (the k-means of its k, shared by its spaces), ``space_svm_seconds`` (its
space, its SVMs and its share of the test scoring) and ``unit_seconds`` (the whole unit: the
training, the pair accuracies before and after it, the encoding of the training images and every
member built from the network); a CNN entry keeps ``train_seconds`` (fine-tuning and test
scoring, or for a frozen reference its features and SVM). Members that share one network (all
its spaces, and all its k where the profile trains one network for every k) share one unit, so
each unit's time is counted once (:func:`dissim.pipeline.spec.group_units`).

**Threads are not recorded** in a member's metadata. A core-second here is a wall second times
the threads the member ran on: the number ``--threads N`` in the snapshot's description (the
command that computed it; the committed medium snapshots say ``--threads 1``), else
:data:`ASSUMED_THREADS` (1), and the ``threads`` column says which. The seconds are wall seconds
on shared cores (the medium snapshots ran two grids at a time on 2 cores), so they include any
slow-down by other work on the machine.

:func:`grid_cost` splits a snapshot into its parts (Siamese training by method; the evaluation of
the trained networks' members; the untrained-network and pixel controls; the fine-tuned CNNs; the
frozen CNN references). :func:`projection` prices the same grid at another training budget:
``large`` (the snapshot's profile with 4 x its iterations, :data:`dissim.profiles.PROFILES`
``["large"]`` for a medium snapshot) or ``paper`` (Section 3: 3000 iterations of 180 pairs,
540,000 pairs per network; Appendix A: 224 px inputs). Only the Siamese training is scaled, per
network, by the ratio of pairs (triplets) seen and, for the paper, of input pixels; everything
else stays as measured. :func:`summary`, :func:`table` and :func:`caption` show it in the book.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from dissim.pipeline import snapshots
from dissim.pipeline.member import METHODS, input_size
from dissim.pipeline.spec import group_units
from dissim.profiles import Profile, _trained_longer, base_name, settings_for
from dissim.profiles import get as get_profile
from dissim.report import figstyle, typeset
from dissim.report.benchmark import GPU_RESULTS, load_gpu_results
from dissim.sampling import images_per_iteration

__all__ = ["ASSUMED_THREADS", "BUDGETS", "GPU_PRECISION", "GPU_RESULTS", "LARGE_FACTOR",
           "PAPER_PAIRS", "caption", "committed", "gpu_speeds", "grid_cost", "networks",
           "projection", "summary", "table", "threads_of"]

REPO = Path(__file__).resolve().parents[2]
#: The threads assumed for a member when its snapshot's description does not say.
ASSUMED_THREADS = 1
#: ``large`` trains every network this many times the iterations of ``medium``
#: (:func:`dissim.profiles._trained_longer`; book: Reproducing at scale).
LARGE_FACTOR = get_profile("large").iterations // get_profile("medium").iterations
#: Pairs (triplets) one network sees at the paper's budget: 3000 x 180 (Section 3).
PAPER_PAIRS = get_profile("paper").iterations * get_profile("paper").batch_size
#: The budgets :func:`projection` prices besides the snapshot's own (``"own"``).
BUDGETS = ("own", "large", "paper")
#: The GPU speeds used by default: float32, the arithmetic of the snapshots and the paper.
GPU_PRECISION = "fp32"
NOT_MEASURED = "not measured"

#: The part that holds the trained networks' units less their training.
EVALUATION = "evaluation of the trained networks"
#: The parts of a grid, in the order of :func:`grid_cost`'s rows.
PARTS = ("training: cross", "training: crossdd", "training: triplet",
         EVALUATION, "control: untrained networks",
         "control: pixels", "fine-tuned CNNs", "frozen CNN references")


def committed(base: str | Path = REPO / snapshots.SNAPSHOT_DIR) -> list[snapshots.Snapshot]:
    """Every committed snapshot under ``base`` (``results_snapshots/``), loaded and verified."""
    return [snapshots.load(p) for p in snapshots.list_snapshots(base)]


def threads_of(snapshot: snapshots.Snapshot) -> tuple[int, str]:
    """``(threads, where from)``: the torch threads each network ran on.

    Member metadata does not record them; the snapshot's description (the command that computed
    it) may say ``--threads N``. Without it :data:`ASSUMED_THREADS` is assumed.

    >>> threads_of(snapshots.Snapshot(Path("x"), "d", "p", "... --threads 1`, run ..."))
    (1, 'the snapshot description: --threads 1')
    """
    found = re.findall(r"--threads[ =](\d+)", snapshot.description or "")
    if len(set(found)) == 1:
        return int(found[0]), f"the snapshot description: --threads {found[0]}"
    return ASSUMED_THREADS, f"not recorded: {ASSUMED_THREADS} assumed"


def _timing(meta: dict, name: str) -> float | None:
    value = (meta.get("timings") or {}).get(name)
    if value is None:
        return None
    value = float(value)
    return value if math.isfinite(value) else None


def _siamese_part(member) -> str:
    if member.encoder == "untrained":
        return "control: untrained networks"
    if member.encoder == "pixels":
        return "control: pixels"
    return f"training: {member.method}"


def _per_iteration(profile: Profile, topology: int, method: str) -> tuple[int, int]:
    """``(pairs or triplets, images)`` one iteration of ``method``'s networks of ``topology``
    trains on under ``profile``: the batch sampler forwards as many images as the paper's
    sampler and is counted at equal compute, as :func:`dissim.report.payoff.pairs_seen` does."""
    loss = METHODS.get(method, (method,))[0]
    batch = int(settings_for(profile.to_dict(), topology, loss)["batch_size"])
    return batch, images_per_iteration(batch, loss)


def networks(snapshot: snapshots.Snapshot) -> pd.DataFrame:
    """One row per unit of work in ``snapshot``: each Siamese network (trained, untrained or
    pixel control; its members share it) and each CNN entry.

    Columns: ``part`` (:data:`PARTS`; a trained network is in its training part, its
    evaluation in ``eval_seconds``), ``method``, ``topology``, ``fold``, ``side`` (input side in
    pixels), ``members``, ``untimed`` (members of the unit without the timing used),
    ``train_seconds`` (Siamese training, reruns included; 0 for controls), ``eval_seconds``
    (the unit's other seconds: pair accuracies, encoding, prototypes, spaces, SVMs, scoring; for a
    CNN its whole ``train_seconds``), ``prototypes_seconds`` and ``spaces_seconds`` (the parts of
    ``eval_seconds`` the metadata names), ``iterations`` and ``attempts`` of the training,
    ``pairs`` (pairs or triplets the network saw, at equal compute: its attempts x the kept
    run's iterations x pairs per iteration, exact for a network trained once, as every network of
    the committed snapshots was),
    ``images`` (images forwarded in training), ``planned_pairs`` (the profile's iterations x
    pairs per iteration), ``large_pairs``, ``paper_pairs`` (pairs at those budgets),
    ``paper_side``, ``device``.
    """
    rows = []
    by_member = {m: r for m, r in snapshot.results.items()}
    for unit in group_units(snapshot.results):
        rs = [by_member[m] for m in unit.members]
        m0, meta0 = unit.members[0], rs[0].meta
        part = _siamese_part(m0)
        train = meta0.get("train") or {}
        prof = m0.profile
        total = [_timing(r.meta, "unit_seconds") for r in rs]
        trained = [_timing(r.meta, "train_total_seconds") for r in rs]
        untimed = sum(1 for t, s in zip(total, trained, strict=True) if t is None or s is None)
        timed = [(t, s) for t, s in zip(total, trained, strict=True)
                 if t is not None and s is not None]
        # every member of a unit records the same training and (to the ms) the whole unit
        unit_s, train_s = (max(t for t, _ in timed), timed[0][1]) if timed else (np.nan, np.nan)
        protos: dict[int, float] = {}
        for m, r in zip(unit.members, rs, strict=True):
            p = _timing(r.meta, "prototypes_seconds")
            if p is not None:
                protos[m.k] = p
        spaces = [s for s in (_timing(r.meta, "space_svm_seconds") for r in rs) if s is not None]
        row = {"part": part, "method": m0.method if m0.encoder == "trained" else "",
               "topology": m0.topology, "fold": m0.fold,
               "side": int((meta0.get("data") or {}).get("input_size")
                           or input_size(m0.topology, prof)),
               "members": len(rs), "untimed": untimed,
               "train_seconds": train_s if part.startswith("training") else 0.0,
               "eval_seconds": unit_s - (train_s if part.startswith("training") else 0.0),
               "prototypes_seconds": sum(protos.values()), "spaces_seconds": sum(spaces),
               "iterations": int(train.get("iterations") or 0),
               "attempts": int(train.get("attempts") or 0),
               "device": str(train.get("device") or "")}
        if part.startswith("training"):
            pairs, images = _per_iteration(prof, m0.topology, m0.method)
            # the large budget of a large snapshot is its own (large+bf16+nhwc included)
            longer = prof if base_name(prof) == "large" else \
                _trained_longer(prof, "large", LARGE_FACTOR)
            paper = get_profile("paper")
            row.update(
                pairs=row["attempts"] * row["iterations"] * pairs,
                images=row["attempts"] * row["iterations"] * images,
                planned_pairs=prof.iterations_for(m0.topology) * pairs,
                large_pairs=longer.iterations_for(m0.topology) * pairs,
                paper_pairs=paper.iterations_for(m0.topology) * paper.batch_size,
                paper_side=input_size(m0.topology, paper))
        rows.append(row)
    for part, group in (("fine-tuned CNNs", snapshot.cnn_results),
                        ("frozen CNN references", snapshot.frozen_results)):
        for m, r in group.items():
            seconds = _timing(r.meta, "train_seconds")
            rows.append({"part": part, "method": m.cnn, "topology": 0, "fold": m.fold,
                         "side": int(m.profile.cnn_input_size or 0), "members": 1,
                         "untimed": int(seconds is None), "train_seconds": 0.0,
                         "eval_seconds": np.nan if seconds is None else seconds,
                         "prototypes_seconds": 0.0, "spaces_seconds": 0.0,
                         "iterations": 0, "attempts": 0,
                         "device": str((r.meta.get("train") or {}).get("device") or "")})
    columns = ["part", "method", "topology", "fold", "side", "members", "untimed",
               "train_seconds", "eval_seconds", "prototypes_seconds", "spaces_seconds",
               "iterations", "attempts", "pairs", "images", "planned_pairs", "large_pairs",
               "paper_pairs", "paper_side", "device"]
    return pd.DataFrame(rows).reindex(columns=columns)


def grid_cost(snapshot: snapshots.Snapshot) -> pd.DataFrame:
    """The compute cost of ``snapshot``'s grid, one row per part (:data:`PARTS`; parts the
    snapshot does not hold are left out).

    The training rows (``training: cross`` ...) hold the Siamese training loops alone; the row
    ``evaluation of the trained networks`` holds the rest of those networks' units (pair
    accuracies before and after training, encoding, prototypes, spaces, SVMs and test scoring:
    ``prototypes_seconds`` and ``spaces_seconds`` name two of its parts); a control row holds its
    whole units (no training); a CNN row its entries' ``train_seconds``.

    Columns: ``part``, ``training`` (True for the rows :func:`projection` scales), ``networks``
    (units: networks, controls or CNN fits), ``members`` (stored entries), ``untimed`` (entries
    without the timing used, counted nowhere in the seconds), ``seconds`` (wall seconds),
    ``prototypes_seconds``, ``spaces_seconds``, ``threads`` and ``threads_source``
    (:func:`threads_of`: not recorded in the metadata, taken from the snapshot's description or
    assumed 1), ``core_seconds`` (seconds x threads), ``core_hours``, ``pairs_min`` and
    ``pairs_max`` (pairs, or triplets counted at equal compute, one network saw), ``images``
    (images forwarded in training, all networks), ``devices``, ``note``.
    """
    threads, source = threads_of(snapshot)
    df = networks(snapshot)
    rows = []
    for part in PARTS:
        training = part.startswith("training")
        d = df[df["part"].str.startswith("training")] if part == EVALUATION \
            else df[df["part"] == part]
        if d.empty:
            continue
        seconds = d["train_seconds" if training else "eval_seconds"]
        untimed = int(d["untimed"].sum())
        notes = []
        if untimed:
            notes.append(f"{untimed} member{'s' if untimed != 1 else ''} without timings, "
                         "not counted")
        if training and (d["pairs"] != d["planned_pairs"]).any():
            notes.append("some networks saw other than their profile's planned pairs "
                         "(reruns or a stopped loss)")
        devices = sorted({v for v in d["device"] if v})
        rows.append({
            "part": part, "training": training, "networks": len(d),
            "members": int(d["members"].sum()), "untimed": untimed,
            "seconds": float(seconds.sum()),
            "prototypes_seconds": 0.0 if training else float(d["prototypes_seconds"].sum()),
            "spaces_seconds": 0.0 if training else float(d["spaces_seconds"].sum()),
            "threads": threads, "threads_source": source,
            "core_seconds": float(seconds.sum()) * threads,
            "core_hours": float(seconds.sum()) * threads / 3600,
            "pairs_min": int(d["pairs"].min()) if training else 0,
            "pairs_max": int(d["pairs"].max()) if training else 0,
            "images": int(d["images"].sum()) if training else 0,
            "devices": ", ".join(devices) or "not recorded",
            "note": "; ".join(notes)})
    return pd.DataFrame(rows)


def gpu_speeds(path: str | Path | None = GPU_RESULTS,
               precision: str = GPU_PRECISION) -> tuple[dict[int, float], str]:
    """``({topology: images/s}, where from)``: the training speeds ``benchmarks/gpu.py``
    measured on one GPU at 224 px and 180 pairs per iteration (its ``RESULTS.json``, rows of
    ``precision``: ``fp32``, ``tf32`` or ``bf16+tf32+nhwc``); ``({}, "not measured")`` when the
    file is absent, holds only a CPU smoke run, or has no such row (book: Reproducing at
    scale, "Measuring a GPU")."""
    results = load_gpu_results(path) if path is not None else None
    if not results:
        return {}, NOT_MEASURED
    speeds = {int(r["topology"]): float(r["dissim_img_s"]) for r in results.get("table", [])
              if r.get("precision") == precision and "error" not in r
              and r.get("dissim_img_s") and int(r.get("size", 224)) == 224}
    if not speeds:
        return {}, NOT_MEASURED
    return speeds, (f"{results.get('gpu') or 'GPU'}, {precision}, benchmarks/gpu.py "
                    f"{results.get('date', '')}".strip())


def _target(budget: str, d: pd.DataFrame) -> tuple[pd.Series, pd.Series]:
    """Per training network: the pairs ratio and the pixel ratio of ``budget``."""
    if budget == "own":
        return pd.Series(1.0, index=d.index), pd.Series(1.0, index=d.index)
    seen = d["pairs"].where(d["pairs"] > 0)  # a network that saw nothing cannot be scaled
    if budget == "large":
        return d["large_pairs"] / seen, pd.Series(1.0, index=d.index)
    return d["paper_pairs"] / seen, d["paper_side"] ** 2 / d["side"] ** 2


def projection(snapshot: snapshots.Snapshot, budget: str, *,
               gpu: str | Path | None = GPU_RESULTS,
               precision: str = GPU_PRECISION) -> pd.DataFrame:
    """The CPU core-hours of ``snapshot``'s grid at training ``budget``, per part of
    :func:`grid_cost`.

    ``budget``: ``"own"`` (as measured), ``"large"`` (every network trained
    :data:`LARGE_FACTOR` = 4 times the iterations of the snapshot's profile, as the ``large``
    profile trains medium's networks; book: Reproducing at scale) or ``"paper"`` (3000
    iterations of 180 pairs, :data:`PAPER_PAIRS` = 540,000 pairs or triplets per network,
    Section 3, at 224 px, Appendix A).

    Assumptions (also in each row's ``note``):

    * only the Siamese training is scaled; the evaluation of the members, the controls and the
      CNNs stay as measured (at 224 px the encoding would cost more too, and the paper's CNNs
      train 20 epochs: neither is priced here);
    * a network's training time grows in proportion to the pairs (triplets) it sees: each
      network's measured core-seconds times ``budget pairs / pairs it saw`` (the per-iteration
      overhead is taken to scale with the work);
    * for the paper, also in proportion to the input pixels: times ``224^2 / side^2``, the side
      the network was trained at (its topology's minimum side, 48-131 px at medium);
    * the grid stays the same: the paper trains one network per k (4 times the networks), not
      priced here;
    * the threads per member are those of :func:`threads_of`.

    GPU: where ``gpu`` (``benchmarks/RESULTS.json``) holds measured images/s per topology at
    224 px (:func:`gpu_speeds`), the paper budget's training is also given in hours on one GPU:
    each network's images (3000 x 2 x 180 for Cross, 3000 x 3 x 180 for Triplet) over its
    topology's speed, one network at a time (a Triplet image taken to cost a Cross one). The
    figures are at 224 px only, so the other budgets' GPU hours are ``NaN``; every row's
    ``gpu_note`` says why a figure is missing (``"not measured"`` without the file).

    Columns: ``part``, ``training``, ``budget``, ``networks``, ``measured_core_hours``,
    ``pairs_ratio_min``/``_max``, ``pixel_ratio_min``/``_max`` (1 where not scaled),
    ``factor`` (projected over measured), ``core_hours``, ``gpu_hours``, ``gpu_note``,
    ``untimed``, ``note``.
    """
    if budget not in BUDGETS:
        raise ValueError(f"budget {budget!r}: choose one of {', '.join(BUDGETS)}")
    base = grid_cost(snapshot)
    nets = networks(snapshot)
    threads, _ = threads_of(snapshot)
    speeds, source = gpu_speeds(gpu, precision)
    rows = []
    for _, row in base.iterrows():
        out = {"part": row["part"], "training": bool(row["training"]), "budget": budget,
               "networks": int(row["networks"]), "measured_core_hours": row["core_hours"],
               "pairs_ratio_min": 1.0, "pairs_ratio_max": 1.0, "pixel_ratio_min": 1.0,
               "pixel_ratio_max": 1.0, "core_hours": row["core_hours"], "gpu_hours": np.nan,
               "gpu_note": "", "untimed": int(row["untimed"]),
               "note": "as measured (not scaled)"}
        if row["training"]:
            d = nets[nets["part"] == row["part"]]
            pairs, pixels = _target(budget, d)
            out.update(pairs_ratio_min=float(pairs.min()), pairs_ratio_max=float(pairs.max()),
                       pixel_ratio_min=float(pixels.min()), pixel_ratio_max=float(pixels.max()),
                       core_hours=float((d["train_seconds"] * pairs * pixels).sum())
                       * threads / 3600,
                       note={"own": "as measured",
                             "large": f"x {LARGE_FACTOR} pairs per network"
                             if float(pairs.max()) != 1.0 else "as measured (its own budget)",
                             "paper": f"x pairs ({PAPER_PAIRS:,} per network) x pixels "
                                      "(224^2 / side^2)"}[budget])
            out["gpu_hours"], out["gpu_note"] = _gpu_hours(budget, d, speeds, source)
        else:
            out["gpu_note"] = "CPU figure kept" if speeds else NOT_MEASURED
        m = out["measured_core_hours"]
        out["factor"] = out["core_hours"] / m if m else np.nan
        rows.append(out)
    columns = ["part", "training", "budget", "networks", "measured_core_hours",
               "pairs_ratio_min", "pairs_ratio_max", "pixel_ratio_min", "pixel_ratio_max",
               "factor", "core_hours", "gpu_hours", "gpu_note", "untimed", "note"]
    return pd.DataFrame(rows).reindex(columns=columns)


def _gpu_hours(budget: str, d: pd.DataFrame, speeds: dict[int, float],
               source: str) -> tuple[float, str]:
    if not speeds:
        return np.nan, NOT_MEASURED
    if budget != "paper":
        return np.nan, f"{NOT_MEASURED} at the profile's sides (the GPU figures are at 224 px)"
    missing = sorted(set(d["topology"]) - set(speeds))
    if missing:
        return np.nan, f"{NOT_MEASURED} for topology {', '.join(map(str, missing))}"
    per_image = d["images"] / d["pairs"]  # 2 (pairs) or 3 (triplets) images per pair
    seconds = (d["paper_pairs"] * per_image / d["topology"].map(speeds)).sum()
    return float(seconds) / 3600, source


def summary(snaps: Iterable[snapshots.Snapshot], budgets: Sequence[str] = BUDGETS, *,
            gpu: str | Path | None = GPU_RESULTS,
            precision: str = GPU_PRECISION) -> pd.DataFrame:
    """One row per snapshot and budget (:func:`projection`): ``snapshot``, ``profile``,
    ``budget``, ``pairs_min``/``pairs_max`` (per Siamese network at that budget),
    ``networks`` (trained Siamese networks), ``training``, ``evaluation`` (the trained networks'
    evaluation and the controls), ``cnns`` (fine-tuned and frozen), ``total`` (CPU core-hours
    each), ``core_years``, ``gpu_hours`` (the Siamese training on one GPU; ``NaN`` with
    ``gpu_note`` saying why), ``untimed``, ``threads_source``."""
    rows = []
    for snap in snaps:
        nets = networks(snap)
        trained = nets[nets["part"].str.startswith("training")]
        source = threads_of(snap)[1]
        for budget in budgets:
            p = projection(snap, budget, gpu=gpu, precision=precision)
            pairs = trained[{"own": "pairs", "large": "large_pairs",
                             "paper": "paper_pairs"}[budget]]
            evaluation = p["part"].str.startswith(("evaluation", "control"))
            cnns = p["part"].str.contains("CNN")
            train = p[p["training"]]
            gpu_hours = float(train["gpu_hours"].sum()) if train["gpu_hours"].notna().all() \
                and len(train) else np.nan
            total = float(p["core_hours"].sum())
            rows.append({
                "snapshot": snap.name, "profile": snap.profile, "budget": budget,
                "pairs_min": int(pairs.min()) if len(pairs) else 0,
                "pairs_max": int(pairs.max()) if len(pairs) else 0,
                "networks": len(trained),
                "training": float(train["core_hours"].sum()),
                "evaluation": float(p.loc[evaluation, "core_hours"].sum()),
                "cnns": float(p.loc[cnns, "core_hours"].sum()),
                "total": total, "core_years": total / (24 * 365.25),
                "gpu_hours": gpu_hours,
                "gpu_note": "; ".join(sorted(set(train["gpu_note"]))) if len(train) else "",
                "untimed": int(p["untimed"].sum()), "threads_source": source})
    return pd.DataFrame(rows)


def _sig(value: float) -> str:
    """Core-hours in about three significant figures, thousands grouped: 0.00216 -> '0.00216',
    3.889 -> '3.89', 81234 -> '81,200'.

    >>> [_sig(v) for v in (0.00216, 3.889, 81234.0, 0.0)]
    ['0.00216', '3.89', '81,200', '0']
    """
    if value is None or not math.isfinite(value):
        return ""
    if value == 0:
        return "0"
    magnitude = math.floor(math.log10(abs(value)))
    if magnitude >= 2:
        return f"{round(value, 2 - magnitude):,.0f}"
    return f"{value:,.{2 - magnitude}f}"


def _budget_label(budget: str) -> str:
    return {"own": "as measured", "large": f"large: {LARGE_FACTOR} × iterations",
            "paper": f"paper: {figstyle.human(PAPER_PAIRS)} pairs, 224 px"}[budget]


def _threads_note(df: pd.DataFrame) -> str:
    """Where each snapshot's threads come from, in one sentence."""
    by: dict[str, list[str]] = {}
    for name, source in dict(zip(df["snapshot"], df["threads_source"], strict=True)).items():
        by.setdefault(source, []).append(name)
    parts = []
    for source, names in sorted(by.items()):
        if source.startswith("the snapshot description: "):
            parts.append(f"{source.removeprefix('the snapshot description: ')} from the "
                         f"description{'s' if len(names) > 1 else ''} of {', '.join(names)}")
        else:
            parts.append(f"{ASSUMED_THREADS} assumed for {', '.join(names)} (not said)")
    return "Threads are not in the members' metadata: " + "; ".join(parts) + "."


def table(df: pd.DataFrame) -> typeset.Table:
    """The book's table of :func:`summary`: one group per snapshot, one row per budget, the
    CPU core-hours of its parts and the Siamese training on one GPU (book: Performance, "What
    the evidence cost")."""
    gpu = [_sig(v) if v == v else NOT_MEASURED for v in df["gpu_hours"]]
    shown = pd.DataFrame({
        "snapshot": df["snapshot"],
        "budget": df["budget"].map(_budget_label),
        "pairs": [f"{lo:,}" if lo == hi else f"{lo:,}–{hi:,}"
                  for lo, hi in zip(df["pairs_min"], df["pairs_max"], strict=True)],
        "training": df["training"].map(_sig), "evaluation": df["evaluation"].map(_sig),
        "cnns": df["cnns"].map(_sig), "total": df["total"].map(_sig),
        "gpu": gpu})
    untimed = int(df.loc[df["budget"] == df["budget"].iloc[0], "untimed"].sum()) if len(df) \
        else 0
    notes = [
        "CPU core-hours: wall seconds × threads. " + _threads_note(df)
        + " Evaluation: the trained networks' prototypes, spaces, SVMs and pair accuracies, "
        "and the untrained and pixel controls. Pairs: per Siamese network (triplets for Triplet, "
        "counted at equal compute).",
        f"Projections scale the Siamese training alone, per network, by the pairs seen "
        f"(large: × {LARGE_FACTOR}; paper: {PAPER_PAIRS:,} per network) and, for the paper, "
        "by the input pixels (224² / side²); evaluation, controls and CNNs stay as measured, "
        "and the grid keeps one network for every k (the paper trains one per k).",
        "GPU: the Siamese training alone, one network at a time, from the images/s "
        f"`benchmarks/gpu.py` measured at 224 px ({GPU_PRECISION}); measured only for the "
        "paper's budget.",
    ]
    if untimed:
        notes.append(f"{untimed} stored members carry no timings and are not counted.")
    return typeset.table(
        shown, stub="budget", groups="snapshot",
        labels={"pairs": "pairs per network", "training": "Siamese training",
                "evaluation": "evaluation", "cnns": "CNNs", "total": "total",
                "gpu": "GPU-hours"},
        spanners={"CPU core-hours": ["training", "evaluation", "cnns", "total"]},
        numbers=["pairs", "training", "evaluation", "cnns", "total", "gpu"],
        stubhead="budget", notes=notes)


def caption(df: pd.DataFrame) -> figstyle.Caption:
    """One sentence on :func:`summary`: what the largest grid cost at its own budget, and about
    what it would cost at ``large`` and at the paper's budget on the same CPU (and GPU, where
    measured)."""
    own = df[df["budget"] == "own"]
    if own.empty:
        return figstyle.caption("No snapshot to price.")
    top = own.loc[own["total"].idxmax()]
    same = df[df["snapshot"] == top["snapshot"]].set_index("budget")
    text = (f"The largest committed grid, {top['snapshot']} ({top['networks']} Siamese "
            f"networks), cost {_sig(top['total'])} CPU core-hours at its own budget "
            f"({top['profile']})")
    if "large" in same.index:
        text += (f"; {LARGE_FACTOR} times the iterations (large) would cost about "
                 f"{_sig(same.loc['large', 'total'])} core-hours")
    if "paper" in same.index:
        paper = same.loc["paper"]
        text += (f", and the paper's budget about {_sig(paper['total'])} core-hours, about "
                 f"{_sig(paper['core_years'])} core-years on the same CPU")
        if paper["gpu_hours"] == paper["gpu_hours"]:
            text += (f" (its Siamese training about {_sig(paper['gpu_hours'])} hours on one "
                     "GPU)")
    return figstyle.caption(text + ".")
