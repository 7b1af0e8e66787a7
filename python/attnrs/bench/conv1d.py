"""Causal dilated Conv1d: the 10-layer stack of issue 5 and streaming steps.

Stack: 10 × ``Conv1d(64, 64, k=2, dilation=2**i)`` causal, no activation in
between, x = (8, 64, 4096) (the shapes of ``shared/bench/torch_baselines.py``).
"fwd" runs under ``no_grad``; "fwd+bwd" is the forward plus the gradients
of every weight and bias (x needs no gradient), as PyTorch's baseline.
GFLOP/s: fwd ``10·2·B·C²·K·T``, fwd+bwd three times that. ``cpu_ms`` is the
process CPU time (all threads): on a loaded machine, ``cpu_ms / threads`` is
a better estimate of the unloaded wall time than ``ms``. The NumPy anchor
runs the same math (one batched ``matmul`` per tap); PyTorch is measured
when installed.

Streaming: the same stack with B = 1, one ``stream_step`` per layer per
step, timed at several positions of the sequence (the cost must not grow);
the positions are measured in alternating windows, wall and CPU time.

``python -m attnrs.bench.conv1d [--quick] [--steady-malloc]`` prints the
table; ``--steady-malloc`` stops glibc from returning freed pages to the OS
between calls (page faults on fresh outputs otherwise cost a few percent).
"""

from __future__ import annotations

import statistics
import sys
import time
from typing import Any, Callable

import numpy as np

C, K, B, T, LAYERS = 64, 2, 8, 4096, 10
DILATIONS = [2**i for i in range(LAYERS)]
FWD_FLOP = LAYERS * 2.0 * B * C * C * K * T


def _median_ms(fn: Callable[[], Any], repeats: int, warmup: int = 1) -> tuple[float, float, float]:
    """(median, min) wall time and median process CPU time (all threads), in ms."""
    for _ in range(warmup):
        fn()
    times, cpu = [], []
    for _ in range(repeats):
        t0, c0 = time.perf_counter(), time.process_time()
        fn()
        times.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
    return 1e3 * statistics.median(times), 1e3 * min(times), 1e3 * statistics.median(cpu)


def _row(impl: str, pass_: str, ms: tuple[float, float, float], flop: float) -> dict:
    return {
        "bench": "conv1d stack",
        "impl": impl,
        "pass": pass_,
        "ms": ms[0],
        "min_ms": ms[1],
        "cpu_ms": ms[2],
        "gflops": flop / ms[0] / 1e6,
    }


# --- NumPy anchor: the same math, one batched matmul per tap -----------------------------


def _np_forward(x: np.ndarray, w: np.ndarray, b: np.ndarray, d: int) -> np.ndarray:
    t = x.shape[2]
    y = np.empty((x.shape[0], w.shape[0], t), np.float32)
    y[...] = b[None, :, None]
    for j in range(w.shape[2]):
        s = (w.shape[2] - 1 - j) * d
        if s < t:
            y[:, :, s:] += np.matmul(w[:, :, j], x[:, :, : t - s])
    return y


def _np_backward(
    x: np.ndarray, w: np.ndarray, dy: np.ndarray, d: int, need_x: bool
) -> tuple[np.ndarray | None, np.ndarray, np.ndarray]:
    t = x.shape[2]
    dx = np.zeros_like(x) if need_x else None
    dw = np.zeros_like(w)
    for j in range(w.shape[2]):
        s = (w.shape[2] - 1 - j) * d
        if s >= t:
            continue
        if dx is not None:
            dx[:, :, : t - s] += np.matmul(w[:, :, j].T, dy[:, :, s:])
        dw[:, :, j] = np.einsum("bot,bit->oi", dy[:, :, s:], x[:, :, : t - s], optimize=True)
    return dx, dw, dy.sum(axis=(0, 2))


def _numpy_rows(x: np.ndarray, g: np.ndarray, ws: list, bs: list, repeats: int) -> list[dict]:
    def fwd() -> list[np.ndarray]:
        acts = [x]
        for w, b, d in zip(ws, bs, DILATIONS):
            acts.append(_np_forward(acts[-1], w, b, d))
        return acts

    def fwd_bwd() -> None:
        acts = fwd()
        gy = g
        for i in reversed(range(LAYERS)):
            gy, _, _ = _np_backward(acts[i], ws[i], gy, DILATIONS[i], need_x=i > 0)

    return [
        _row("numpy", "fwd", _median_ms(fwd, repeats), FWD_FLOP),
        _row("numpy", "fwd+bwd", _median_ms(fwd_bwd, repeats), 3 * FWD_FLOP),
    ]


# --- attnrs ------------------------------------------------------------------------------


