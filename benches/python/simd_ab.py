"""Median CPU ms (process time, robust to a loaded machine) of the kernels
issue 12 moved onto simd::dispatch: attention (forward, forward+backward) and
Elman/LSTM/GRU (forward+backward), 1 thread. Interleave two builds with

    ATTNRS_SIMD=avx2 PYTHONPATH=python bash benches/ab_builds.sh OLD.so NEW.so 20 -- \
        .venv/bin/python benches/python/simd_ab.py
"""

import time

import numpy as np

import attnrs as ar

ar.set_num_threads(1)
rng = np.random.default_rng(0)
F = ar.nn.functional


def med(fn, reps):
    fn()
    ts = []
    for _ in range(reps):
        t = time.process_time()
        fn()
        ts.append(time.process_time() - t)
    return 1e3 * float(np.median(ts))


q, k, v = (rng.standard_normal((2, 4, 256, 64)).astype(np.float32) for _ in range(3))


def attn_fwd():
    with ar.no_grad():
        F.scaled_dot_product_attention(ar.tensor(q), ar.tensor(k), ar.tensor(v), is_causal=True)


def attn_fb():
    tq, tk, tv = (ar.tensor(a, requires_grad=True) for a in (q, k, v))
    F.scaled_dot_product_attention(tq, tk, tv, is_causal=True).sum().backward()


x = rng.standard_normal((8, 64, 64)).astype(np.float32)
rnns = {n: getattr(ar.nn, n)(64, 128, batch_first=True) for n in ("RNN", "LSTM", "GRU")}


def rnn_fb(m):
    def f():
        xt = ar.tensor(x, requires_grad=True)
        out = m(xt)[0]
        out.sum().backward()

    return f


rows = [("attn_fwd", attn_fwd, 80), ("attn_fwd_bwd", attn_fb, 25)]
rows += [(f"{n.lower()}_fwd_bwd", rnn_fb(m), 40) for n, m in rnns.items()]
print(ar.info()["isa"], " ".join(f"{name} {med(fn, r):.3f}" for name, fn, r in rows))
