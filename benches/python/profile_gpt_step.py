"""Where the time goes in one GPT training step (nanoGPT CPU configuration).

Wraps every autograd Function's forward (``apply``) and ``backward`` with a
timer and prints the per-class totals per step, then times the four phases of
a step (forward, backward, clipping, optimizer). A profiling aid, not a test.

    .venv/bin/python benches/python/profile_gpt_step.py
"""

from __future__ import annotations

import collections
import time

import numpy as np

import attnrs as ar
from attnrs import autograd
from attnrs.models import GPT, GPTConfig
from attnrs.nn.utils import clip_grad_norm_

FWD: collections.Counter = collections.Counter()
BWD: collections.Counter = collections.Counter()
CALLS: collections.Counter = collections.Counter()


def _all_functions(cls: type) -> list[type]:
    out, stack = [], [cls]
    while stack:
        c = stack.pop()
        for sub in c.__subclasses__():
            out.append(sub)
            stack.append(sub)
    return out


def _instrument() -> None:
    apply = autograd.Function.apply.__func__

    def timed_apply(cls, *args, **kwargs):
        t = time.perf_counter()
        out = apply(cls, *args, **kwargs)
        FWD[cls.__name__] += time.perf_counter() - t
        CALLS[cls.__name__] += 1
        return out

    autograd.Function.apply = classmethod(timed_apply)
    for fn in _all_functions(autograd.Function):
        def timed_backward(ctx, *grads, _bw=fn.backward, _name=fn.__name__):
            t = time.perf_counter()
            out = _bw(ctx, *grads)
            BWD[_name] += time.perf_counter() - t
            return out

        fn.backward = staticmethod(timed_backward)


def main(steps: int = 20) -> None:
    from attnrs.memory import retain_freed_memory

    retain_freed_memory()  # as the Trainer does
    ar.manual_seed(0)
    model = GPT(GPTConfig(vocab_size=65, block_size=64, n_layer=4, n_head=4, n_embd=128))
    params = list(model.parameters())
    opt = ar.optim.AdamW(params, lr=1e-3, betas=(0.9, 0.99))
    batch = np.random.default_rng(1).integers(0, 65, size=(12, 65))
    phases = collections.Counter()

    def step(record: bool) -> None:
        t0 = time.perf_counter()
        _, loss = model(batch[:, :-1], targets=batch[:, 1:])
        t1 = time.perf_counter()
        opt.zero_grad()
        loss.backward()
        t2 = time.perf_counter()
        clip_grad_norm_(params, 1.0)
        t3 = time.perf_counter()
        opt.step()
        t4 = time.perf_counter()
        if record:
            phases.update({"forward": t1 - t0, "backward": t2 - t1, "clip": t3 - t2, "optimizer": t4 - t3})

    for _ in range(3):
        step(False)
    for _ in range(steps):
        step(True)
    print("phase ms/step:", {k: round(v / steps * 1e3, 2) for k, v in phases.items()},
          "total", round(sum(phases.values()) / steps * 1e3, 2))  # fmt: skip

    _instrument()
    for _ in range(steps):
        _, loss = model(batch[:, :-1], targets=batch[:, 1:])
        loss.backward()
    print(f"{'Function':28s} {'calls':>6s} {'fwd ms':>8s} {'bwd ms':>8s}")
    for name, t in sorted(FWD.items(), key=lambda kv: -kv[1] - BWD[kv[0]]):
        print(f"{name:28s} {CALLS[name] / steps:6.0f} {t / steps * 1e3:8.2f} {BWD[name] / steps * 1e3:8.2f}")


if __name__ == "__main__":
    main()
