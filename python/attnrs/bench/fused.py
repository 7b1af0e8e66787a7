"""Fused layer kernels vs the equivalent NumPy expressions.

Shapes follow issue 3: softmax, layernorm and cross-entropy on 4096×1024
float32 (forward + backward), AdamW over 10 M parameters. Each row reports
the median and best time, the effective bandwidth (the bytes the op must
read and write at least, divided by the best time) and the speed-up over
NumPy (median over median, and best over best: on a shared, loaded machine
the best time is the better estimate of what the kernel can do).

Run: ``python -m attnrs.bench.fused`` (``--quick`` for smaller shapes,
``--default-malloc`` to keep glibc's trimming, see ``steady_state_malloc``).
"""

from __future__ import annotations

import sys
import time
from typing import Any, Callable

import numpy as np

from attnrs.memory import retain_freed_memory

from .. import ops
from .._core import get_num_threads

__all__ = ["format_rows", "run", "steady_state_malloc"]


def _times_s(fn: Callable[[], Any], repeats: int) -> tuple[float, float]:
    """(median, best) of ``repeats`` timed calls after one warm-up call."""
    fn()  # warm-up (page faults, pool start)
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return float(np.median(times)), float(np.min(times))


def steady_state_malloc() -> bool:
    """Stop glibc from returning freed 16-40 MB blocks to the OS after every
    call, so repeated allocations reuse pages instead of page-faulting fresh
    zeroed memory — the steady state of a training loop. Applies to NumPy and
    attnrs alike; False if not glibc. See ``attnrs.memory``."""
    return retain_freed_memory()


def _softmax_numpy(x: np.ndarray, dy: np.ndarray) -> np.ndarray:
    e = np.exp(x - x.max(axis=-1, keepdims=True))
    y = e / e.sum(axis=-1, keepdims=True)
    return y * (dy - (dy * y).sum(axis=-1, keepdims=True))


def _softmax_attnrs(x: np.ndarray, dy: np.ndarray) -> np.ndarray:
    y = ops.softmax(x)
    return ops.softmax_backward(y, dy)


def _layer_norm_numpy(x, dy, w, b, eps=1e-5):
    mu = x.mean(axis=-1, keepdims=True)
    xc = x - mu
    rstd = 1.0 / np.sqrt((xc * xc).mean(axis=-1, keepdims=True) + eps)
    xh = xc * rstd
    _y = xh * w + b
    g = dy * w
    dx = rstd * (g - g.mean(axis=-1, keepdims=True) - xh * (g * xh).mean(axis=-1, keepdims=True))
    return dx, (dy * xh).sum(axis=0), dy.sum(axis=0)


def _layer_norm_attnrs(x, dy, w, b):
    _y, mean, rstd = ops.layer_norm(x, w, b)
    return ops.layer_norm_backward(dy, x, w, mean, rstd)


def _cross_entropy_numpy(x, t):
    n = x.shape[0]
    m = x.max(axis=-1, keepdims=True)
    lse = m + np.log(np.exp(x - m).sum(axis=-1, keepdims=True))
    logp = x - lse
    loss = -logp[np.arange(n), t].mean()
    grad = np.exp(logp)
    grad[np.arange(n), t] -= 1.0
    grad /= n
    return loss, grad


def _adamw_numpy(p, g, m, v, step, lr=1e-3, b1=0.9, b2=0.999, eps=1e-8, wd=0.01):
    # In-place NumPy, the way a careful NumPy optimizer is written.
    p *= 1.0 - lr * wd
    tmp = np.subtract(g, m)
    tmp *= 1.0 - b1
    m += tmp
    v *= b2
    np.multiply(g, g, out=tmp)
    tmp *= 1.0 - b2
    v += tmp
    np.sqrt(v, out=tmp)
    tmp /= np.sqrt(1.0 - b2**step)
    tmp += eps
    np.divide(m, tmp, out=tmp)
    tmp *= lr / (1.0 - b1**step)
    p -= tmp


def _adamw_attnrs(p, g, m, v, step):
    ops.adamw_step(p, g, m, v, lr=1e-3, beta1=0.9, beta2=0.999, eps=1e-8, weight_decay=0.01, step=step)


