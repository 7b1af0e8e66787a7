"""Where ``nn.MultiheadAttention(512, 8)`` fwd+bwd on x (8, 256, 512) spends its time
(self-attention, batch_first, need_weights=False: the ``attnrs bench --only attention``
row): every ``attnrs._core`` call of the layer is timed in place and summed per
function, and what is left is Python and NumPy glue (``y.sum()``, the ones gradient,
autograd).

    ATTNRS_SIMD=avx2 .venv/bin/python benches/python/mha_phases.py THREADS ROUNDS

1 thread is timed by process CPU time, 2 threads by wall time (run those under
``chrt -f 10``). Unlike session 7's probe (/work/notes/s7/mha_phases.py) this keeps
no call's arguments alive: holding them made every round allocate fresh pages
and read 7-8 ms slower "in situ" than the same calls replayed.
"""

import sys
import time

import numpy as np

import attnrs as ar
from attnrs import _core, nn


def main():
    threads, rounds = int(sys.argv[1]), int(sys.argv[2])
    clock = time.process_time if threads == 1 else time.perf_counter
    ar.set_num_threads(threads)
    ar.manual_seed(0)
    m = nn.MultiheadAttention(512, 8, batch_first=True)
    x = ar.tensor(np.random.default_rng(1).standard_normal((8, 256, 512)).astype(np.float32),
                  requires_grad=True)  # fmt: skip
    spent = {}

    def timed(name, f):
        def g(*a, **kw):
            t0 = clock()
            r = f(*a, **kw)
            spent[name] = spent.get(name, 0.0) + clock() - t0
            return r

        return g

    for name in dir(_core):
        f = getattr(_core, name)
        if not name.startswith("_") and callable(f):
            setattr(_core, name, timed(name, f))

    def fb():
        y, _ = m(x, x, x, need_weights=False)
        y.sum().backward()

    for _ in range(3):
        fb()
    rows = []
    for _ in range(rounds):
        spent.clear()
        t0 = clock()
        fb()
        rows.append((clock() - t0, dict(spent)))
    print(f"fwd+bwd median {np.median([r[0] for r in rows]) * 1e3:.2f} ms "
          f"({threads} threads, {rounds} rounds, {clock.__name__})")  # fmt: skip
    for name in sorted({k for _, d in rows for k in d}):
        print(f"  {name:24s} {np.median([d.get(name, 0.0) for _, d in rows]) * 1e3:7.2f} ms")
    rest = np.median([t - sum(d.values()) for t, d in rows])
    print(f"  outside _core (Python, NumPy) {rest * 1e3:.2f} ms")


if __name__ == "__main__":
    main()
