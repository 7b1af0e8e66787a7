"""Tensor: a float32 NumPy array with reverse-mode autograd.

``t.numpy()`` is zero-copy and ``np.asarray(t)`` works. Operators and
methods are written on the class and delegate to ``attnrs.functional``,
where every op pairs its forward with its backward.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from . import _core, autograd
from ._validate import DTypeError
from .device import check_device, device

_CPU = device("cpu")
_TYPE_NAMES = {
    np.dtype(np.float32): "torch.FloatTensor", np.dtype(np.int64): "torch.LongTensor",
    np.dtype(np.int32): "torch.IntTensor", np.dtype(np.bool_): "torch.BoolTensor",
    np.dtype(np.uint8): "torch.ByteTensor",
}  # fmt: skip

__all__ = [
    "BoolTensor", "ByteTensor", "FloatTensor", "IntTensor", "LongTensor", "Tensor", "arange", "as_dtype", "as_tensor", "default_rng", "empty", "from_numpy", "full", "full_like",
    "manual_seed", "ones", "ones_like", "rand", "randint", "randn", "randperm", "tensor", "zeros",
    "zeros_like",
]  # fmt: skip

_rng = np.random.default_rng()

# Gradients at least this large are accumulated by `_core.add_` over the
# thread pool; smaller ones by NumPy (a pool call costs more than it saves).
_POOL_ADD_MIN = 1 << 16


def _pool_addable(a: np.ndarray, g: Any) -> bool:
    """Whether ``a += g`` can go through ``_core.add_``: both dense float32
    arrays of one shape that do not overlap."""
    return (
        type(g) is np.ndarray and g.dtype == _F32 and a.dtype == _F32
        and a.flags.c_contiguous and g.flags.c_contiguous and not np.may_share_memory(a, g)
    )  # fmt: skip


def manual_seed(seed: int) -> None:
    """Seeds attnrs' random generator (initialisation, dropout, randn)."""
    global _rng
    _rng = np.random.default_rng(int(seed))


def default_rng() -> np.random.Generator:
    return _rng


_F32 = np.dtype(np.float32)
_DTYPES = {_F32, np.dtype(np.int64), np.dtype(np.int32), np.dtype(np.uint8), np.dtype(np.bool_)}


def as_dtype(dtype: Any, op: str = "tensor") -> np.dtype:
    """A dtype attnrs stores: float32, int64, int32, uint8 or bool (other floats become float32)."""
    if dtype is float:
        return _F32
    if dtype is int:
        return np.dtype(np.int64)
    try:
        d = np.dtype(dtype)
    except TypeError:
        raise DTypeError(f"{op}: dtype must be attnrs.float32, int64, int32, uint8 or bool; got {dtype!r}") from None
    if d.kind == "f":
        return _F32
    if d not in _DTYPES:
        raise DTypeError(f"{op}: dtype must be attnrs.float32, int64, int32, uint8 or bool; got {d}")
    return d


