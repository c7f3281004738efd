"""Training memory of one Siamese network: a calibrated estimate, and a probe on CUDA.

Topology 8 has a 2.2e9-parameter FC at 224 px (paper Appendix A): weights, gradients and Adam's
two moments alone take 33 GiB in fp32. :func:`check_fits` turns "CUDA out of memory" half-way
through a run (or a swapping laptop) into one clear :class:`~dissim.errors.ResourceError`.

The estimate is a model counted from the actual modules on the ``meta`` device (nothing is
allocated), then scaled by factors fitted to measured peaks:

* **state**: fp32 weights, gradients and Adam's two moments, ``16 * P`` bytes for ``P``
  learnables (the subnetwork plus, in ``"cross"`` mode, the head); under bf16 autocast also the
  bf16 copy of every weight and its bf16 gradient, ``+ 4 * P``;
* **activations**: every tensor autograd saves for the backward pass, layer by layer (caught
  with :func:`torch.autograd.graph.saved_tensors_hooks` on a ``meta`` forward of the whole
  batch, in bf16 when autocast is on, in NHWC when ``channels_last``), swept backwards: while
  layer *i* runs its backward pass, what layers ``1..i`` saved is still alive, plus the gradients
  of its output and its input. The largest such sum is the activation peak;
* **the optimiser step**: ``torch.optim.Adam`` (foreach) holds one more fp32 copy of the weights
  (``sqrt(v)``) beside weights, gradients and moments: ``20 * P`` plus the input batch;
* the estimate is ``max(a * state + b * activations, a * step) + c``, where ``a``, ``b`` and
  the overhead ``c`` (cuDNN/cuBLAS workspaces, allocator rounding) are fitted per precision
  (float32; float32 with TF32 allowed; bfloat16 autocast, :func:`precision`) to the peaks in
  ``dissim/memory_peaks.csv`` (``torch.cuda.max_memory_allocated`` on an H200;
  :func:`calibrate` refits them) so that every estimate lies within +0/+15 % of the measured peak.

For fp32 the fit stays close to the counted terms (``a = 1.09``, ``b = 1.05``, 0.7 GiB of
overhead).
Under bf16, topology 8's measured peak (59 GiB) is higher than its fp32 peak (44 GiB): the
counted terms (with the 4.1 GiB bf16 copy of its FC and the bf16 gradient of that copy) reach
47 GiB, and the remaining 12 GiB, not explained by the count, is absorbed by ``a = 1.32``.
float32 with TF32 allowed (and the training set resident on the GPU) peaks as high for
topology 8 (59.55 GiB) and within 10 % of plain float32 for the others; its own fit absorbs
the difference the same way (``a = 1.63``): TF32 is a precision of its own here. The
estimate knows only what it was fitted to; on a CUDA device :func:`probe_peak` measures real
training iterations, and ``check_fits(..., probe=True)`` uses it as the authority.

>>> round(estimate_training_bytes(3, 224, 180) / 2**30, 1)  # measured on an H200: 2.6 GiB
2.7
"""

from __future__ import annotations

import csv
import gc
import os
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import torch
from scipy.optimize import linprog

from dissim.errors import ConfigError, ResourceError
from dissim.losses import pair_bce, triplet_loss
from dissim.optim import create as create_optimizer
from dissim.siamese import SiameseNet
from dissim.topologies import create

__all__ = [
    "FACTORS", "PEAKS_CSV", "Factors", "Footprint", "LayerMemory", "calibrate", "check_fits",
    "estimate_training_bytes", "footprint", "free_bytes", "measured_peaks", "precision",
    "probe_peak",
]

_GIB = 2**30
PEAKS_CSV = Path(__file__).with_name("memory_peaks.csv")


@dataclass(frozen=True)
class Factors:
    """Fitted scale of the counted terms (see the module docstring); ``overhead`` in GiB."""

    state: float
    activations: float
    overhead: float


#: The fit of ``memory_peaks.csv`` by :func:`calibrate` (with a 2 % floor), rounded up, per
#: :func:`precision`: None (float32), ``"tf32"`` (float32, TF32 allowed), ``"bf16"``.
FACTORS: dict[str | None, Factors] = {
    None: Factors(state=1.09, activations=1.05, overhead=0.70),
    "tf32": Factors(state=1.63, activations=1.06, overhead=0.26),
    "bf16": Factors(state=1.32, activations=1.01, overhead=0.32),
}


