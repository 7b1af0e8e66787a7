"""attnrs.ops.matmul against np.matmul on one machine that other processes
share: the two alternate call by call, many times, and the fastest call of
each is kept (the call that had a core to itself), on 1 thread each unless
``--threads N``. On an oversubscribed machine this is the stable comparison;
medians there measure the load.

    ATTNRS_SIMD=avx2 OPENBLAS_CORETYPE=Haswell .venv/bin/python benches/python/gemm_min_probe.py [--calls 300]
"""

import argparse
import time

import numpy as np
from threadpoolctl import threadpool_limits

import attnrs as ar

SHAPES = [(48, 64, 64, 64), (48, 128, 128, 64), (1, 64, 64, 64), (1, 128, 128, 128),
          (1, 256, 256, 256), (1, 512, 512, 512), (1, 1024, 1024, 1024)]  # fmt: skip

p = argparse.ArgumentParser()
p.add_argument("--threads", type=int, default=1)
p.add_argument("--calls", type=int, default=300)
args = p.parse_args()
ar.set_num_threads(args.threads)
rng = np.random.default_rng(0)
print(f"attnrs {ar.info()['isa']}, {args.threads} thread(s), fastest of {args.calls} alternating calls")
with threadpool_limits(args.threads):
    for bt, m, n, k in SHAPES:
        a = rng.standard_normal((bt, m, k), dtype=np.float32)
        b = rng.standard_normal((bt, k, n), dtype=np.float32)
        if bt == 1:
            a, b = a[0], b[0]
        out = np.empty((bt, m, n) if bt > 1 else (m, n), np.float32)
        calls = max(10, args.calls * 64**3 // (m * n * k) // bt) if bt * m * n * k > 2**24 else args.calls
        best_a = best_n = float("inf")
        for _ in range(calls):
            t = time.perf_counter()
            ar.ops.matmul(a, b, out=out)
            best_a = min(best_a, time.perf_counter() - t)
            t = time.perf_counter()
            np.matmul(a, b, out=out)
            best_n = min(best_n, time.perf_counter() - t)
        f = 2.0 * bt * m * n * k
        print(f"{bt:>3}x{m}x{n}x{k:<6} attnrs {f / best_a / 1e9:7.1f}  numpy {f / best_n / 1e9:7.1f} GFLOP/s"
              f"  ratio {best_n / best_a:5.2f}")
