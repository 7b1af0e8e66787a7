"""In-process A/B of the GPT training step (nanoGPT CPU config, AdamW): a base copy of the package
imported as `attnrs_base` (see ab_inprocess.py) against this tree, alternating rounds, CPU time
(`process_time`; CLOCK=wall for wall time), ratio of medians; then checks that both copies end
with bitwise-equal parameters (for changes that must not alter results).

    BASE=/work/s5base [T=1] [ATTNRS_SIMD=avx2] .venv/bin/python benches/python/gpt_train_ab_cpu.py ROUNDS STEPS
"""
import os, sys, statistics, time
os.environ["ATTNRS_SPIN_US"] = "0"
sys.path.insert(0, os.environ.get("BASE", "/work/s5base"))
import attnrs_base as A
import numpy as np
from attnrs_base.models import GPT as GA, GPTConfig as CA
from attnrs_base.nn.utils import clip_grad_norm_ as clipA
import attnrs as B
from attnrs.models import GPT as GB, GPTConfig as CB
from attnrs.nn.utils import clip_grad_norm_ as clipB
from ab_inprocess import gpt_train

make = gpt_train  # the GPT step of ab_inprocess.py, same seeds and batches

threads = int(os.environ.get("T", "1"))
A.set_num_threads(threads); B.set_num_threads(threads)
ta_, pa = make(A, GA, CA, clipA)
tb_, pb = make(B, GB, CB, clipB)
rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 20
steps = int(sys.argv[2]) if len(sys.argv) > 2 else 5
clock = time.process_time if os.environ.get("CLOCK", "cpu") == "cpu" else time.perf_counter
for f in (ta_, tb_):
    for _ in range(3): f()
ta, tb = [], []
for r in range(rounds):
    pair = [(ta_, ta), (tb_, tb)] if r % 2 == 0 else [(tb_, tb), (ta_, ta)]
    for f, acc in pair:
        t0 = clock()
        for _ in range(steps): f()
        acc.append(1e3 * (clock() - t0) / steps)
ratios = sorted(b / a for a, b in zip(ta, tb))
q = len(ratios) // 4
print(f"threads {threads} clock {clock.__name__}: base {statistics.median(ta):.2f} ms  branch {statistics.median(tb):.2f} ms  "
      f"branch/base {statistics.median(ratios):.3f} IQR {ratios[q]:.3f}..{ratios[-q-1]:.3f}  saving {statistics.median(ta)-statistics.median(tb):.2f} ms/step")
same = all(np.array_equal(x._array, y._array) for x, y in zip(pa, pb))
print("parameters bitwise equal after", 3 + rounds * steps, "steps:", same)
