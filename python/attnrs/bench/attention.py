"""Attention benchmarks: the flash kernel forward and forward+backward at
B=4, H=8, D=64 over T, causal and not; MultiheadAttention(512, 8) on
(8, 256, 512); against a NumPy naive attention and, where installed,
PyTorch's ``scaled_dot_product_attention`` / ``nn.MultiheadAttention``.

Useful FLOPs: forward 4·B·H·Tq·Tk·D (two products), halved (exactly: the
visible fraction of the T×T matrix) when causal; forward+backward 3× the
forward (QKᵀ, PV; dV, dP, dQ, dK — the backward's recomputation of QKᵀ is
not counted). "% peak" is against ``_peak.peak_gflops(2)``: the GEMM
microkernel's rate on 2 cores at once, measured in the same process. Times are medians and
bests; GFLOP/s and % of peak use the best time.

Run: ``python -m attnrs.bench.attention``.
"""

from __future__ import annotations

import statistics
import time
from typing import Any, Callable

import numpy as np

import attnrs as ar
from attnrs import nn

from ._peak import peak_gflops

__all__ = ["run"]



def _median_s(fn: Callable[[], Any], repeats: int, min_time: float = 0.3) -> float:
    return _times(fn, repeats, min_time)[0]


def _times(fn: Callable[[], Any], repeats: int, min_time: float = 0.3) -> tuple[float, float]:
    """(median, best) seconds per call."""
    fn()  # warm up
    times = []
    start = time.perf_counter()
    while len(times) < repeats or (time.perf_counter() - start < min_time and len(times) < 50):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times), min(times)


def _naive_forward(q: np.ndarray, k: np.ndarray, v: np.ndarray, causal: bool) -> np.ndarray:
    s = np.matmul(q, k.swapaxes(-1, -2)) * np.float32(1.0 / np.sqrt(q.shape[-1]))
    if causal:
        t = s.shape[-1]
        s = np.where(np.tril(np.ones((t, t), bool)), s, np.float32(-np.inf))
    s = np.exp(s - s.max(-1, keepdims=True))
    return np.matmul(s / s.sum(-1, keepdims=True), v)


def _torch() -> Any:
    try:
        import torch

        torch.set_num_threads(ar.get_num_threads())
        return torch
    except ImportError:
        return None


def _visible(t: int, causal: bool) -> float:
    return (t + 1) / (2 * t) if causal else 1.0


def _sdpa_case(arrays: tuple[np.ndarray, ...], causal: bool, repeats: int, torch: Any) -> dict[str, Any]:
    q, k, v, g = arrays
    b, h, t, d = q.shape
    fl = 4.0 * b * h * t * t * d * _visible(t, causal)
    fwd, fwd_best = _times(lambda: ar.ops.attention_forward(q, k, v, causal=causal), repeats)

    def fb() -> None:
        o, lse = ar.ops.attention_forward(q, k, v, causal=causal)
        ar.ops.attention_backward(q, k, v, o, lse, g, causal=causal)

    fwd_bwd, fb_best = _times(fb, repeats)
    row = {
        "bench": "sdpa", "shape": f"B={b} H={h} T={t} D={d}", "causal": causal,
        "fwd_ms": round(fwd * 1e3, 2), "fwd_best_ms": round(fwd_best * 1e3, 2),
        "fwd_bwd_ms": round(fwd_bwd * 1e3, 2), "fwd_bwd_best_ms": round(fb_best * 1e3, 2),
        "fwd_gflops_best": round(fl / fwd_best / 1e9, 1),
        "fwd_pct_peak_best": round(100 * fl / fwd_best / 1e9 / peak_gflops(2), 1),
        "fwd_bwd_gflops_best": round(3 * fl / fb_best / 1e9, 1),
        "fwd_bwd_pct_peak_best": round(100 * 3 * fl / fb_best / 1e9 / peak_gflops(2), 1),
    }  # fmt: skip
    if t <= 1024:  # the naive version holds B·H·T² floats
        row["numpy_fwd_ms"] = round(_median_s(lambda: _naive_forward(q, k, v, causal), 3) * 1e3, 2)
    if torch is not None:
        tq, tk, tv = (torch.from_numpy(a).requires_grad_() for a in (q, k, v))
        tg = torch.from_numpy(g)
        sdpa = torch.nn.functional.scaled_dot_product_attention
        with torch.no_grad():
            row["torch_fwd_ms"] = round(_median_s(lambda: sdpa(tq, tk, tv, is_causal=causal), repeats) * 1e3, 2)
        row["torch_fwd_bwd_ms"] = round(
            _median_s(lambda: sdpa(tq, tk, tv, is_causal=causal).backward(tg), repeats) * 1e3, 2
        )
    return row


def _sdpa_rows(ts: tuple[int, ...], repeats: int, torch: Any) -> list[dict[str, Any]]:
    rng = np.random.default_rng(0)
    b, h, d = 4, 8, 64
    rows = []
    for t in ts:
        arrays = tuple(rng.standard_normal((b, h, t, d)).astype(np.float32) for _ in range(4))
        rows += [_sdpa_case(arrays, causal, repeats, torch) for causal in (False, True)]
    return rows


def _mha_rows(repeats: int, torch: Any) -> list[dict[str, Any]]:
    b, t, e, h = 8, 256, 512, 8
    ar.manual_seed(0)
    m = nn.MultiheadAttention(e, h, batch_first=True)
    x = ar.tensor(np.random.default_rng(1).standard_normal((b, t, e)).astype(np.float32), requires_grad=True)

    def fwd() -> None:
        with ar.no_grad():
            m(x, x, x, need_weights=False)

    def fb() -> None:
        y, _ = m(x, x, x, need_weights=False)
        y.sum().backward()

    f_med, f_best = _times(fwd, repeats)
    fb_med, fb_best = _times(fb, repeats)
    row = {"bench": "mha", "shape": f"MultiheadAttention({e},{h}) on ({b},{t},{e})", "causal": False,
           "fwd_ms": round(f_med * 1e3, 2), "fwd_best_ms": round(f_best * 1e3, 2),
           "fwd_bwd_ms": round(fb_med * 1e3, 2), "fwd_bwd_best_ms": round(fb_best * 1e3, 2)}  # fmt: skip
    if torch is not None:
        tm = torch.nn.MultiheadAttention(e, h, batch_first=True)
        tx = torch.from_numpy(x._array).requires_grad_()
        with torch.no_grad():
            row["torch_fwd_ms"] = round(_median_s(lambda: tm(tx, tx, tx, need_weights=False), repeats) * 1e3, 2)
        row["torch_fwd_bwd_ms"] = round(
            _median_s(lambda: tm(tx, tx, tx, need_weights=False)[0].sum().backward(), repeats) * 1e3, 2
        )
    return [row]


def run(ts: tuple[int, ...] = (128, 512, 1024, 2048), repeats: int = 5) -> list[dict[str, Any]]:
    """Rows ``{"bench", "shape", "causal", "fwd_ms", "fwd_bwd_ms", …}`` (see the module doc)."""
    torch = _torch()
    return _sdpa_rows(ts, repeats, torch) + _mha_rows(repeats, torch)


if __name__ == "__main__":
    for r in run():
        print(r)
