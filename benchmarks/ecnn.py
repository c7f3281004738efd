"""Seconds per training image-epoch of one eCNN member (paper Section 4; SPEC 7).

One optimiser step of :func:`dissim.baselines.train` (transform + forward + backward + SGD) is
timed on random uint8 images after one warm-up step; the cost of one image in one epoch is the
step time divided by the batch size. Multiply by (training images x epochs) to size a fold::

    OMP_NUM_THREADS=2 python benchmarks/ecnn.py --name efficientnet_lite0 --batch 8 --steps 3
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from dissim import baselines


def seconds_per_image_epoch(name: str, batch: int, steps: int, input_size: int | None,
                            device: str) -> float:
    """Mean seconds of training per image (one pass), measured over ``steps`` steps."""
    rng = np.random.default_rng(0)
    side = input_size or baselines.get(name).input_size
    images = list(rng.integers(0, 256, (batch, side, side), dtype=np.uint8))
    labels = np.arange(batch) % 2
    torch.manual_seed(0)
    model = baselines.create(name, 2, input_size=input_size)
    kw = dict(batch_size=batch, input_size=input_size, device=device, progress=False)
    baselines.train(model, name, images, labels, max_steps=1, **kw)  # warm-up
    start = time.perf_counter()
    baselines.train(model, name, images, labels, epochs=steps, max_steps=steps, **kw)
    if device.startswith("cuda"):
        torch.cuda.synchronize()
    return (time.perf_counter() - start) / (steps * batch)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--name", default="efficientnet_lite0", choices=baselines.available())
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--steps", type=int, default=3)
    parser.add_argument("--input-size", type=int, default=None)
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()
    s = seconds_per_image_epoch(args.name, args.batch, args.steps, args.input_size, args.device)
    side = args.input_size or baselines.get(args.name).input_size
    print(f"{args.name} at {side}px on {args.device} ({torch.get_num_threads()} threads), "
          f"batch {args.batch}: {s:.3f} s per training image-epoch")


if __name__ == "__main__":
    main()
