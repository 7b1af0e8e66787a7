"""Tensor: a float32 NumPy array with reverse-mode autograd.

``t.numpy()`` is zero-copy and ``np.asarray(t)`` works. Operators and
methods are written on the class and delegate to ``attnrs.functional``,
where every op pairs its forward with its backward.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from . import autograd
from ._validate import DTypeError

__all__ = [
    "Tensor", "arange", "as_tensor", "default_rng", "manual_seed", "ones", "randn", "tensor", "zeros",
]  # fmt: skip

_rng = np.random.default_rng()


def manual_seed(seed: int) -> None:
    """Seeds attnrs' random generator (initialisation, dropout, randn)."""
    global _rng
    _rng = np.random.default_rng(int(seed))


def default_rng() -> np.random.Generator:
    return _rng


_F32 = np.dtype(np.float32)
_DTYPES = {_F32, np.dtype(np.int64), np.dtype(np.int32), np.dtype(np.bool_)}


def as_dtype(dtype: Any, op: str = "tensor") -> np.dtype:
    """A dtype attnrs stores: float32, int64, int32 or bool (other floats become float32)."""
    if dtype is float:
        return _F32
    if dtype is int:
        return np.dtype(np.int64)
    try:
        d = np.dtype(dtype)
    except TypeError:
        raise DTypeError(f"{op}: dtype must be attnrs.float32, int64, int32 or bool; got {dtype!r}") from None
    if d.kind == "f":
        return _F32
    if d not in _DTYPES:
        raise DTypeError(f"{op}: dtype must be attnrs.float32, int64, int32 or bool; got {d}")
    return d


def _to_array(data: Any, dtype: Any = None) -> np.ndarray:
    """``data`` as an array of a stored dtype: floats become float32, bools stay bool,
    int32 stays int32 and other integers become int64 (as ``torch.tensor`` infers)."""
    arr = data.data if isinstance(data, Tensor) else np.asarray(data)
    if dtype is not None:
        return arr.astype(as_dtype(dtype), copy=False)
    kind = arr.dtype.kind
    if kind == "f":
        return arr.astype(np.float32, copy=False)
    if kind == "b" or arr.dtype == np.int32:
        return arr
    if kind in "iu":
        return arr.astype(np.int64, copy=False)
    raise DTypeError(f"tensor: data must be numeric (float, int or bool); got dtype {arr.dtype}")


def _check_grad(arr: np.ndarray, requires_grad: bool) -> bool:
    if requires_grad and arr.dtype != _F32:
        raise RuntimeError(
            f"only floating-point tensors can require gradients; got dtype {arr.dtype}"
        )
    return bool(requires_grad)


