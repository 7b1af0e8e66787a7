"""Autograd overhead: microseconds per op (forward + backward) on tiny tensors.

Each op is chained ``n`` times on a (4, 4) float32 tensor and the graph is
walked back; the cost per op is the time difference between a chain of
``n`` and a chain of 0 (so the final ``sum().backward()`` call cancels out),
divided by ``n``. The best of several repeats is reported.

Run: ``python -m attnrs.bench.autograd`` (``--cpu``: process CPU time).
"""

from __future__ import annotations

import time
from typing import Any, Callable

import numpy as np

import attnrs as ar

__all__ = ["run"]

_SHAPE = (4, 4)


def _ops(b: ar.Tensor) -> dict[str, Callable[[ar.Tensor], ar.Tensor]]:
    return {
        "add": lambda y: y + b,
        "mul": lambda y: y * b,
        "matmul": lambda y: y @ b,
        "relu": lambda y: y.relu(),
        "sum": lambda y: y.sum(0, keepdims=True),
        "tanh": lambda y: y.tanh(),
    }


def _time_chain(
    op: Callable[[ar.Tensor], ar.Tensor],
    x: ar.Tensor,
    n: int,
    reps: int,
    repeats: int,
    clock: Callable[[], float] = time.perf_counter,
) -> float:
    best = float("inf")
    for _ in range(repeats):
        start = clock()
        for _ in range(reps):
            y = x
            for _ in range(n):
                y = op(y)
            y.sum().backward()
        best = min(best, (clock() - start) / reps)
    return best


def run(
    chain: int = 20, reps: int = 200, repeats: int = 5, cpu: bool = False
) -> list[dict[str, Any]]:
    """Rows ``{"op", "shape", "us_per_op"}``: forward + backward cost of one op.

    ``cpu=True`` measures process CPU time (all threads) instead of wall time:
    steadier on a busy machine.
    """
    clock = time.process_time if cpu else time.perf_counter
    rng = np.random.default_rng(0)
    x = ar.tensor(rng.standard_normal(_SHAPE), requires_grad=True)
    b = ar.tensor(rng.standard_normal(_SHAPE) * 0.1, requires_grad=True)
    rows = []
    for name, op in _ops(b).items():
        _time_chain(op, x, chain, 20, 1)  # warm up
        base = _time_chain(op, x, 0, reps, repeats, clock)
        full = _time_chain(op, x, chain, reps, repeats, clock)
        per_op = (full - base) / chain
        rows.append({"op": name, "shape": str(_SHAPE), "us_per_op": round(per_op * 1e6, 2)})
    return rows


def main() -> None:
    import sys

    cpu = "--cpu" in sys.argv[1:]
    info = ar.info()
    clock = "process CPU time" if cpu else "wall time"
    print(
        f"autograd overhead, fwd + bwd per op ({info['isa']}, {info['threads']} threads, {clock})"
    )
    for r in run(cpu=cpu):
        print(f"  {r['op']:<8} {r['shape']:<8} {r['us_per_op']:8.2f} us")


if __name__ == "__main__":
    main()
