"""In-process A/B of ``nn.MultiheadAttention(512, 8)`` fwd+bwd on x (8, 256, 512)
(self-attention, batch_first, need_weights=False: the ``attnrs bench --only
attention`` row): a baseline copy of the package imported as ``attnrs_base``
(see ab_inprocess.py) against the working tree's ``attnrs``, alternating in
one process; checks that both give the same bits first.

    ATTNRS_SPIN_US=0 .venv/bin/python benches/python/mha_ab.py /work/s6mid THREADS ROUNDS [cpu|wall]

``cpu`` times each call by process CPU time (use with 1 thread), ``wall`` by
``perf_counter`` (run 2-thread probes under ``chrt -f 10``). Prints the medians and
new/base, and the forward alone the same way.
"""

import statistics
import sys
import time

import numpy as np


def case(ar, b=8, t=256, e=512, h=8):
    ar.manual_seed(0)
    m = ar.nn.MultiheadAttention(e, h, batch_first=True)
    x = ar.tensor(np.random.default_rng(1).standard_normal((b, t, e)).astype(np.float32), requires_grad=True)

    def fb():
        y, _ = m(x, x, x, need_weights=False)
        y.sum().backward()
        return y

    def fwd():
        with ar.no_grad():
            return m(x, x, x, need_weights=False)[0]

    return m, x, fb, fwd


def main():
    sys.path.insert(0, sys.argv[1])
    import attnrs as new
    import attnrs_base as base

    threads, rounds = int(sys.argv[2]), int(sys.argv[3])
    clock = time.process_time if (sys.argv[4] if len(sys.argv) > 4 else "cpu") == "cpu" else time.perf_counter
    for ar in (new, base):
        ar.set_num_threads(threads)
    cases = [case(ar) for ar in (new, base)]
    ys = [c[2]()._array for c in cases]
    grads = [[p.grad._array for p in c[0].parameters()] + [c[1].grad._array] for c in cases]
    same = np.array_equal(ys[0], ys[1]) and all(np.array_equal(a, b) for a, b in zip(*grads))
    print(f"same bits (y, every grad): {same}")
    for name, k in (("fwd+bwd", 2), ("fwd", 3)):
        times = ([], [])
        for _ in range(rounds):
            for i, c in enumerate(cases):
                t0 = clock()
                c[k]()
                times[i].append(clock() - t0)
        mn, mb = statistics.median(times[0]), statistics.median(times[1])
        print(f"{name}: new {mn * 1e3:.2f} ms, base {mb * 1e3:.2f} ms, new/base {mn / mb:.3f} "
              f"(threads {threads}, {rounds} rounds, {clock.__name__})")


if __name__ == "__main__":
    main()