def _to_array(data: Any, dtype: Any = None) -> np.ndarray:
    """``data`` as an array of a stored dtype: floats become float32, bools stay bool,
    int32 and uint8 stay and other integers become int64 (as ``torch.tensor`` infers)."""
    arr = data._array if isinstance(data, Tensor) else np.asarray(data)
    if dtype is not None:
        return arr.astype(as_dtype(dtype), copy=False)
    kind = arr.dtype.kind
    if kind == "f":
        return arr.astype(np.float32, copy=False)
    if kind == "b" or arr.dtype == np.int32 or arr.dtype == np.uint8:
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
    __slots__ = ("__weakref__", "_array", "_consumed", "_ctx", "_out_index", "grad", "requires_grad")
    __array_priority__ = 1000  # so ndarray ⊕ Tensor defers to Tensor

    def __init__(self, data: Any, requires_grad: bool = False, dtype: Any = None) -> None:
        self._array: np.ndarray = _to_array(data, dtype)
        self.grad: Tensor | None = None
        self.requires_grad = _check_grad(self._array, requires_grad)
        self._ctx: autograd.Function | None = None
        self._out_index = 0

    @classmethod
    def _wrap(cls, arr: np.ndarray, requires_grad: bool, ctx: Any, index: int) -> Tensor:
        t = cls.__new__(cls)
        if type(arr) is not np.ndarray or arr.dtype is not _F32:  # (equal, not it: no copy below)
            arr = np.asarray(arr)  # NumPy scalars from 0-d math
            if arr.dtype.kind == "f":
                arr = arr.astype(np.float32, copy=False)
            else:  # integer and bool results carry no gradient
                arr = _to_array(arr)
                requires_grad, ctx = False, None
        t._array = arr
        t.grad = None
        t.requires_grad = requires_grad
        t._ctx = ctx
        t._out_index = index
        return t

    def _accumulate(self, g: np.ndarray) -> None:
        if self.grad is None:
            self.grad = Tensor._wrap(np.array(g, dtype=np.float32, copy=True), False, None, 0)
        else:
            a = self.grad._array
            if a.flags.writeable and a.shape == np.shape(g):
                # In place, as PyTorch accumulates .grad: no new array (and its
                # page faults) per contribution (a 1M-float gradient: 0.27 ms
                # instead of 0.4-0.8 ms). Large dense ones are added over the
                # thread pool (the same bits: each element is one f32 sum).
                if a.size >= _POOL_ADD_MIN and _pool_addable(a, g):
                    _core.add_(a, g)
                else:
                    np.add(a, g, out=a)
            else:
                self.grad._array = a + g

    # --- NumPy interop -------------------------------------------------------------------
    @property
    def shape(self) -> tuple[int, ...]:
        return self._array.shape

    @property
    def ndim(self) -> int:
        return self._array.ndim

    @property
    def dtype(self) -> np.dtype:
        return self._array.dtype

    def size(self, dim: int | None = None) -> Any:
        """The shape as a tuple (``size()``), or one extent (``size(d)``), as in PyTorch.

        (``.size`` was the element count before; that is ``numel()``.)
        """
        return self._array.shape if dim is None else self._array.shape[dim]

    def numel(self) -> int:
        return self._array.size

    def nelement(self) -> int:
        return self._array.size

    def dim(self) -> int:
        return self._array.ndim

    def element_size(self) -> int:
        return self._array.itemsize

    # --- dtypes and devices (CPU only) ---------------------------------------------------
    @property
    def device(self) -> Any:
        return _CPU

    @property
    def is_cuda(self) -> bool:
        return False

    @property
    def is_floating_point_dtype(self) -> bool:
        return self._array.dtype.kind == "f"

    def is_floating_point(self) -> bool:
        return self._array.dtype.kind == "f"

    def _cast(self, dtype: Any) -> Tensor:
        dt = as_dtype(dtype, "to")
        if dt == self._array.dtype:
            return self
        if dt.kind == "f" and self._array.dtype.kind == "f":
            return self
        return Tensor(self._array.astype(dt))  # a new leaf: casts to and from integers carry no grad

    def to(self, *args: Any, **kwargs: Any) -> Tensor:
        """``to(dtype)``, ``to(device)``, ``to(device, dtype)``, ``to(other)`` (its dtype).

        Only the CPU exists (another device raises); float64 stays float32.
        """
        out = self
        for a in (*args, kwargs.get("device"), kwargs.get("dtype")):
            if a is None or isinstance(a, bool):
                continue
            if isinstance(a, Tensor):
                out = out._cast(a._array.dtype)
                continue
            try:
                dt = as_dtype(a, "to")
            except TypeError:
                check_device(a)
                continue
            out = out._cast(dt)
        if kwargs.get("copy") and out is self:
            out = self.clone()
        return out

    def type_as(self, other: Any) -> Tensor:
        return self._cast(np.asarray(other).dtype)

    def type(self, dtype: Any = None) -> Any:
        """Without ``dtype``, PyTorch's type name (``"torch.FloatTensor"``…); with it, a cast."""
        if dtype is None:
            return _TYPE_NAMES[self._array.dtype]
        return self._cast(dtype)

    def long(self) -> Tensor:
        return self._cast(np.int64)

    def int(self) -> Tensor:
        return self._cast(np.int32)

    def float(self) -> Tensor:
        return self._cast(np.float32)

    double = float  # float64 is stored as float32 in attnrs

    def bool(self) -> Tensor:
        return self._cast(np.bool_)

    def cpu(self) -> Tensor:
        return self

    def cuda(self, *args: Any, **kwargs: Any) -> Tensor:
        raise RuntimeError("cuda: attnrs runs on the CPU only (attnrs.cuda.is_available() is False)")

    def contiguous(self) -> Tensor:
        return self

    def clone(self) -> Tensor:
        """A copy that stays in the graph (gradients flow back to ``self``)."""
        if self._array.dtype.kind != "f":
            return Tensor(self._array.copy())
        return _fn.mul(self, 1.0)

    def new_zeros(self, *size: Any, dtype: Any = None, requires_grad: bool = False, device: Any = None) -> Tensor:
        return zeros(*size, dtype=self.dtype if dtype is None else dtype, requires_grad=requires_grad)

    def new_ones(self, *size: Any, dtype: Any = None, requires_grad: bool = False, device: Any = None) -> Tensor:
        return ones(*size, dtype=self.dtype if dtype is None else dtype, requires_grad=requires_grad)

    def new_full(self, size: Any, fill_value: Any, dtype: Any = None, requires_grad: bool = False,
                 device: Any = None) -> Tensor:  # fmt: skip
        return full(size, fill_value, dtype=self.dtype if dtype is None else dtype, requires_grad=requires_grad)

    def new_tensor(self, data: Any, dtype: Any = None, requires_grad: bool = False, device: Any = None) -> Tensor:
        return tensor(data, dtype=dtype, requires_grad=requires_grad)

    @property
    def is_leaf(self) -> bool:
        return self._ctx is None

    @property
    def data(self) -> Tensor:
        """PyTorch's ``.data``: a Tensor on the same storage, detached from the graph and
        not requiring grad, so ``p.data.copy_(w)`` or ``p.data.normal_()`` write into ``p``
        without recording anything. The NumPy array is ``numpy()``."""
        return Tensor._wrap(self._array, False, None, 0)

    @data.setter
    def data(self, value: Any) -> None:
        """``t.data = other``: ``t`` takes ``other``'s storage (shared, as in PyTorch); a
        NumPy array is accepted too (converted like ``attnrs.tensor``)."""
        arr = _to_array(value)
        if self.requires_grad and arr.dtype != _F32:
            raise RuntimeError(f"data: a tensor that requires grad must stay float32; got dtype {arr.dtype}")
        self._array = arr

    def numpy(self) -> np.ndarray:
        """The underlying array (zero-copy)."""
        return self._array

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        return self._array if dtype is None else self._array.astype(dtype)

    def item(self) -> float:
        return self._array.item()

    def tolist(self) -> Any:
        return self._array.tolist()

    # one-element tensors (any shape) behave like numbers, as in PyTorch
    def _scalar(self, what: str) -> float:
        if self._array.size != 1:
            raise ValueError(
                f"{what}: only a one-element tensor converts to a number; got shape {self.shape}"
            )
        return self._array.item()

    def __float__(self) -> float:
        return float(self._scalar("float()"))

    def __int__(self) -> int:
        return int(self._scalar("int()"))

    def __index__(self) -> int:
        """A one-element integer tensor used as an index (``range(t)``, ``lst[t]``)."""
        if self._array.dtype.kind not in "iub":
            raise TypeError("only integer tensors of a single element can be converted to an index")
        return int(self._scalar("__index__"))

    def __bool__(self) -> bool:
        return bool(self._scalar("bool()"))

    def __format__(self, spec: str) -> str:
        if spec and self._array.size == 1:
            return format(self._array.item(), spec)
        return format(str(self), spec)

    def __len__(self) -> int:
        return len(self._array)

    def __repr__(self) -> str:
        body = np.array2string(self._array, precision=4, separator=", ", prefix="tensor(")
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
        if self._array.dtype.kind == "f":
            raise TypeError("~ (bitwise not) is only defined for bool and integer tensors")
        return Tensor(~self._array)

    def __and__(self, other: Any) -> Tensor:
        return Tensor(np.bitwise_and(self._array, _raw(other)))

    def __or__(self, other: Any) -> Tensor:
        return Tensor(np.bitwise_or(self._array, _raw(other)))

    def __xor__(self, other: Any) -> Tensor:
        return Tensor(np.bitwise_xor(self._array, _raw(other)))

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
        if isinstance(dim, Tensor):  # max(other): the elementwise maximum
            return _fn.maximum(self, dim)
        dim, keepdim = _dims(dim, keepdim, kw, "max")
        return _fn.max_dim(self, dim, keepdim) if dim is not None else _fn.max(self)

    def min(self, dim: Any = None, keepdim: bool = False, **kw: Any) -> Any:
        """The smallest value (a 0-d Tensor); with ``dim``, the named tuple ``(values, indices)``."""
        if isinstance(dim, Tensor):  # min(other): the elementwise minimum
            return _fn.minimum(self, dim)
        dim, keepdim = _dims(dim, keepdim, kw, "min")
        return _fn.min_dim(self, dim, keepdim) if dim is not None else _fn.min(self)

    def maximum(self, other: Any) -> Tensor:
        return _fn.maximum(self, other)

    def minimum(self, other: Any) -> Tensor:
        return _fn.minimum(self, other)

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

    def gather(self, dim: int, index: Any) -> Tensor:
        return _fn.gather(self, dim, index)

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

    # --- more of PyTorch's Tensor surface (compositions of the ops above) ------------------
    def sin(self) -> Tensor:
        return _fn.sin(self)

    def cos(self) -> Tensor:
        return _fn.cos(self)

    def var(self, dim: Any = None, unbiased: Any = None, keepdim: bool = False, *,
            correction: Any = None) -> Tensor:  # fmt: skip
        """Variance over ``dim`` with Bessel's correction by default (``correction=1``), as PyTorch."""
        corr = 1 if correction is None and unbiased is None else (
            int(correction) if correction is not None else int(bool(unbiased)))  # fmt: skip
        n = self._array.size if dim is None else math.prod(
            self.shape[d] for d in ((dim,) if isinstance(dim, int) else dim))  # fmt: skip
        mu = self.mean(dim, keepdim=True)
        sq = ((self - mu) ** 2).sum(dim, keepdim=keepdim)
        return sq / float(max(n - corr, 0)) if n - corr > 0 else sq * float("nan")

    def std(self, dim: Any = None, unbiased: Any = None, keepdim: bool = False, *,
            correction: Any = None) -> Tensor:  # fmt: skip
        return self.var(dim, unbiased, keepdim, correction=correction).sqrt()

    def t(self) -> Tensor:
        if self.ndim > 2:
            raise ValueError(f"t: expects a tensor with <= 2 dims; got shape {self.shape}")
        return self if self.ndim < 2 else self.transpose(0, 1)

    def narrow(self, dim: int, start: int, length: int) -> Tensor:
        idx = [slice(None)] * self.ndim
        idx[dim] = slice(int(start), int(start) + int(length))
        return self[tuple(idx)]

    def repeat(self, *sizes: Any) -> Tensor:
        """Tiles the tensor ``sizes[i]`` times along dim i (``torch.Tensor.repeat``)."""
        sizes = tuple(sizes[0]) if len(sizes) == 1 and isinstance(sizes[0], (tuple, list)) else sizes
        if len(sizes) < self.ndim:
            raise ValueError(f"repeat: need at least {self.ndim} sizes; got {sizes}")
        x = self.reshape((1,) * (len(sizes) - self.ndim) + tuple(self.shape))
        for d, n in enumerate(sizes):
            if n != 1:
                x = _fn.cat([x] * int(n), d)
        return x

    def tril(self, diagonal: int = 0) -> Tensor:
        return _fn.tril(self, diagonal)

    def triu(self, diagonal: int = 0) -> Tensor:
        return _fn.triu(self, diagonal)

    def topk(self, k: int, dim: int = -1, largest: bool = True, sorted: bool = True) -> Any:  # noqa: A002
        return _fn.topk(self, k, dim, largest, sorted)

    def scatter(self, dim: int, index: Any, src: Any) -> Tensor:
        """A copy with ``out[index[i][j]][j] = src[i][j]`` (dim 0; likewise for any dim), no grad."""
        out = self._array.copy()
        idx = _fn.as_index_array(index, "scatter")
        vals = np.broadcast_to(np.asarray(_raw(src), dtype=out.dtype), idx.shape) if np.ndim(_raw(src)) == 0 \
            else np.asarray(_raw(src), dtype=out.dtype)[tuple(slice(0, n) for n in idx.shape)]
        np.put_along_axis(out, idx, vals, axis=dim)
        return Tensor(out)

    def scatter_(self, dim: int, index: Any, src: Any) -> Tensor:
        self._inplace("scatter_")
        self._array[...] = self.scatter(dim, index, src)._array
        return self

    def nonzero(self, as_tuple: bool = False) -> Any:
        """Indices of the non-zero entries: an int64 (N, ndim) tensor, or one per dim."""
        if as_tuple:
            return tuple(Tensor(i.astype(np.int64)) for i in np.nonzero(self._array))
        return Tensor(np.argwhere(self._array).astype(np.int64))

    def index_fill_(self, dim: int, index: Any, value: Any) -> Tensor:
        self._inplace("index_fill_")
        idx = [slice(None)] * self.ndim
        idx[dim] = np.asarray(_raw(index), dtype=np.int64).reshape(-1)
        self._array[tuple(idx)] = _raw(value)
        return self

    # --- in place (PyTorch's rule: not on a leaf that requires grad while grad mode is on) --
    def _inplace(self, op: str) -> None:
        if self.requires_grad and autograd.is_grad_enabled():
            if self._ctx is None:
                raise RuntimeError(
                    f"{op}: a leaf Variable that requires grad is being used in an in-place operation "
                    "(wrap it in attnrs.no_grad())"
                )
            raise RuntimeError(
                f"{op}: in-place ops on a tensor that is part of the graph are not supported by "
                "attnrs' autograd; use the out-of-place op (x = x + y)"
            )

    def _on_graph(self, op: str, other: Any = None) -> bool:
        """Whether an in-place op must be recorded: grad mode is on and ``self`` (or the
        value written into it) requires grad. A leaf that requires grad raises, as in PyTorch."""
        if not autograd.is_grad_enabled():
            return False
        if self.requires_grad and self._ctx is None:
            self._inplace(op)
        return self.requires_grad or (isinstance(other, Tensor) and other.requires_grad)

    def _rebase(self, op: str, out_of_place: Any) -> Tensor:
        """An in-place op on a graph node, as PyTorch records it: ``self`` becomes the output
        of ``out_of_place(previous value)``, so later ops see the new value and backward
        routes through the op. ``self`` gets a new array, so arrays saved by earlier ops stay
        intact. Refused when ``self`` requires grad and a recorded op already read it (that
        op's gradient would be rerouted: PyTorch's version-counter error, raised at once)."""
        if self.requires_grad and getattr(self, "_consumed", False):
            raise RuntimeError(
                f"{op}: this tensor was already used by another recorded op, so changing it in place "
                "would change that op's gradient; use the out-of-place op (x = x.masked_fill(...))"
            )
        before = Tensor._wrap(self._array, self.requires_grad, self._ctx, self._out_index)
        res = out_of_place(before)
        self._array, self._ctx, self._out_index = res._array, res._ctx, res._out_index
        self.requires_grad = res.requires_grad
        return self

    def _set(self, op: str, values: Any) -> Tensor:
        self._inplace(op)
        self._array[...] = values
        return self

    def _update(self, op: str, other: Any, on_graph: Any, values: Any) -> Tensor:
        """An in-place op: recorded with ``on_graph(previous value)`` when grad mode is on
        and ``self`` or ``other`` requires grad, else ``values(array)`` written in place."""
        if self._on_graph(op, other):
            return self._rebase(op, on_graph)
        return self._set(op, values(self._array))

    def add_(self, other: Any, alpha: float = 1.0) -> Tensor:
        return self._update("add_", other, lambda t: t + (other if alpha == 1.0 else other * alpha),
                            lambda a: a + alpha * np.asarray(_raw(other)))  # fmt: skip

    def sub_(self, other: Any, alpha: float = 1.0) -> Tensor:
        return self._update("sub_", other, lambda t: t - (other if alpha == 1.0 else other * alpha),
                            lambda a: a - alpha * np.asarray(_raw(other)))  # fmt: skip

    def mul_(self, other: Any) -> Tensor:
        return self._update("mul_", other, lambda t: t * other, lambda a: a * np.asarray(_raw(other)))

    def div_(self, other: Any) -> Tensor:
        return self._update("div_", other, lambda t: t / other, lambda a: a / np.asarray(_raw(other)))

    def fill_(self, value: Any) -> Tensor:
        return self._update("fill_", value, lambda t: _fn.setitem(t, Ellipsis, value), lambda a: _raw(value))

    def zero_(self) -> Tensor:
        return self._update("zero_", None, lambda t: _fn.setitem(t, Ellipsis, 0.0), lambda a: 0)

    def copy_(self, src: Any) -> Tensor:
        return self._update("copy_", src, lambda t: _fn.setitem(t, Ellipsis, src),
                            lambda a: np.broadcast_to(np.asarray(_raw(src)), self.shape))  # fmt: skip

    def clamp_(self, min: Any = None, max: Any = None) -> Tensor:  # noqa: A002
        return self._update("clamp_", None, lambda t: t.clamp(min, max), lambda a: np.clip(a, min, max))

    def masked_fill_(self, mask: Any, value: Any) -> Tensor:
        if self._on_graph("masked_fill_"):
            return self._rebase("masked_fill_", lambda t: _fn.masked_fill(t, mask, value))
        return self._set("masked_fill_", np.where(np.asarray(_raw(mask), dtype=bool), _raw(value), self._array))

    def normal_(self, mean: float = 0.0, std: float = 1.0) -> Tensor:
        return self._set("normal_", _rng.normal(mean, std, self.shape))

    def uniform_(self, a: float = 0.0, b: float = 1.0) -> Tensor:
        return self._set("uniform_", _rng.uniform(a, b, self.shape))

    def __setitem__(self, idx: Any, value: Any) -> None:
        if self._on_graph("__setitem__", value):
            if self._array.dtype != _F32:
                raise RuntimeError("__setitem__: a tensor that requires grad can be written only into float32")
            self._rebase("__setitem__", lambda t: _fn.setitem(t, idx, value))
            return
        if isinstance(idx, Tensor):
            idx = idx._array
        elif isinstance(idx, tuple):
            idx = tuple(i._array if isinstance(i, Tensor) else i for i in idx)
        self._array[idx] = _raw(value)

    def _iop(self, op: str, other: Any, out_of_place: Any) -> Tensor:
        """``x += y``: in place when no graph is involved (PyTorch's aliasing); on a graph
        node it rebinds to the out-of-place result, so gradients stay right."""
        if self.requires_grad and autograd.is_grad_enabled():
            if self._ctx is None:
                self._inplace(op)  # raises, as PyTorch does for a leaf
            return out_of_place(self, other)
        if isinstance(other, Tensor) and other.requires_grad and autograd.is_grad_enabled():
            return out_of_place(self, other)
        res = np.asarray(out_of_place(Tensor(self._array), other if isinstance(other, Tensor) else _raw(other))._array)
        if res.dtype != self._array.dtype and self._array.dtype.kind != "f" and res.dtype.kind == "f":
            raise TypeError(f"{op}: result type float32 can't be cast to the tensor's dtype {self._array.dtype}")
        self._array[...] = res
        return self

    def __iadd__(self, other: Any) -> Tensor:
        return self._iop("__iadd__", other, _fn.add)

    def __isub__(self, other: Any) -> Tensor:
        return self._iop("__isub__", other, _fn.sub)

    def __imul__(self, other: Any) -> Tensor:
        return self._iop("__imul__", other, _fn.mul)

    def __itruediv__(self, other: Any) -> Tensor:
        return self._iop("__itruediv__", other, _fn.div)

    # --- autograd ------------------------------------------------------------------------
    def backward(self, grad: Any = None, retain_graph: bool = False) -> None:
        autograd.backward(self, grad, retain_graph=retain_graph)

    def detach(self) -> Tensor:
        return Tensor._wrap(self._array, False, None, 0)

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
    return x._array if isinstance(x, Tensor) else x


