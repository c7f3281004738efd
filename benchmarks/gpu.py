"""One prepared GPU check (issue 13): training speed, memory and the paper's grid on one GPU.

Goal: finishes in <= 8 minutes on one H200 and writes ``benchmarks/RESULTS.md`` and the
machine-readable ``benchmarks/RESULTS.json`` (atomically, after each section):

1. per topology 1-8 at 224 px, 180 pairs per iteration (cross-entropy, Adam), for fp32, TF32 and
   bf16 autocast + TF32 + channels_last: images/s of :func:`dissim.train.train_siamese` (the
   training set handed over in host memory) against a bare resident loop (the training set
   already on the GPU, no host work per step: same network, loss and Adam), their ratio (goal
   >= 0.90), TFLOP/s (``FlopCounterMode`` on one step), and the peak memory of the bare loop
   (``torch.cuda.max_memory_allocated``) against :func:`dissim.memory.estimate_training_bytes`
   (goal: +0/+15 %);
2. topology 1 trained for 300 iterations on a real folder of class folders (``--root``; default
   the embedded ``textures`` set) at 224 px: seconds per 1000 iterations;
3. the grid on one GPU: 1, 2 and 4 networks trained at once by ``train_siamese`` in threads,
   each on its own CUDA stream (bf16 + TF32 + channels_last), the aggregate images/s, and the
   resulting H200-hours of Table 2's grid (960 networks x 3000 iterations x 180 pairs).

Each section stops starting new cases once its share of ``--budget`` (seconds, default 400) is
spent, and says so; the case under way finishes, so allow about a minute more for start-up and
that case. The project path is timed over one ``train_siamese`` call after the bare loop has
warmed the same shapes (its first iteration included: the ratio is a lower bound). On a device
machine, ``--out $OUT`` brings the two files back and ``--commit`` records the commit when the
copy there has no ``.git``.

    PYTHONPATH=. python benchmarks/gpu.py [--root DIR] [--out DIR] [--commit SHA]  # on a GPU
    PYTHONPATH=. python benchmarks/gpu.py --cpu-smoke --out /tmp/smoke   # tiny, on the CPU
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import gc
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
import traceback
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch

from dissim.losses import pair_bce
from dissim.memory import estimate_training_bytes, probe_peak
from dissim.report.benchmark import machine
from dissim.siamese import SiameseNet
from dissim.topologies import create, min_input_size
from dissim.train import TrainConfig, tf32, train_siamese

GIB = 2**30
TOPOLOGIES = tuple(range(1, 9))
#: precision name -> TrainConfig switches; bf16 first, so a short budget still covers the goal
PRECISIONS = {
    "bf16+tf32+nhwc": {"amp": "bf16", "tf32": True, "channels_last": True},
    "tf32": {"amp": None, "tf32": True, "channels_last": False},
    "fp32": {"amp": None, "tf32": False, "channels_last": False},
}
#: Table 2's full grid (issue 13): networks, iterations each, pairs per iteration
TABLE2 = {"networks": 960, "iterations": 3000, "pairs": 180}
SHARES = {"table": 0.60, "folder": 0.10, "grid": 0.30}  # of the budget, handed on when unused


@dataclass(frozen=True)
class Scale:
    """How big each measurement is: the GPU run, or the CPU smoke run that tests this script."""

    size: int  # input side, raised to each topology's minimum (0: the minimum itself)
    pairs: int
    data_images: int
    target_s: float  # timed seconds per loop
    min_iterations: int
    max_iterations: int
    folder_iterations: int
    concurrency: tuple[int, ...] = (1, 2, 4)

    def side(self, topology: int) -> int:
        return max(self.size, min_input_size(topology))

    def iterations(self, seconds_per_iteration: float) -> int:
        n = round(self.target_s / max(seconds_per_iteration, 1e-9))
        return int(min(max(n, self.min_iterations), self.max_iterations))


GPU = Scale(224, 180, 1024, 1.5, 5, 40, 300)
SMOKE = Scale(0, 4, 24, 0.0, 2, 2, 2)


class Budget:
    """A wall-clock budget split into sections; what one section leaves goes to the next."""

    def __init__(self, seconds: float) -> None:
        self.start, self.seconds, self.section_end = time.perf_counter(), seconds, 0.0

    def enter(self, name: str) -> None:
        now = time.perf_counter()
        left = self.start + self.seconds - now
        later = sum(v for k, v in SHARES.items() if list(SHARES).index(k) >
                    list(SHARES).index(name))
        self.section_end = now + left * SHARES[name] / (SHARES[name] + later)

    def spent(self) -> bool:
        return time.perf_counter() > self.section_end

    def elapsed(self) -> float:
        return time.perf_counter() - self.start


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def release(device: torch.device) -> None:
    gc.collect()
    if device.type == "cuda":
        torch.cuda.empty_cache()


_DATA: dict[int, tuple[np.ndarray, np.ndarray]] = {}


def synthetic(side: int, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Random 0-255 float32 images (N, 3, side, side) in 8 classes (cached per side)."""
    if side not in _DATA:
        rng = np.random.default_rng(0)
        x = rng.uniform(0, 255, (n, 3, side, side)).astype(np.float32)
        _DATA[side] = x, np.arange(n) % 8
    return _DATA[side]