def precision(amp: str | None, tf32: bool = False) -> str | None:
    """The key of :data:`FACTORS`: ``"bf16"`` under bfloat16 autocast (measured with TF32 on),
    else ``"tf32"`` when TF32 is allowed, else None (float32)."""
    _check_amp(amp)
    return "bf16" if amp == "bf16" else ("tf32" if tf32 else None)


@dataclass(frozen=True)
class LayerMemory:
    """One layer of the activation count: what its forward saved for the backward pass."""

    name: str
    output_shape: tuple[int, ...]
    saved_bytes: int


@dataclass(frozen=True)
class Footprint:
    """The counted terms of one training iteration, in bytes (before the fitted factors)."""

    params: int
    state_bytes: int
    activation_bytes: int
    step_bytes: int
    layers: tuple[LayerMemory, ...]


def _images_per_sample(mode: str) -> int:
    if mode == "cross":
        return 2
    if mode == "triplet":
        return 3
    raise ConfigError(f"unknown mode {mode!r}; choose cross or triplet")


def _check_amp(amp: str | None) -> None:
    if amp not in (None, "bf16"):
        raise ConfigError(f"unknown amp {amp!r}; choose bf16 or None (float32)")


def _nbytes(t: torch.Tensor) -> int:
    return t.numel() * t.element_size()


@cache
def footprint(topology: int, input_size: int, batch_size: int, in_channels: int = 3,
              mode: str = "cross", *, amp: str | None = None,
              channels_last: bool = False) -> Footprint:
    """Count parameters and saved activations of one training iteration on ``meta``.

    Parameters are as for :func:`estimate_training_bytes`. The loss is the project's own
    (:func:`dissim.losses.pair_bce`, :func:`dissim.losses.triplet_loss`).
    """
    images = _images_per_sample(mode) * batch_size
    _check_amp(amp)
    dtype = torch.bfloat16 if amp == "bf16" else torch.float32
    net = SiameseNet(create(topology, in_channels, input_size, device="meta"), mode=mode)
    params = sum(p.numel() for p in net.parameters())
    net = net.to(dtype)  # autocast's copies: bf16 weights, bf16 activations
    layout = torch.channels_last if channels_last else torch.contiguous_format
    net = net.to(memory_format=layout)
    x = torch.empty(images, in_channels, input_size, input_size, device="meta", dtype=dtype)
    x = x.contiguous(memory_format=layout)
    # The fp32 batch is held by the caller throughout; in fp32 it is also what conv1 saves.
    batch_bytes = 4 * x.numel()
    skip = {id(p) for p in net.parameters()} | ({id(x)} if amp is None else set())
    saved: dict[int, tuple[str, torch.Tensor]] = {}
    current = ["loss"]

    def pack(t: torch.Tensor) -> torch.Tensor:
        base = t._base if t._base is not None else t
        if id(base) not in skip and id(base) not in saved:
            saved[id(base)] = (current[0], base)  # the first layer to save it frees it last
        return t

    shapes: list[tuple[str, int, int, tuple[int, ...]]] = []
    hooks = []
    for name, module in [*net.backbone.features.named_children(), ("fc", net.backbone.fc)]:
        def pre(_m, _args, name=name):
            current[0] = name

        def post(_m, args, out, name=name):
            shapes.append((name, _nbytes(args[0]), _nbytes(out), tuple(out.shape[1:])))
            current[0] = "loss"

        hooks += [module.register_forward_pre_hook(pre), module.register_forward_hook(post)]
    try:
        with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
            e = net.embed(x)
            b = batch_size
            if mode == "cross":
                y = torch.empty(b, device="meta", dtype=dtype)
                pair_bce(net.pair_logits(e[:b], e[b:]), y)
            else:
                triplet_loss(e[:b], e[b : 2 * b], e[2 * b :])
    finally:
        for h in hooks:
            h.remove()
    by_layer: dict[str, int] = {}
    for name, t in saved.values():
        by_layer[name] = by_layer.get(name, 0) + _nbytes(t)
    # Backward sweep: the loss's saved tensors are counted throughout (small, conservative).
    alive, peak = batch_bytes + by_layer.get("loss", 0), 0
    cumulative = []
    for name, *_ in shapes:
        alive += by_layer.get(name, 0)
        cumulative.append(alive)
    for i, (_name, in_bytes, out_bytes, _shape) in enumerate(shapes):
        grad_in = in_bytes if i > 0 else 0  # the batch needs no gradient
        peak = max(peak, cumulative[i] + out_bytes + grad_in)
    state = (20 if amp == "bf16" else 16) * params
    layers = tuple(LayerMemory(n, s, by_layer.get(n, 0)) for n, _i, _o, s in shapes)
    return Footprint(params=params, state_bytes=state, activation_bytes=peak,
                     step_bytes=20 * params + batch_bytes, layers=layers)


