"""Square GEMM, attnrs.ops.matmul against np.matmul in ONE process: bursts of
calls alternate (attnrs, NumPy) for `rounds` rounds at 1 and at 2 threads;
per round the ratio of the fastest calls, then medians over rounds, and the
2-thread / 1-thread efficiency of each library in the same process. With
CPU=1 the 1-thread bursts time each call by the calling thread's CPU time
(both libraries run a 1-thread product on the calling thread), which a
preemption on a loaded machine does not inflate.

    ATTNRS_SIMD=avx2 OPENBLAS_CORETYPE=Haswell CPU=1 PYTHONPATH=python \
        /work/torchenv/bin/python benches/python/gemm_vs_numpy_inproc.py [rounds] [sizes...]
"""

import os
import statistics as st
import sys
import time

import numpy as np
from threadpoolctl import threadpool_limits

sys.path.insert(0, os.environ.get("AR_PATH", "python"))
import attnrs as ar

rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 7
sizes = [int(s) for s in sys.argv[2:]] or [64, 128, 256, 512, 1024, 2048]
rng = np.random.default_rng(0)
print("isa", ar.info()["isa"], "load", os.getloadavg())


def burst(fn, budget, clk=time.perf_counter):
    fn()
    ts = []
    t_end = time.perf_counter() + budget
    while True:
        t = clk()
        fn()
        d = clk() - t
        ts.append(d)
        if time.perf_counter() > t_end and len(ts) >= 3:
            break
    return min(ts), st.median(ts)


res = {}
for n in sizes:
    a = rng.standard_normal((n, n), dtype=np.float32)
    b = rng.standard_normal((n, n), dtype=np.float32)
    out = np.empty((n, n), np.float32)
    f = 2.0 * n**3
    budget = 0.15 if n <= 512 else 0.4
    for t in (1, 2):
        ar.set_num_threads(t)
        with threadpool_limits(t, user_api="blas"):
            rows = []
            for _ in range(rounds):
                time.sleep(0.12)
                clk = (
                    time.thread_time
                    if (t == 1 and os.environ.get("CPU") == "1")
                    else time.perf_counter
                )
                am, amed = burst(
                    lambda a=a, b=b, out=out: ar.ops.matmul(a, b, out=out), budget, clk
                )
                nm, nmed = burst(lambda a=a, b=b, out=out: np.matmul(a, b, out=out), budget, clk)
                rows.append((f / am / 1e9, f / nm / 1e9, nm / am, nmed / amed))
            ga = st.median(x[0] for x in rows)
            gn = st.median(x[1] for x in rows)
            rmin = st.median(x[2] for x in rows)
            rmed = st.median(x[3] for x in rows)
            res[(n, t)] = (ga, gn)
            print(
                f"{n:5d} {t}t  attnrs {ga:6.1f}  numpy {gn:6.1f}  ratio(best/burst) med {rmin:.3f} [{min(x[2] for x in rows):.2f}-{max(x[2] for x in rows):.2f}]  ratio(median/burst) {rmed:.3f}",
                flush=True,
            )
    ga1, gn1 = res[(n, 1)]
    ga2, gn2 = res[(n, 2)]
    print(f"      2t/1t efficiency: attnrs {ga2 / ga1:.2f}  numpy {gn2 / gn1:.2f}", flush=True)