def bare_loop(topology: int, x: torch.Tensor, labels: torch.Tensor, pairs: int, amp,
              channels_last: bool):
    """A minimal resident training step: gather on the device, forward, BCE, backward, Adam."""
    device = x.device
    torch.manual_seed(0)
    net = SiameseNet(create(topology, x.shape[1], x.shape[-1], device=device), mode="cross")
    if channels_last:
        net = net.to(memory_format=torch.channels_last)
    opt = torch.optim.Adam(net.parameters(), lr=1e-4, betas=(0.9, 0.99), eps=1e-8)
    gen = torch.Generator(device).manual_seed(0)
    layout = torch.channels_last if channels_last else torch.contiguous_format

    def step() -> None:
        idx = torch.randint(len(x), (2 * pairs,), device=device, generator=gen)
        y = (labels[idx[:pairs]] == labels[idx[pairs:]]).float()
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=amp == "bf16"):
            e = net.embed(x[idx].contiguous(memory_format=layout))
            loss = pair_bce(net.pair_logits(e[:pairs], e[pairs:]), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    return step


def table_case(topology: int, precision: str, scale: Scale, device: torch.device,
               flops: dict[int, int]) -> dict:
    """One row of section 1: the bare loop, then the project's path, on the same shapes."""
    from torch.utils.flop_counter import FlopCounterMode

    o = PRECISIONS[precision]
    side = scale.side(topology)
    x_host, labels = synthetic(side, scale.data_images)
    row = {"topology": topology, "precision": precision, "size": side, "pairs": scale.pairs}
    layout = torch.channels_last if o["channels_last"] else torch.contiguous_format
    with tf32(o["tf32"]):
        x = torch.from_numpy(x_host).to(device).contiguous(memory_format=layout)
        lab = torch.from_numpy(labels).to(device)
        release(device)
        if device.type == "cuda":
            base = torch.cuda.memory_allocated(device)
            torch.cuda.reset_peak_memory_stats(device)
        step = bare_loop(topology, x, lab, scale.pairs, o["amp"], o["channels_last"])
        t0 = time.perf_counter()
        step()
        step()
        sync(device)
        n = scale.iterations((time.perf_counter() - t0) / 2)
        if topology not in flops:
            with FlopCounterMode(display=False) as counter:
                step()
            flops[topology] = int(counter.get_total_flops())
        sync(device)
        t0 = time.perf_counter()
        for _ in range(n):
            step()
        sync(device)
        bare_s = (time.perf_counter() - t0) / n
        if device.type == "cuda":
            row["peak_gib"] = (torch.cuda.max_memory_allocated(device) - base) / GIB
        del step, x, lab
        release(device)
    cfg = TrainConfig(topology=topology, iterations=n, batch_size=scale.pairs, max_retries=0,
                      eval_pairs=8, **o)
    _, log = train_siamese(x_host, labels, cfg, device=device, progress=False)
    release(device)
    ours_s = log.seconds / n
    images = 2 * scale.pairs
    est = estimate_training_bytes(topology, side, scale.pairs, amp=o["amp"], tf32=o["tf32"],
                                  channels_last=o["channels_last"]) / GIB
    row.update(iterations=n, dissim_img_s=images / ours_s, bare_img_s=images / bare_s,
               ratio=bare_s / ours_s, tflop_per_iteration=flops[topology] / 1e12,
               dissim_tflop_s=flops[topology] / ours_s / 1e12,
               bare_tflop_s=flops[topology] / bare_s / 1e12, estimate_gib=est)
    if row.get("peak_gib"):
        row["estimate_error"] = est / row["peak_gib"] - 1
    return row


def folder_run(root: str | None, scale: Scale, device: torch.device) -> dict:
    """Section 2: topology 1, bf16 + TF32 + NHWC, on a real data set at the scale's size."""
    from dissim import data
    from dissim.preprocess import to_network_input

    ds = data.load("folder", root, progress=False) if root else data.load("textures",
                                                                            progress=False)
    side = scale.side(1)
    x = to_network_input(ds.images, side)
    cfg = TrainConfig(topology=1, iterations=scale.folder_iterations, batch_size=scale.pairs,
                      max_retries=0, eval_pairs=8, **PRECISIONS["bf16+tf32+nhwc"])
    _, log = train_siamese(x, ds.labels, cfg, device=device, progress=False)
    release(device)
    return {"root": root or "embedded textures", "images": len(ds.labels),
            "classes": len(ds.classes), "size": side, "pairs": scale.pairs,
            "iterations": cfg.iterations, "seconds": log.seconds,
            "seconds_per_1000": 1000 * log.seconds / cfg.iterations,
            "img_s": 2 * scale.pairs * cfg.iterations / log.seconds}


def concurrent(topology: int, k: int, iterations: int, scale: Scale,
               device: torch.device) -> dict:
    """Section 3: ``k`` networks trained at once by ``train_siamese``, one thread and stream
    each; aggregate images/s over the span from the first start to the last end of training."""
    side = scale.side(topology)
    x, labels = synthetic(side, scale.data_images)
    o = PRECISIONS["bf16+tf32+nhwc"]
    spans: list[tuple[float, float]] = []
    errors: list[str] = []

    def work(seed: int) -> None:
        stream = torch.cuda.Stream(device) if device.type == "cuda" else None
        cfg = TrainConfig(topology=topology, iterations=iterations, batch_size=scale.pairs,
                          max_retries=0, eval_pairs=8, seed=seed, **o)
        try:
            with torch.cuda.stream(stream) if stream is not None else contextlib.nullcontext():
                _, log = train_siamese(x, labels, cfg, device=device, progress=False)
            end = time.perf_counter()
            spans.append((end - log.seconds, end))
        except Exception as err:  # noqa: BLE001 -- reported in the table
            errors.append(f"{type(err).__name__}: {err}")

    # TF32 is a process-wide switch: set it once, so threads entering and leaving
    # train_siamese's own switch never turn it off under each other.
    with tf32(o["tf32"]):
        threads = [threading.Thread(target=work, args=(i,)) for i in range(k)]
        for th in threads:
            th.start()
        for th in threads:
            th.join()
    release(device)
    row = {"topology": topology, "concurrent": k, "iterations": iterations, "size": side}
    if errors:
        return {**row, "error": errors[0]}
    span = max(e for _, e in spans) - min(s for s, _ in spans)
    return {**row, "img_s": k * iterations * 2 * scale.pairs / span}


def table2_hours(grid: list[dict]) -> dict:
    """H200-hours of Table 2's grid from the measured aggregate images/s per topology.

    The networks split evenly over the 8 topologies; for ``k`` concurrent networks a topology
    that did not fit (or was skipped) at ``k`` runs at its best measured lower concurrency.
    """
    images = TABLE2["networks"] // len(TOPOLOGIES) * TABLE2["iterations"] * 2 * TABLE2["pairs"]
    rate: dict[tuple[int, int], float] = {(r["topology"], r["concurrent"]): r["img_s"]
                                          for r in grid if "img_s" in r}
    hours = {}
    for k in sorted({c for _, c in rate} | {1}):
        total = 0.0
        for t in TOPOLOGIES:
            best = max((v for (tt, c), v in rate.items() if tt == t and c <= k), default=None)
            if best is None:
                total = float("nan")
                break
            total += images / best / 3600
        hours[str(k)] = total
    finite = [v for v in hours.values() if v == v]
    hours["best"] = min(finite) if finite else float("nan")
    return {**TABLE2, "hours": hours}


def _fmt(v, spec: str) -> str:
    return "n/a" if v is None or v != v else format(v, spec)


def render(r: dict) -> str:
    """RESULTS.md from the results dict."""
    head = "GPU check" if r["kind"] == "gpu" else "CPU smoke run (NOT a GPU measurement)"
    lines = [f"# benchmarks/gpu.py: {head}", "",
             f"- machine: {r['machine']}", f"- GPU: {r['gpu'] or 'none'}",
             f"- torch: {r['torch']}", f"- date (UTC): {r['date']}", f"- commit: {r['commit']}",
             f"- scale: {r['scale']['pairs']} pairs per iteration, input "
             f"{r['scale']['size'] or 'minimum'} px (raised to each topology's minimum)",
             f"- wall time: {r['elapsed_s']:.0f} s of a {r['budget_s']:.0f} s budget", "",
             "## Training speed and memory per topology", "",
             "Project path: `dissim.train.train_siamese`, training set in host memory. Bare "
             "loop: training set resident on the device, no host work per step. Goal: ratio "
             ">= 0.90 (bf16); estimate within +0/+15 % of the peak.", "",
             "| topology | precision | iterations | dissim img/s | bare img/s | ratio | "
             "TFLOP/s (dissim) | peak GiB | estimate GiB | estimate error |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for x in r["table"]:
        if "error" in x:
            lines.append(f"| {x['topology']} | {x['precision']} | failed: {x['error']} "
                         "| | | | | | | |")
            continue
        err = x.get("estimate_error")
        lines.append(
            f"| {x['topology']} | {x['precision']} | {x['iterations']} | "
            f"{x['dissim_img_s']:.0f} | {x['bare_img_s']:.0f} | {x['ratio']:.2f} | "
            f"{x['dissim_tflop_s']:.1f} | {_fmt(x.get('peak_gib'), '.2f')} | "
            f"{x['estimate_gib']:.2f} | {'n/a' if err is None else f'{100 * err:+.1f} %'} |")
    if r.get("probe"):
        p = r["probe"]
        lines += ["", f"`dissim.memory.probe_peak` (topology {p['topology']}, {p['precision']}):"
                  f" {_fmt(p.get('peak_gib'), '.2f')} GiB; estimate {p['estimate_gib']:.2f} GiB."]
    f = r.get("folder")
    lines += ["", "## Topology 1 on a real data set", ""]
    if f and "error" not in f:
        lines.append(f"{f['root']}: {f['images']} images in {f['classes']} classes at "
                     f"{f['size']} px, {f['iterations']} iterations of {f['pairs']} pairs "
                     f"(bf16 + TF32 + channels_last): **{f['seconds_per_1000']:.1f} s per 1000 "
                     f"iterations** ({f['img_s']:.0f} img/s).")
    else:
        lines.append(f"not run: {(f or {}).get('error', 'skipped')}")
    lines += ["", "## The grid on one GPU", "",
              "`train_siamese` in k threads at once, one CUDA stream each, bf16 + TF32 + "
              "channels_last; aggregate images/s.", "",
              "| topology | k = 1 | k = 2 | k = 4 |", "|---|---|---|---|"]
    for t in TOPOLOGIES:
        cells = []
        for k in (1, 2, 4):
            x = next((g for g in r["grid"] if g["topology"] == t and g["concurrent"] == k), None)
            cells.append("skipped" if x is None else x.get("skipped") or
                         (f"failed: {x['error']}" if "error" in x else f"{x['img_s']:.0f}"))
        lines.append(f"| {t} | " + " | ".join(cells) + " |")
    t2 = r["table2"]
    h = t2["hours"]
    lines += ["", f"Table 2's full grid ({t2['networks']} networks x {t2['iterations']} "
              f"iterations x {t2['pairs']} pairs x 2 images) on one such GPU: "
              + ", ".join(f"{_fmt(h.get(k), '.1f')} h with {k} at once" for k in ("1", "2", "4")
                          if k in h)
              + f"; best {_fmt(h.get('best'), '.1f')} h (goal <= 24 h)."]
    if r["notes"]:
        lines += ["", "## Notes", ""] + [f"- {n}" for n in r["notes"]]
    return "\n".join(lines) + "\n"


def write_atomic(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    with os.fdopen(fd, "w") as f:
        f.write(text)
    os.replace(tmp, path)


def git_commit() -> str:
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True,
                             timeout=5, cwd=Path(__file__).parent)
        return out.stdout.strip() or "unknown"
    except Exception:  # noqa: BLE001 -- no git on the machine
        return "unknown"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--cpu-smoke", "--dry-run", action="store_true", dest="smoke",
                   help="tiny sizes on the CPU (tests this script; not a measurement)")
    p.add_argument("--root", default=None, help="a folder of class folders (section 2)")
    p.add_argument("--out", default=None,
                   help="folder for RESULTS.md/.json (benchmarks/; smoke: a temporary folder)")
    p.add_argument("--budget", type=float, default=400.0, help="wall-clock seconds (400)")
    p.add_argument("--commit", default=None, help="git commit to record (default: git)")
    p.add_argument("--topologies", default="1-8", help="e.g. 1-8 or 1,3")
    a = p.parse_args(argv)
    if not a.smoke and not torch.cuda.is_available():
        print("gpu.py: no CUDA device; run on a GPU machine or use --cpu-smoke", file=sys.stderr)
        return 2
    lo, _, hi = a.topologies.partition("-")
    topologies = (list(range(int(lo), int(hi) + 1)) if hi else
                  [int(t) for t in a.topologies.split(",")])
    scale, device = (SMOKE, torch.device("cpu")) if a.smoke else (GPU, torch.device("cuda"))
    out = Path(a.out) if a.out else (
        Path(tempfile.gettempdir()) / "dissim-gpu-smoke" if a.smoke else Path(__file__).parent)
    budget = Budget(a.budget)
    r = {"kind": "cpu-smoke" if a.smoke else "gpu", "machine": machine(),
         "gpu": torch.cuda.get_device_name(0) if device.type == "cuda" else None,
         "torch": torch.__version__,
         "date": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M"),  # noqa: UP017
         "commit": a.commit or git_commit(), "budget_s": a.budget, "elapsed_s": 0.0,
         "scale": asdict(scale), "table": [], "probe": None, "folder": None, "grid": [],
         "table2": table2_hours([]), "peaks": [], "notes": []}

    def save() -> None:
        r["elapsed_s"] = budget.elapsed()
        write_atomic(out / "RESULTS.json", json.dumps(r, indent=1) + "\n")
        write_atomic(out / "RESULTS.md", render(r))

    def failed(what: str, err: Exception) -> str:
        traceback.print_exc()
        release(device)
        return f"{type(err).__name__}: {str(err).splitlines()[0][:200]}"

    print(f"{r['machine']} | {r['kind']} | budget {a.budget:.0f} s", flush=True)
    budget.enter("table")
    flops: dict[int, int] = {}
    for precision in PRECISIONS:
        for t in topologies:
            if budget.spent():
                r["notes"].append(f"time budget: table case topology {t} {precision} skipped")
                print(r["notes"][-1], flush=True)
                continue
            try:
                row = table_case(t, precision, scale, device, flops)
            except Exception as err:  # noqa: BLE001 -- one failed case must not stop the check
                row = {"topology": t, "precision": precision, "error": failed("table", err)}
            r["table"].append(row)
            if "error" not in row:
                print(f"t{t} {precision:>15}: dissim {row['dissim_img_s']:8.0f} img/s | bare "
                      f"{row['bare_img_s']:8.0f} img/s | ratio {row['ratio']:.2f} | "
                      f"{row['dissim_tflop_s']:6.1f} TFLOP/s | peak "
                      f"{_fmt(row.get('peak_gib'), '.2f')} GiB vs estimate "
                      f"{row['estimate_gib']:.2f} GiB", flush=True)
                if row.get("peak_gib"):  # every precision: fp32, tf32 and bf16 are fitted
                    o = PRECISIONS[precision]
                    r["peaks"].append({
                        "topology": t, "input_size": row["size"], "pairs": scale.pairs,
                        "loss": "cross", "optimizer": "adam", "amp": o["amp"] or "",
                        "tf32": o["tf32"], "channels_last": o["channels_last"],
                        "peak_gib": round(row["peak_gib"], 2), "gpu": r["gpu"],
                        "torch": torch.__version__.split("+")[0], "source": "benchmarks/gpu.py"})
            else:
                print(f"t{t} {precision}: failed: {row['error']}", flush=True)
    if not budget.spent():
        try:
            pt = min(topologies)
            peak = probe_peak(pt, scale.side(pt), scale.pairs, device, amp="bf16",
                              channels_last=True)
            r["probe"] = {"topology": pt, "precision": "bf16+tf32+nhwc",
                          "peak_gib": None if peak is None else peak / GIB,
                          "estimate_gib": estimate_training_bytes(
                              pt, scale.side(pt), scale.pairs, amp="bf16",
                              channels_last=True) / GIB}
        except Exception as err:  # noqa: BLE001
            r["notes"].append(f"probe failed: {failed('probe', err)}")
    save()

    budget.enter("folder")
    if budget.spent():
        r["folder"] = {"error": "time budget spent"}
    else:
        try:
            r["folder"] = folder_run(a.root, scale, device)
            print(f"topology 1 on {r['folder']['root']}: {r['folder']['seconds_per_1000']:.1f} "
                  "s per 1000 iterations", flush=True)
        except Exception as err:  # noqa: BLE001
            r["folder"] = {"error": failed("folder", err)}
    save()

    budget.enter("grid")
    speed = {row["topology"]: row["dissim_img_s"] for row in r["table"]
             if row.get("precision") == "bf16+tf32+nhwc" and "error" not in row}
    free = torch.cuda.mem_get_info(device)[0] if device.type == "cuda" else None
    for k in scale.concurrency:
        for t in topologies:
            row = {"topology": t, "concurrent": k}
            need = k * estimate_training_bytes(t, scale.side(t), scale.pairs, amp="bf16",
                                               channels_last=True)
            if free is not None and need > 0.9 * free:
                row["skipped"] = "does not fit"
            elif budget.spent():
                row["skipped"] = "time budget"
            else:
                # about target seconds of training for each of the k networks at 1-network speed
                seconds = 2 * scale.pairs / speed[t] if t in speed else 1.0
                try:
                    row = concurrent(t, k, scale.iterations(seconds), scale, device)
                except Exception as err:  # noqa: BLE001
                    row["error"] = failed("grid", err)
            r["grid"].append(row)
            print(f"grid t{t} k={k}: " + (f"{row['img_s']:.0f} img/s" if "img_s" in row
                                          else row.get("skipped") or row.get("error")),
                  flush=True)
    r["table2"] = table2_hours(r["grid"])
    save()
    print(render(r))
    print(f"wrote {out / 'RESULTS.md'} and {out / 'RESULTS.json'} in {budget.elapsed():.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
