"""Training throughput: the dissim loop vs a bare torch loop on the same net and batch (issue 3).

Topology 1, 16 pairs per iteration, at 224 px and at the quick profile's size: images/s of
:func:`dissim.train.train_siamese` and of a bare loop, their ratio (goal >= 0.9) and GFLOP/s.
``--iterations`` timed iterations per loop (more: less noise on a shared machine);
``--sizes`` the input sides.

    .venv/bin/python benchmarks/train_throughput.py
    .venv/bin/python benchmarks/train_throughput.py --sizes 73 --iterations 20
"""

import argparse

from dissim.pipeline.experiment import input_size
from dissim.profiles import get
from dissim.report.benchmark import machine, train_throughput

if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--iterations", type=int, default=3, help="timed iterations per loop")
    p.add_argument("--sizes", default=f"224,{input_size(1, get('quick'))}",
                   help="comma list of input sides")
    args = p.parse_args()
    print(machine(), f"| topology 1, 16 pairs (32 images) per iteration, {args.iterations} "
          "timed iterations")
    for size in (int(s) for s in args.sizes.split(",")):
        r = train_throughput(topology=1, size=size, iterations=args.iterations)
        print(f"{size:>4} px | dissim {r['dissim_img_s']:7.2f} img/s | bare torch "
              f"{r['bare_img_s']:7.2f} img/s | ratio {r['ratio']:.2f} | "
              f"{r['gflop_per_iteration']:.1f} GFLOP/iteration | {r['gflop_s']:.1f} GFLOP/s")
