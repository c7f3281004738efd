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
import pandas as pd

from dissim.pipeline.member import METHODS
from dissim.profiles import get as get_profile

__all__ = ["PAYOFF_DIR", "committed", "figure", "frame", "load", "summary", "table"]

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


def figure(rows: Sequence[dict], x: str = "images"):
    """Accuracy (F+D) against compute, one panel per data set and method: a line per topology,
    sampler and learning rate (thin, with crosses, where the rate is not the medium profile's
    for that loss), the untrained network (0 iterations) as the line's first point, the pixel
    control as a dotted horizontal line in the colour of the topology whose input side it
    has. ``x`` is ``"images"`` (forwarded) or
    ``"train_seconds"``."""
    df = frame(rows)
    panels = sorted(df.groupby(["dataset", "method"]).groups)
    cols = min(2, len(panels))
    rows_ = -(-len(panels) // cols)
    fig, axes = plt.subplots(rows_, cols, figsize=(5.2 * cols, 3.6 * rows_), squeeze=False)
    for ax in axes.flat[len(panels):]:
        ax.set_visible(False)
    colours = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    tops = sorted(df.topology.unique())
    for ax, (dataset, method) in zip(axes.flat, panels, strict=False):
        g = df[(df.dataset == dataset) & (df.method == method)]
        for (t, sampler, lr), line in g.groupby(["topology", "sampler", "lr"], dropna=False):
            line = line.sort_values("iterations")
            colour = colours[tops.index(t) % len(colours)]
            usual = lr == get_profile("medium").lr_for(METHODS.get(method, (method,))[0], t)
            ax.plot(line[x], 100 * line["F+D"], marker="o" if usual else "x", ms=3, color=colour,
                    lw=1.5 if usual else 0.8, ls="-" if sampler == "batch" else "--",
                    label=f"t{t} {sampler}, lr {lr:g}")
        sizes = g.groupby("size")[["pixels", "topology"]].first()
        for i, (size, (pix, t)) in enumerate(sizes.iterrows()):
            colour = colours[tops.index(t) % len(colours)]
            ax.axhline(100 * pix, color=colour, ls=":", lw=1)
            ax.annotate(f"pixels, {size} px", (0.02 + 0.4 * i, 100 * pix),
                        xycoords=("axes fraction", "data"), fontsize=7, color=colour,
                        va="bottom")
        ax.set_xlabel("images forwarded" if x == "images" else "training seconds (2-core CPU)")
        ax.set_ylabel("test accuracy, F+D (%)")
        ax.set_title(f"{dataset}, {method}", fontsize=9)
        ax.grid(alpha=0.3)
    axes.flat[0].legend(fontsize=7)
    fig.tight_layout()
    return fig
