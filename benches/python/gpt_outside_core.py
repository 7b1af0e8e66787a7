"""Serial Python per GPT training step (nanoGPT CPU config): step CPU time minus the CPU time inside
`_core` calls (minimal wrappers, thread_time), median over rounds; run it at 1 thread.

    ATTNRS_NUM_THREADS=1 [ATTNRS_SIMD=avx2] PYTHONPATH=<package dir> .venv/bin/python \
        benches/python/gpt_outside_core.py ROUNDS STEPS
"""
import sys, time, statistics
from attnrs import _core
from attnrs.bench.training import _attnrs_step
inside = [0.0, 0]
clk = time.thread_time
def wrap(f):
    def g(*a, **k):
        t0 = clk(); r = f(*a, **k); inside[0] += clk() - t0; inside[1] += 1; return r
    return g
for n in dir(_core):
    f = getattr(_core, n)
    if callable(f) and not isinstance(f, type) and not n.startswith("_") and "num_threads" not in n:
        setattr(_core, n, wrap(f))
_, step = _attnrs_step()
for _ in range(5): step()
rounds, steps = int(sys.argv[1]), int(sys.argv[2])
outs, tots, calls = [], [], 0
for _ in range(rounds):
    inside[:] = [0.0, 0]
    t0 = clk()
    for _ in range(steps): step()
    tot = (clk() - t0) / steps * 1e3
    tots.append(tot); outs.append(tot - inside[0] / steps * 1e3); calls = inside[1] / steps
print(f"step {statistics.median(tots):.2f} ms CPU, outside _core {statistics.median(outs):.3f} ms (min {min(outs):.3f}), {calls:.0f} _core calls/step")
