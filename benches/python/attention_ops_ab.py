"""In-process A/B of ``ops.attention_forward`` / ``ops.attention_backward`` at 1 thread by process
CPU time (session 6, helper attn): a base copy imported as ``attnrs_base`` (BASE, default
/work/s6cur) against this tree, alternating order each round; contiguous (B, H, T, D) float32.
Checks bitwise equality of outputs and gradients, then prints per-call medians and the median
[IQR] of per-round new/base ratios.

    ATTNRS_SIMD=avx2 .venv/bin/python benches/python/attention_ops_ab.py ROUNDS [gpt c96 c128 mha c512 n512 c1024 n1024]
"""
import os, sys, time, statistics
os.environ["ATTNRS_SPIN_US"] = "0"
sys.path.insert(0, os.environ.get("BASE", "/work/s6cur"))
import attnrs_base as A
import numpy as np
import attnrs as N
A.set_num_threads(1); N.set_num_threads(1)
SH = {"gpt": ((12,4,64,32), True, 20), "c512": ((4,8,512,64), True, 1), "n512": ((4,8,512,64), False, 1),
      "c1024": ((4,8,1024,64), True, 1), "n1024": ((4,8,1024,64), False, 1), "mha": ((8,8,256,64), False, 2),
      "c128": ((6,4,128,32), True, 5), "c96": ((5,3,96,32), True, 5)}
sel = sys.argv[2:] or ["gpt"]
rounds = int(sys.argv[1])
rng = np.random.default_rng(0)
fns = {}
for c in sel:
    sh, causal, reps = SH[c]
    q, k, v, g = (rng.standard_normal(sh).astype(np.float32) for _ in range(4))
    for tag, M in (("base", A), ("new", N)):
        o, lse = M.ops.attention_forward(q, k, v, causal=causal)
        def f(M=M, reps=reps, causal=causal, q=q, k=k, v=v):
            for _ in range(reps): M.ops.attention_forward(q, k, v, causal=causal)
        def b(M=M, reps=reps, causal=causal, o=o, lse=lse, q=q, k=k, v=v, g=g):
            for _ in range(reps): M.ops.attention_backward(q, k, v, o, lse, g, causal=causal)
        f(); b()
        fns[(c, tag, "f")] = f; fns[(c, tag, "b")] = b
    oa, la = A.ops.attention_forward(q, k, v, causal=causal); on, ln = N.ops.attention_forward(q, k, v, causal=causal)
    ga = A.ops.attention_backward(q, k, v, oa, la, g, causal=causal); gn = N.ops.attention_backward(q, k, v, on, ln, g, causal=causal)
    same = np.array_equal(oa, on) and all(np.array_equal(x, y) for x, y in zip(ga, gn))
    print(c, "bitwise same as base:", same, "max|dO|", float(np.abs(oa-on).max()), [float(np.abs(x-y).max()) for x,y in zip(ga,gn)])
res = {k: [] for k in fns}
for r in range(rounds):
    for c in sel:
        for fb in "fb":
            for tag in (("base", "new") if r % 2 == 0 else ("new", "base")):
                t = time.process_time(); fns[(c, tag, fb)](); res[(c, tag, fb)].append(time.process_time() - t)
for c in sel:
    reps = SH[c][2]
    for fb in "fb":
        a, n = res[(c, "base", fb)], res[(c, "new", fb)]
        rat = sorted(x / y for x, y in zip(n, a))
        print(f"{c} {fb}: base {statistics.median(a)/reps*1e6:.1f} us new {statistics.median(n)/reps*1e6:.1f} us  new/base {statistics.median(rat):.3f} [{rat[len(rat)//4]:.3f}-{rat[3*len(rat)//4]:.3f}]")