def _attnrs_rows(x: np.ndarray, g: np.ndarray, ws: list, bs: list, repeats: int) -> list[dict]:
    import attnrs as ar
    from attnrs import nn

    convs = [nn.Conv1d(C, C, K, dilation=d) for d in DILATIONS]
    for conv, w, b in zip(convs, ws, bs):
        conv.load_state_dict({"weight": w, "bias": b})
    xt = ar.tensor(x)

    def forward() -> Any:
        h = xt
        for conv in convs:
            h = conv(h)
        return h

    def fwd() -> None:
        with ar.no_grad():
            forward()

    def fwd_bwd() -> None:
        for conv in convs:
            conv.zero_grad()
        forward().backward(g)

    threads = ar.get_num_threads()
    rows = [
        _row("attnrs", "fwd", _median_ms(fwd, repeats), FWD_FLOP),
        _row("attnrs", "fwd+bwd", _median_ms(fwd_bwd, repeats), 3 * FWD_FLOP),
    ]
    for r in rows:
        r["threads"] = threads
    return rows


def _torch_rows(x: np.ndarray, g: np.ndarray, ws: list, bs: list, repeats: int) -> list[dict]:
    try:
        import torch
        import torch.nn.functional as tF
    except ImportError:
        return []
    convs = [torch.nn.Conv1d(C, C, K, dilation=d) for d in DILATIONS]
    with torch.no_grad():
        for conv, w, b in zip(convs, ws, bs):
            conv.weight.copy_(torch.from_numpy(w))
            conv.bias.copy_(torch.from_numpy(b))
    params = [p for c in convs for p in c.parameters()]
    xt, gt = torch.from_numpy(x), torch.from_numpy(g)

    def forward() -> Any:
        h = xt
        for conv, d in zip(convs, DILATIONS):
            h = conv(tF.pad(h, ((K - 1) * d, 0)))
        return h

    def fwd() -> None:
        with torch.no_grad():
            forward()

    def fwd_bwd() -> None:
        torch.autograd.grad(forward(), params, gt)

    rows = [
        _row("torch", "fwd", _median_ms(fwd, repeats), FWD_FLOP),
        _row("torch", "fwd+bwd", _median_ms(fwd_bwd, repeats), 3 * FWD_FLOP),
    ]
    for r in rows:
        r["threads"] = torch.get_num_threads()
    return rows


def _stream_rows(quick: bool) -> list[dict]:
    """Per-step cost of one stream advanced to each position, measured in
    alternating windows (so load changes hit every position alike)."""
    import attnrs as ar
    from attnrs import nn

    ar.manual_seed(0)
    convs = [nn.Conv1d(C, C, K, dilation=d) for d in DILATIONS]
    rng = np.random.default_rng(1)
    xs = rng.standard_normal((64, 1, C)).astype(np.float32)
    positions = [0, 1000, 4000] if quick else [0, 1000, 4000, 16000]
    window, rounds = (20, 5) if quick else (50, 9)

    def step(state: Any, i: int) -> None:
        h = xs[i % len(xs)]
        for conv in convs:
            h = conv.stream_step(h, state)._array

    states = []
    for target in positions:
        state = nn.StreamingState()
        for i in range(target):
            step(state, i)
        states.append(state)
    wall: list[list[float]] = [[] for _ in positions]
    cpu: list[list[float]] = [[] for _ in positions]
    for _ in range(rounds):
        for k, state in enumerate(states):
            pos = state.steps(convs[0])
            t0, c0 = time.perf_counter(), time.process_time()
            for i in range(window):
                step(state, pos + i)
            wall[k].append(1e6 * (time.perf_counter() - t0) / window)
            cpu[k].append(1e6 * (time.process_time() - c0) / window)
    return [
        {
            "bench": "conv1d stream",
            "impl": "attnrs",
            "pass": f"step near t={target}",
            "us_per_step": statistics.median(wall[k]),
            "cpu_us_per_step": statistics.median(cpu[k]),
            "us_per_layer": statistics.median(wall[k]) / LAYERS,
        }
        for k, target in enumerate(positions)
    ]


def run(quick: bool = False) -> list[dict]:
    """Stack timings (attnrs, NumPy, PyTorch if installed) and streaming cost per step."""
    rng = np.random.default_rng(0)
    bound = 1 / np.sqrt(C * K)
    ws = [rng.uniform(-bound, bound, (C, C, K)).astype(np.float32) for _ in DILATIONS]
    bs = [rng.uniform(-bound, bound, C).astype(np.float32) for _ in DILATIONS]
    x = rng.standard_normal((B, C, T)).astype(np.float32)
    g = rng.standard_normal((B, C, T)).astype(np.float32)
    repeats = 3 if quick else 9
    rows = _attnrs_rows(x, g, ws, bs, repeats)
    rows += _torch_rows(x, g, ws, bs, repeats)
    rows += _numpy_rows(x, g, ws, bs, 2 if quick else 3)
    rows += _stream_rows(quick)
    return rows


if __name__ == "__main__":
    from attnrs.bench import format_table

    if "--steady-malloc" in sys.argv:  # glibc keeps freed pages (see bench.fused)
        from attnrs.bench.fused import steady_state_malloc

        steady_state_malloc()
    print(format_table(run(quick="--quick" in sys.argv)))
