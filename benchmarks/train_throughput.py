"""Training throughput: the dissim loop vs a bare torch loop on the same net and batch (issue 3).

Topology 1, 16 pairs per iteration, at 224 px and at the quick profile's size: images/s of
:func:`dissim.train.train_siamese` and of a bare loop, their ratio (goal >= 0.9) and GFLOP/s.

    .venv/bin/python benchmarks/train_throughput.py
"""

from dissim.pipeline.experiment import input_size
from dissim.profiles import get
from dissim.report.benchmark import machine, train_throughput

if __name__ == "__main__":
    print(machine(), "| topology 1, 16 pairs (32 images) per iteration, 3 timed iterations")
    for size in (224, input_size(1, get("quick"))):
        r = train_throughput(topology=1, size=size)
        print(f"{size:>4} px | dissim {r['dissim_img_s']:7.2f} img/s | bare torch "
              f"{r['bare_img_s']:7.2f} img/s | ratio {r['ratio']:.2f} | "
              f"{r['gflop_per_iteration']:.1f} GFLOP/iteration | {r['gflop_s']:.1f} GFLOP/s")
