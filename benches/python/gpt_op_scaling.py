"""Where the GPT training step (nanoGPT CPU config) loses at several threads: wall time
per `_core` call (keyed by function and the shapes of its first three array arguments), per step,
at 1 thread and at THREADS, each in its own process (so each gets its own home pool), and
the loss of each op against perfect scaling, `wall_T - wall_1 / T`.

    [ATTNRS_SIMD=avx2] PYTHONPATH=python .venv/bin/python benches/python/gpt_op_scaling.py [threads] [rounds] [steps]

Per process: `rounds` blocks of `steps` steps, median over blocks. Timing wrappers add a
few µs per call. Wall times only: a 2-thread process's CPU time per call is not reliable
(the other thread's time is charged at scheduler ticks).
"""

import json
import os
import statistics
import subprocess
import sys
import time


def child(rounds: int, steps: int) -> None:
    import numpy as np

    from attnrs import _core
    from attnrs.bench.training import _attnrs_step

    acc: dict = {}
    on = [False]

    def wrap(name, f):
        def g(*a, **k):
            if not on[0]:
                return f(*a, **k)
            t0 = time.perf_counter()
            r = f(*a, **k)
            dt = time.perf_counter() - t0
            arrays = [x for x in a if isinstance(x, np.ndarray)][:3]
            shapes = ",".join("x".join(map(str, x.shape)) for x in arrays)
            e = acc.setdefault(f"{name}({shapes})", [0.0, 0])
            e[0] += dt
            e[1] += 1
            return r

        return g

    for n in dir(_core):
        f = getattr(_core, n)
        if (
            callable(f)
            and not isinstance(f, type)
            and not n.startswith("_")
            and "num_threads" not in n
        ):
            setattr(_core, n, wrap(n, f))
    _, step = _attnrs_step()
    for _ in range(3):
        step()
    blocks, walls = [], []
    for _ in range(rounds):
        acc.clear()
        on[0] = True
        t0 = time.perf_counter()
        for _ in range(steps):
            step()
        walls.append((time.perf_counter() - t0) / steps * 1e3)
        on[0] = False
        blocks.append({k: (v[0] / steps * 1e3, v[1] / steps) for k, v in acc.items()})
    ops = {
        k: [statistics.median(b.get(k, (0, 0))[0] for b in blocks), blocks[0][k][1]]
        for k in blocks[0]
    }
    print(json.dumps({"step": statistics.median(walls), "ops": ops}))


def main() -> None:
    threads = int(sys.argv[1]) if len(sys.argv) > 1 else 2
    rounds = int(sys.argv[2]) if len(sys.argv) > 2 else 5
    steps = int(sys.argv[3]) if len(sys.argv) > 3 else 10
    res = {}
    for t in (1, threads):
        env = dict(os.environ, ATTNRS_NUM_THREADS=str(t), _GPT_OP_SCALING_CHILD="1")
        out = subprocess.run([sys.executable, __file__, str(rounds), str(steps)], env=env, check=True,
                             capture_output=True, text=True).stdout  # fmt: skip
        res[t] = json.loads(out.strip().splitlines()[-1])
    a, b = res[1], res[threads]
    print(
        f"{'op':58s} {'calls':>5s} {'1T ms':>7s} {f'{threads}T ms':>7s} {'speedup':>7s} {'loss ms':>7s}"
    )
    s1 = s2 = 0.0
    for k in sorted(a["ops"], key=lambda k: -a["ops"][k][0]):
        w1, n = a["ops"][k]
        w2 = b["ops"].get(k, [0.0, 0])[0]
        s1, s2 = s1 + w1, s2 + w2
        print(
            f"{k:58s} {n:5.0f} {w1:7.3f} {w2:7.3f} {w1 / max(w2, 1e-9):7.2f} {w2 - w1 / threads:7.3f}"
        )
    print(
        f"{'all _core calls':58s} {'':5s} {s1:7.3f} {s2:7.3f} {s1 / s2:7.2f} {s2 - s1 / threads:7.3f}"
    )
    print(
        f"step: 1T {a['step']:.2f} ms, {threads}T {b['step']:.2f} ms; outside _core (Python, NumPy): "
        f"{a['step'] - s1:.2f} / {b['step'] - s2:.2f} ms"
    )


if __name__ == "__main__":
    if os.environ.get("_GPT_OP_SCALING_CHILD"):
        child(int(sys.argv[1]), int(sys.argv[2]))
    else:
        main()
