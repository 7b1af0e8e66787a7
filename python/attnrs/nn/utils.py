"""Training utilities: gradient clipping."""

from __future__ import annotations

import math
from collections.abc import Iterable

import numpy as np

from .. import _core, ops
from ..tensor import Tensor

__all__ = ["clip_grad_norm_"]


def clip_grad_norm_(
    parameters: Tensor | Iterable[Tensor],
    max_norm: float,
    norm_type: float = 2.0,
    error_if_nonfinite: bool = False,
) -> float:
    """Scales all gradients together so their joint norm is at most ``max_norm``.

    Returns the total norm before clipping (like PyTorch). ``norm_type`` may be
    any positive number or ``inf``. Parameters without a gradient are skipped.

    The 2-norm of float32, C-contiguous, writable gradients (the usual case) takes
    two Rust calls: the norm over all of them (float64 sums per fixed chunk, added
    in a fixed order) and one in-place scaling of all of them. Other norms and
    other gradient arrays use NumPy (float64 sums).
    """
    params = [parameters] if isinstance(parameters, Tensor) else list(parameters)
    max_norm, norm_type = float(max_norm), float(norm_type)
    if not math.isfinite(max_norm) or max_norm < 0:
        raise ValueError(
            f"clip_grad_norm_: max_norm must be a finite non-negative number; got {max_norm}"
        )
    if math.isnan(norm_type) or norm_type <= 0:
        raise ValueError(f"clip_grad_norm_: norm_type must be positive (or inf); got {norm_type}")
    grads = [p.grad._array for p in params if p.grad is not None]
    if not grads:
        return 0.0
    total = _fast_norm2(grads) if norm_type == 2.0 else None
    fast = total is not None
    if not fast and math.isinf(norm_type):
        total = max(float(np.max(np.abs(g))) if g.size else 0.0 for g in grads)
    elif not fast:
        acc = sum(float(np.sum(np.abs(g.astype(np.float64)) ** norm_type)) for g in grads)
        total = acc ** (1.0 / norm_type)
    if error_if_nonfinite and not math.isfinite(total):
        raise RuntimeError(
            f"clip_grad_norm_: the total gradient norm is {total}; "
            "set error_if_nonfinite=False to skip"
        )
    coef = max_norm / (total + 1e-6)
    if coef < 1.0:
        if fast:
            ops.scale_(grads, coef)  # x *= float32(coef), as below
            return total
        for g in grads:
            g *= np.float32(coef)
    return total


def _fast_norm2(grads: list[np.ndarray]) -> float | None:
    """The 2-norm through the kernel when every gradient can also be scaled in
    place by ``ops.scale_`` (float32, C-contiguous, writable, each array once), else None."""
    try:  # the binding checks each array once (~25 µs less than the checks below for 53)
        return _core.total_norm2(grads, writable=True)
    except (TypeError, ValueError):  # not float32 / C-contiguous / writable, or overlapping
        pass
    # Distinct views that overlap pass these checks (as before the binding's).
    plain = all(g.dtype == np.float32 and g.flags.c_contiguous and g.flags.writeable for g in grads)
    once = len({id(g) for g in grads}) == len(grads)  # one array twice would be scaled twice
    return ops.total_norm2(grads) if plain and once else None
