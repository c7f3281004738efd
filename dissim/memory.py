"""A rough training-memory estimate, checked *before* a Siamese network is allocated.

Topology 8 has a 2.2e9-parameter FC at 224 px (Appendix A): parameters, gradients and the two Adam
moments alone take ~33 GiB in fp32.  :func:`check_fits` turns "CUDA out of memory" half-way
through a run (or a swapping laptop) into one clear :class:`~dissim.errors.ResourceError`.

The estimate (fp32, 4 bytes a number) is deliberately simple:

* ``4 * P`` numbers for the weights, their gradients and Adam's two moments (Section 4), where P
  counts the subnetwork and, in ``"cross"`` mode, the FC head (D + 1);
* ``2 * A * images`` numbers for activations, where A is the size of the input plus every layer
  output of one image (measured by a forward on the ``meta`` device), the factor 2 covers the
  stored forward activations and their gradients in the backward pass, and ``images`` is
  ``2 * batch_size`` for pairs (``"cross"``) or ``3 * batch_size`` for triplets.

It ignores the CUDA context, cuDNN workspaces and allocator fragmentation (typically a few
hundred MiB), so treat it as a rough lower bound.

>>> estimate_training_bytes(1, 73, 16) < 2**30
True
"""

from __future__ import annotations

import os

import torch

from dissim.errors import ConfigError, ResourceError
from dissim.topologies import create

__all__ = ["check_fits", "estimate_training_bytes", "free_bytes"]

_FP32 = 4
_GIB = 2**30


def _images_per_sample(mode: str) -> int:
    if mode == "cross":
        return 2
    if mode == "triplet":
        return 3
    raise ConfigError(f"unknown mode {mode!r}; choose cross or triplet")


def estimate_training_bytes(topology: int, input_size: int, batch_size: int,
                            in_channels: int = 3, mode: str = "cross") -> int:
    """Bytes needed to train one Siamese network with Adam (see the module docstring).

    Parameters
    ----------
    topology, input_size, in_channels
        As for :func:`dissim.topologies.create`.
    batch_size : int
        Pairs (``"cross"``) or triplets (``"triplet"``) per iteration.
    mode : str
        ``"cross"`` or ``"triplet"`` (Section 2.2).
    """
    images = _images_per_sample(mode) * batch_size
    net = create(topology, in_channels, input_size, device="meta")
    params = sum(p.numel() for p in net.parameters())
    if mode == "cross":
        params += net.embedding_dim + 1
    x = torch.empty(1, in_channels, input_size, input_size, device="meta")
    acts = x.numel()
    for layer in net.features:
        x = layer(x)
        acts += x.numel()
    acts += 2 * net.embedding_dim  # FC output and its sigmoid
    return _FP32 * (4 * params + 2 * acts * images)


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
               mode: str = "cross") -> int:
    """Raise :class:`ResourceError` if training would not fit ``device``; return the estimate.

    ``available_bytes`` overrides the measured free memory (used by tests and by callers that
    keep a reserve).  Nothing is allocated: the estimate runs on the ``meta`` device.
    """
    need = estimate_training_bytes(topology, input_size, batch_size, in_channels, mode)
    have = free_bytes(device) if available_bytes is None else available_bytes
    if have is not None and need > have:
        raise ResourceError(
            f"topology {topology} at {input_size} px needs ~{need / _GIB:.1f} GiB to train "
            f"(batch {batch_size}) but {torch.device(device)} has {have / _GIB:.1f} GiB "
            "available; use a GPU with more memory or a smaller input_size"
        )
    return need
