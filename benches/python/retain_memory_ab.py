"""A user's own GPT training loop (no Trainer, no retain_freed_memory call) on the
nanoGPT CPU config: per-step user/sys CPU ms, minor page faults and wall ms over 40
steps, as one JSON line. Run it alternately with and without the opt-out:

    for i in 1 2 3 4 5 6; do
      ATTNRS_NUM_THREADS=1 ATTNRS_RETAIN_FREED_MEMORY=0 .venv/bin/python benches/python/retain_memory_ab.py
      ATTNRS_NUM_THREADS=1 .venv/bin/python benches/python/retain_memory_ab.py
    done
"""

import json
import os
import resource
import time

import numpy as np

import attnrs as ar
from attnrs.models import GPT, GPTConfig
from attnrs.nn.utils import clip_grad_norm_

STEPS, WARMUP = 40, 5

ar.manual_seed(0)
model = GPT(GPTConfig(vocab_size=65, block_size=64, n_layer=4, n_head=4, n_embd=128))
params = list(model.parameters())
opt = ar.optim.AdamW(params, lr=1e-3, betas=(0.9, 0.99))
rng = np.random.default_rng(1)
batches = [rng.integers(0, 65, size=(12, 65)) for _ in range(8)]


def step(i: int) -> None:
    b = batches[i % len(batches)]
    _, loss = model(b[:, :-1], targets=b[:, 1:])
    opt.zero_grad()
    loss.backward()
    clip_grad_norm_(params, 1.0)
    opt.step()


for i in range(WARMUP):
    step(i)
r0, w0 = resource.getrusage(resource.RUSAGE_SELF), time.perf_counter()
for i in range(STEPS):
    step(i)
r1, w1 = resource.getrusage(resource.RUSAGE_SELF), time.perf_counter()
print(json.dumps({
    "retain_freed_memory": os.environ.get("ATTNRS_RETAIN_FREED_MEMORY", "default"),
    "user_ms_per_step": round(1e3 * (r1.ru_utime - r0.ru_utime) / STEPS, 2),
    "sys_ms_per_step": round(1e3 * (r1.ru_stime - r0.ru_stime) / STEPS, 3),
    "minflt_per_step": (r1.ru_minflt - r0.ru_minflt) / STEPS,
    "wall_ms_per_step": round(1e3 * (w1 - w0) / STEPS, 2),
}))  # fmt: skip
