"""Timing helpers shared by the benchmark modules.

A comparison with PyTorch times both sides in alternating rounds (one call of
each per round, the order reversed every other round) instead of one side
after the other: on a shared or virtualised machine the speed drifts by tens
of percent over seconds, and two back-to-back blocks of calls would each see a
different phase. The ratio reported is the median of the per-round ratios.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Sequence
from typing import Any

SETTLE_S = 0.002


def median_s(fn: Callable[[], Any], repeats: int, warmup: int = 1) -> float:
    """Median wall-clock seconds of ``repeats`` calls of ``fn`` after ``warmup`` calls."""
    return statistics.median(interleaved_s([fn], repeats, warmup)[0])


def interleaved_s(
    fns: Sequence[Callable[[], Any]], rounds: int, warmup: int = 1, min_time: float = 0.0, max_rounds: int = 50
) -> list[list[float]]:
    """Wall-clock seconds of each call of each of ``fns``: ``warmup`` calls of
    each first, then rounds of one call each, in order on even rounds and
    reversed on odd ones: ``rounds`` of them, or more (up to ``max_rounds``)
    until ``min_time`` seconds have passed. One list of times per function."""
    for fn in fns:
        for _ in range(warmup):
            fn()
    times: list[list[float]] = [[] for _ in fns]
    order = list(range(len(fns)))
    start = time.perf_counter()
    r = 0
    while r < rounds or (time.perf_counter() - start < min_time and r < max_rounds):
        for i in order if r % 2 == 0 else order[::-1]:
            if len(fns) > 1:
                # Let the other library's workers finish spin-waiting first
                # (OpenMP and rayon pools spin for up to ~1 ms after a job).
                time.sleep(SETTLE_S)
            t0 = time.perf_counter()
            fns[i]()
            times[i].append(time.perf_counter() - t0)
        r += 1
    return times


def speedup(ours: Sequence[float], theirs: Sequence[float]) -> float:
    """Median over rounds of ``theirs / ours`` (their time over ours: > 1 means we are faster)."""
    return statistics.median(t / o for o, t in zip(ours, theirs))


def versus(ours: Callable[[], Any], theirs: Callable[[], Any], rounds: int, warmup: int = 1) -> tuple[float, float, float]:
    """(our median s, their median s, median per-round speedup) of two
    functions timed in alternating rounds (see the module doc)."""
    o, t = interleaved_s([ours, theirs], rounds, warmup)
    return statistics.median(o), statistics.median(t), speedup(o, t)