def as_tensor(x: Any, dtype: Any = None, device: Any = None) -> Tensor:
    """``x`` if it is a Tensor (cast to ``dtype`` if given), else a constant Tensor (no grad)."""
    check_device(device)
    if isinstance(x, Tensor):
        return x if dtype is None else x._cast(dtype)
    return Tensor(x, dtype=dtype)


def tensor(data: Any, dtype: Any = None, device: Any = None, requires_grad: bool = False) -> Tensor:
    """A new leaf Tensor (a copy), its dtype inferred as ``torch.tensor`` does: floats
    become float32 (float64 included), Python ints and integer arrays int64, bools bool."""
    check_device(device)
    if isinstance(dtype, bool):  # the old signature tensor(data, requires_grad)
        dtype, requires_grad = None, dtype
    return Tensor(np.array(_to_array(data, dtype), copy=True), requires_grad=requires_grad)


def from_numpy(arr: np.ndarray) -> Tensor:
    """A Tensor sharing ``arr``'s memory when its dtype is one attnrs stores
    (float32, int64, int32, bool); other dtypes are converted (a copy)."""
    if not isinstance(arr, np.ndarray):
        raise TypeError(f"from_numpy: expected a NumPy array; got {type(arr).__name__}")
    return Tensor(arr)


def _shape(shape: tuple) -> tuple[int, ...]:
    if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
        shape = tuple(shape[0])
    return tuple(int(n) for n in shape)


