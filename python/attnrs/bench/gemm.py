"""matmul throughput: attnrs.ops.matmul vs NumPy (OpenBLAS) at 1 and 2 threads.

Each side runs in child processes, as a user runs it. NumPy's child has
``OPENBLAS_CORETYPE`` and ``OPENBLAS_L2_SIZE`` removed from its environment
(OpenBLAS reads them when it loads), so it picks its own kernel for this CPU;
the kernel it used is reported from threadpoolctl. Under ``attnrs bench
--isa`` the child keeps the ``OPENBLAS_CORETYPE`` that option set. attnrs runs
one child per thread count, which sets its pool size before its first kernel
call (as ``ATTNRS_NUM_THREADS`` does): the calling thread is then worker 0 of
its pool. A size changed after the first call runs in a pool of other threads
that each call is handed to and that sleep between calls, which cost 1-37 %
at 128²-256² on 2 threads (2-vCPU Zen 4 VM). Separate processes also keep
OpenBLAS's spinning worker threads away from attnrs's timings. Each timing is
the best of several rounds of repeated calls, the most stable estimate on a
shared machine.

``python -m attnrs.bench.gemm`` prints a table; ``run()`` returns the rows.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from typing import Any, Callable

import numpy as np

from . import _isa

SHAPES: list[tuple[str, int, int, int, int]] = [
    # (name, batch, m, n, k)
    ("square_64", 1, 64, 64, 64),
    ("square_128", 1, 128, 128, 128),
    ("square_256", 1, 256, 256, 256),
    ("square_512", 1, 512, 512, 512),
    ("square_1024", 1, 1024, 1024, 1024),
    ("square_2048", 1, 2048, 2048, 2048),
    ("heads_48x64x64x64", 48, 64, 64, 64),
    ("heads_48x128x128x64", 48, 128, 128, 64),
]


def _operands(batch: int, m: int, n: int, k: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    shape_a = (batch, m, k) if batch > 1 else (m, k)
    shape_b = (batch, k, n) if batch > 1 else (k, n)
    return rng.standard_normal(shape_a, dtype=np.float32), rng.standard_normal(
        shape_b, dtype=np.float32
    )


def best_time(fn: Callable[[], Any], flops: float, rounds: int, budget_s: float) -> float:
    """Best seconds per call over ``rounds`` rounds of enough calls for ~budget_s/rounds each."""
    fn()
    t0 = time.perf_counter()
    fn()
    one = max(time.perf_counter() - t0, 1e-7)
    reps = max(1, int(budget_s / rounds / one))
    best = float("inf")
    for _ in range(rounds):
        t0 = time.perf_counter()
        for _ in range(reps):
            fn()
        best = min(best, (time.perf_counter() - t0) / reps)
    return best


def _numpy_rows(shapes, threads, rounds, budget_s) -> dict[str, Any]:
    """Runs in the child: NumPy timings and the OpenBLAS kernel in use."""
    from threadpoolctl import threadpool_info, threadpool_limits

    blas = [
        {k: i.get(k) for k in ("internal_api", "version", "architecture", "num_threads")}
        for i in threadpool_info()
        if i.get("user_api") == "blas"
    ]
    rows = []
    for name, batch, m, n, k in shapes:
        a, b = _operands(batch, m, n, k)
        out = np.empty((batch, m, n) if batch > 1 else (m, n), np.float32)
        flops = 2.0 * batch * m * n * k
        for t in threads:
            with threadpool_limits(limits=t, user_api="blas"):
                sec = best_time(
                    lambda a=a, b=b, out=out: np.matmul(a, b, out=out), flops, rounds, budget_s
                )
            rows.append({"shape": name, "threads": t, "numpy_gflops": flops / sec / 1e9})
    return {"blas": blas, "rows": rows}


def _in_child(func: str, args: dict[str, Any], env: dict[str, str]) -> Any:
    """``func(**args)`` of this module in a new Python process; its JSON result."""
    code = (
        "import json,sys; from attnrs.bench import gemm; "
        f"print(json.dumps(gemm.{func}(**json.loads(sys.argv[1]))))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code, json.dumps(args)],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def _numpy_in_child(shapes, threads, rounds, budget_s) -> dict[str, Any]:
    if _isa.requested():
        env = dict(os.environ)  # `attnrs bench --isa`: OpenBLAS runs the level it asks for
    else:
        env = {
            k: v
            for k, v in os.environ.items()
            if k not in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")
        }
    args = {"shapes": shapes, "threads": list(threads), "rounds": rounds, "budget_s": budget_s}
    return _in_child("_numpy_rows", args, env)


def _attnrs_child_env() -> dict[str, str]:
    """The attnrs child makes no NumPy products; with one OpenBLAS thread, no
    idle OpenBLAS worker spins beside attnrs's threads (after ``import numpy``
    they spin for ~0.1 s: 44 % of a process that imported NumPy and slept 1 s)."""
    return dict(os.environ, OPENBLAS_NUM_THREADS="1")


def _attnrs_gflops(shape, threads, rounds, budget_s) -> float:
    """Runs in the child: attnrs GFLOP/s at ``threads``, set before any kernel call."""
    import attnrs as ar

    ar.set_num_threads(threads)
    _, batch, m, n, k = shape
    a, b = _operands(batch, m, n, k)
    out = np.empty((batch, m, n) if batch > 1 else (m, n), np.float32)
    flops = 2.0 * batch * m * n * k
    return flops / best_time(lambda: ar.ops.matmul(a, b, out=out), flops, rounds, budget_s) / 1e9


def run(
    threads: tuple[int, ...] = (1, 2),
    shapes: list[tuple[str, int, int, int, int]] | None = None,
    rounds: int = 5,
    budget_s: float = 0.4,
    passes: int = 3,
    peak_gflops_per_core: float | None = None,
) -> list[dict[str, Any]]:
    """Times every shape at every thread count; one row per (shape, threads).

    NumPy and attnrs (each in child processes) take turns shape by shape,
    ``passes`` times, and the best of each is kept, so a burst of load from
    other processes hits both sides alike. Each row: shape, threads,
    attnrs_gflops, numpy_gflops, ratio (attnrs / NumPy), numpy_blas (the
    OpenBLAS kernel), isa, and pct_peak when ``peak_gflops_per_core`` is given.
    """
    import attnrs as ar

    shapes = list(SHAPES if shapes is None else shapes)
    best_np: dict[tuple[str, int], float] = {}
    best_ar: dict[tuple[str, int], float] = {}
    blas = "none"
    for _ in range(passes):
        for shape in shapes:
            ref = _numpy_in_child([shape], threads, rounds, budget_s)
            blas = (
                ", ".join(
                    f"{b['internal_api']} {b['version']} {b['architecture']}" for b in ref["blas"]
                )
                or blas
            )
            for r in ref["rows"]:
                key = (r["shape"], r["threads"])
                best_np[key] = max(best_np.get(key, 0.0), r["numpy_gflops"])
            for t in threads:
                args = {"shape": shape, "threads": t, "rounds": rounds, "budget_s": budget_s}
                g = _in_child("_attnrs_gflops", args, _attnrs_child_env())
                best_ar[(shape[0], t)] = max(best_ar.get((shape[0], t), 0.0), g)
    rows = []
    for name, *_ in shapes:
        for t in threads:
            g, npg = best_ar[(name, t)], best_np[(name, t)]
            row = {
                "shape": name,
                "threads": t,
                "attnrs_gflops": g,
                "numpy_gflops": npg,
                "ratio": g / npg,
                "numpy_blas": blas,
                "isa": ar.info()["isa"],
            }
            if peak_gflops_per_core:
                row["pct_peak"] = 100.0 * g / (peak_gflops_per_core * t)
            rows.append(row)
    return rows


def format_rows(rows: list[dict[str, Any]]) -> str:
    lines = [
        f"NumPy BLAS: {rows[0]['numpy_blas'] if rows else '-'}; attnrs ISA: {rows[0]['isa'] if rows else '-'}",
        f"{'shape':<22}{'thr':>4}{'attnrs GF/s':>13}{'numpy GF/s':>12}{'ratio':>8}",
    ]
    for r in rows:
        lines.append(
            f"{r['shape']:<22}{r['threads']:>4}{r['attnrs_gflops']:>13.1f}{r['numpy_gflops']:>12.1f}{r['ratio']:>8.2f}"
        )
    return "\n".join(lines)


if __name__ == "__main__":
    print(format_rows(run()))
