"""MultiheadAttention(512, 8) on (8, 256, 512), forward + backward, in-process A/B
of two builds at 1 thread by thread CPU time: a copy of the package imported as
`attnrs_base` (``BASE``, default /work/s4base, made as in benches/python/ab_inprocess.py)
against the working tree's `attnrs`; best of 2 per burst, medians over rounds.

    [BASE=/work/s5base] ATTNRS_SIMD=avx2 .venv/bin/python benches/python/mha_ab_builds.py ROUNDS
"""

import os
import statistics as st
import sys
import time

os.environ["ATTNRS_SPIN_US"] = "0"
sys.path.insert(0, os.environ.get("BASE", "/work/s4base"))
sys.path.insert(0, "python")
import attnrs_base as A
import numpy as np

import attnrs as B

rounds = int(sys.argv[1])


def wl(ar):
    ar.set_num_threads(1)
    ar.manual_seed(0)
    m = ar.nn.MultiheadAttention(512, 8, batch_first=True)
    x = ar.tensor(
        np.random.default_rng(0).standard_normal((8, 256, 512), np.float32), requires_grad=True
    )

    def f():
        for p in m.parameters():
            p.grad = None
        x.grad = None
        m(x, x, x, need_weights=False)[0].sum().backward()

    return f


fa, fb = wl(A), wl(B)
fa()
fb()
ra = []
ta = []
tb = []
for r in range(rounds):
    for f, acc in ((fa, ta), (fb, tb)) if r % 2 == 0 else ((fb, tb), (fa, ta)):
        best = 1e9
        for _ in range(2):
            t = time.thread_time()
            f()
            best = min(best, time.thread_time() - t)
        acc.append(best)
rat = sorted(a / b for a, b in zip(ta, tb))
print(
    f"MHA(512,8) (8,256,512) fwd+bwd 1 thread CPU: base {st.median(ta) * 1e3:.1f} ms new {st.median(tb) * 1e3:.1f} ms new/base speed {st.median(ta) / st.median(tb):.3f} per-round median {st.median(rat):.3f} ({rat[0]:.3f}..{rat[-1]:.3f})"
)