class Tensor:
    __slots__ = ("__weakref__", "_ctx", "_out_index", "data", "grad", "requires_grad")
    __array_priority__ = 1000  # so ndarray ⊕ Tensor defers to Tensor

    def __init__(self, data: Any, requires_grad: bool = False, dtype: Any = None) -> None:
        self.data: np.ndarray = _to_array(data, dtype)
        self.grad: Tensor | None = None
        self.requires_grad = _check_grad(self.data, requires_grad)
        self._ctx: autograd.Function | None = None
        self._out_index = 0

    @classmethod
    def _wrap(cls, arr: np.ndarray, requires_grad: bool, ctx: Any, index: int) -> Tensor:
        t = cls.__new__(cls)
        if type(arr) is not np.ndarray or arr.dtype != np.float32:
            arr = np.asarray(arr)  # NumPy scalars from 0-d math
            if arr.dtype.kind == "f":
                arr = arr.astype(np.float32, copy=False)
            else:  # integer and bool results carry no gradient
                arr = _to_array(arr)
                requires_grad, ctx = False, None
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

    # --- operators (comparisons, == and != included, give bool Tensors as in PyTorch;
    # the hash stays by identity, so Tensors still work as dict keys and in sets) -------
    def __add__(self, other: Any) -> Tensor:
        return _fn.add(self, other)

    def __radd__(self, other: Any) -> Tensor:
        return _fn.add(other, self)

    def __sub__(self, other: Any) -> Tensor:
        return _fn.sub(self, other)

    def __rsub__(self, other: Any) -> Tensor:
        return _fn.sub(other, self)

    def __mul__(self, other: Any) -> Tensor:
        return _fn.mul(self, other)

    def __rmul__(self, other: Any) -> Tensor:
        return _fn.mul(other, self)

    def __truediv__(self, other: Any) -> Tensor:
        return _fn.div(self, other)

    def __rtruediv__(self, other: Any) -> Tensor:
        return _fn.div(other, self)

    def __neg__(self) -> Tensor:
        return _fn.neg(self)

    def __pow__(self, p: Any) -> Tensor:
        return _fn.pow(self, p)

    def __rpow__(self, base: Any) -> Tensor:
        return _fn.pow(base, self)

    def __abs__(self) -> Tensor:
        return _fn.abs(self)

    def __matmul__(self, other: Any) -> Tensor:
        return _fn.matmul(self, other)

    def __rmatmul__(self, other: Any) -> Tensor:
        return _fn.matmul(other, self)

    def __getitem__(self, idx: Any) -> Tensor:
        return _fn.getitem(self, idx)

    def __lt__(self, other: Any) -> Tensor:
        return _fn.lt(self, other)

    def __le__(self, other: Any) -> Tensor:
        return _fn.le(self, other)

    def __gt__(self, other: Any) -> Tensor:
        return _fn.gt(self, other)

    def __ge__(self, other: Any) -> Tensor:
        return _fn.ge(self, other)

    def __eq__(self, other: Any) -> Any:  # type: ignore[override]
        return False if other is None else _fn.eq(self, other)

    def __ne__(self, other: Any) -> Any:  # type: ignore[override]
        return True if other is None else _fn.ne(self, other)

    __hash__ = object.__hash__

    def eq(self, other: Any) -> Tensor:
        return _fn.eq(self, other)

    def ne(self, other: Any) -> Tensor:
        return _fn.ne(self, other)

    def lt(self, other: Any) -> Tensor:
        return _fn.lt(self, other)

    def le(self, other: Any) -> Tensor:
        return _fn.le(self, other)

    def gt(self, other: Any) -> Tensor:
        return _fn.gt(self, other)

    def ge(self, other: Any) -> Tensor:
        return _fn.ge(self, other)

    def __invert__(self) -> Tensor:
        if self.data.dtype.kind == "f":
            raise TypeError("~ (bitwise not) is only defined for bool and integer tensors")
        return Tensor(~self.data)

    def __and__(self, other: Any) -> Tensor:
        return Tensor(np.bitwise_and(self.data, _raw(other)))

    def __or__(self, other: Any) -> Tensor:
        return Tensor(np.bitwise_or(self.data, _raw(other)))

    def __xor__(self, other: Any) -> Tensor:
        return Tensor(np.bitwise_xor(self.data, _raw(other)))

    __rand__, __ror__, __rxor__ = __and__, __or__, __xor__

    # --- reductions (PyTorch's ``dim``/``keepdim``; NumPy's ``axis``/``keepdims`` also accepted) --
    def sum(self, dim: Any = None, keepdim: bool = False, **kw: Any) -> Tensor:
        dim, keepdim = _dims(dim, keepdim, kw, "sum")
        return _fn.sum(self, dim, keepdim)

    def mean(self, dim: Any = None, keepdim: bool = False, **kw: Any) -> Tensor:
        dim, keepdim = _dims(dim, keepdim, kw, "mean")
        return _fn.mean(self, dim, keepdim)

    def max(self, dim: Any = None, keepdim: bool = False, **kw: Any) -> Any:
        """The largest value (a 0-d Tensor); with ``dim``, the named tuple ``(values, indices)``."""
        dim, keepdim = _dims(dim, keepdim, kw, "max")
        return _fn.max_dim(self, dim, keepdim) if dim is not None else _fn.max(self)

    def min(self, dim: Any = None, keepdim: bool = False, **kw: Any) -> Any:
        """The smallest value (a 0-d Tensor); with ``dim``, the named tuple ``(values, indices)``."""
        dim, keepdim = _dims(dim, keepdim, kw, "min")
        return _fn.min_dim(self, dim, keepdim) if dim is not None else _fn.min(self)

    def amax(self, dim: Any = None, keepdim: bool = False) -> Tensor:
        return _fn.max(self, dim, keepdim)

    def amin(self, dim: Any = None, keepdim: bool = False) -> Tensor:
        return _fn.min(self, dim, keepdim)

    def argmax(self, dim: Any = None, keepdim: bool = False, **kw: Any) -> Tensor:
        dim, keepdim = _dims(dim, keepdim, kw, "argmax")
        return Tensor(np.asarray(_fn.argmax(self, dim, keepdim)))

    def argmin(self, dim: Any = None, keepdim: bool = False, **kw: Any) -> Tensor:
        dim, keepdim = _dims(dim, keepdim, kw, "argmin")
        return Tensor(np.asarray(_fn.argmin(self, dim, keepdim)))

    # --- shape ---------------------------------------------------------------------------
    def reshape(self, *shape: Any) -> Tensor:
        return _fn.reshape(self, *shape)

    view = reshape

    def permute(self, *axes: Any) -> Tensor:
        return _fn.permute(self, *axes)

    def transpose(self, dim0: int = -2, dim1: int = -1) -> Tensor:
        return _fn.transpose(self, dim0, dim1)

    @property
    def T(self) -> Tensor:  # noqa: N802
        return _fn.permute(self, tuple(reversed(range(self.ndim))))

    def unsqueeze(self, dim: int) -> Tensor:
        return _fn.unsqueeze(self, dim)

    def squeeze(self, dim: Any = None) -> Tensor:
        return _fn.squeeze(self, dim)

    def flatten(self, start_dim: int = 0, end_dim: int = -1) -> Tensor:
        return _fn.flatten(self, start_dim, end_dim)

    def expand(self, *sizes: Any) -> Tensor:
        return _fn.expand(self, *sizes)

    def split(self, split_size_or_sections: Any, dim: int = 0) -> tuple[Tensor, ...]:
        return _fn.split(self, split_size_or_sections, dim)

    def chunk(self, chunks: int, dim: int = 0) -> tuple[Tensor, ...]:
        return _fn.chunk(self, chunks, dim)

    def masked_fill(self, mask: Any, value: float) -> Tensor:
        return _fn.masked_fill(self, mask, value)

    # --- elementwise ---------------------------------------------------------------------
    def pow(self, p: Any) -> Tensor:
        return _fn.pow(self, p)

    def exp(self) -> Tensor:
        return _fn.exp(self)

    def log(self) -> Tensor:
        return _fn.log(self)

    def sqrt(self) -> Tensor:
        return _fn.sqrt(self)

    def abs(self) -> Tensor:
        return _fn.abs(self)

    def clamp(self, min: Any = None, max: Any = None) -> Tensor:  # noqa: A002
        return _fn.clamp(self, min, max)

    def tanh(self) -> Tensor:
        return _fn.tanh(self)

    def sigmoid(self) -> Tensor:
        return _fn.sigmoid(self)

    def relu(self) -> Tensor:
        return _fn.relu(self)

    def gelu(self, approximate: str = "none") -> Tensor:
        return _fn.gelu(self, approximate)

    def softmax(self, dim: int = -1) -> Tensor:
        return _fn.softmax(self, dim)

    def log_softmax(self, dim: int = -1) -> Tensor:
        return _fn.log_softmax(self, dim)

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


def _dims(dim: Any, keepdim: bool, kw: dict, op: str) -> tuple[Any, bool]:
    """A reduction's (dim, keepdim) from PyTorch's names or NumPy's ``axis``/``keepdims``."""
    if "axis" in kw:
        dim = kw.pop("axis")
    if "keepdims" in kw:
        keepdim = kw.pop("keepdims")
    if kw:
        raise TypeError(f"{op}: unexpected keyword argument(s) {sorted(kw)}")
    return dim, bool(keepdim)


def _raw(x: Any) -> Any:
    return x.data if isinstance(x, Tensor) else x


def as_tensor(x: Any) -> Tensor:
    """``x`` if it is a Tensor, else a constant float32 Tensor (no grad)."""
    return x if isinstance(x, Tensor) else Tensor(x)


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


# The methods above call the functional layer, which imports this module:
# bound last, when ``Tensor`` already exists (the import is resolved once).
from . import functional as _fn  # noqa: E402
