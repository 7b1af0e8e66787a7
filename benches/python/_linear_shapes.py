"""The Linear shapes of issue 11 and the burst timer shared by
linear_vs_torch.py and linear_ab_builds.py."""

import time

SHAPES = [  # (name, rows, in, out)
    ("gpt qkv", 768, 128, 384),
    ("gpt proj", 768, 128, 128),
    ("gpt fc", 768, 128, 512),
    ("gpt mlp proj", 768, 512, 128),
    ("gpt lm head", 768, 128, 65),
    ("mha in_proj", 2048, 512, 1536),
    ("mha out_proj", 2048, 512, 512),
]


def fastest(fn, budget, clk):
    """The fastest of at least 3 calls of `fn` (after one warm-up) over `budget` seconds, timed by `clk`."""
    fn()
    best, calls, end = float("inf"), 0, time.perf_counter() + budget
    while calls < 3 or time.perf_counter() < end:
        t0 = clk()
        fn()
        best, calls = min(best, clk() - t0), calls + 1
    return best
