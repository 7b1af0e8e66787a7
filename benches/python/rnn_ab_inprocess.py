"""In-process A/B of the recurrent layers: a baseline copy of the package
imported as ``attnrs_base`` (see ab_inprocess.py for how to make one) against
the working tree's ``attnrs``, alternating in one process, 1 thread by default.

    ATTNRS_SIMD=avx2 .venv/bin/python benches/python/rnn_ab_inprocess.py /tmp/base \\
        [--rounds 10] [--threads 1] [--only rnn,lstm,gru]

Rows per mode (I128 H256 T128 B32, batch-first): ``fwd`` under no_grad,
``fwd+bwd`` (gradients of every parameter, x without grad, as PyTorch's
baseline), ``fwd+bwd+dx`` (x requires grad too); the closures are
rnn_vs_torch.py's. Each round times each side once per
row (the faster of 2 calls by process CPU time; on 1 thread that is the core
time actually used), sides alternating in order; reported: the medians and
the median and range of the per-round new/old ratios (< 1: new is faster).
"""

import argparse
import os
import statistics
import sys
import time

os.environ["ATTNRS_SPIN_US"] = "0"
ap = argparse.ArgumentParser()
ap.add_argument("base")
ap.add_argument("--rounds", type=int, default=10)
ap.add_argument("--threads", type=int, default=1)
ap.add_argument("--only", default="rnn,lstm,gru")
args = ap.parse_args()
sys.path.insert(0, args.base)
import attnrs_base as A  # noqa: E402
from rnn_vs_torch import _attnrs_cases  # noqa: E402

import attnrs as B  # noqa: E402


def cases(ar):
    ar.set_num_threads(args.threads)
    return dict(_attnrs_cases(args.only.split(","), ar))


def cpu_ms(fn):
    best = float("inf")
    for _ in range(2):
        c = time.process_time() if args.threads == 1 else time.perf_counter()
        fn()
        e = time.process_time() if args.threads == 1 else time.perf_counter()
        best = min(best, e - c)
    return best * 1e3


wa, wb = cases(A), cases(B)
print(f"isa old {A.info()['isa']} new {B.info()['isa']}, {args.threads} thread(s), "
      f"{args.rounds} rounds", flush=True)
for name in wa:
    wa[name]()
    wb[name]()
    ta, tb = [], []
    for r in range(args.rounds):
        pair = [(wa, ta), (wb, tb)] if r % 2 == 0 else [(wb, tb), (wa, ta)]
        for w, acc in pair:
            acc.append(cpu_ms(w[name]))
    rs = sorted(b / a for a, b in zip(ta, tb))
    print(
        f"{name:14s} old {statistics.median(ta):8.2f}  new {statistics.median(tb):8.2f} ms  "
        f"new/old {statistics.median(rs):.3f} ({rs[0]:.3f}..{rs[-1]:.3f})",
        flush=True,
    )
