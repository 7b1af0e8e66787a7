"""Fused optimizer kernels: the AdamW step and the multi-tensor norm and scale of gradient clipping."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from .. import _core
from .._validate import DTypeError, ShapeError, as_f32, as_int, check_finite, contiguous, is_tensor

__all__ = ["adamw_step", "scale_", "total_norm2"]


def _inplace(a: Any, op: str, arg: str) -> np.ndarray:
    if is_tensor(a):
        a = a._array
    if not isinstance(a, np.ndarray):
        raise DTypeError(f"{op}: {arg} must be a float32 ndarray (updated in place); got {type(a).__name__}")
    if a.dtype != np.float32:
        raise DTypeError(f"{op}: {arg} must be float32 (updated in place); got dtype {a.dtype}")
    if not a.flags.c_contiguous:
        raise ShapeError(f"{op}: {arg} must be C-contiguous to be updated in place; got strides {a.strides}")
    if not a.flags.writeable:
        raise ValueError(f"{op}: {arg} is read-only")
    if not a.flags.aligned:
        raise ValueError(f"{op}: {arg} is not aligned to 4 bytes (updated in place); pass an aligned copy (np.array(x))")
    return a.reshape(-1)


def adamw_step(
    param: np.ndarray,
    grad: np.ndarray,
    exp_avg: np.ndarray,
    exp_avg_sq: np.ndarray,
    *,
    lr: float,
    beta1: float,
    beta2: float,
    eps: float,
    weight_decay: float,
    step: int | Sequence[int],
    decoupled: bool = True,
) -> None:
    """One fused AdamW step (PyTorch's formulas, decoupled weight decay), in
    place on ``param``, ``exp_avg`` and ``exp_avg_sq``; ``step`` counts from 1
    and drives the bias correction. ``weight_decay=0`` is Adam without decay;
    ``decoupled=False`` is Adam with ``weight_decay`` as an L2 term added to
    the gradient.

    Lists (one entry per parameter, ``step`` a list too) update every
    parameter in one multi-tensor kernel call: what ``optim.Adam``/``AdamW``
    do for each parameter group (the binding checks the lists).

    # Shapes
    - param, exp_avg, exp_avg_sq: float32, C-contiguous, any shape, same size
    - grad: same size (float64 converted)
    """
    op = "adamw_step"
    if isinstance(param, (list, tuple)):
        _core.adam_multi_step(
            list(param), list(grad), list(exp_avg), list(exp_avg_sq), [int(s) for s in step],
            lr=float(lr), beta1=float(beta1), beta2=float(beta2), eps=float(eps),
            weight_decay=float(weight_decay), decoupled=bool(decoupled),
        )  # fmt: skip
        return
    if not decoupled:
        adamw_step([param], [grad], [exp_avg], [exp_avg_sq], lr=lr, beta1=beta1, beta2=beta2, eps=eps,
                   weight_decay=weight_decay, step=[step], decoupled=False)  # fmt: skip
        return
    p = _inplace(param, op, "param")
    m = _inplace(exp_avg, op, "exp_avg")
    v = _inplace(exp_avg_sq, op, "exp_avg_sq")
    g = contiguous(as_f32(grad, op, "grad")).reshape(-1)
    for name, a in (("grad", g), ("exp_avg", m), ("exp_avg_sq", v)):
        if a.size != p.size:
            raise ShapeError(f"{op}: {name} has {a.size} elements, param has {p.size}")
    named = (("param", p), ("grad", g), ("exp_avg", m), ("exp_avg_sq", v))
    for i, (na, a) in enumerate(named):
        for nb, b in named[i + 1:]:
            if np.may_share_memory(a, b):
                raise ValueError(f"{op}: {na} and {nb} share memory; pass four distinct arrays")
    hp = {k: check_finite(val, op, k) for k, val in
          (("lr", lr), ("beta1", beta1), ("beta2", beta2), ("eps", eps), ("weight_decay", weight_decay))}  # fmt: skip
    _core.adamw_step(p, g, m, v, step=as_int(step, op, "step", 1), **hp)


def total_norm2(arrays: Sequence[np.ndarray]) -> float:
    """√(Σ x²) over every array (float32, C-contiguous), with float64 sums per
    fixed chunk added in a fixed order: the same result for any thread count."""
    return _core.total_norm2(list(arrays))


def scale_(arrays: Sequence[np.ndarray], c: float) -> None:
    """``x *= float32(c)`` in place for every (float32, C-contiguous, writable) array."""
    _core.scale_(list(arrays), float(c))
