"""The Linear layer's products (forward, dX, dW, db and the whole backward)
on the GPT and MultiheadAttention shapes of issue 11, in-process A/B of two
builds: a copy of the package imported as `attnrs_base` (directory in $BASE,
default /work/s4base; made as in benches/python/ab_inprocess.py) against the
working tree's `attnrs`. Alternating bursts, fastest call per burst, medians
over rounds; the two builds' results must be bitwise equal. CPU=1 times
calls by thread CPU time (1 thread only: both run a 1-thread product on the
calling thread). ONLY=<substring> keeps the shapes whose name contains it.

    ATTNRS_SIMD=avx2 CPU=1 /work/torchenv/bin/python benches/python/linear_ab_builds.py THREADS ROUNDS
"""

import os
import statistics as st
import sys
import time

os.environ["ATTNRS_SPIN_US"] = os.environ.get("ATTNRS_SPIN_US", "0")
import numpy as np

sys.path.insert(0, os.environ.get("BASE", "/work/s4base"))
sys.path.insert(0, "python")
import attnrs_base as A
from _linear_shapes import SHAPES, fastest

import attnrs as B

t = int(sys.argv[1])
rounds = int(sys.argv[2])
only = os.environ.get("ONLY")
clk = time.thread_time if os.environ.get("CPU") == "1" else time.perf_counter
for m in (A, B):
    m.set_num_threads(t)
rng = np.random.default_rng(0)
print("load", os.getloadavg(), "isa", B.info()["isa"], "threads", t)


def calls(m, x, w, b, dy):
    lb = m.ops.linear_backward
    return {
        "fwd": lambda: (m.ops.linear(x, w, b),),
        "dX": lambda: lb(x, w, dy, need_weight=False, need_bias=False),
        "dW": lambda: lb(x, w, dy, need_input=False, need_bias=False),
        "db": lambda: lb(x, w, dy, need_input=False, need_weight=False),
        "bwd": lambda: lb(x, w, dy),
    }


total = {"A": 0.0, "B": 0.0}
for name, rows, inp, out in SHAPES:
    if only and only not in name:
        continue
    x = rng.standard_normal((rows, inp), dtype=np.float32)
    w = rng.standard_normal((out, inp), dtype=np.float32)
    b = rng.standard_normal(out, dtype=np.float32)
    dy = rng.standard_normal((rows, out), dtype=np.float32)
    ca, cb = calls(A, x, w, b, dy), calls(B, x, w, b, dy)
    for prod in ca:
        budget = 0.05 if rows * inp * out < 1 << 24 else 0.2
        res = {"A": [], "B": []}
        outs = {}
        for r in range(rounds):
            for key, fn in (("A", ca[prod]), ("B", cb[prod])) if r % 2 == 0 else (("B", cb[prod]), ("A", ca[prod])):
                outs[key] = fn()
                res[key].append(fastest(fn, budget, clk))
        for ya, yb in zip(outs["A"], outs["B"]):
            assert ya is None and yb is None or np.array_equal(ya, yb), f"{name} {prod}: results differ"
        fa, fb = st.median(res["A"]), st.median(res["B"])
        if prod in ("fwd", "bwd"):
            total["A"] += fa
            total["B"] += fb
        ratios = sorted(x / y for x, y in zip(res["A"], res["B"]))
        print(
            f"{name:13} {prod:4} base {fa * 1e6:9.1f} us  new {fb * 1e6:9.1f} us  new/base speed {fa / fb:.3f}"
            f" (per-round {ratios[0]:.3f}..{ratios[-1]:.3f}, median {st.median(ratios):.3f})",
            flush=True,
        )
print(f"sum of fwd + bwd: base {total['A'] * 1e3:.2f} ms  new {total['B'] * 1e3:.2f} ms  speed {total['A'] / total['B']:.3f}")
