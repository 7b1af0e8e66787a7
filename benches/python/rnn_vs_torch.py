"""RNN / LSTM / GRU (I=128, H=256, T=128, B=32) and the Conv1d stack: attnrs
against PyTorch, each side in its own process, processes interleaved
(attnrs, torch, attnrs, torch, ...), so neither library's thread pool
competes with the other's.

    PYTHONPATH=python /work/torchenv/bin/python benches/python/rnn_vs_torch.py \\
        [--isa avx2|native] [--threads 1] [--rounds 3] [--reps 20] [--only lstm,gru,rnn,conv1d]

``--isa avx2`` forces both sides to AVX2 (attnrs ``ATTNRS_SIMD=avx2``; torch
``ATEN_CPU_CAPABILITY=avx2 ONEDNN_MAX_CPU_ISA=AVX2 MKL_ENABLE_INSTRUCTIONS=AVX2``).
Each process times every workload ``--reps`` times (after a warm-up) and
reports the fastest and the median call; the table gives, per workload, the
range over rounds of torch ÷ attnrs (> 1: attnrs is faster) for the fastest
call and for the median.

fwd+bwd computes the gradients of every parameter, as PyTorch's
``torch_baselines.py`` does; ``+dx`` rows also ask for the input's gradient
on both sides. ``--side`` runs one side only and prints JSON (what the driver
calls).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

ISA_ENV = {
    "avx2": {
        "ATTNRS_SIMD": "avx2",
        "ATEN_CPU_CAPABILITY": "avx2",
        "ONEDNN_MAX_CPU_ISA": "AVX2",
        "MKL_ENABLE_INSTRUCTIONS": "AVX2",
    },
    "native": {},
}
SHAPE = (32, 128, 128, 256)  # B, T, I, H
CONV = (8, 64, 4096, 10)  # B, C, T, layers (kernel 2, dilation 1..512, causal)


def _once(fn) -> tuple[float, float]:
    c, s = time.process_time(), time.perf_counter()
    fn()
    return time.perf_counter() - s, time.process_time() - c


def _time(fn, reps: int) -> tuple[float, float, float]:
    """Fastest and median wall time and fastest process CPU time (ms). On one
    thread the CPU time leaves out the time other processes held the core."""
    _once(fn)
    _once(fn)
    walls, cpus = zip(*[_once(fn) for _ in range(reps)])
    walls = sorted(walls)
    return walls[0] * 1e3, walls[len(walls) // 2] * 1e3, min(cpus) * 1e3


def _attnrs_cases(only: list[str], ar=None):
    """(name, closure) per workload, on the package `ar` (default: attnrs;
    rnn_ab_inprocess.py passes a base copy too)."""
    import numpy as np

    from attnrs.bench.fused import steady_state_malloc

    if ar is None:
        import attnrs as ar

    steady_state_malloc()
    b, t, i, h = SHAPE
    rng = np.random.default_rng(0)
    x = rng.standard_normal((b, t, i)).astype(np.float32)
    g = rng.standard_normal((b, t, h)).astype(np.float32)
    cls = {"lstm": ar.nn.LSTM, "gru": ar.nn.GRU, "rnn": ar.nn.RNN}
    for mode in [m for m in only if m in cls]:
        ar.manual_seed(0)
        m = cls[mode](i, h, batch_first=True)

        def fwd(m=m):
            with ar.no_grad():
                m(x)

        def fb(m=m, need_x=False):
            xt = ar.tensor(x, requires_grad=need_x)
            out, _ = m(xt)
            out.backward(g)

        yield f"{mode} fwd", fwd
        yield f"{mode} fwd+bwd", fb
        yield f"{mode} fwd+bwd+dx", lambda fb=fb: fb(need_x=True)
    if "conv1d" in only:
        cb, c, ct, layers = CONV
        xc = rng.standard_normal((cb, c, ct)).astype(np.float32)
        gc = rng.standard_normal((cb, c, ct)).astype(np.float32)
        ar.manual_seed(0)
        convs = [ar.nn.Conv1d(c, c, 2, dilation=2**k) for k in range(layers)]

        xa = ar.tensor(xc)

        def run(xv):  # attnrs's Conv1d is causal: it pads on the left itself
            for conv in convs:
                xv = conv(xv)
            return xv

        def cf():
            with ar.no_grad():
                run(xa)

        def cfb():
            for conv in convs:
                conv.zero_grad()
            run(xa).backward(gc)

        yield "conv1d fwd", cf
        yield "conv1d fwd+bwd", cfb


def _torch_cases(only: list[str]):
    import torch

    b, t, i, h = SHAPE
    torch.manual_seed(0)
    x = torch.randn(b, t, i)
    g = torch.randn(b, t, h)
    cls = {"lstm": torch.nn.LSTM, "gru": torch.nn.GRU, "rnn": torch.nn.RNN}
    for mode in [m for m in only if m in cls]:
        m = cls[mode](i, h, batch_first=True)
        params = list(m.parameters())

        def fwd(m=m):
            with torch.no_grad():
                m(x)

        def fb(m=m, params=params):
            out, _ = m(x)
            torch.autograd.grad(out, params, g)

        def fbx(m=m, params=params):
            xg = x.clone().requires_grad_(True)
            out, _ = m(xg)
            torch.autograd.grad(out, [xg, *params], g)

        yield f"{mode} fwd", fwd
        yield f"{mode} fwd+bwd", fb
        yield f"{mode} fwd+bwd+dx", fbx
    if "conv1d" in only:
        cb, c, ct, layers = CONV
        xc = torch.randn(cb, c, ct)
        gc = torch.randn(cb, c, ct)
        convs = [torch.nn.Conv1d(c, c, 2, dilation=2**k) for k in range(layers)]

        def run(xv):
            for k, conv in enumerate(convs):
                xv = conv(torch.nn.functional.pad(xv, (2**k, 0)))
            return xv

        def cf():
            with torch.no_grad():
                run(xc)

        cparams = [p for conv in convs for p in conv.parameters()]

        def cfb():
            torch.autograd.grad(run(xc), cparams, gc)

        yield "conv1d fwd", cf
        yield "conv1d fwd+bwd", cfb


def side(name: str, threads: int, reps: int, only: list[str]) -> None:
    if name == "attnrs":
        import attnrs as ar

        ar.set_num_threads(threads)
        isa = ar.info()["isa"]
        cases = _attnrs_cases(only)
    else:
        import torch

        torch.set_num_threads(threads)
        isa = torch.backends.cpu.get_cpu_capability()
        cases = _torch_cases(only)
    res = {"side": name, "isa": isa, "rows": {}}
    for label, fn in cases:
        res["rows"][label] = _time(fn, reps)
    print(json.dumps(res))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--side", choices=["attnrs", "torch"])
    ap.add_argument("--isa", choices=sorted(ISA_ENV), default="native")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--reps", type=int, default=20)
    ap.add_argument("--only", default="lstm,gru,rnn,conv1d")
    a = ap.parse_args()
    only = a.only.split(",")
    if a.side:
        side(a.side, a.threads, a.reps, only)
        return
    env = {**os.environ, "OPENBLAS_NUM_THREADS": "1", **ISA_ENV[a.isa]}
    env.setdefault("PYTHONPATH", "python")
    runs: dict[str, list[dict]] = {"attnrs": [], "torch": []}
    for _ in range(a.rounds):
        for s in ("attnrs", "torch"):
            cmd = [sys.executable, __file__, "--side", s, "--threads", str(a.threads),
                   "--reps", str(a.reps), "--only", a.only]  # fmt: skip
            out = subprocess.run(cmd, env=env, check=True, capture_output=True, text=True)
            runs[s].append(json.loads(out.stdout.strip().splitlines()[-1]))
    isas = {s: sorted({r["isa"] for r in runs[s]}) for s in runs}
    print(f"isa={a.isa} threads={a.threads} rounds={a.rounds} reps={a.reps} "
          f"attnrs isa {isas['attnrs']}, torch capability {isas['torch']}, "
          f"load {os.getloadavg()[0]:.1f}")  # fmt: skip
    print("| workload | attnrs min / median / cpu ms | torch min / median / cpu ms "
          "| × torch (min) | × torch (median) | × torch (cpu) |")
    print("|---|---|---|---|---|---|")
    for label in runs["attnrs"][0]["rows"]:
        am = [r["rows"][label] for r in runs["attnrs"]]
        tm = [r["rows"][label] for r in runs["torch"]]
        rmin = [t[0] / x[0] for x, t in zip(am, tm)]
        rmed = [t[1] / x[1] for x, t in zip(am, tm)]
        rcpu = [t[2] / x[2] for x, t in zip(am, tm)]

        def best(rows):
            return " / ".join(f"{min(x[j] for x in rows):.2f}" for j in range(3))

        def rng(r):
            return f"{min(r):.2f}–{max(r):.2f}"

        print(f"| {label} | {best(am)} | {best(tm)} | {rng(rmin)} | {rng(rmed)} | {rng(rcpu)} |")


if __name__ == "__main__":
    main()
