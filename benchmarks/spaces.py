"""FULLY cached vs naive, and the DCT as matrix products vs a per-channel scipy loop (issue 4).

FULLY: 200 images x 60 prototypes. Naive = one Siamese forward per (image, prototype) pair;
cached = every image and prototype through the backbone once, then the score matrix. Same
numbers (goal: max |diff| <= 1e-5) and the speed-up (goal >= 40x). DCT: goal >= 10x.

    .venv/bin/python benchmarks/spaces.py
"""

from dissim.report.benchmark import dct_speedup, fully_speedup, machine

if __name__ == "__main__":
    print(machine())
    f = fully_speedup()
    print(f"FULLY 200 images x 60 prototypes (topology 6, 58 px): cached {f['cached_s']:.3f} s"
          f" | naive {f['naive_s']:.3f} s | speed-up {f['speedup']:.1f}x"
          f" | max |diff| {f['max_abs_diff']:.1e}")
    d = dct_speedup()
    print(f"DCT 9x9 on (64, 64, 19, 19): matmul {1e3 * d['matmul_s']:.2f} ms | scipy loop "
          f"{1e3 * d['scipy_s']:.2f} ms | speed-up {d['speedup']:.1f}x"
          f" | max |diff| {d['max_abs_diff']:.1e}")
