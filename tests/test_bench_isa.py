"""`attnrs bench --isa`: the environment it sets for each library and the re-executed run."""

import os
import subprocess
import sys

import pytest

from attnrs.bench import _isa


def test_env_for_avx2_sets_every_side_and_drops_stale_switches():
    env = _isa.env_for("avx2", {"PATH": "/bin", "OPENBLAS_CORETYPE": "SkylakeX", "ATTNRS_SIMD": "scalar"})
    assert env["ATTNRS_SIMD"] == "avx2"
    assert env["OPENBLAS_CORETYPE"] == "Haswell"
    assert env["ATEN_CPU_CAPABILITY"] == "avx2"
    assert env["ONEDNN_MAX_CPU_ISA"] == "AVX2"
    assert env["MKL_ENABLE_INSTRUCTIONS"] == "AVX2"
    assert env[_isa.MARK] == "avx2" and env["PATH"] == "/bin"
    native = _isa.env_for("native", {"PATH": "/bin", "OPENBLAS_CORETYPE": "Haswell"})
    assert "OPENBLAS_CORETYPE" not in native and native[_isa.MARK] == "native"
    with pytest.raises(ValueError, match="bench --isa"):
        _isa.env_for("avx1024")


def test_bench_isa_reexecutes_and_reports_each_side():
    import attnrs

    if "avx2" not in attnrs.info()["isa_available"]:
        pytest.skip("this CPU has no AVX2")
    env = {k: v for k, v in os.environ.items() if k != _isa.MARK}
    out = subprocess.run(
        [sys.executable, "-m", "attnrs.cli", "bench", "--isa", "avx2", "--list"],
        env=env, capture_output=True, text=True, timeout=120, check=True,
    ).stdout
    assert "attnrs: avx2 (ATTNRS_SIMD=avx2)" in out
    assert "OPENBLAS_CORETYPE=Haswell" in out
    assert "gemm" in out.splitlines()
