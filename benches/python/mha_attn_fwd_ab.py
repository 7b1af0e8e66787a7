"""In-process A/B of the attention forward alone on the MultiheadAttention(512, 8) shape:
q, k, v strided heads of one fused (8, 256, 3, 8, 64) projection, output written as
(8, 256, 8, 64) (what ``FusedSelfAttention`` passes): the working tree's ``attnrs``
against a baseline copy imported as ``attnrs_base`` (see ab_inprocess.py),
alternating in one process; checks that both give the same bits first.

    [BASE=/work/s11base] ATTNRS_SIMD=avx2 ATTNRS_SPIN_US=0 .venv/bin/python benches/python/mha_attn_fwd_ab.py THREADS ROUNDS

1 thread is timed by process CPU time, 2 threads by wall time (run those under
``chrt -f 10``); best of 2 calls per round, median and quartiles of new/base per round.
"""

import os
import statistics as st
import sys
import time

import numpy as np

sys.path.insert(0, os.environ.get("BASE", "/work/s11base"))
sys.path.insert(0, "python")
import attnrs_base as base  # noqa: E402

import attnrs as new  # noqa: E402

threads, rounds = int(sys.argv[1]), int(sys.argv[2])
clock = time.process_time if threads == 1 else time.perf_counter
q5 = np.random.default_rng(0).standard_normal((8, 256, 3, 8, 64), np.float32)
qv, kv, vv = (q5[:, :, i].transpose(0, 2, 1, 3) for i in range(3))
outs, fns = [], []
for ar in (new, base):
    ar.set_num_threads(threads)
    ob = np.empty((8, 256, 8, 64), np.float32)
    lse = np.empty((8, 8, 256), np.float32)

    def f(core=ar._core, ob=ob, lse=lse):
        core.attention_forward(qv, kv, vv, ob.transpose(0, 2, 1, 3), lse, 0.125)

    f()
    outs.append(ob)
    fns.append(f)
print("same bits", np.array_equal(outs[0], outs[1]))
ts = ([], [])
for r in range(rounds):
    for i in (0, 1) if r % 2 == 0 else (1, 0):
        fns[i]()
        best = 1e9
        for _ in range(2):
            t0 = clock()
            fns[i]()
            best = min(best, clock() - t0)
        ts[i].append(best)
rs = sorted(a / b for a, b in zip(*ts))
q = len(rs) // 4
print(f"{threads}t new {st.median(ts[0]) * 1e3:.2f} ms, base {st.median(ts[1]) * 1e3:.2f} ms, "
      f"new/base {st.median(rs):.3f} [{rs[q]:.3f}-{rs[-q - 1]:.3f}]")  # fmt: skip
