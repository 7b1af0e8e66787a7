"""The GEMMs of a Linear layer (forward, dX, dW, db) through the calls
attnrs's Linear really makes, against PyTorch on the same layouts, in ONE
process. Shapes: the nanoGPT CPU config's Linears (768 rows) and
MultiheadAttention(512, 8) on (8, 256, 512) (2048 rows).

Per product, per round: the fastest of a burst of calls of each library
(alternating), then medians over rounds. At 1 thread each call is timed by
the calling thread's CPU time (both libraries run a 1-thread product on the
calling thread), which preemption on a loaded machine does not inflate; at
2 threads by wall time. The AVX2 microkernel's own rate on hot panels
(``_core.peak_gflops``) is printed as the ceiling.

attnrs products: fwd = ``ops.linear`` (x·Wᵀ + b in one GEMM), dX / dW / db =
``ops.linear_backward`` asked for that one gradient, bwd = all three (one
call, the three side by side). torch: ``F.linear``; ``dY @ W``;
``dY.t() @ x``; ``dY.sum(0)``; bwd = those three.

    ATTNRS_SIMD=avx2 ATEN_CPU_CAPABILITY=avx2 ONEDNN_MAX_CPU_ISA=AVX2 \
    MKL_ENABLE_INSTRUCTIONS=AVX2 ATTNRS_SPIN_US=0 PYTHONPATH=python \
        /work/torchenv/bin/python benches/python/linear_vs_torch.py [rounds] [threads...]
"""

import os
import statistics as st
import sys
import time

import numpy as np
import torch
import torch.nn.functional as TF

sys.path.insert(0, os.environ.get("AR_PATH", "python"))
from _linear_shapes import SHAPES, fastest  # noqa: E402

import attnrs as ar  # noqa: E402
from attnrs import _core  # noqa: E402

rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 7
thread_counts = [int(s) for s in sys.argv[2:]] or [1, 2]
only = os.environ.get("ONLY")
if only:
    SHAPES = [s for s in SHAPES if only in s[0]]
print("attnrs", ar.info()["isa"], "| torch", torch.backends.cpu.get_cpu_capability(), "| load", os.getloadavg())



def products(rows, inp, out):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((rows, inp), dtype=np.float32)
    w = rng.standard_normal((out, inp), dtype=np.float32)
    b = rng.standard_normal(out, dtype=np.float32)
    dy = rng.standard_normal((rows, out), dtype=np.float32)
    tx, tw, tb, tdy = (torch.from_numpy(v) for v in (x, w, b, dy))
    lb = ar.ops.linear_backward
    mac = rows * inp * out
    return [  # (product, flops, attnrs call, torch call)
        ("fwd", 2 * mac, lambda: ar.ops.linear(x, w, b), lambda: TF.linear(tx, tw, tb)),
        ("dX", 2 * mac, lambda: lb(x, w, dy, need_weight=False, need_bias=False), lambda: tdy @ tw),
        ("dW", 2 * mac, lambda: lb(x, w, dy, need_input=False, need_bias=False), lambda: tdy.t() @ tx),
        ("db", rows * out, lambda: lb(x, w, dy, need_input=False, need_weight=False), lambda: tdy.sum(0)),
        ("bwd", 4 * mac + rows * out, lambda: lb(x, w, dy), lambda: (tdy @ tw, tdy.t() @ tx, tdy.sum(0))),
    ]


for nt in thread_counts:
    ar.set_num_threads(nt)
    torch.set_num_threads(nt)
    clk = time.thread_time if nt == 1 else time.perf_counter
    peak = float(_core.peak_gflops(nt, 0.2))
    print(f"\n== {nt} thread(s), {'thread CPU time' if nt == 1 else 'wall'}; microkernel peak {peak:.1f} GFLOP/s")
    print(f"{'shape':14} {'prod':4} {'attnrs_us':>9} {'torch_us':>9} {'ar_GF':>7} {'t_GF':>7} {'%peak':>6} {'t/ar':>6}")
    for name, rows, inp, out in SHAPES:
        for prod, fl, fa, ft in products(rows, inp, out):
            ra, rt, ratio = [], [], []
            for _ in range(rounds):
                a = fastest(fa, 0.05, clk)
                t = fastest(ft, 0.05, clk)
                ra.append(a)
                rt.append(t)
                ratio.append(t / a)
            a, t = st.median(ra), st.median(rt)
            print(
                f"{name:14} {prod:4} {a * 1e6:9.1f} {t * 1e6:9.1f} {fl / a / 1e9:7.1f} {fl / t / 1e9:7.1f}"
                f" {100 * fl / a / 1e9 / peak:6.1f} {st.median(ratio):6.3f}",
                flush=True,
            )
