"""RNN, LSTM and GRU layers: forward and forward+backward against a NumPy
float32 reference (per-step vectorized, BLAS matmuls), and PyTorch where it
is installed.

Shape (issue 6): input 128, hidden 256, T = 128, B = 32, one layer,
batch-first. FLOPs count the GEMMs only: forward 2·B·T·G·H·(I + H), and
forward+backward 3× that (the convention of ``shared/bench/torch_baselines.py``).
"% of peak" is against ``_peak.peak_gflops(2)``, the GEMM microkernel's rate
on 2 cores at once, measured in the same process. attnrs runs on 2 threads; fwd+bwd computes the
gradients of every parameter from a random output gradient, x needing none — as the PyTorch row
here (``torch.autograd.grad(out, params, g)``) and ``torch_baselines.py`` do, so both sides
do the same work (before 2026-12-05 23:30 UTC attnrs also computed dL/dx, one B·T × G·H × I GEMM more).
``cpu1_*`` columns: the best process CPU time on ONE thread — a load-robust
estimate of the single-core cost when the machine is shared. PyTorch runs in alternating
rounds with attnrs (``_timing``); its speedup columns are medians of the per-round ratios.

Run: ``python -m attnrs.bench.rnn``.
"""

from __future__ import annotations

import time
from typing import Any, Callable

import numpy as np

import attnrs as ar

from ._peak import peak_gflops
from ._timing import median_s, versus

__all__ = ["run"]

SHAPE = {"batch": 32, "steps": 128, "input": 128, "hidden": 256}
GATES = {"rnn_tanh": 1, "lstm": 4, "gru": 3}


def _min_cpu_ms(fn: Callable[[], Any], repeats: int) -> float:
    """Best process CPU time of ``fn`` (robust to other processes on a loaded
    machine; meaningful on one thread, where CPU time ≈ the uncontended time)."""
    fn()
    best = float("inf")
    for _ in range(repeats):
        start = time.process_time()
        fn()
        best = min(best, time.process_time() - start)
    return best * 1e3


def _cpu1_ms(fwd: Callable[[], Any], fwdbwd: Callable[[], Any], repeats: int) -> tuple[float, float]:
    """``_min_cpu_ms`` of both on one attnrs thread. Process CPU time counts every
    thread, so it waits first for the other libraries' workers (OpenBLAS keeps
    spinning ~0.1 s after a NumPy product, and read 2× the LSTM's cost here)."""
    time.sleep(0.3)
    threads = ar.get_num_threads()
    ar.set_num_threads(1)
    try:
        return _min_cpu_ms(fwd, repeats), _min_cpu_ms(fwdbwd, repeats)
    finally:
        ar.set_num_threads(threads)


def _median_ms(fn: Callable[[], Any], repeats: int) -> float:
    return median_s(fn, repeats) * 1e3


# --- NumPy float32 reference: forward and BPTT ----------------------------------------------


def _sig(a: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-a))


def np_forward(mode: str, x: np.ndarray, w_ih, w_hh, b_ih, b_hh):
    """x (B, T, I) → out (B, T, H) and the per-step cache for ``np_backward``."""
    b, t, _ = x.shape
    h = np.zeros((b, w_hh.shape[1]), np.float32)
    c = np.zeros_like(h)
    gx = (x.reshape(b * t, -1) @ w_ih.T + b_ih).reshape(b, t, -1)
    out = np.empty((b, t, h.shape[1]), np.float32)
    cache = []
    for s in range(t):
        gh = h @ w_hh.T + b_hh
        if mode == "rnn_tanh":
            hn = np.tanh(gx[:, s] + gh)
            cache.append((h, hn))
        elif mode == "lstm":
            i, f, g, o = np.split(gx[:, s] + gh, 4, axis=1)
            i, f, g, o = _sig(i), _sig(f), np.tanh(g), _sig(o)
            cn = f * c + i * g
            tc = np.tanh(cn)
            hn = o * tc
            cache.append((h, c, i, f, g, o, tc))
            c = cn
        else:
            xr, xz, xn = np.split(gx[:, s], 3, axis=1)
            hr, hz, hh = np.split(gh, 3, axis=1)
            r, z = _sig(xr + hr), _sig(xz + hz)
            n = np.tanh(xn + r * hh)
            hn = (1 - z) * n + z * h
            cache.append((h, r, z, n, hh))
        h = hn
        out[:, s] = h
    return out, cache


