"""Attention benchmarks: the flash kernel forward and forward+backward at
B=4, H=8, D=64 over T, causal and not; MultiheadAttention(512, 8) on
(8, 256, 512); against a NumPy naive attention and, where installed,
PyTorch's ``scaled_dot_product_attention`` / ``nn.MultiheadAttention``.

Useful FLOPs: forward 4·B·H·Tq·Tk·D (two products), halved (exactly: the
visible fraction of the T×T matrix) when causal; forward+backward 3× the
forward (QKᵀ, PV; dV, dP, dQ, dK — the backward's recomputation of QKᵀ is
not counted). "% peak" is against ``_peak.peak_gflops(2)``: the GEMM
microkernel's rate on 2 cores at once, measured in the same process. Times are medians and
bests; GFLOP/s and % of peak use the best time. PyTorch runs in alternating rounds with
attnrs (``_timing``); its speedup columns are medians of the per-round ratios (> 1: attnrs
is faster).

Run: ``python -m attnrs.bench.attention``.
"""

from __future__ import annotations

import statistics
from typing import Any, Callable

import numpy as np

import attnrs as ar
from attnrs import nn

from ._peak import peak_gflops
from ._timing import interleaved_s, median_s, speedup

__all__ = ["run"]



def _timed(ours: Callable[[], Any], theirs: Callable[[], Any] | None, repeats: int) -> dict[str, float]:
    """Median and best seconds per call of ``ours`` and, when given, the median of
    ``theirs`` timed in alternating rounds with it and the median per-round speedup."""
    fns = [ours] if theirs is None else [ours, theirs]
    times = interleaved_s(fns, repeats, min_time=0.3, max_rounds=25, per_round=2)
    out = {"median": statistics.median(times[0]), "best": min(times[0])}
    if theirs is not None:
        out["theirs"] = statistics.median(times[1])
        out["speedup"] = speedup(times[0], times[1])
    return out


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
    tq = tk = tv = tg = sdpa = None
    if torch is not None:
        tq, tk, tv = (torch.from_numpy(a).requires_grad_() for a in (q, k, v))
        tg = torch.from_numpy(g)
        sdpa = torch.nn.functional.scaled_dot_product_attention

    def torch_fwd() -> None:
        with torch.no_grad():
            sdpa(tq, tk, tv, is_causal=causal)

    def fb() -> None:
        o, lse = ar.ops.attention_forward(q, k, v, causal=causal)
        ar.ops.attention_backward(q, k, v, o, lse, g, causal=causal)

    on_torch = torch is not None
    fwd = _timed(lambda: ar.ops.attention_forward(q, k, v, causal=causal), torch_fwd if on_torch else None, repeats)
    fwd_bwd = _timed(fb, (lambda: sdpa(tq, tk, tv, is_causal=causal).backward(tg)) if on_torch else None, repeats)
    row = {
        "bench": "sdpa", "shape": f"B={b} H={h} T={t} D={d}", "causal": causal,
        "fwd_ms": round(fwd["median"] * 1e3, 2), "fwd_best_ms": round(fwd["best"] * 1e3, 2),
        "fwd_bwd_ms": round(fwd_bwd["median"] * 1e3, 2), "fwd_bwd_best_ms": round(fwd_bwd["best"] * 1e3, 2),
        "fwd_gflops_best": round(fl / fwd["best"] / 1e9, 1),
        "fwd_pct_peak_best": round(100 * fl / fwd["best"] / 1e9 / peak_gflops(2), 1),
        "fwd_bwd_gflops_best": round(3 * fl / fwd_bwd["best"] / 1e9, 1),
        "fwd_bwd_pct_peak_best": round(100 * 3 * fl / fwd_bwd["best"] / 1e9 / peak_gflops(2), 1),
    }  # fmt: skip
    if t <= 1024:  # the naive version holds B·H·T² floats
        row["numpy_fwd_ms"] = round(median_s(lambda: _naive_forward(q, k, v, causal), 3) * 1e3, 2)
    row.update(_torch_columns(fwd, fwd_bwd))
    return row


def _torch_columns(fwd: dict[str, float], fwd_bwd: dict[str, float]) -> dict[str, float]:
    """PyTorch's medians and the speedups (its time over ours), where measured."""
    if "theirs" not in fwd:
        return {}
    return {"torch_fwd_ms": round(fwd["theirs"] * 1e3, 2), "torch_fwd_bwd_ms": round(fwd_bwd["theirs"] * 1e3, 2),
            "fwd_speedup_vs_torch": round(fwd["speedup"], 2),
            "fwd_bwd_speedup_vs_torch": round(fwd_bwd["speedup"], 2)}  # fmt: skip


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

    tm = tx = None
    if torch is not None:
        tm = torch.nn.MultiheadAttention(e, h, batch_first=True)
        tx = torch.from_numpy(x._array).requires_grad_()

    def torch_fwd() -> None:
        with torch.no_grad():
            tm(tx, tx, tx, need_weights=False)

    def torch_fb() -> None:
        tm(tx, tx, tx, need_weights=False)[0].sum().backward()

    on_torch = torch is not None
    f = _timed(fwd, torch_fwd if on_torch else None, repeats)
    f_b = _timed(fb, torch_fb if on_torch else None, repeats)
    row = {"bench": "mha", "shape": f"MultiheadAttention({e},{h}) on ({b},{t},{e})", "causal": False,
           "fwd_ms": round(f["median"] * 1e3, 2), "fwd_best_ms": round(f["best"] * 1e3, 2),
           "fwd_bwd_ms": round(f_b["median"] * 1e3, 2), "fwd_bwd_best_ms": round(f_b["best"] * 1e3, 2)}  # fmt: skip
    row.update(_torch_columns(f, f_b))
    return [row]


def run(ts: tuple[int, ...] = (128, 512, 1024, 2048), repeats: int = 5) -> list[dict[str, Any]]:
    """Rows ``{"bench", "shape", "causal", "fwd_ms", "fwd_bwd_ms", …}`` (see the module doc)."""
    torch = _torch()
    return _sdpa_rows(ts, repeats, torch) + _mha_rows(repeats, torch)


if __name__ == "__main__":
    for r in run():
        print(r)
