"""A Linear layer's dW = dYᵀ·x at the GPT block's shapes (nanoGPT CPU config, B·T rows), with dYᵀ
read in place (column-major A, as `linear::backward` passes it) against the same product with dYᵀ
copied to a contiguous row-major array first (the copy not timed). Both give the same bits; the
difference is what the GEMM's column-major A costs. T=1: process CPU time, T=2: wall time.

    [T=2] [ROWS=768] [ATTNRS_SIMD=avx2] .venv/bin/python benches/python/dw_layout_probe.py
"""
import os, sys, time
import numpy as np
from attnrs import _core
_core.set_num_threads(int(os.environ.get("T","1")))
clk = time.process_time if os.environ.get("T","1")=="1" else time.perf_counter
rng = np.random.default_rng(0)
rows = int(os.environ.get("ROWS","768"))
def r(*s): return rng.standard_normal(s).astype(np.float32)
def tm(fs, n=60, rounds=9):
    for f in fs: f()
    res=[[] for _ in fs]
    for _ in range(rounds):
        for i,f in enumerate(fs):
            t0 = clk()
            for _ in range(n): f()
            res[i].append((clk()-t0)/n*1e6)
    return [min(x) for x in res]
tot=[0,0]
for name, inp, out in [("qkv",128,384),("out",128,128),("fc1",128,512),("fc2",512,128)]:
    x, dy = r(rows, inp), r(rows, out)
    dyT = np.ascontiguousarray(dy.T)
    dw = np.empty((out, inp), np.float32); dw2 = np.empty((out, inp), np.float32)
    macs = rows*inp*out
    t1, t2 = tm([lambda: _core.gemm(dy.T, x, dw), lambda: _core.gemm(dyT, x, dw2)])
    tot[0]+=t1; tot[1]+=t2
    g = lambda t: 2*macs/t/1e3
    print(f"{name}: dY.T in place {t1:.0f}us {g(t1):.0f}GF | dYT contiguous {t2:.0f}us {g(t2):.0f}GF  same bits {np.array_equal(dw, dw2)}")
print(tot)
