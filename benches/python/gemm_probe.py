"""attnrs.ops.matmul GFLOP/s on the `attnrs bench` GEMM shapes, one line per
shape: the best of a few rounds at 1 and 2 threads. For interleaved A/B of two
builds: ``bash benches/ab_builds.sh OLD.so NEW.so 5 -- .venv/bin/python
benches/python/gemm_probe.py [shape ...]`` (``ATTNRS_SIMD=avx2`` to force AVX2).
Each thread count runs in its own process, as in ``attnrs bench``."""

import sys

from attnrs.bench import gemm

names = sys.argv[1:] or [s[0] for s in gemm.SHAPES]
for shape in gemm.SHAPES:
    if shape[0] in names:
        g = {
            t: gemm._in_child(
                "_attnrs_gflops",
                {"shape": shape, "threads": t, "rounds": 3, "budget_s": 0.15},
                gemm._attnrs_child_env(),
            )
            for t in (1, 2)
        }
        print(f"{shape[0]:<22} 1t {g[1]:7.1f}  2t {g[2]:7.1f}")
