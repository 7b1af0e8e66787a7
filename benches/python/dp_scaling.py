"""Data-parallel scaling on this machine (issue 13): tokens/s of GPT training for
1 rank x 1 thread, 1 rank x 2 threads and 2 ranks x 1 thread (mpiexec), the
all-reduce time per step and the part of it the backward hides, and a cost
model for N machines.

    .venv/bin/python benches/python/dp_scaling.py [--reps 3] [--steps 6] [--only small,large]

The driver interleaves the configurations (rep 1: a b c, rep 2: a b c, ...)
because the machine is shared; it prints every run and a summary (min, median,
max) and the cost-model table as Markdown. Each run is a subprocess:
``ATTNRS_NUM_THREADS=T [mpiexec -n R] python benches/python/dp_scaling.py --worker ...``.
The global batch is the same in all three configurations (each of 2 ranks
takes half).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

MODELS = {  # name: (GPT config, global batch)
    "small": ({"n_layer": 4, "n_head": 4, "n_embd": 128, "block_size": 64}, 12),  # nanoGPT's CPU config
    "large": ({"n_layer": 6, "n_head": 6, "n_embd": 384, "block_size": 256}, 4),
}
CONFIGS = [(1, 1), (1, 2), (2, 1)]  # (ranks, threads per rank)
VOCAB = 65


def worker(model_name: str, steps: int, warmup: int, bucket_cap_mb: float) -> None:
    import attnrs as ar
    from attnrs import distributed as dist
    from attnrs.models import GPT, GPTConfig
    from attnrs.optim import AdamW

    dist.init()
    r, n = dist.rank(), dist.world_size()
    cfg_kw, global_batch = MODELS[model_name]
    b = global_batch // n
    ar.manual_seed(0)
    model = GPT(GPTConfig(vocab_size=VOCAB, dropout=0.0, **cfg_kw))
    ddp = dist.DistributedDataParallel(model, bucket_cap_mb=bucket_cap_mb) if n > 1 else None
    net = ddp or model
    opt = AdamW(model.parameters(), lr=1e-3)
    rng = np.random.default_rng(r)
    T = cfg_kw["block_size"]
    times, waits = [], []
    for i in range(warmup + steps):
        x = rng.integers(0, VOCAB, size=(b, T))
        y = rng.integers(0, VOCAB, size=(b, T))
        if ddp:
            dist.barrier()
        t0 = time.perf_counter()
        _, loss = net(x, targets=y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        dt = time.perf_counter() - t0
        if i >= warmup:
            times.append(dt)
            if ddp:
                # Both ranks share CLOCK_MONOTONIC: the rank whose backward ended last
                # waited only for the all-reduce the backward did not hide (no rank skew).
                st = ddp.comm_stats
                v = np.zeros(2 * n)
                v[r], v[n + r] = st["last_backward_end"], st["last_wait_s"]
                v = dist.all_sum(v)
                waits.append((v[n + int(np.argmax(v[:n]))], float(np.max(v[n:]))))
    out = {"model": model_name, "ranks": n, "threads": ar.get_num_threads() if hasattr(ar, "get_num_threads") else None,
           "params": model.num_parameters(), "batch_per_rank": b, "global_batch": b * n, "block": T,
           "step_s": statistics.median(times), "tokens_per_s": b * n * T / statistics.median(times)}  # fmt: skip
    if ddp:
        # The same all-reduces, blocking, while nothing else runs: the cost the backward may hide.
        from mpi4py import MPI

        comm = dist.get_comm()
        bufs = ddp.bucket_buffers()
        ar_times = []
        for _ in range(5):
            comm.Barrier()
            t0 = time.perf_counter()
            for buf in bufs:
                comm.Allreduce(MPI.IN_PLACE, buf, op=MPI.SUM)
            ar_times.append(time.perf_counter() - t0)
        allreduce = statistics.median(ar_times)
        wait = statistics.median(w for w, _ in waits)
        out.update(allreduce_s=allreduce, wait_s=wait, hidden=max(0.0, 1.0 - wait / allreduce),
                   max_wait_s=statistics.median(m for _, m in waits), buckets=ddp.comm_stats["buckets"])  # fmt: skip
    if r == 0:
        print("RESULT " + json.dumps(out), flush=True)


def run_one(model: str, ranks: int, threads: int, steps: int, warmup: int, cap: float) -> dict:
    env = dict(os.environ, ATTNRS_NUM_THREADS=str(threads), OMP_NUM_THREADS=str(threads),
               OPENBLAS_NUM_THREADS=str(threads))  # fmt: skip
    cmd = [sys.executable, __file__, "--worker", model, "--steps", str(steps), "--warmup", str(warmup),
           "--bucket-cap-mb", str(cap)]  # fmt: skip
    if ranks > 1:
        mpiexec = Path(sys.executable).parent / "mpiexec"
        cmd = [str(mpiexec), "-n", str(ranks), *cmd]
    r = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=1800, check=False)
    line = [s for s in r.stdout.splitlines() if s.startswith("RESULT ")]
    if r.returncode != 0 or not line:
        raise RuntimeError(f"{cmd} failed:\n{r.stdout}\n{r.stderr}")
    return json.loads(line[0][7:])


def cost_model(params: int, compute_s: float, latency_s: float = 30e-6) -> dict:
    """Ring all-reduce over N machines: 2(N-1)/N x 4 x params bytes per machine and
    2(N-1) latency hops, not overlapped; efficiency = compute / (compute + comm)."""
    rows = {}
    for gbps in (10, 25, 100):
        effs, first_below = {}, None
        for n in range(2, 4097):
            comm = 2 * (n - 1) / n * 4 * params * 8 / (gbps * 1e9) + 2 * (n - 1) * latency_s
            eff = compute_s / (compute_s + comm)
            if n in (2, 8, 64):
                effs[n] = eff
            if first_below is None and eff < 0.9:
                first_below = n
        bw_only = compute_s / (compute_s + 2 * 4 * params * 8 / (gbps * 1e9))  # N -> infinity, no latency
        rows[gbps] = {"eff": effs, "n_below_90": first_below, "eff_inf_bw_only": bw_only}
    return rows


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--worker")
    ap.add_argument("--steps", type=int, default=6)
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--bucket-cap-mb", type=float, default=25.0)
    ap.add_argument("--only", default="small,large")
    ap.add_argument("--configs", default="1x1,1x2,2x1", help="ranks x threads per rank")
    a = ap.parse_args()
    configs = [tuple(int(v) for v in c.split("x")) for c in a.configs.split(",")]
    if a.worker:
        worker(a.worker, a.steps, a.warmup, a.bucket_cap_mb)
        return
    print("uptime:", subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip(), flush=True)
    results: dict = {}
    for rep in range(a.reps):
        for model in a.only.split(","):
            for ranks, threads in configs:
                res = run_one(model, ranks, threads, a.steps, a.warmup, a.bucket_cap_mb)
                results.setdefault((model, ranks, threads), []).append(res)
                extra = (f" allreduce {res['allreduce_s'] * 1e3:.1f} ms, last rank waited {res['wait_s'] * 1e3:.2f} ms "
                         f"({res['hidden']:.0%} hidden; the other waited {res['max_wait_s'] * 1e3:.1f} ms), "
                         f"{res['buckets']} buckets") if ranks > 1 else ""  # fmt: skip
                print(f"rep {rep} {model} {ranks}r x {threads}t: {res['tokens_per_s']:,.0f} tok/s "
                      f"(step {res['step_s'] * 1e3:.0f} ms){extra}", flush=True)  # fmt: skip
    print("uptime:", subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip())
    if set(CONFIGS) - set(configs):
        return
    print("\n| model | params | global batch x block | 1 rank x 1 thread | 1 rank x 2 threads | 2 ranks x 1 thread "
          "| 2r x 1t / 1r x 2t | all-reduce / step | not hidden (last rank's wait) | hidden |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    fmt = lambda v: f"{statistics.median(v):,.0f} ({min(v):,.0f}–{max(v):,.0f})"
    for model in a.only.split(","):
        tps = {c: [r["tokens_per_s"] for r in results[(model, *c)]] for c in CONFIGS}
        two = results[(model, 2, 1)]
        ratio = [x / y for x, y in zip(tps[(2, 1)], tps[(1, 2)])]
        p = two[0]
        print(f"| {model} | {p['params']:,} | {p['global_batch']} x {p['block']} | {fmt(tps[(1, 1)])} | "
              f"{fmt(tps[(1, 2)])} | {fmt(tps[(2, 1)])} | {statistics.median(ratio):.2f} "
              f"({min(ratio):.2f}–{max(ratio):.2f}) | "
              f"{statistics.median(r['allreduce_s'] for r in two) * 1e3:.1f} ms | "
              f"{statistics.median(r['wait_s'] for r in two) * 1e3:.2f} ms | "
              f"{statistics.median(r['hidden'] for r in two):.0%} |")  # fmt: skip
    print("\nCost model, N machines (compute per step = the fastest one-rank step measured on this machine at the"
          " global batch above, each machine taking that batch; ring all-reduce 2(N-1)/N x 4 x params bytes"
          " + 2(N-1) x 30 us latency, not overlapped):\n")
    print("| model | compute / step | link | eff. N=2 | N=8 | N=64 | N where eff. < 90 % | eff. N→∞ (bandwidth only) |")
    print("|---|---|---|---|---|---|---|---|")
    for model in a.only.split(","):
        rs = results[(model, 1, 1)] + results[(model, 1, 2)]
        comp = min(r["step_s"] for r in rs)
        cm = cost_model(rs[0]["params"], comp)
        for gbps, row in cm.items():
            e = row["eff"]
            print(f"| {model} | {comp * 1e3:.0f} ms | {gbps} Gb/s | {e[2]:.1%} | {e[8]:.1%} | {e[64]:.1%} | "
                  f"{row['n_below_90'] or '> 4096'} | {row['eff_inf_bw_only']:.1%} |")  # fmt: skip


if __name__ == "__main__":
    main()
