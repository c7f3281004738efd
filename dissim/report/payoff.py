"""The payoff of training: a member's classification accuracy against the compute spent on it.

Rows come from ``benchmarks/payoff.py`` (one network per topology, method and sampler, evaluated
at checkpoints; ``kind`` ``"network"``) and its pixel control (``kind`` ``"pixels"``). The book's
Assumptions page draws :func:`figure` from the committed rows (``book/payoff/*.json``) and each
claims page links to it from "did training help?".
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from dissim.pipeline.member import METHODS
from dissim.profiles import get as get_profile
from dissim.report import figstyle
from dissim.report.figstyle import count_axis, few_ticks, human, legend_below, new_figure, styled
from dissim.sampling import images_per_iteration

__all__ = ["PAPER_PAIRS", "PAYOFF_DIR", "caption", "committed", "figure", "frame", "load",
           "pairs_seen", "summary", "table"]

SPACES = ("F", "D", "F+D")
#: The committed payoff rows the book draws (one JSON file per data set and learning rate).
PAYOFF_DIR = Path(__file__).resolve().parents[2] / "book" / "payoff"


def committed(folder: str | Path = PAYOFF_DIR) -> list[Path]:
    """The committed payoff files, sorted (an empty list outside a checkout)."""
    return sorted(Path(folder).glob("*.json"))


def load(paths: Sequence[str | Path]) -> list[dict]:
    """The rows of one or more payoff JSON files."""
    rows: list[dict] = []
    for p in paths:
        rows.extend(json.loads(Path(p).read_text()))
    return rows


def frame(rows: Sequence[dict]) -> pd.DataFrame:
    """The network rows as a frame, with the untrained (0 iterations) and pixel accuracy of
    the same data set, fold and input side beside each (``untrained``, ``pixels``)."""
    df = pd.DataFrame([r for r in rows if r["kind"] == "network"])
    if df.empty:
        return df
    pix = pd.DataFrame([r for r in rows if r["kind"] == "pixels"])
    if "lr" not in df:
        df["lr"] = float("nan")
    keys = ["dataset", "fold", "topology", "method", "sampler", "lr", "size"]
    zero = df[df.iterations == 0][keys + ["F+D"]].rename(columns={"F+D": "untrained"})
    df = df.merge(zero, on=keys, how="left", validate="many_to_one")
    if not pix.empty:  # one pixel control per data set, fold and side (files may repeat it)
        pix = pix.drop_duplicates(["dataset", "fold", "size"])
        df = df.merge(pix[["dataset", "fold", "size", "F+D"]].rename(columns={"F+D": "pixels"}),
                      on=["dataset", "fold", "size"], how="left")
    return df.sort_values(keys[:-1] + ["iterations"]).reset_index(drop=True)


def table(rows: Sequence[dict]) -> str:
    """The curve table (Markdown): one line per network and checkpoint, the controls beside."""
    df = frame(rows)
    head = ("| data set | topology | method | sampler | lr | px | iterations | images | train s | "
            "F | D | F+D | untrained F+D | pixels F+D |\n" + "|---" * 14 + "|")
    lines = [head]
    for r in df.to_dict("records"):
        lines.append(
            f"| {r['dataset']} | {r['topology']} | {r['method']} | {r['sampler']} | {r['lr']:g} | "
            f"{r['size']} | "
            f"{r['iterations']} | {r['images']} | {r['train_seconds']:.0f} | {100 * r['F']:.2f} | "
            f"{100 * r['D']:.2f} | {100 * r['F+D']:.2f} | {100 * r['untrained']:.2f} | "
            f"{100 * r.get('pixels', float('nan')):.2f} |")
    return "\n".join(lines)


def summary(rows: Sequence[dict]) -> pd.DataFrame:
    """Per network: ``pays from``, the first checkpoint (iterations) at which F+D beats both
    the ``untrained`` network and the ``pixels`` ("never" when none does), ``after s``, its
    training seconds, and the best F+D (accuracies in %)."""
    df = frame(rows)
    out = []
    for key, g in df.groupby(["dataset", "topology", "method", "sampler", "lr"], sort=True,
                             dropna=False):
        g = g.sort_values("iterations")
        pays = g[(g["F+D"] > g["untrained"]) & (g["F+D"] > g["pixels"]) & (g.iterations > 0)]
        first = pays.iloc[0] if len(pays) else None
        out.append({
            "data": key[0], "topology": key[1], "method": key[2], "sampler": key[3],
            "lr": f"{key[4]:g}",
            "untrained": 100 * g["untrained"].iloc[0], "pixels": 100 * g["pixels"].iloc[0],
            "best F+D": 100 * g["F+D"].max(),
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


def _label(t: int, sampler: str, lr: float, usual: bool) -> str:
    return f"t{t} {sampler}, lr {_rate(lr)}" + ("" if usual else " *")


@styled
def figure(rows: Sequence[dict], x: str = "pairs"):
    """Accuracy (F+D) against training, one panel per data set and method: a line per
    topology, sampler and learning rate (thin, with crosses, where the rate is not the medium
    profile's for that loss), starting at the untrained network (0 pairs, drawn a decade left
    of the first checkpoint and labelled 0); the pixel control as a dotted horizontal line in
    the colour of the topology whose input side it has, labelled inside the axes; the
    paper's budget (:data:`PAPER_PAIRS`) as a vertical line. ``x`` is ``"pairs"`` (pairs or
    triplets seen per network, :func:`pairs_seen`; a log axis) or ``"train_seconds"``. One
    legend below the panels names every series."""
    df = frame(rows)
    df["pairs_seen"] = [pairs_seen(i, m) for i, m in zip(df["images"], df["method"],
                                                         strict=True)]
    panels = sorted(df.groupby(["dataset", "method"]).groups)
    cols = min(2, len(panels))
    rows_ = -(-len(panels) // cols)
    fig, axes = new_figure(rows_, cols, height=1.6 + 2.5 * rows_, squeeze=False,
                           sharex=True)
    for ax in axes.flat[len(panels):]:
        ax.set_visible(False)
    colours = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    tops = sorted(df.topology.unique())
    zero = _untrained_x(df)
    for ax, (dataset, method) in zip(axes.flat, panels, strict=False):
        g = df[(df.dataset == dataset) & (df.method == method)]
        for (t, sampler, lr), line in g.groupby(["topology", "sampler", "lr"], dropna=False):
            line = line.sort_values("iterations")
            colour = colours[tops.index(t) % len(colours)]
            usual = lr == get_profile("medium").lr_for(METHODS.get(method, (method,))[0], t)
            xs = (line["pairs_seen"].where(line["pairs_seen"] > 0, zero) if x == "pairs"
                  else line[x])
            ax.plot(xs, 100 * line["F+D"], marker="o" if usual else "x", ms=3.5,
                    color=colour, lw=1.5 if usual else 0.8,
                    ls="-" if sampler == "batch" else "--",
                    label=_label(t, sampler, lr, usual))
        sizes = g.groupby("size")[["pixels", "topology"]].first().sort_values("pixels")
        groups: list[list] = []  # pixel lines within 2.5 points share one label
        for size, (pix, t) in sizes.iterrows():
            colour = colours[tops.index(t) % len(colours)]
            ax.axhline(100 * pix, color=colour, ls=":", lw=1.2, label=f"pixels, {size} px")
            if groups and 100 * pix - groups[-1][-1][1] < 2.5:
                groups[-1].append((size, 100 * pix, colour))
            else:
                groups.append([(size, 100 * pix, colour)])
        lo, hi = ax.get_ylim()  # room above the highest pixel line for its label
        ax.set_ylim(lo, max(hi, 100 * sizes["pixels"].max() + 0.12 * (hi - lo)))
        for group in groups:
            top = max(v for _, v, _ in group)
            ax.text(0.9, top, "pixels, " + "/".join(str(z) for z, _, _ in group) + " px",
                    transform=ax.get_yaxis_transform(), ha="right", va="bottom",
                    color=group[0][2] if len(group) == 1 else "0.25", fontsize=9)
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
    legend_below(fig, ncol=4, title="topology, sampler, learning rate (* and thin with crosses: "
                 "not the medium profile's rate)")
    return fig


def caption(rows: Sequence[dict]) -> str:
    """What the payoff figure says (markdown): per data set, which networks pay (F+D above
    both their untrained network and the pixels at some checkpoint), from how many pairs
    seen, and which baseline was the harder one to beat; and how far the largest budget
    measured is from the paper's."""
    df = frame(rows)
    if df.empty:
        return figstyle.caption("No payoff rows committed.")
    df["pairs_seen"] = [pairs_seen(i, m) for i, m in zip(df["images"], df["method"],
                                                         strict=True)]
    parts = []
    for dataset, d in df.groupby("dataset", sort=True):
        paying, never, harder = [], [], {"the pixels": 0, "the untrained network": 0}
        for (t, method, sampler, lr), g in d.groupby(["topology", "method", "sampler", "lr"],
                                                    sort=True, dropna=False):
            g = g.sort_values("iterations")
            name = f"{method} t{t} {sampler} (lr {lr:g})"
            pix, untrained = g["pixels"].iloc[0], g["untrained"].iloc[0]
            harder["the pixels" if pix >= untrained else "the untrained network"] += 1
            pays = g[(g["F+D"] > g["untrained"]) & (g["F+D"] > g["pixels"])
                     & (g["iterations"] > 0)]
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
                + f". The harder baseline there is {hard} ({harder[hard]} of {n} networks).")
        parts.append(text)
    most = float(df["pairs_seen"].max())
    parts.append(f"The largest budget measured, {human(most)} pairs per network, is "
                 f"{100 * most / PAPER_PAIRS:.1f} % of the paper's {human(PAPER_PAIRS)}.")
    return figstyle.caption(*parts)
