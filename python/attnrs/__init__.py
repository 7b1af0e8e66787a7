"""attnrs: CPU deep learning for sequence models (Rust SIMD + rayon core)."""

from __future__ import annotations

import builtins  # noqa: F401  (attnrs.int etc. shadow the builtins below)
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


from . import autograd, cuda, functional, io, memory, nn, optim  # noqa: E402

# torch's top-level functions (they shadow ``abs``, ``max``, ``min``, ``sum`` in this module)
from ._api import (  # noqa: E402, A004
    abs,
    argmax,
    bmm,
    cat,
    clamp,
    cos,
    einsum,
    exp,
    log,
    matmul,
    max,
    maximum,
    mean,
    min,
    minimum,
    multinomial,
    nonzero,
    sigmoid,
    sin,
    softmax,
    sqrt,
    stack,
    sum,
    tanh,
    topk,
    tril,
    tril_indices,
    triu,
    triu_indices,
    where,
)
from .autograd import (  # noqa: E402
    enable_grad,
    inference_mode,
    is_grad_enabled,
    no_grad,
    set_grad_enabled,
)
from .device import device  # noqa: E402

# PyTorch's dtype names: they shadow the builtins ``bool``, ``float``, ``int`` in this module
from .dtypes import bool, float, float32, int, int32, int64, long, uint8  # noqa: E402, A004
from .io import load, load_checkpoint, save, save_checkpoint  # noqa: E402
from .nn import functional as F  # noqa: E402  (the one F: torch.nn.functional's signatures)
from .tensor import (  # noqa: E402
    BoolTensor,
    ByteTensor,
    FloatTensor,
    IntTensor,
    LongTensor,
    Tensor,
    arange,
    as_tensor,
    empty,
    from_numpy,
    full,
    full_like,
    manual_seed,
    ones,
    ones_like,
    rand,
    randint,
    randn,
    randperm,
    tensor,
    zeros,
    zeros_like,
)

__all__ = [
    "DTypeError", "F", "abs", "argmax", "bmm", "cat", "clamp", "cos", "einsum", "exp", "log", "matmul",
    "max", "maximum", "mean", "min", "minimum", "multinomial", "nonzero", "sigmoid", "sin", "softmax", "sqrt", "stack", "sum", "tanh", "topk",
    "tril", "tril_indices", "triu", "triu_indices", "where", "as_tensor", "bool", "cuda", "device", "empty", "from_numpy", "full", "inference_mode", "full_like",
    "ones_like", "rand", "randint", "randperm", "zeros_like", "float", "float32", "int", "int32", "int64", "long", "ShapeError", "Tensor", "__version__", "arange", "autograd",
    "enable_grad", "functional", "get_num_threads", "info", "io", "is_grad_enabled", "load",
    "load_checkpoint", "manual_seed", "memory", "nn", "no_grad", "ones", "ops", "optim", "randn", "save",
    "save_checkpoint", "set_grad_enabled", "set_num_threads", "tensor", "zeros",
    "uint8", "BoolTensor", "ByteTensor", "FloatTensor", "IntTensor", "LongTensor",
]  # fmt: skip
