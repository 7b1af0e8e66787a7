"""`attnrs bench`'s GEMM table over many interleaved passes: on a noisy VM one
pass per side is a lottery (this Zen 4 guest's second vCPU has multi-second
phases at ~35 % speed), so this runs ``attnrs.bench.gemm.run`` PASSES times
(each pass: every square shape, NumPy's child then attnrs's children) and
prints each pass's ratios, then per row the ratio of the best GFLOP/s of all
passes on each side (what ``attnrs bench`` reports, over more passes) and the
median and range of the per-pass ratios. Like ``attnrs bench --isa``, it
re-executes itself with both sides' switches set for ISA (default ``avx2``:
attnrs ``ATTNRS_SIMD=avx2``, OpenBLAS ``OPENBLAS_CORETYPE=Haswell``; without
that, the bench's NumPy child drops ``OPENBLAS_CORETYPE`` and runs OpenBLAS's
own choice for the CPU).

    .venv/bin/python benches/python/gemm_passes.py [PASSES] [avx2|native]
"""

import os
import statistics
import sys

from attnrs.bench import _isa

passes = int(sys.argv[1]) if len(sys.argv) > 1 else 8
isa = sys.argv[2] if len(sys.argv) > 2 else "avx2"
if _isa.requested() != isa:
    sys.stdout.flush()
    os.execve(sys.executable, [sys.executable, *sys.argv], _isa.env_for(isa))

from attnrs.bench import gemm  # noqa: E402  (after the re-exec: the children inherit its environment)

shapes = [s for s in gemm.SHAPES if s[0].startswith("square")]
ratios: dict[tuple[str, int], list[float]] = {}
best_ar: dict[tuple[str, int], float] = {}
best_np: dict[tuple[str, int], float] = {}
for p in range(passes):
    rows = gemm.run(shapes=shapes, passes=1)
    for r in rows:
        key = (r["shape"], r["threads"])
        ratios.setdefault(key, []).append(r["ratio"])
        best_ar[key] = max(best_ar.get(key, 0.0), r["attnrs_gflops"])
        best_np[key] = max(best_np.get(key, 0.0), r["numpy_gflops"])
    line = " ".join(f"{s.removeprefix('square_')}/{t}:{v[-1]:.3f}" for (s, t), v in ratios.items())
    print(f"pass {p}: {line}", flush=True)
print(f"attnrs {rows[0]['isa']}, NumPy {rows[0]['numpy_blas']} (--isa {isa})")
print(f"{'shape':<12} thr  best/best (attnrs / NumPy GFLOP/s)  per-pass median (range)")
for (s, t), v in ratios.items():
    a, n = best_ar[(s, t)], best_np[(s, t)]
    print(
        f"{s:<12} {t:>3}  {a / n:.3f} ({a:.1f} / {n:.1f})"
        f"        {statistics.median(v):.3f} ({min(v):.3f}-{max(v):.3f})"
    )