def estimate_training_bytes(topology: int, input_size: int, batch_size: int,
                            in_channels: int = 3, mode: str = "cross", *,
                            amp: str | None = None, channels_last: bool = False,
                            tf32: bool = False, factors: Factors | None = None) -> int:
    """Peak bytes to train one Siamese network with Adam (see the module docstring).

    Parameters
    ----------
    topology, input_size, in_channels
        As for :func:`dissim.topologies.create`.
    batch_size : int
        Pairs (``"cross"``) or triplets (``"triplet"``, 3 images each, no head) per iteration.
    mode : str
        ``"cross"`` or ``"triplet"`` (paper Section 2.2).
    amp : {None, "bf16"}
        float32, or bfloat16 autocast of the forward pass (``TrainConfig.amp``).
    channels_last : bool
        NHWC layout (``TrainConfig.channels_last``).
    tf32 : bool
        TensorFloat-32 allowed on CUDA (``TrainConfig.tf32``): float32's other fitted factors.
    factors : Factors, optional
        Override the fitted :data:`FACTORS` of this precision (used by :func:`calibrate`).
    """
    fp = footprint(int(topology), int(input_size), int(batch_size), int(in_channels), mode,
                   amp=amp, channels_last=bool(channels_last))
    f = factors or FACTORS[precision(amp, tf32)]
    train = max(f.state * fp.state_bytes + f.activations * fp.activation_bytes,
                f.state * fp.step_bytes)
    return int(train + f.overhead * _GIB)


def measured_peaks(path: str | os.PathLike | None = None) -> list[dict]:
    """The measured peaks (``dissim/memory_peaks.csv``): one dict per row, typed."""
    rows = []
    with open(path or PEAKS_CSV, newline="") as f:
        for row in csv.DictReader(line for line in f if not line.startswith("#")):
            row.update(topology=int(row["topology"]), input_size=int(row["input_size"]),
                       pairs=int(row["pairs"]), peak_gib=float(row["peak_gib"]),
                       amp=row["amp"] or None, tf32=row["tf32"] == "True",
                       channels_last=row["channels_last"] == "True")
            rows.append(row)
    return rows


def calibrate(rows: list[dict] | None = None, floor: float = 0.02) -> dict[str | None, Factors]:
    """Fit :class:`Factors` per :func:`precision` to measured peaks (a linear programme).

    Minimises the largest relative over-estimate subject to every estimate being at least
    ``(1 + floor)`` times its measured peak plus 0.05 GiB (the table's rounding); ``state``
    and ``activations`` are kept >= 1 (the counted bytes exist). The step term is left out
    of the fit (it never sets the peak at the calibration batch).
    """
    rows = measured_peaks() if rows is None else rows
    fitted = {}
    def key(r: dict) -> str | None:
        return precision(r["amp"], r.get("tf32", False))

    for prec in sorted({key(r) for r in rows}, key=str):
        a_ub, b_ub = [], []
        for r in (r for r in rows if key(r) == prec):
            fp = footprint(r["topology"], r["input_size"], r["pairs"], 3, r["loss"],
                           amp=r["amp"], channels_last=r["channels_last"])
            x = [fp.state_bytes / _GIB, fp.activation_bytes / _GIB, 1.0]
            peak = r["peak_gib"]
            a_ub.append([-v for v in x] + [0.0])  # estimate >= (1 + floor) * peak + 0.05
            b_ub.append(-(1 + floor) * peak - 0.05)
            a_ub.append([*x, -peak])  # estimate <= (1 + t) * peak
            b_ub.append(peak)
        res = linprog([0, 0, 0, 1], A_ub=a_ub, b_ub=b_ub,
                      bounds=[(1, None), (1, None), (0, None), (0, None)])
        if not res.success:
            raise ConfigError(f"no calibration fits the peaks of {prec or 'fp32'}: {res.message}")
        fitted[prec] = Factors(*(float(v) for v in res.x[:3]))
    return fitted


