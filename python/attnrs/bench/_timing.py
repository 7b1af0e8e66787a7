"""Timing helpers shared by the benchmark modules.

A comparison with PyTorch times both sides in alternating rounds instead of
one side after the other: on a shared or virtualised machine the speed
drifts by tens of percent over seconds, and two back-to-back blocks of calls
would each see a different phase. Each round runs one side's calls back to
back — one untimed call to warm it again, then the timed ones — then the
other side's (the order reversed every other round): a lone call right after
the other library's is not representative (measured on a KVM guest: the GPT
step ran 10-18 % slower in strict alternation with PyTorch's, or even with
a 30 ms sleep, than back to back: idle vCPUs and pool threads wake slowly,
caches are cold). The ratio reported is the median of the per-round ratios.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Sequence
from typing import Any


def median_s(fn: Callable[[], Any], repeats: int, warmup: int = 1) -> float:
    """Median wall-clock seconds of ``repeats`` calls of ``fn`` after ``warmup`` calls."""
    return statistics.median(interleaved_s([fn], repeats, warmup)[0])


def interleaved_s(
    fns: Sequence[Callable[[], Any]],
    rounds: int,
    warmup: int = 1,
    min_time: float = 0.0,
    max_rounds: int = 50,
    per_round: int = 1,
) -> list[list[float]]:
    """Wall-clock seconds of the timed calls of each of ``fns``: ``warmup``
    calls of each first, then rounds in which each function (in order on even
    rounds, reversed on odd ones) runs one untimed call (when there is more than
    one function) and ``per_round`` timed calls: ``rounds`` rounds, or more (up to
    ``max_rounds``) until ``min_time`` seconds have passed. Entry i of every list
    comes from the same round."""
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
                fns[i]()
            for _ in range(per_round):
                t0 = time.perf_counter()
                fns[i]()
                times[i].append(time.perf_counter() - t0)
        r += 1
    return times


def speedup(ours: Sequence[float], theirs: Sequence[float]) -> float:
    """Median of ``theirs[i] / ours[i]`` over calls timed in the same round
    (their time over ours: > 1 means we are faster)."""
    return statistics.median(t / o for o, t in zip(ours, theirs))


def versus(
    ours: Callable[[], Any], theirs: Callable[[], Any], rounds: int, warmup: int = 1, per_round: int = 1
) -> tuple[float, float, float]:
    """(our median s, their median s, median per-round speedup) of two
    functions timed in alternating rounds (see the module doc)."""
    o, t = interleaved_s([ours, theirs], rounds, warmup, per_round=per_round)
    return statistics.median(o), statistics.median(t), speedup(o, t)
