"""In-process A/B of the attention kernel (session 4, helper mha): a base copy
of the package imported as ``attnrs_base`` against the working tree's
``attnrs``, alternating in one process; fused self-attention forward and
backward (``FusedSelfAttention``) on three shapes:

- gpt:  B=12 T=64 H=4 D=32 causal (the nanoGPT CPU config's attention, 20 calls per sample)
- mha:  B=8 T=256 H=8 D=64 (MultiheadAttention(512, 8) on (8, 256, 512))
- c512: B=2 T=512 H=8 D=64 causal

    ATTNRS_SIMD=avx2 .venv/bin/python benches/python/attention_ab.py /work/s4base 15 [gpt mha c512]

Prints medians and the median [IQR] of per-round new/base ratios. ``NT`` sets the threads;
``CPU=1`` times by the calling thread's CPU time (at 1 thread the work runs on it) instead of wall time.
"""

import os
import statistics
import sys
import time

os.environ["ATTNRS_SPIN_US"] = "0"
sys.path.insert(0, sys.argv[1])
import attnrs_base as A  # noqa: E402
import numpy as np  # noqa: E402
from attnrs_base.functional.attention import FusedSelfAttention as FA  # noqa: E402

import attnrs as Bm  # noqa: E402
from attnrs.functional.attention import FusedSelfAttention as FB  # noqa: E402

nt = int(os.environ.get("NT", "1"))
clock = time.thread_time if os.environ.get("CPU") == "1" else time.perf_counter
A.set_num_threads(nt)
Bm.set_num_threads(nt)


class Ctx:
    def save(self, *a):
        self.saved = a


def mk(F, shape, causal, reps):
    b, t, h, d = shape
    e = h * d
    rng = np.random.default_rng(0)
    qkv = rng.standard_normal((b, t, 3 * e)).astype(np.float32)
    g = rng.standard_normal((b, t, e)).astype(np.float32)
    ctx = Ctx()

    def fwd():
        for _ in range(reps):
            F.forward(ctx, qkv, h, causal=causal, key_padding_mask=None, attn_mask=None, scale=None)

    def bwd():
        for _ in range(reps):
            F.backward(ctx, g)

    return fwd, bwd


def quant(r, x):
    return r[int(x * (len(r) - 1))]


CASES = {
    "gpt": ((12, 64, 4, 32), True, 20),
    "mha": ((8, 256, 8, 64), False, 1),
    "c512": ((2, 512, 8, 64), True, 1),
}
sel = sys.argv[3:] or list(CASES)
rounds = int(sys.argv[2]) if len(sys.argv) > 2 else 15
fns = {}
for c in sel:
    sh, ca, reps = CASES[c]
    for tag, F in (("base", FA), ("new", FB)):
        f, b = mk(F, sh, ca, reps)
        f()
        b()
        fns[(c, tag, "f")], fns[(c, tag, "b")] = f, b
res = {k: [] for k in fns}
for rnd in range(rounds):
    for c in sel:
        for w in ("f", "b"):
            # The order alternates per round: whichever runs first pays for
            # what the other's previous call left (allocator, caches).
            for tag in ("base", "new") if rnd % 2 == 0 else ("new", "base"):
                if w == "b":
                    fns[(c, tag, "f")]()  # the backward reads this forward's saved state
                t0 = clock()
                fns[(c, tag, w)]()
                res[(c, tag, w)].append(clock() - t0)
for c in sel:
    for w in ("f", "b"):
        r = sorted(n / b for n, b in zip(res[(c, "new", w)], res[(c, "base", w)]))
        mb, mn = (statistics.median(res[(c, t, w)]) * 1e3 for t in ("base", "new"))
        print(
            f"{c} {'fwd' if w == 'f' else 'bwd'}: base {mb:.2f} ms new {mn:.2f} ms  "
            f"new/base {quant(r, 0.5):.3f} [{quant(r, 0.25):.3f}-{quant(r, 0.75):.3f}]"
        )
