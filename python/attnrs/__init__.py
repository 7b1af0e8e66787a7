"""attnrs: CPU deep learning for sequence models (Rust SIMD + rayon core)."""

from __future__ import annotations

import operator
from typing import Any

from . import _core, ops
from ._core import DTypeError, ShapeError, get_num_threads

__version__ = _core.info()["version"]


def info() -> dict[str, Any]:
    """Version, SIMD level in use, levels available, thread count."""
    return dict(_core.info())


def set_num_threads(n: int) -> None:
    """Size of the thread pool every kernel runs in (results do not depend on it).

    ``n`` is an integer in ``1..=max(256, 8 × cores)``; the pool starts now, and
    ``RuntimeError`` (the old size kept) says when the system cannot start it.
    """
    try:
        n = operator.index(n)
    except TypeError:
        raise TypeError(f"set_num_threads: n must be an int; got {type(n).__name__} {n!r}") from None
    _core.set_num_threads(n)


from ._env import warn_env as _warn_env  # noqa: E402

_warn_env()


from . import autograd, functional, io, memory, nn, optim  # noqa: E402
from .autograd import enable_grad, is_grad_enabled, no_grad, set_grad_enabled  # noqa: E402
from .io import load, load_checkpoint, save, save_checkpoint  # noqa: E402
from .nn import functional as F  # noqa: E402  (the one F: torch.nn.functional's signatures)
from .tensor import Tensor, arange, manual_seed, ones, randn, tensor, zeros  # noqa: E402

__all__ = [
    "DTypeError", "F", "ShapeError", "Tensor", "__version__", "arange", "autograd",
    "enable_grad", "functional", "get_num_threads", "info", "io", "is_grad_enabled", "load",
    "load_checkpoint", "manual_seed", "memory", "nn", "no_grad", "ones", "ops", "optim", "randn", "save",
    "save_checkpoint", "set_grad_enabled", "set_num_threads", "tensor", "zeros",
]  # fmt: skip
