"""The GPT training step (nanoGPT CPU config, `attnrs bench`'s training row)
against PyTorch eager in ONE process, the two steps alternating, so both see
the same machine phase. Per round: `reps` steps of each side, the fastest
by wall clock and the median by process CPU time (the latter survives a loaded machine
at 1 thread); prints each round's torch ÷ attnrs and the median.

    [ATTNRS_SIMD=avx2 ATEN_CPU_CAPABILITY=avx2 ONEDNN_MAX_CPU_ISA=AVX2 MKL_ENABLE_INSTRUCTIONS=AVX2] \\
        PYTHONPATH=python /work/torchenv/bin/python benches/python/gpt_vs_torch.py [rounds] [threads] [reps]
"""

import os
import statistics
import sys

rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 10
threads = int(sys.argv[2]) if len(sys.argv) > 2 else 1
reps = int(sys.argv[3]) if len(sys.argv) > 3 else 3
os.environ["ATTNRS_NUM_THREADS"] = str(threads)

import torch  # noqa: E402

import attnrs  # noqa: E402
from attnrs.bench.conv1d import _median_ms  # noqa: E402
from attnrs.bench.training import _attnrs_step, _torch_step  # noqa: E402

torch.set_num_threads(threads)
attnrs.set_num_threads(threads)
sides = {"attnrs": _attnrs_step()[1], "torch": _torch_step()[1]}
for f in sides.values():
    f()
    f()


def best(f):
    _, wall, cpu = _median_ms(f, reps, warmup=0)  # fastest wall, median CPU time
    return wall, cpu


res = {k: [] for k in sides}
for r in range(rounds):
    order = list(sides) if r % 2 == 0 else list(sides)[::-1]
    for k in order:
        res[k].append(best(sides[k]))
    (aw, ac), (tw, tc) = res["attnrs"][-1], res["torch"][-1]
    print(f"round {r}: attnrs {aw:.2f} ms (cpu {ac:.2f}), torch {tw:.2f} ms (cpu {tc:.2f}), "
          f"torch/attnrs wall {tw / aw:.3f} cpu {tc / ac:.3f}", flush=True)
rw = [t[0] / a[0] for a, t in zip(res["attnrs"], res["torch"])]
rc = [t[1] / a[1] for a, t in zip(res["attnrs"], res["torch"])]
print(f"{threads} thread(s), attnrs isa={attnrs.info()['isa']} torch={torch.backends.cpu.get_cpu_capability()}: "
      f"torch/attnrs median wall {statistics.median(rw):.3f} ({min(rw):.3f}..{max(rw):.3f}), "
      f"cpu {statistics.median(rc):.3f} ({min(rc):.3f}..{max(rc):.3f})")