def _float_dtype(dtype: Any, op: str) -> np.dtype:
    dt = _F32 if dtype is None else as_dtype(dtype, op)
    if dt.kind != "f":
        raise DTypeError(f"{op}: draws floating-point numbers; dtype must be float32, got {dt}")
    return dt


def zeros(*shape: Any, dtype: Any = None, requires_grad: bool = False, device: Any = None) -> Tensor:
    check_device(device)
    return Tensor(np.zeros(_shape(shape), dtype=_F32 if dtype is None else as_dtype(dtype)), requires_grad)


def ones(*shape: Any, dtype: Any = None, requires_grad: bool = False, device: Any = None) -> Tensor:
    check_device(device)
    return Tensor(np.ones(_shape(shape), dtype=_F32 if dtype is None else as_dtype(dtype)), requires_grad)


def empty(*shape: Any, dtype: Any = None, requires_grad: bool = False, device: Any = None) -> Tensor:
    """Like ``zeros`` (attnrs fills with zeros; never read an ``empty`` tensor before writing)."""
    return zeros(*shape, dtype=dtype, requires_grad=requires_grad, device=device)


def full(size: Any, fill_value: Any, dtype: Any = None, requires_grad: bool = False, device: Any = None) -> Tensor:
    """``size`` filled with ``fill_value``; the dtype is inferred from it as in PyTorch."""
    check_device(device)
    dt = as_dtype(dtype) if dtype is not None else _to_array(np.asarray(fill_value)).dtype
    return Tensor(np.full(_shape((size,)) if not isinstance(size, int) else (size,), fill_value, dtype=dt), requires_grad)


