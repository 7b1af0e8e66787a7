"""Benchmarks of attnrs kernels against NumPy (and PyTorch where installed).

Each module has ``run() -> list[dict]``; ``attnrs bench`` prints them.
"""
