"""How a GPT training step's time depends on what ran just before it: attnrs
and PyTorch steps (nanoGPT CPU config, `attnrs.bench.training`) in one
process — each alone back to back, then attnrs's steps by position after a
block of 4 PyTorch steps and PyTorch's after attnrs's. This is why
`bench/_timing.py` runs each side's calls back to back in a round (after
one untimed call) rather than alternating single calls.

    ATTNRS_SIMD=avx2 ATEN_CPU_CAPABILITY=avx2 ONEDNN_MAX_CPU_ISA=AVX2 MKL_ENABLE_INSTRUCTIONS=AVX2 \\
        PYTHONPATH=python /work/torchenv/bin/python benches/python/interleave_probe.py
"""

import statistics
import time

from attnrs.bench import training as T
from attnrs.bench._timing import median_s


def median_ms(fn, n=20):
    return round(1e3 * median_s(fn, n, warmup=3), 2)


_, step = T._attnrs_step()
_, tstep = T._torch_step()
print("attnrs alone", median_ms(step), "ms; torch alone", median_ms(tstep), "ms")
pos, tpos = [[] for _ in range(8)], [[] for _ in range(4)]
for _ in range(8):
    for i in range(4):
        t = time.perf_counter()
        tstep()
        tpos[i].append(time.perf_counter() - t)
    for i in range(8):
        t = time.perf_counter()
        step()
        pos[i].append(time.perf_counter() - t)
print("attnrs by position after 4 torch steps:", [round(statistics.median(p) * 1e3, 2) for p in pos])
print("torch by position after 8 attnrs steps:", [round(statistics.median(p) * 1e3, 2) for p in tpos])