def zeros_like(x: Any, dtype: Any = None, requires_grad: bool = False, device: Any = None) -> Tensor:
    return zeros(np.shape(x), dtype=np.asarray(x).dtype if dtype is None else dtype, requires_grad=requires_grad)


def ones_like(x: Any, dtype: Any = None, requires_grad: bool = False, device: Any = None) -> Tensor:
    return ones(np.shape(x), dtype=np.asarray(x).dtype if dtype is None else dtype, requires_grad=requires_grad)


def full_like(x: Any, fill_value: Any, dtype: Any = None, requires_grad: bool = False, device: Any = None) -> Tensor:
    return full(np.shape(x), fill_value, dtype=np.asarray(x).dtype if dtype is None else dtype,
                requires_grad=requires_grad)  # fmt: skip


def randn(*shape: Any, dtype: Any = None, requires_grad: bool = False, device: Any = None,
          generator: Any = None) -> Tensor:  # fmt: skip
    check_device(device)
    return Tensor(_rng.standard_normal(_shape(shape), dtype=_float_dtype(dtype, "randn")), requires_grad)


def rand(*shape: Any, dtype: Any = None, requires_grad: bool = False, device: Any = None,
         generator: Any = None) -> Tensor:  # fmt: skip
    """Uniform on [0, 1)."""
    check_device(device)
    return Tensor(_rng.random(_shape(shape), dtype=_float_dtype(dtype, "rand")), requires_grad)