def np_backward(mode: str, x: np.ndarray, w_ih, w_hh, cache, dout: np.ndarray):
    """BPTT: returns dx, dW_ih, dW_hh, db_ih, db_hh."""
    b, t, _ = x.shape
    hdim = w_hh.shape[1]
    gdim = w_hh.shape[0]
    dgx = np.empty((b, t, gdim), np.float32)
    dgh = np.empty((b, t, gdim), np.float32) if mode == "gru" else dgx
    hprev = np.empty((b, t, hdim), np.float32)
    dh = np.zeros((b, hdim), np.float32)
    dc = np.zeros_like(dh)
    for s in reversed(range(t)):
        dht = dh + dout[:, s]
        if mode == "rnn_tanh":
            hp, hn = cache[s]
            dg = dht * (1 - hn * hn)
            dgx[:, s] = dg
            dh = dg @ w_hh
        elif mode == "lstm":
            hp, cp, i, f, g, o, tc = cache[s]
            dct = dc + dht * o * (1 - tc * tc)
            dg = np.concatenate([dct * g * i * (1 - i), dct * cp * f * (1 - f),
                                 dct * i * (1 - g * g), dht * tc * o * (1 - o)], axis=1)  # fmt: skip
            dgx[:, s] = dg
            dc = dct * f
            dh = dg @ w_hh
        else:
            hp, r, z, n, hh = cache[s]
            dan = dht * (1 - z) * (1 - n * n)
            dar = dan * hh * r * (1 - r)
            daz = dht * (hp - n) * z * (1 - z)
            dgx[:, s] = np.concatenate([dar, daz, dan], axis=1)
            dgh[:, s] = np.concatenate([dar, daz, dan * r], axis=1)
            dh = dgh[:, s] @ w_hh + dht * z
        hprev[:, s] = hp
    gx2 = dgx.reshape(b * t, gdim)
    gh2 = dgh.reshape(b * t, gdim)
    dx = (gx2 @ w_ih).reshape(x.shape)
    return (
        dx,
        gx2.T @ x.reshape(b * t, -1),
        gh2.T @ hprev.reshape(b * t, hdim),
        gx2.sum(0),
        gh2.sum(0),
    )


# --- the benchmark -------------------------------------------------------------------------


def _attnrs_layer(mode: str):
    i, h = SHAPE["input"], SHAPE["hidden"]
    if mode == "rnn_tanh":
        return ar.nn.RNN(i, h, batch_first=True)
    cls = ar.nn.LSTM if mode == "lstm" else ar.nn.GRU
    return cls(i, h, batch_first=True)


def _torch_fns(mode: str, x: np.ndarray, g: np.ndarray) -> tuple[Callable[[], Any], Callable[[], Any]] | None:
    """PyTorch's layer forward and forward+backward on 2 threads, or None without torch."""
    try:
        import torch
    except ImportError:
        return None
    torch.set_num_threads(2)
    cls = {"rnn_tanh": torch.nn.RNN, "lstm": torch.nn.LSTM, "gru": torch.nn.GRU}[mode]
    m = cls(SHAPE["input"], SHAPE["hidden"], batch_first=True)
    xt, gt = torch.from_numpy(x), torch.from_numpy(g)
    params = list(m.parameters())

    def fwd():
        with torch.no_grad():
            m(xt)

    def fwdbwd():
        out, _ = m(xt)
        torch.autograd.grad(out, params, gt)

    return fwd, fwdbwd


def _versus(ours: Callable[[], Any], theirs: Callable[[], Any] | None, repeats: int) -> dict[str, float]:
    """Our median ms and, when ``theirs`` is given, its median ms and the median
    per-round speedup, the two timed in alternating rounds."""
    if theirs is None:
        return {"ms": _median_ms(ours, repeats)}
    o, t, s = versus(ours, theirs, repeats, per_round=2)
    return {"ms": 1e3 * o, "torch_ms": 1e3 * t, "speedup": s}


