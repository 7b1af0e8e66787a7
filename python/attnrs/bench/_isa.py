"""``attnrs bench --isa avx2``: run every side of the table on one SIMD level.

Each library reads its ISA switch once, when it loads (attnrs at the first
kernel call, OpenBLAS when NumPy is imported, PyTorch's ATen, oneDNN and MKL
when torch is imported), so the switches are set in the environment and the
command re-executes itself before anything is loaded. ``report()`` then says
what each side actually ran.

| side | variable | value for ``avx2`` |
|---|---|---|
| attnrs | ``ATTNRS_SIMD`` | ``avx2`` |
| NumPy (OpenBLAS) | ``OPENBLAS_CORETYPE`` | ``Haswell`` |
| PyTorch ATen | ``ATEN_CPU_CAPABILITY`` | ``avx2`` |
| PyTorch oneDNN | ``ONEDNN_MAX_CPU_ISA`` | ``AVX2`` |
| PyTorch MKL | ``MKL_ENABLE_INSTRUCTIONS`` | ``AVX2`` |
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence

__all__ = ["ISAS", "MARK", "env_for", "reexec", "report", "requested"]

# The environment of each level; "native" removes every switch (each library's own choice,
# which on an AVX-512 host is AVX-512 for all three).
ISAS: dict[str, dict[str, str]] = {
    "avx2": {
        "ATTNRS_SIMD": "avx2",
        "OPENBLAS_CORETYPE": "Haswell",
        "ATEN_CPU_CAPABILITY": "avx2",
        "ONEDNN_MAX_CPU_ISA": "AVX2",
        "MKL_ENABLE_INSTRUCTIONS": "AVX2",
    },
    "native": {},
}
# Set in the re-executed process: the level it was started for.
MARK = "ATTNRS_BENCH_ISA"
_KEYS = sorted({k for env in ISAS.values() for k in env})


def requested() -> str | None:
    """The level this process was re-executed for, or None."""
    return os.environ.get(MARK)


def env_for(isa: str, base: dict[str, str] | None = None) -> dict[str, str]:
    """``base`` (default: this process's environment) with ``isa``'s switches set and the others removed."""
    if isa not in ISAS:
        raise ValueError(f"bench --isa: expected one of {sorted(ISAS)}, got {isa!r}")
    env = {k: v for k, v in (os.environ if base is None else base).items() if k not in _KEYS}
    env.update(ISAS[isa])
    env[MARK] = isa
    return env


def reexec(isa: str, argv: Sequence[str]) -> None:
    """Replaces this process with ``python -m attnrs.cli ARGV`` under ``isa``'s environment,
    unless it already is that process."""
    if requested() == isa:
        return
    env = env_for(isa)
    sys.stdout.flush()
    os.execve(sys.executable, [sys.executable, "-m", "attnrs.cli", *argv], env)


def report() -> str:
    """One line per side: the SIMD level it is running (imports NumPy, and torch if installed)."""
    import attnrs

    lines = [f"attnrs: {attnrs.info().get('isa')} (ATTNRS_SIMD={os.environ.get('ATTNRS_SIMD', 'unset')})"]
    try:
        from threadpoolctl import threadpool_info

        blas = [f"{i.get('internal_api')} {i.get('version')} {i.get('architecture')}"
                for i in threadpool_info() if i.get("user_api") == "blas"]
    except ImportError:
        blas = []
    lines.append(f"numpy: {', '.join(blas) or 'unknown BLAS'} "
                 f"(OPENBLAS_CORETYPE={os.environ.get('OPENBLAS_CORETYPE', 'unset')})")
    try:
        import torch
    except ImportError:
        lines.append("torch: not installed")
    else:
        cap = torch.backends.cpu.get_cpu_capability()
        sw = ", ".join(f"{k}={os.environ.get(k, 'unset')}"
                       for k in ("ATEN_CPU_CAPABILITY", "ONEDNN_MAX_CPU_ISA", "MKL_ENABLE_INSTRUCTIONS"))
        lines.append(f"torch {torch.__version__}: ATen {cap} ({sw})")
    return "\n".join(lines)
