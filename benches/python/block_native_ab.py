"""GPT training step (nanoGPT CPU config) with `TransformerBlock`'s one-call native block
(`attnrs.nn.transformer._NATIVE = True`) against the per-op `_Block` path, same build, one
process, alternating rounds; CPU time per step at 1 thread (T=2: wall time at 2 threads).

    [T=2] [ATTNRS_SIMD=avx2] .venv/bin/python benches/python/block_native_ab.py ROUNDS STEPS
"""
import os, sys, statistics, time
import attnrs as ar
from attnrs.nn import transformer as TR
from attnrs.bench.training import _attnrs_step
ar.set_num_threads(int(os.environ.get("T", "1")))
clock = time.process_time if os.environ.get("T", "1") == "1" else time.perf_counter
_, step = _attnrs_step()
for _ in range(5): step()
rounds, steps = int(sys.argv[1]), int(sys.argv[2])
res = {True: [], False: []}
for r in range(rounds):
    for nat in ((True, False) if r % 2 == 0 else (False, True)):
        TR._NATIVE = nat
        step()
        t0 = clock()
        for _ in range(steps): step()
        res[nat].append(1e3 * (clock() - t0) / steps)
a, b = statistics.median(res[False]), statistics.median(res[True])
ratios = sorted(x / y for x, y in zip(res[True], res[False])); q = len(ratios) // 4
print(f"per-op {a:.2f} ms  native {b:.2f} ms  native/per-op {statistics.median(ratios):.3f} IQR {ratios[q]:.3f}..{ratios[-q-1]:.3f}  saving {a-b:.2f} ms/step")
