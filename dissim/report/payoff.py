"""The payoff of training: a member's classification accuracy against the compute spent on it.

Rows come from ``benchmarks/payoff.py`` (one network per topology, method and sampler, evaluated
at checkpoints; ``kind`` ``"network"``) and its pixel control (``kind`` ``"pixels"``), on one
fold each run. The book's payoff page draws :func:`figure` from the committed rows
(:func:`committed`: fold 0 in ``book/payoff/*.json``, further folds in
``book/payoff/folds/*.json``) and each claims page links to it from "did training help?".

A *member* is a data set, topology, method, sampler, learning rate and input side
(:data:`MEMBER`). Run on several folds it is one curve (:func:`curves`): at each checkpoint
reached by **every** fold of that member, the mean accuracy over those folds and its min-max
spread, with its controls (its own untrained checkpoint 0, the pixels at its input side)
averaged over the same folds. Checkpoints that only some of its folds reached are left out of
the curve (:func:`partial` lists them), so that every point of a curve and its controls average
the same folds.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from dissim.pipeline.member import METHODS
from dissim.profiles import get as get_profile
from dissim.report import figstyle
from dissim.report.figstyle import count_axis, few_ticks, human, legend_below, new_figure, styled
from dissim.sampling import images_per_iteration

__all__ = ["MEMBER", "PAPER_PAIRS", "PAYOFF_DIR", "arithmetic_text", "caption", "committed",
           "curves", "figure", "folds_text", "frame", "load", "pairs_seen", "partial", "split",
           "summary", "table"]

SPACES = ("F", "D", "F+D")
#: The committed payoff rows the book draws: one JSON file per data set (and learning rate) on
#: fold 0 here, one per data set and fold in its ``folds`` folder.
PAYOFF_DIR = Path(__file__).resolve().parents[2] / "book" / "payoff"
#: A colour per topology (of matplotlib's default cycle), the same in every payoff figure:
#: topologies 1, 3, 6 and 8 in the first four.
TOPOLOGY_COLOUR = {1: "C0", 2: "C4", 3: "C1", 4: "C5", 5: "C6", 6: "C2", 7: "C9", 8: "C3"}
#: What identifies one member's curve; its folds are averaged (:func:`curves`).
MEMBER = ["dataset", "topology", "method", "sampler", "lr", "size"]


def committed(folder: str | Path = PAYOFF_DIR) -> list[Path]:
    """The committed payoff files: ``folder/*.json``, then ``folder/folds/*.json``, each
    sorted (an empty list outside a checkout)."""
    folder = Path(folder)
    return sorted(folder.glob("*.json")) + sorted((folder / "folds").glob("*.json"))


def load(paths: Sequence[str | Path]) -> list[dict]:
    """The rows of one or more payoff JSON files."""
    rows: list[dict] = []
    for p in paths:
        rows.extend(json.loads(Path(p).read_text()))
    return rows


def frame(rows: Sequence[dict]) -> pd.DataFrame:
    """The network rows as a frame, one per fold and checkpoint, with the untrained
    (0 iterations) and pixel accuracy of the same data set, fold and input side beside each
    (``untrained``, ``pixels``). A row repeated by a second file (same member, fold and
    checkpoint) is read once, from the first file."""
    df = pd.DataFrame([r for r in rows if r["kind"] == "network"])
    if df.empty:
        return df
    pix = pd.DataFrame([r for r in rows if r["kind"] == "pixels"])
    if "lr" not in df:
        df["lr"] = float("nan")
    keys = ["dataset", "fold", "topology", "method", "sampler", "lr", "size"]
    df = df.drop_duplicates(keys + ["iterations"])
    zero = df[df.iterations == 0][keys + ["F+D"]].rename(columns={"F+D": "untrained"})
    df = df.merge(zero, on=keys, how="left", validate="many_to_one")
    if not pix.empty:  # one pixel control per data set, fold and side (files may repeat it)
        pix = pix.drop_duplicates(["dataset", "fold", "size"])
        df = df.merge(pix[["dataset", "fold", "size", "F+D"]].rename(columns={"F+D": "pixels"}),
                      on=["dataset", "fold", "size"], how="left")
    else:
        df["pixels"] = float("nan")
    return df.sort_values(keys[:-1] + ["iterations"]).reset_index(drop=True)


def _mean(s: pd.Series) -> float:
    """The mean over folds; NaN when any fold lacks the value (a control not measured)."""
    return float(s.mean(skipna=False))


def _by_checkpoint(df: pd.DataFrame) -> pd.DataFrame:
    """One row per member and checkpoint: the folds that reached it (``folds``, their count
    ``n_folds``) and, over those folds, the mean of F, D, F+D, the untrained and pixel
    controls and the training seconds, and the min, max and sd of F+D; beside it the folds of
    the member (``member_folds``, any checkpoint)."""
    keys = MEMBER + ["iterations"]
    out = df.groupby(keys, dropna=False, sort=True).agg(
        folds=("fold", lambda s: tuple(sorted(int(f) for f in s))),
        F=("F", "mean"), D=("D", "mean"), **{"F+D": ("F+D", "mean")},
        **{"F+D min": ("F+D", "min"), "F+D max": ("F+D", "max"), "F+D sd": ("F+D", "std")},
        untrained=("untrained", _mean), pixels=("pixels", _mean),
        images=("images", "mean"), train_seconds=("train_seconds", "mean"),
    ).reset_index()
    out["n_folds"] = out["folds"].map(len)
    member = df.groupby(MEMBER, dropna=False)["fold"].agg(
        lambda s: tuple(sorted({int(f) for f in s}))).rename("member_folds").reset_index()
    out = out.merge(member, on=MEMBER, how="left", validate="many_to_one")
    out["pairs_seen"] = [pairs_seen(i, m) for i, m in zip(out["images"], out["method"],
                                                          strict=True)]
    return out


def curves(rows: Sequence[dict]) -> pd.DataFrame:
    """One row per member (:data:`MEMBER`) and checkpoint reached by every fold of that
    member: ``folds`` (those folds) and ``n_folds``; the mean over them of ``F``, ``D``,
    ``F+D``, ``untrained`` (the member's own checkpoint 0), ``pixels`` (at its input side),
    ``images``, ``train_seconds`` and ``pairs_seen``; and the spread of F+D over them
    (``F+D min``, ``F+D max``, ``F+D sd``; sd NaN for one fold). Checkpoints reached by only
    some folds are not here (:func:`partial`)."""
    df = frame(rows)
    if df.empty:
        return df
    out = _by_checkpoint(df)
    out = out[out["folds"] == out["member_folds"]].drop(columns="member_folds")
    return out.reset_index(drop=True)


def partial(rows: Sequence[dict]) -> pd.DataFrame:
    """The member checkpoints left out of :func:`curves`: reached by some folds of the member
    (``folds``) but not all (``member_folds``)."""
    df = frame(rows)
    if df.empty:
        return df
    out = _by_checkpoint(df)
    return out[out["folds"] != out["member_folds"]].reset_index(drop=True)


def split(rows: Sequence[dict]) -> tuple[list[dict], list[dict]]:
    """The rows of the members run on the most folds of their data set, and those of the
    others (probes of a learning rate, a sampler or a topology on fewer folds), each with every
    pixel row: the payoff page draws the first as its main figure and the second apart, so that
    single-fold probes do not crowd the fold means. A member's folds are those of any of its
    checkpoints (``member_folds`` of :func:`partial`)."""
    df = frame(rows)
    if df.empty:
        return list(rows), []
    n = df.groupby(MEMBER, dropna=False)["fold"].nunique().rename("n").reset_index()
    n["most"] = n.groupby("dataset")["n"].transform("max")
    full = {_member_key(dict(zip(MEMBER, k, strict=True)))
            for k in n.loc[n["n"] == n["most"], MEMBER].itertuples(index=False)}
    nets = [r for r in rows if r["kind"] == "network"]
    ours = [r for r in nets if _member_key(r) in full]
    others = [r for r in nets if _member_key(r) not in full]
    pixels = [r for r in rows if r["kind"] == "pixels"]
    return pixels + ours, (pixels + others) if others else []


def _member_key(r: dict) -> tuple:
    """A member's identity as plain values (an absent or NaN learning rate as None)."""
    lr = r.get("lr")
    lr = None if lr is None or lr != lr else float(lr)
    return (str(r["dataset"]), int(r["topology"]), str(r["method"]), str(r["sampler"]), lr,
            int(r["size"]))


def folds_text(folds: Sequence[int]) -> str:
    """(0,) -> 'fold 0', (0, 1) -> 'folds 0, 1', (0, 1, 2, 3, 4) -> 'folds 0-4'."""
    folds = sorted(folds)
    if len(folds) == 1:
        return f"fold {folds[0]}"
    if len(folds) > 2 and folds == list(range(folds[0], folds[-1] + 1)):
        return f"folds {folds[0]}-{folds[-1]}"
    return "folds " + ", ".join(str(f) for f in folds)


def table(rows: Sequence[dict]) -> str:
    """The curve table (Markdown): one line per network, fold and checkpoint, the controls of
    that fold beside."""
    df = frame(rows)
    head = ("| data set | fold | topology | method | sampler | lr | px | iterations | images | "
            "train s | F | D | F+D | untrained F+D | pixels F+D |\n" + "|---" * 15 + "|")
    lines = [head]
    for r in df.to_dict("records"):
        lines.append(
            f"| {r['dataset']} | {r['fold']} | {r['topology']} | {r['method']} | "
            f"{r['sampler']} | {r['lr']:g} | {r['size']} | "
            f"{r['iterations']} | {r['images']} | {r['train_seconds']:.0f} | {100 * r['F']:.2f} | "
            f"{100 * r['D']:.2f} | {100 * r['F+D']:.2f} | {100 * r['untrained']:.2f} | "
            f"{100 * r.get('pixels', float('nan')):.2f} |")
    return "\n".join(lines)


def _pays(g: pd.DataFrame) -> pd.DataFrame:
    """The checkpoints (after 0) of one curve whose mean F+D is above both mean controls."""
    return g[(g["F+D"] > g["untrained"]) & (g["F+D"] > g["pixels"]) & (g["iterations"] > 0)]


def summary(rows: Sequence[dict]) -> pd.DataFrame:
    """Per member (:func:`curves`, fold means): ``folds``, how many folds it averages;
    ``pays from``, the first checkpoint (iterations) at which the mean F+D beats both the mean
    ``untrained`` network and the mean ``pixels`` ("never" when none does), ``after s``, its
    mean training seconds; the best mean F+D (accuracies in %) and ``best at``, the first
    checkpoint that reaches it over the last checkpoint of the curve ("400/1600"): where the
    first is before the last, the curve had stopped rising there."""
    df = curves(rows)
    out = []
    if df.empty:
        return pd.DataFrame(out)
    for key, g in df.groupby(MEMBER, sort=True, dropna=False):
        g = g.sort_values("iterations")
        pays = _pays(g)
        first = pays.iloc[0] if len(pays) else None
        best = g.loc[g["F+D"].idxmax()]  # the first of equal maxima: where the rise stopped
        out.append({
            "data": key[0], "topology": key[1], "method": key[2], "sampler": key[3],
            "lr": f"{key[4]:g}", "folds": int(g["n_folds"].iloc[0]),
            "untrained": 100 * g["untrained"].iloc[0], "pixels": 100 * g["pixels"].iloc[0],
            "best F+D": 100 * best["F+D"],
            "best at": f"{int(best.iterations)}/{int(g['iterations'].iloc[-1])}",
            "pays from": "never" if first is None else str(int(first.iterations)),
            "after s": "-" if first is None else str(round(float(first.train_seconds))),
        })
    return pd.DataFrame(out)


#: The paper's training budget per network (Section 3: 3000 iterations of 180 pairs).
PAPER_PAIRS = get_profile("paper").iterations * get_profile("paper").batch_size


def pairs_seen(images: float, method: str) -> float:
    """Pairs (triplets, for the triplet loss) a network has trained on, from the images it
    forwarded: :func:`dissim.sampling.images_per_iteration` forwards 2 images per pair and 3
    per triplet for either sampler (the batch sampler forwards as many images and forms more
    pairs among them; counted here like the paper's, at equal compute)."""
    loss = METHODS.get(method, (method,))[0]
    return images / images_per_iteration(1, loss)


def _untrained_x(df: pd.DataFrame) -> float:
    """Where the untrained (0 pairs) point sits on the log axis: a decade below the first
    checkpoint's decade."""
    seen = df.loc[df["pairs_seen"] > 0, "pairs_seen"]
    first = float(seen.min()) if len(seen) else 1000.0
    return 10.0 ** (np.floor(np.log10(first)) - 1)


def _rate(lr: float) -> str:
    """0.001 -> '1e-3'."""
    mantissa, exponent = f"{lr:.0e}".split("e")
    return f"{mantissa}e{int(exponent)}"


def _label(t: int, sampler: str, lr: float, usual: bool, folds: str = "") -> str:
    return (f"t{t} {sampler}, lr {_rate(lr)}" + ("" if usual else " *")
            + (f", {folds}" if folds else ""))


def _n_folds(n: int) -> str:
    return f"{n} fold{'s' if n > 1 else ''}"


def _mixed(df: pd.DataFrame) -> bool:
    """Whether the curves of ``df`` do not all average the same folds."""
    return df["folds"].nunique() > 1


@styled
def figure(rows: Sequence[dict], x: str = "pairs"):
    """Accuracy (F+D) against training, one panel per data set and method: a line per
    member (:func:`curves`: topology, sampler, learning rate and input side; thin, with
    crosses, where the rate is not the medium profile's for that loss), the mean over its
    folds at each checkpoint reached by all of them, in a shaded band from the lowest to the
    highest fold (none for one fold); starting at the untrained network (0 pairs, drawn a
    decade left of the first checkpoint and labelled 0); the pixel control, averaged over the
    same folds, as a dotted horizontal line in the colour of the topology whose input side it
    has (:data:`TOPOLOGY_COLOUR`), labelled inside the axes; the paper's budget
    (:data:`PAPER_PAIRS`) as a vertical line. Where the curves do not all average the same
    folds, each label (pixel lines included) says how many folds it averages, and the caption
    which.
    ``x`` is ``"pairs"`` (pairs or triplets seen per network, :func:`pairs_seen`; a log axis)
    or ``"train_seconds"`` (mean over folds). One legend below the panels names every
    series."""
    df = curves(rows)
    mixed = _mixed(df)
    panels = sorted(df.groupby(["dataset", "method"]).groups)
    cols = min(2, len(panels))
    rows_ = -(-len(panels) // cols)
    fig, axes = new_figure(rows_, cols, height=1.6 + 2.5 * rows_, squeeze=False,
                           sharex=True)
    for ax in axes.flat[len(panels):]:
        ax.set_visible(False)
    zero = _untrained_x(df)
    for ax, (dataset, method) in zip(axes.flat, panels, strict=False):
        g = df[(df.dataset == dataset) & (df.method == method)]
        for (t, sampler, lr, _size), line in g.groupby(["topology", "sampler", "lr", "size"],
                                                       dropna=False):
            line = line.sort_values("iterations")
            colour = TOPOLOGY_COLOUR.get(int(t), "C7")
            usual = lr == get_profile("medium").lr_for(METHODS.get(method, (method,))[0], t)
            xs = (line["pairs_seen"].where(line["pairs_seen"] > 0, zero) if x == "pairs"
                  else line[x])
            folds = line["folds"].iloc[0]
            if len(folds) > 1:
                ax.fill_between(xs, 100 * line["F+D min"], 100 * line["F+D max"],
                                color=colour, alpha=0.15, lw=0)
            ax.plot(xs, 100 * line["F+D"], marker="o" if usual else "x", ms=3.5,
                    color=colour, lw=1.5 if usual else 0.8,
                    ls="-" if sampler == "batch" else "--",
                    label=_label(t, sampler, lr, usual, _n_folds(len(folds)) if mixed else ""))
        sizes = (g.groupby(["size", "folds"])[["pixels", "topology"]].first()
                 .sort_values("pixels"))
        groups: list[list] = []  # pixel lines within 2.5 points share one label
        for (size, folds), (pix, t) in sizes.iterrows():
            colour = TOPOLOGY_COLOUR.get(int(t), "C7")
            ax.axhline(100 * pix, color=colour, ls=":", lw=1.2,
                       label=f"pixels, {size} px" + (f", {_n_folds(len(folds))}" if mixed
                                                     else ""))
            if groups and 100 * pix - groups[-1][-1][2] < 2.5:
                groups[-1].append((size, len(folds), 100 * pix, colour))
            else:
                groups.append([(size, len(folds), 100 * pix, colour)])
        lo, hi = ax.get_ylim()  # room above the highest pixel line for its label
        lines_ = max(len({n for _, n, _, _ in g_}) if mixed else 1 for g_ in groups)
        ax.set_ylim(lo, max(hi, 100 * sizes["pixels"].max() + 0.12 * lines_ * (hi - lo)))
        for group in groups:
            top = max(v for _, _, v, _ in group)
            by_folds: dict[int, list] = {}  # one text line per number of folds, highest first
            for size, n, _, _ in sorted(group, key=lambda e: -e[2]):
                by_folds.setdefault(n, []).append(str(size))
            text = "\n".join(
                ("pixels, " if i == 0 else "") + "/".join(dict.fromkeys(z)) + " px"
                + (f", {_n_folds(n)}" if mixed else "")
                for i, (n, z) in enumerate(by_folds.items()))
            ax.text(0.9, top, text,
                    transform=ax.get_yaxis_transform(), ha="right", va="bottom",
                    color=group[0][3] if len(group) == 1 else "0.25", fontsize=9)
        if x == "pairs":
            ax.axvline(PAPER_PAIRS, color="black", ls="-.", lw=1,
                       label=f"paper's budget, {human(PAPER_PAIRS)}")
            ax.text(PAPER_PAIRS / 1.15, 0.03, "paper", transform=ax.get_xaxis_transform(),
                    ha="right", va="bottom", fontsize=9)
            count_axis(ax)
            ticks = [zero] + [10.0 ** k for k in range(int(np.log10(zero)) + 1, 7)]
            ax.set_xticks(ticks, ["0"] + [human(v) for v in ticks[1:]])
            ax.set_xlim(zero / 1.6, PAPER_PAIRS * 1.8)
        else:
            few_ticks(ax, x=4, y=None)
        few_ticks(ax, x=None, y=5)
        ax.set_title(f"{dataset}, {method}")
        ax.grid(alpha=0.3)
    for ax in axes[-1, :]:
        ax.set_xlabel("pairs (triplets) seen per network" if x == "pairs"
                      else "training seconds (2-core CPU)")
    for ax in axes[:, 0]:
        ax.set_ylabel("test accuracy, F+D (%)")
    several = bool((df["n_folds"] > 1).any())
    legend_below(fig, ncol=3 if mixed else 4,
                 title="topology, sampler, learning rate (* and thin with crosses: not the "
                       "medium profile's rate)"
                       + (";\nlines: mean over folds, band: lowest to highest fold" if several
                          else ""))
    return fig


def _counts(d: pd.DataFrame) -> str:
    """How many folds the curves of one data set average, as a sentence: 'The lines of d
    average 2 folds (folds 0, 1) for 2 networks and are 1 fold (fold 0) for 12.'"""
    per = d.groupby(MEMBER, dropna=False)["folds"].first().value_counts()
    per = per.sort_index(key=lambda idx: [(-len(f), f) for f in idx])
    dataset = d["dataset"].iloc[0]
    if len(per) == 1 and len(per.index[0]) == 1:
        return (f"The lines of {dataset} are one fold ({folds_text(per.index[0])}), so there is "
                "no spread over folds.")
    parts = [(f"average {len(f)} folds" if len(f) > 1 else "are 1 fold")
             + f" ({folds_text(f)})"
             + ("" if len(per) == 1 else f" for {n} network{'s' if n > 1 else ''}")
             for f, n in per.items()]
    text = ", ".join(parts[:-1]) + (" and " if len(parts) > 1 else "") + parts[-1]
    return (f"The lines of {dataset} {text}: each point is the mean over the folds, its band "
            "runs from the lowest to the highest fold, and its controls are averaged over the "
            "same folds.")


def arithmetic_text(rows: Sequence[dict]) -> str:
    """Which folds' network rows trained in bfloat16 (``benchmarks/payoff.py --amp``), as a
    sentence, or ``""`` when every network row trained in float32 (rows without the field did):
    'Rows trained under bfloat16 autocast: bf16+nhwc on d folds 1, 2 and e fold 0; the other
    rows in float32. ...' A fold resumed in another arithmetic holds rows of both."""
    net = [r for r in rows if r.get("kind") == "network"]
    groups: dict[str, dict[str, set[int]]] = {}
    for r in net:
        if (how := r.get("arithmetic", "float32")) != "float32":
            groups.setdefault(how, {}).setdefault(r["dataset"], set()).add(r.get("fold", 0))
    if not groups:
        return ""
    text = "; ".join(
        f"{how} on " + ", ".join(f"{dataset} {folds_text(sorted(f))}"
                                 for dataset, f in sorted(by.items()))
        for how, by in sorted(groups.items()))
    rest = ("; the other rows in float32"
            if any(r.get("arithmetic", "float32") == "float32" for r in net) else "")
    return (f"Rows trained under bfloat16 autocast: {text}{rest}. On Omniglot fold 0 the two "
            "arithmetics gave the same accuracies within the fold spread (Reproducing at "
            "scale).")


def caption(rows: Sequence[dict]) -> str:
    """What the payoff figure says (markdown): per data set, how many folds its lines average
    (the mean, in a band from the lowest to the highest fold), which networks pay (mean F+D
    above both their mean untrained network and the mean pixels at some checkpoint), from how
    many pairs seen, and which baseline was the harder one to beat; which checkpoints are left
    out because not every fold of the network reached them; and how far the largest budget
    drawn is from the paper's."""
    df = curves(rows)
    if df.empty:
        return figstyle.caption("No payoff rows committed.")
    left = partial(rows)
    parts = []
    for dataset, d in df.groupby("dataset", sort=True):
        mixed = _mixed(d)  # then each network's name says its folds
        paying, never, harder = [], [], {"the pixels": 0, "the untrained network": 0}
        for (t, method, sampler, lr, _size), g in d.groupby(
                ["topology", "method", "sampler", "lr", "size"], sort=True, dropna=False):
            g = g.sort_values("iterations")
            folds = g["folds"].iloc[0]
            name = (f"{method} t{t} {sampler} (lr {lr:g}"
                    + (f", {folds_text(folds)})" if mixed else ")"))
            pix, untrained = g["pixels"].iloc[0], g["untrained"].iloc[0]
            harder["the pixels" if pix >= untrained else "the untrained network"] += 1
            pays = _pays(g)
            if len(pays):
                first = pays.iloc[0]
                paying.append(f"{name} from {human(first['pairs_seen'])} pairs "
                              f"({100 * first['F+D']:.1f} %)")
            else:
                never.append(name)
        n = len(paying) + len(never)
        hard = max(harder, key=harder.get)
        text = (f"On {dataset}, {len(paying)} of {n} networks pay"
                + (": " + "; ".join(paying) if paying else "")
                + (f". Never above both: {', '.join(never)}" if never else "")
                + f". The harder baseline there is {hard} ({harder[hard]} of {n} networks). "
                + _counts(d))
        parts.append(text)
    if not left.empty:
        gone = []
        for (dataset, t, method, sampler, lr, _size), g in left.groupby(MEMBER, sort=True,
                                                                        dropna=False):
            its = ", ".join(str(int(i)) for i in sorted(g["iterations"]))
            reached = "; ".join(
                f"{folds_text(f)} only" for f in dict.fromkeys(g.sort_values("iterations")
                                                               ["folds"]))
            gone.append(f"{dataset} {method} t{t} {sampler} (lr {lr:g}) at {its} iterations "
                        f"({reached})")
        parts.append("Left out, as not reached by every fold of the network: "
                     + "; ".join(gone) + ".")
    most = float(df["pairs_seen"].max())
    parts.append(f"The largest budget drawn, {human(most)} pairs per network, is "
                 f"{100 * most / PAPER_PAIRS:.1f} % of the paper's {human(PAPER_PAIRS)}.")
    if arithmetic := arithmetic_text(rows):
        parts.append(arithmetic)
    return figstyle.caption(*parts)
