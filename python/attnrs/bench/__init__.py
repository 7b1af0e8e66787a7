"""Benchmarks run by ``attnrs bench``; each module has ``run() -> list[dict]``."""
