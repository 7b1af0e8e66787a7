"""``attnrs.cuda``: there is no GPU backend; programs that ask take their CPU path."""

from __future__ import annotations

__all__ = ["device_count", "is_available", "manual_seed", "manual_seed_all"]


def is_available() -> bool:
    """Always False: attnrs computes on the CPU."""
    return False


def device_count() -> int:
    return 0


def manual_seed(seed: int) -> None:
    """Accepted and ignored (there is no GPU generator), as on a machine without CUDA."""


manual_seed_all = manual_seed