def _bench_one(mode: str, x: np.ndarray, g: np.ndarray, repeats: int) -> dict[str, Any]:
    b, t, i, h = SHAPE["batch"], SHAPE["steps"], SHAPE["input"], SHAPE["hidden"]
    ar.manual_seed(0)
    layer = _attnrs_layer(mode)
    flops = 2.0 * b * t * GATES[mode] * h * (i + h)

    def fwd():
        with ar.no_grad():
            layer(x)

    def fwdbwd():
        out, _ = layer(x)  # parameters only, like the torch row
        out.backward(g)

    w_ih, w_hh = layer.weight_ih_l0.numpy(), layer.weight_hh_l0.numpy()
    b_ih, b_hh = layer.bias_ih_l0.numpy(), layer.bias_hh_l0.numpy()

    def np_fwd():
        np_forward(mode, x, w_ih, w_hh, b_ih, b_hh)

    def np_fwdbwd():
        _, cache = np_forward(mode, x, w_ih, w_hh, b_ih, b_hh)
        np_backward(mode, x, w_ih, w_hh, cache, g)

    torch_fns = _torch_fns(mode, x, g)
    f = _versus(fwd, torch_fns and torch_fns[0], repeats)
    fb = _versus(fwdbwd, torch_fns and torch_fns[1], repeats)
    f_ms, fb_ms = f["ms"], fb["ms"]
    nf_ms, nfb_ms = (
        _median_ms(np_fwd, max(3, repeats // 3)),
        _median_ms(np_fwdbwd, max(3, repeats // 3)),
    )
    row = {
        "layer": {"rnn_tanh": "RNN(tanh)", "lstm": "LSTM", "gru": "GRU"}[mode],
        "fwd_ms": round(f_ms, 2),
        "fwd_gflops": round(flops / f_ms / 1e6, 1),
        "fwd_pct_peak": round(100 * flops / f_ms / 1e6 / peak_gflops(2), 1),
        "fwdbwd_ms": round(fb_ms, 2),
        "fwdbwd_gflops": round(3 * flops / fb_ms / 1e6, 1),
        "fwdbwd_pct_peak": round(100 * 3 * flops / fb_ms / 1e6 / peak_gflops(2), 1),
        "numpy_fwd_ms": round(nf_ms, 2),
        "numpy_fwdbwd_ms": round(nfb_ms, 2),
        "speedup_vs_numpy_fwdbwd": round(nfb_ms / fb_ms, 2),
    }
    f1, fb1 = _cpu1_ms(fwd, fwdbwd, repeats)
    row.update(
        {
            "cpu1_fwd_ms": round(f1, 2),
            "cpu1_fwdbwd_ms": round(fb1, 2),
            "cpu1_fwdbwd_gflops": round(3 * flops / fb1 / 1e6, 1),
        }
    )
    if torch_fns is not None:
        row.update({"torch_fwd_ms": round(f["torch_ms"], 2), "torch_fwdbwd_ms": round(fb["torch_ms"], 2),
                    "fwd_speedup_vs_torch": round(f["speedup"], 2),
                    "fwdbwd_speedup_vs_torch": round(fb["speedup"], 2)})  # fmt: skip
    return row


def run(quick: bool = False, tune_malloc: bool = True) -> list[dict[str, Any]]:
    """One row per layer: medians in ms, GFLOP/s and % of peak, NumPy ratios.

    ``tune_malloc`` applies ``bench.fused.steady_state_malloc()`` first
    (process-wide; repeated 4-16 MB buffers then reuse pages, as in training)."""
    if tune_malloc:
        from .fused import steady_state_malloc

        steady_state_malloc()
    repeats = 5 if quick else 9
    prev_threads = ar.get_num_threads()
    ar.set_num_threads(2)
    rng = np.random.default_rng(0)
    x = rng.standard_normal((SHAPE["batch"], SHAPE["steps"], SHAPE["input"])).astype(np.float32)
    g = rng.standard_normal((SHAPE["batch"], SHAPE["steps"], SHAPE["hidden"])).astype(np.float32)
    try:
        return [_bench_one(mode, x, g, repeats) for mode in GATES]
    finally:
        ar.set_num_threads(prev_threads)


def main() -> None:
    info = ar.info()
    print(f"RNN layers {SHAPE} ({info['isa']}, 2 threads; peak {peak_gflops(2):.0f} GFLOP/s)")
    for r in run():
        print("  " + ", ".join(f"{k}={v}" for k, v in r.items()))


if __name__ == "__main__":
    main()
