"""Benchmarks of attnrs kernels against NumPy (and PyTorch where installed)."""
