"""In-process A/B of one Transformer block kernel call each way (`ops.transformer_block_forward`
+ `_backward`, nanoGPT CPU size: x (12, 64, 128), 4 heads, F 512, causal): a base copy of the
package imported as `attnrs_base` (see ab_inprocess.py) against this tree, alternating rounds,
ratio of medians; checks that both give bitwise-equal outputs and gradients. T=1: CPU time
(`process_time`), T=2: wall time.

    BASE=/work/s5mid [T=2] [ATTNRS_SIMD=avx2] .venv/bin/python benches/python/block_kernel_ab.py ROUNDS CALLS
"""
import os, sys, statistics, time
os.environ["ATTNRS_SPIN_US"] = "0"
sys.path.insert(0, os.environ.get("BASE", "/work/s5mid"))
import numpy as np
import attnrs_base as A
import attnrs as B
from attnrs_base.ops import block as OA
from attnrs.ops import block as OB

threads = int(os.environ.get("T", "1"))
A.set_num_threads(threads); B.set_num_threads(threads)
clock = time.process_time if threads == 1 else time.perf_counter
rng = np.random.default_rng(0)
b, t, c, h, f = 12, 64, 128, 4, 512
def r(*s, k=0.1):
    return (k * rng.standard_normal(s)).astype(np.float32)
params = (1 + r(c), r(c), r(3 * c, c), r(3 * c), r(c, c), r(c), 1 + r(c), r(c), r(f, c), r(f), r(c, f), r(c))
weights = tuple(params[i] for i in (0, 2, 4, 6, 8, 10))
x, dy = r(b, t, c, k=1.0), r(b, t, c, k=1.0)
kw = dict(eps1=1e-5, eps2=1e-5, heads=h, causal=True)

def make(ops):
    def run():
        y, saved = ops.transformer_block_forward(x, params, **kw)
        return (y, *ops.transformer_block_backward(x, weights, saved, dy, (True,) * 8, **kw))
    return run

ra, rb = make(OA), make(OB)
outa, outb = ra(), rb()
same = all((p is None and q is None) or np.array_equal(p, q) for p, q in zip(outa, outb))
rounds, calls = int(sys.argv[1]), int(sys.argv[2])
ta, tb = [], []
for i in range(rounds):
    for f_, acc in ((ra, ta), (rb, tb)) if i % 2 == 0 else ((rb, tb), (ra, ta)):
        f_()
        t0 = clock()
        for _ in range(calls): f_()
        acc.append(1e6 * (clock() - t0) / calls)
ratios = sorted(q / p for p, q in zip(ta, tb)); k = len(ratios) // 4
print(f"threads {threads} {clock.__name__}: base {statistics.median(ta):.0f} us  branch {statistics.median(tb):.0f} us  "
      f"branch/base {statistics.median(ratios):.3f} IQR {ratios[k]:.3f}..{ratios[-k-1]:.3f}  outputs bitwise equal: {same}")
