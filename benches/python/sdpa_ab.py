"""Causal SDPA B4 H8 T1024 D64 (issue 11's shape), forward and backward through
``ops.attention_forward`` / ``ops.attention_backward``: in-process A/B of a base copy of
the package imported as ``attnrs_base`` (made as in benches/python/ab_inprocess.py)
against the working tree's ``attnrs``, at 1 thread by the calling thread's CPU time
(the work runs on it), the order alternating per round; also checks that both builds
give bitwise equal outputs. From /work/torchenv it adds PyTorch's
``scaled_dot_product_attention`` (set torch's ISA variables for AVX2).

    ATTNRS_SIMD=avx2 .venv/bin/python benches/python/sdpa_ab.py BASE [ROUNDS] [T]
"""

import os
import statistics
import sys
import time

os.environ["ATTNRS_SPIN_US"] = "0"
sys.path.insert(0, sys.argv[1])
sys.path.insert(0, "python")
import attnrs_base as A  # noqa: E402
import numpy as np  # noqa: E402

import attnrs as B  # noqa: E402

rounds = int(sys.argv[2]) if len(sys.argv) > 2 else 11
t = int(sys.argv[3]) if len(sys.argv) > 3 else 1024
for m in (A, B):
    m.set_num_threads(1)
rng = np.random.default_rng(0)
q, k, v, g = (rng.standard_normal((4, 8, t, 64)).astype(np.float32) for _ in range(4))
o, lse = A.ops.attention_forward(q, k, v, causal=True)


def fns(m):
    return (lambda: m.ops.attention_forward(q, k, v, causal=True),
            lambda: m.ops.attention_backward(q, k, v, o, lse, g, causal=True))  # fmt: skip


work = {"base": fns(A), "new": fns(B)}
same = all(
    np.array_equal(x, y)
    for i in (0, 1)
    for x, y in zip(work["base"][i](), work["new"][i]())
)
print(f"outputs bitwise equal: {same}")
try:
    import torch

    torch.set_num_threads(1)
    tq, tk, tv = (torch.tensor(x, requires_grad=True) for x in (q, k, v))
    tg = torch.tensor(g)
    sdpa = torch.nn.functional.scaled_dot_product_attention

    def t_fwd():
        with torch.no_grad():
            sdpa(tq, tk, tv, is_causal=True)

    work["torch"] = (t_fwd, lambda: sdpa(tq, tk, tv, is_causal=True).backward(tg))
    print("torch", torch.__version__, torch.backends.cpu.get_cpu_capability())
except ImportError:
    pass
res = {(n, i): [] for n in work for i in (0, 1)}
for r in range(rounds):
    names = list(work) if r % 2 == 0 else list(work)[::-1]
    for i in (0, 1):
        for n in names:
            t0 = time.thread_time()
            work[n][i]()
            res[(n, i)].append(time.thread_time() - t0)


def quart(x):
    x = sorted(x)
    return [x[int(f * (len(x) - 1))] for f in (0.25, 0.5, 0.75)]


for i, w in ((0, "fwd"), (1, "bwd")):
    med = {n: statistics.median(res[(n, i)]) * 1e3 for n in work}
    lo, mid, hi = quart([a / b for a, b in zip(res[("new", i)], res[("base", i)])])
    line = f"T{t} {w}: " + " ".join(f"{n} {ms:.1f} ms" for n, ms in med.items())
    line += f"  new/base {mid:.3f} [{lo:.3f}-{hi:.3f}]"
    if "torch" in work:
        line += f"  torch/base {med['torch'] / med['base']:.2f} torch/new {med['torch'] / med['new']:.2f}"
    print(line)
