"""Benchmarks of attnrs kernels against NumPy (and PyTorch where installed),
and of the autograd overhead.

Each module has ``run() -> list[dict]``; ``attnrs bench`` prints them.
"""
