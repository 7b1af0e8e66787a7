"""Square GEMM, in-process A/B of two builds: a copy of the package imported as
`attnrs_base` (directory in $BASE, default /tmp/gemm/base; made as in
benches/python/ab_inprocess.py) against the working tree's `attnrs`,
alternating bursts, fastest call per burst, medians over rounds; results
must be bitwise equal. CPU=1 times calls by thread CPU time (1 thread only).

    ATTNRS_SIMD=avx2 CPU=1 /work/torchenv/bin/python benches/python/gemm_ab_builds.py THREADS ROUNDS [sizes...]
"""

import os
import statistics as st
import sys
import time

os.environ["ATTNRS_SPIN_US"] = os.environ.get("ATTNRS_SPIN_US", "0")
import numpy as np

sys.path.insert(0, os.environ.get("BASE", "/tmp/gemm/base"))
sys.path.insert(0, "python")
import attnrs_base as A

import attnrs as B

t = int(sys.argv[1])
rounds = int(sys.argv[2])
sizes = [int(x) for x in sys.argv[3:]] or [64, 128, 256, 512, 1024, 2048]
clk = time.thread_time if os.environ.get("CPU") == "1" else time.perf_counter
for m in (A, B):
    m.set_num_threads(t)
rng = np.random.default_rng(0)
print("load", os.getloadavg(), "isa", B.info()["isa"], "threads", t)
for n in sizes:
    a = rng.standard_normal((n, n), dtype=np.float32)
    b = rng.standard_normal((n, n), dtype=np.float32)
    oa = np.empty((n, n), np.float32)
    ob = np.empty((n, n), np.float32)
    budget = 0.1 if n <= 256 else 0.3
    res = {"A": [], "B": []}
    for r in range(rounds):
        for name, m, o in (
            (("A", A, oa), ("B", B, ob)) if r % 2 == 0 else (("B", B, ob), ("A", A, oa))
        ):
            m.ops.matmul(a, b, out=o)
            ts = []
            te = time.perf_counter() + budget
            while time.perf_counter() < te or len(ts) < 3:
                s = clk()
                m.ops.matmul(a, b, out=o)
                ts.append(clk() - s)
            res[name].append(min(ts))
    assert np.array_equal(oa, ob), "results differ"
    fa = st.median(res["A"])
    fb = st.median(res["B"])
    ratios = sorted(x / y for x, y in zip(res["A"], res["B"]))
    f = 2 * n**3
    print(
        f"n={n:5d} base {f / fa / 1e9:6.1f} new {f / fb / 1e9:6.1f} GF/s  new/base speed {fa / fb:.3f} (per-round ratios {ratios[0]:.3f}..{ratios[-1]:.3f}, median {st.median(ratios):.3f})",
        flush=True,
    )