def run(quick: bool = False, repeats: int = 7, tune_malloc: bool = True) -> list[dict[str, Any]]:
    """Benchmark rows: op, shape, median and best ms of attnrs and NumPy,
    GB/s at the best time, and the speed-ups (median/median, best/best).
    ``tune_malloc`` applies ``steady_state_malloc()`` first (process-wide)."""
    tuned = steady_state_malloc() if tune_malloc else False
    rng = np.random.default_rng(0)
    rows, n = (512, 1024) if quick else (4096, 1024)
    nparams = 1_000_000 if quick else 10_000_000
    x = rng.standard_normal((rows, n), dtype=np.float32)
    dy = rng.standard_normal((rows, n), dtype=np.float32)
    w = rng.standard_normal(n, dtype=np.float32)
    b = rng.standard_normal(n, dtype=np.float32)
    t = rng.integers(0, n, rows)
    mat = x.nbytes
    out: list[dict[str, Any]] = []

    def row(op: str, shape: str, nbytes: int, ours: Callable[[], Any], theirs: Callable[[], Any], reps: int):
        a, a_best = _times_s(ours, reps)
        b_, b_best = _times_s(theirs, reps)
        out.append({
            "op": op, "shape": shape, "attnrs_ms": a * 1e3, "numpy_ms": b_ * 1e3,
            "attnrs_best_ms": a_best * 1e3, "numpy_best_ms": b_best * 1e3,
            "attnrs_gbs": nbytes / a_best / 1e9, "numpy_gbs": nbytes / b_best / 1e9,
            "speedup": b_ / a, "speedup_best": b_best / a_best, "malloc_tuned": tuned,
        })  # fmt: skip

    shape = f"{rows}x{n}"
    # softmax fwd: read x, write y; bwd: read y, dy, write dx.
    row("softmax fwd+bwd", shape, 5 * mat, lambda: _softmax_attnrs(x, dy), lambda: _softmax_numpy(x, dy), repeats)
    row("softmax fwd", shape, 2 * mat, lambda: ops.softmax(x), lambda: _softmax_numpy_fwd(x), repeats)
    # layernorm fwd: read x, write y; bwd: read dy, x, write dx.
    row("layernorm fwd+bwd", shape, 5 * mat, lambda: _layer_norm_attnrs(x, dy, w, b),
        lambda: _layer_norm_numpy(x, dy, w, b), repeats)  # fmt: skip
    # cross-entropy fwd+bwd: read logits, write dlogits.
    row("cross-entropy fwd+bwd", shape, 2 * mat, lambda: ops.cross_entropy(x, t),
        lambda: _cross_entropy_numpy(x, t), repeats)  # fmt: skip
    p1 = rng.standard_normal(nparams, dtype=np.float32)
    g = rng.standard_normal(nparams, dtype=np.float32) * np.float32(1e-2)
    m1, v1 = np.zeros_like(p1), np.zeros_like(p1)
    p2, m2, v2 = p1.copy(), m1.copy(), v1.copy()
    # AdamW: read p, g, m, v; write p, m, v.
    row("adamw step", f"{nparams // 1_000_000}M", 7 * p1.nbytes, lambda: _adamw_attnrs(p1, g, m1, v1, 10),
        lambda: _adamw_numpy(p2, g, m2, v2, 10), max(3, repeats // 2))  # fmt: skip
    return out


def _softmax_numpy_fwd(x: np.ndarray) -> np.ndarray:
    e = np.exp(x - x.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def format_rows(rows: list[dict[str, Any]]) -> str:
    """A Markdown table of ``run()`` rows."""
    tuned = bool(rows and rows[0].get("malloc_tuned"))
    lines = [
        f"threads: {get_num_threads()}; glibc heap trimming {'off (steady state)' if tuned else 'default'}",
        "",
        ("| op | shape | attnrs ms median (best) | NumPy ms median (best) | attnrs GB/s | NumPy GB/s "
        "| speed-up median (best) |"),
        "|---|---|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        lines.append(
            f"| {r['op']} | {r['shape']} | {r['attnrs_ms']:.2f} ({r['attnrs_best_ms']:.2f}) | "
            f"{r['numpy_ms']:.2f} ({r['numpy_best_ms']:.2f}) | {r['attnrs_gbs']:.1f} | {r['numpy_gbs']:.1f} | "
            f"{r['speedup']:.1f}× ({r['speedup_best']:.1f}×) |"
        )
    return "\n".join(lines)


if __name__ == "__main__":
    print(format_rows(run(quick="--quick" in sys.argv, tune_malloc="--default-malloc" not in sys.argv)))
