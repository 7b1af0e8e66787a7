"""The denominator of "% of peak": this machine's GEMM microkernel rate on hot
panels, with ``threads`` cores running it at once, measured once per process
(``attnrs._core.peak_gflops``; about 0.2 s). Measured rather than a constant,
since the cores this runs on differ (a Zen 4 core does 32 FP32 FLOP/cycle,
a Zen 5 core 64)."""

from __future__ import annotations

import functools

from .. import _core

__all__ = ["peak_gflops"]


@functools.cache
def peak_gflops(threads: int = 2) -> float:
    """GFLOP/s of ``threads`` cores running the microkernel in use together."""
    return float(_core.peak_gflops(int(threads), 0.2))