def probe_peak(topology: int, input_size: int, batch_size: int, device: torch.device | str,
               mode: str = "cross", amp: str | None = None, channels_last: bool = False, *,
               in_channels: int = 3, iterations: int = 2) -> int | None:
    """Measure the peak bytes of real training iterations on a CUDA ``device``.

    Builds the network, Adam (:func:`dissim.optim.create`) and a random batch on ``device``,
    runs ``iterations`` forward/backward/step (the second one holds Adam's moments during the
    backward pass, as every later one does) and returns ``torch.cuda.max_memory_allocated``
    above what was allocated before; everything is freed afterwards. Returns None on any
    device but CUDA (no probe there: use :func:`estimate_training_bytes`).

    Raises
    ------
    ResourceError
        The iteration ran out of device memory: training would not fit.
    """
    device = torch.device(device)
    if device.type != "cuda":
        return None
    images = _images_per_sample(mode) * batch_size
    _check_amp(amp)
    layout = torch.channels_last if channels_last else torch.contiguous_format
    torch.cuda.synchronize(device)
    gc.collect()
    torch.cuda.empty_cache()
    before = torch.cuda.memory_allocated(device)
    torch.cuda.reset_peak_memory_stats(device)
    state = {}
    try:
        net = SiameseNet(create(topology, in_channels, input_size, device=device), mode=mode)
        state["net"] = net = net.to(memory_format=layout)
        state["opt"] = opt = create_optimizer("adam", net.parameters())
        gen = torch.Generator(device).manual_seed(0)
        x = torch.rand(images, in_channels, input_size, input_size, device=device,
                       generator=gen).contiguous(memory_format=layout)
        state["x"] = x
        y = (torch.rand(batch_size, device=device, generator=gen) < 0.5).float()
        b = batch_size
        for _ in range(iterations):
            opt.zero_grad(set_to_none=True)
            with torch.autocast("cuda", dtype=torch.bfloat16, enabled=amp == "bf16"):
                e = net.embed(x)
                if mode == "cross":
                    loss = pair_bce(net.pair_logits(e[:b], e[b:]), y)
                else:
                    loss = triplet_loss(e[:b], e[b : 2 * b], e[2 * b :], form="conventional")
            loss.backward()
            opt.step()
            del e, loss
        torch.cuda.synchronize(device)
        return int(torch.cuda.max_memory_allocated(device) - before)
    except torch.cuda.OutOfMemoryError as err:
        raise ResourceError(
            f"topology {topology} at {input_size} px (batch {batch_size}, {mode}, "
            f"amp={amp}) ran out of memory on {device} in a one-iteration probe; use a GPU "
            "with more memory or a smaller input_size"
        ) from err
    finally:
        state.clear()
        gc.collect()
        torch.cuda.empty_cache()


def free_bytes(device: torch.device | str) -> int | None:
    """Free memory on ``device`` in bytes (CUDA: ``mem_get_info``; CPU: MemAvailable); None if
    it cannot be told (e.g. ``meta`` or an unknown accelerator)."""
    device = torch.device(device)
    if device.type == "cuda":
        return int(torch.cuda.mem_get_info(device)[0])
    if device.type != "cpu":
        return None
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return None


def check_fits(topology: int, input_size: int, batch_size: int, device: torch.device | str,
               available_bytes: int | None = None, *, in_channels: int = 3,
               mode: str = "cross", amp: str | None = None, channels_last: bool = False,
               tf32: bool = False, probe: bool = False) -> int:
    """Raise :class:`ResourceError` if training would not fit ``device``; return the need.

    The need is :func:`estimate_training_bytes` (counted on ``meta``: nothing is allocated),
    or, with ``probe=True`` on a CUDA device, the peak of :func:`probe_peak` (the authority:
    one real iteration). ``available_bytes`` overrides the measured free memory (used by tests
    and by callers that keep a reserve).
    """
    need = None
    if probe and torch.device(device).type == "cuda":
        need = probe_peak(topology, input_size, batch_size, device, mode, amp, channels_last,
                          in_channels=in_channels)
    if need is None:
        need = estimate_training_bytes(topology, input_size, batch_size, in_channels, mode,
                                       amp=amp, channels_last=channels_last, tf32=tf32)
    have = free_bytes(device) if available_bytes is None else available_bytes
    if have is not None and need > have:
        raise ResourceError(
            f"topology {topology} at {input_size} px needs ~{need / _GIB:.1f} GiB to train "
            f"(batch {batch_size}) but {torch.device(device)} has {have / _GIB:.1f} GiB "
            "available; use a GPU with more memory or a smaller input_size"
        )
    return need
