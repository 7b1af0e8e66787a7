"""`attnrs bench`'s GEMM table runs end to end: each side in its own child
processes, attnrs with its pool size set before its first call."""

import numpy as np

from attnrs.bench import gemm


def test_gemm_bench_runs_both_sides_in_children():
    shape = ("tiny", 1, 24, 17, 9)
    rows = gemm.run(threads=(1, 2), shapes=[shape], rounds=1, budget_s=0.01, passes=1)
    assert [(r["shape"], r["threads"]) for r in rows] == [("tiny", 1), ("tiny", 2)]
    for r in rows:
        assert r["attnrs_gflops"] > 0 and r["numpy_gflops"] > 0
        assert np.isclose(r["ratio"], r["attnrs_gflops"] / r["numpy_gflops"])
        assert r["numpy_blas"] and r["isa"]

