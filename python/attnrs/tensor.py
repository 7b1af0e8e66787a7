"""Tensor: a float32 NumPy array with reverse-mode autograd.

``t.numpy()`` is zero-copy and ``np.asarray(t)`` works. Operators and
methods delegate to ``attnrs.functional``, where every op pairs its forward
with its backward.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from . import autograd
from ._checks import DTypeError

__all__ = ["Tensor", "arange", "default_rng", "manual_seed", "ones", "randn", "tensor", "zeros"]

_rng = np.random.default_rng()


def manual_seed(seed: int) -> None:
    """Seeds attnrs' random generator (initialisation, dropout, randn)."""
    global _rng
    _rng = np.random.default_rng(int(seed))


def default_rng() -> np.random.Generator:
    return _rng


def _to_array(data: Any) -> np.ndarray:
    if isinstance(data, Tensor):
        return data.data
    arr = np.asarray(data)
    if arr.dtype.kind == "f":
        return arr.astype(np.float32, copy=False)
    if arr.dtype.kind in "iub":
        return arr.astype(np.float32)
    raise DTypeError(f"tensor: data must be numeric (float, int or bool); got dtype {arr.dtype}")


class Tensor:
    __slots__ = ("__weakref__", "_ctx", "_out_index", "data", "grad", "requires_grad")
    __array_priority__ = 1000  # so ndarray ⊕ Tensor defers to Tensor

    def __init__(self, data: Any, requires_grad: bool = False) -> None:
        self.data: np.ndarray = _to_array(data)
        self.grad: Tensor | None = None
        self.requires_grad = bool(requires_grad)
        self._ctx: autograd.Function | None = None
        self._out_index = 0

    @classmethod
    def _wrap(cls, arr: np.ndarray, requires_grad: bool, ctx: Any, index: int) -> Tensor:
        t = cls.__new__(cls)
        if type(arr) is not np.ndarray or arr.dtype != np.float32:
            arr = np.asarray(arr, dtype=np.float32)  # NumPy scalars from 0-d math, other floats
        t.data = arr
        t.grad = None
        t.requires_grad = requires_grad
        t._ctx = ctx
        t._out_index = index
        return t

    def _accumulate(self, g: np.ndarray) -> None:
        if self.grad is None:
            self.grad = Tensor._wrap(np.array(g, dtype=np.float32, copy=True), False, None, 0)
        else:
            self.grad.data = self.grad.data + g

    # --- NumPy interop -------------------------------------------------------------------
    @property
    def shape(self) -> tuple[int, ...]:
        return self.data.shape

    @property
    def ndim(self) -> int:
        return self.data.ndim

    @property
    def dtype(self) -> np.dtype:
        return self.data.dtype

    @property
    def size(self) -> int:
        return self.data.size

    @property
    def is_leaf(self) -> bool:
        return self._ctx is None

    def numpy(self) -> np.ndarray:
        """The underlying array (zero-copy)."""
        return self.data

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        return self.data if dtype is None else self.data.astype(dtype)

    def item(self) -> float:
        return self.data.item()

    def tolist(self) -> Any:
        return self.data.tolist()

    # one-element tensors (any shape) behave like numbers, as in PyTorch
    def _scalar(self, what: str) -> float:
        if self.data.size != 1:
            raise ValueError(
                f"{what}: only a one-element tensor converts to a number; got shape {self.shape}"
            )
        return self.data.item()

    def __float__(self) -> float:
        return float(self._scalar("float()"))

    def __int__(self) -> int:
        return int(self._scalar("int()"))

    def __bool__(self) -> bool:
        return bool(self._scalar("bool()"))

    def __format__(self, spec: str) -> str:
        if spec and self.data.size == 1:
            return format(self.data.item(), spec)
        return format(str(self), spec)

    def __len__(self) -> int:
        return len(self.data)

    def __repr__(self) -> str:
        body = np.array2string(self.data, precision=4, separator=", ", prefix="tensor(")
        grad = ", requires_grad=True" if self.requires_grad else ""
        return f"tensor({body}{grad})"

    # --- autograd ------------------------------------------------------------------------
    def backward(self, grad: Any = None, retain_graph: bool = False) -> None:
        autograd.backward(self, grad, retain_graph=retain_graph)

    def detach(self) -> Tensor:
        return Tensor._wrap(self.data, False, None, 0)

    def requires_grad_(self, flag: bool = True) -> Tensor:
        if self._ctx is not None and not flag:
            raise RuntimeError("requires_grad_: only leaf tensors can stop requiring grad")
        self.requires_grad = bool(flag)
        return self

    def zero_grad(self) -> None:
        self.grad = None


autograd._Tensor = Tensor


def tensor(data: Any, requires_grad: bool = False) -> Tensor:
    """A new leaf Tensor (float32; float64 and integer data are converted)."""
    return Tensor(np.array(_to_array(data), copy=True), requires_grad=requires_grad)


def zeros(*shape: Any, requires_grad: bool = False) -> Tensor:
    shape = tuple(shape[0]) if len(shape) == 1 and isinstance(shape[0], (tuple, list)) else shape
    return Tensor(np.zeros(shape, dtype=np.float32), requires_grad)


def ones(*shape: Any, requires_grad: bool = False) -> Tensor:
    shape = tuple(shape[0]) if len(shape) == 1 and isinstance(shape[0], (tuple, list)) else shape
    return Tensor(np.ones(shape, dtype=np.float32), requires_grad)


def randn(*shape: Any, requires_grad: bool = False) -> Tensor:
    shape = tuple(shape[0]) if len(shape) == 1 and isinstance(shape[0], (tuple, list)) else shape
    return Tensor(_rng.standard_normal(shape, dtype=np.float32), requires_grad)


def arange(*args: Any, requires_grad: bool = False) -> Tensor:
    return Tensor(np.arange(*args, dtype=np.float32), requires_grad)