def randint(low: int, high: int | None = None, size: Any = (), dtype: Any = None, device: Any = None,
            generator: Any = None) -> Tensor:  # fmt: skip
    """Integers uniform on [low, high) (``randint(high, size)`` takes low = 0), int64 by default."""
    check_device(device)
    if high is None:
        low, high = 0, low
    if isinstance(size, int):
        size = (size,)
    dt = np.dtype(np.int64) if dtype is None else as_dtype(dtype, "randint")
    return Tensor(_rng.integers(low, high, size=tuple(size)).astype(dt))


def randperm(n: int, dtype: Any = None, device: Any = None, generator: Any = None) -> Tensor:
    check_device(device)
    return Tensor(_rng.permutation(int(n)).astype(np.int64 if dtype is None else as_dtype(dtype, "randperm")))


def arange(*args: Any, dtype: Any = None, requires_grad: bool = False, device: Any = None, **kw: Any) -> Tensor:
    """``arange(end)``, ``arange(start, end[, step])``: int64 when every argument is an int
    (as in PyTorch), float32 otherwise or with ``dtype=``."""
    check_device(device)
    args = args + tuple(kw[k] for k in ("start", "end", "step") if k in kw)
    if dtype is None:
        ints = all(isinstance(a, (int, np.integer)) and not isinstance(a, bool) for a in args)
        dtype = np.int64 if ints else np.float32
    return Tensor(np.arange(*args).astype(as_dtype(dtype, "arange")), requires_grad)


# The methods above call the functional layer, which imports this module:
# bound last, when ``Tensor`` already exists (the import is resolved once).
from . import functional as _fn  # noqa: E402


def _legacy_constructor(dtype: np.dtype, name: str) -> Any:
    def make(*args: Any) -> Tensor:
        if args and all(isinstance(a, (int, np.integer)) and not isinstance(a, bool) for a in args):
            return zeros(*args, dtype=dtype)  # torch.LongTensor(2, 3): a (2, 3) tensor
        if len(args) != 1:
            raise TypeError(f"{name}: takes one sequence or array, or sizes; got {len(args)} arguments")
        return tensor(args[0], dtype=dtype)

    make.__name__ = make.__qualname__ = name
    make.__doc__ = f"PyTorch's legacy ``torch.{name}(data)`` / ``torch.{name}(*sizes)``."
    return make


FloatTensor = _legacy_constructor(_F32, "FloatTensor")
LongTensor = _legacy_constructor(np.dtype(np.int64), "LongTensor")
IntTensor = _legacy_constructor(np.dtype(np.int32), "IntTensor")
ByteTensor = _legacy_constructor(np.dtype(np.uint8), "ByteTensor")
BoolTensor = _legacy_constructor(np.dtype(np.bool_), "BoolTensor")
