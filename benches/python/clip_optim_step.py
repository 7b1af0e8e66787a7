"""Median ms of ``clip_grad_norm_`` and ``AdamW.step`` on the gradients of the
nanoGPT CPU GPT (53 parameters, 0.8 M elements), gradients restored before
every repetition. For A/B runs of the optimizer and clipping kernels:

    .venv/bin/python benches/python/clip_optim_step.py
"""

from __future__ import annotations

import json
import time

import numpy as np

import attnrs as ar
from attnrs.models import GPT, GPTConfig
from attnrs.nn.utils import clip_grad_norm_


def main(repeats: int = 300, warmup: int = 20) -> None:
    ar.manual_seed(0)
    model = GPT(GPTConfig(vocab_size=65, block_size=64, n_layer=4, n_head=4, n_embd=128))
    params = list(model.parameters())
    opt = ar.optim.AdamW(params, lr=1e-3, betas=(0.9, 0.99))
    batch = np.random.default_rng(1).integers(0, 65, size=(12, 65))
    _, loss = model(batch[:, :-1], targets=batch[:, 1:])
    loss.backward()
    saved = [p.grad._array.copy() for p in params]
    clip, step = [], []
    for r in range(repeats + warmup):
        for p, g in zip(params, saved):
            p.grad._array[...] = g
        t0 = time.perf_counter()
        clip_grad_norm_(params, 1.0)
        t1 = time.perf_counter()
        opt.step()
        t2 = time.perf_counter()
        if r >= warmup:
            clip.append(t1 - t0)
            step.append(t2 - t1)
    ms = {"clip_ms": float(np.median(clip)) * 1e3, "adamw_step_ms": float(np.median(step)) * 1e3}
    print(json.dumps({**ms, "params": len(params)}))


if __name__ == "__main__":
    main()
