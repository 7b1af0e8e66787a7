"""Shape ops, indexing, joining and selection (NumPy views where possible).

Indexing follows NumPy (slices, ints, None, Ellipsis, integer arrays,
boolean masks); its backward scatters with ``np.add.at`` when an index
array may repeat positions.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from .._validate import ShapeError, as_index, as_mask, norm_axis
from ..autograd import Function, unbroadcast
from ..tensor import Tensor, as_tensor

__all__ = [
    "cat",
    "permute",
    "reshape",
    "transpose",
    "chunk",
    "concatenate",
    "expand",
    "flatten",
    "getitem",
    "masked_fill",
    "split",
    "squeeze",
    "stack",
    "unsqueeze",
    "where",
]  # fmt: skip


# --- reshaping ---------------------------------------------------------------------------


class Reshape(Function):
    """Any reshape: the backward reshapes the gradient back."""

    @staticmethod
    def forward(ctx, x, shape):
        ctx.shape = x.shape
        return x.reshape(shape)

    @staticmethod
    def backward(ctx, g):
        return g.reshape(ctx.shape)


class Permute(Function):
    @staticmethod
    def forward(ctx, x, axes):
        ctx.axes = tuple(a % x.ndim for a in axes)
        return x.transpose(ctx.axes)

    @staticmethod
    def backward(ctx, g):
        return g.transpose(np.argsort(ctx.axes))


def reshape(x: Tensor, *shape: Any) -> Tensor:
    shape = tuple(shape[0]) if len(shape) == 1 and isinstance(shape[0], (tuple, list)) else shape
    return Reshape.apply(x, shape)


def permute(x: Tensor, *axes: Any) -> Tensor:
    axes = tuple(axes[0]) if len(axes) == 1 and isinstance(axes[0], (tuple, list)) else axes
    return Permute.apply(x, axes)


def transpose(x: Tensor, dim0: int = -2, dim1: int = -1) -> Tensor:
    axes = list(range(x.ndim))
    axes[dim0], axes[dim1] = axes[dim1], axes[dim0]
    return Permute.apply(x, tuple(axes))


def unsqueeze(x: Tensor, dim: int) -> Tensor:
    """Inserts an axis of length 1 at ``dim`` (``-1`` appends, as in PyTorch)."""
    d = norm_axis(dim, x.ndim + 1, "unsqueeze")
    return Reshape.apply(x, x.shape[:d] + (1,) + x.shape[d:])


def squeeze(x: Tensor, dim: Any = None) -> Tensor:
    """Drops length-1 axes (all of them, or those in ``dim``; others are kept, as in PyTorch)."""
    if dim is None:
        shape = tuple(n for n in x.shape if n != 1)
    else:
        dims = (dim,) if isinstance(dim, (int, np.integer)) else tuple(dim)
        drop = {norm_axis(d, x.ndim, "squeeze") for d in dims}
        shape = tuple(n for i, n in enumerate(x.shape) if not (i in drop and n == 1))
    return Reshape.apply(x, shape)


def flatten(x: Tensor, start_dim: int = 0, end_dim: int = -1) -> Tensor:
    """Merges axes ``start_dim..end_dim`` (inclusive) into one."""
    if x.ndim == 0:
        return Reshape.apply(x, (1,))
    s = norm_axis(start_dim, x.ndim, "flatten", "start_dim")
    e = norm_axis(end_dim, x.ndim, "flatten", "end_dim")
    if s > e:
        raise ShapeError(
            f"flatten: start_dim ({start_dim}) must not come after end_dim ({end_dim})"
        )
    n = int(np.prod(x.shape[s : e + 1], dtype=np.int64))
    return Reshape.apply(x, x.shape[:s] + (n,) + x.shape[e + 1 :])


class Expand(Function):
    @staticmethod
    def forward(ctx, x, shape):
        return np.broadcast_to(x, shape)

    @staticmethod
    def backward(ctx, g):
        return g  # the walk sums over the broadcast axes


def expand(x: Tensor, *sizes: Any) -> Tensor:
    """A broadcast view to ``sizes`` (``-1`` keeps an axis); no copy."""
    sizes = tuple(sizes[0]) if len(sizes) == 1 and isinstance(sizes[0], (tuple, list)) else sizes
    lead = len(sizes) - x.ndim
    if lead < 0:
        raise ShapeError(f"expand: needs at least {x.ndim} sizes for shape {x.shape}; got {sizes}")
    shape = tuple(x.shape[i - lead] if n == -1 and i >= lead else n for i, n in enumerate(sizes))
    try:
        np.broadcast_shapes(x.shape, shape)
    except ValueError:
        raise ShapeError(f"expand: shape {x.shape} cannot expand to {sizes}") from None
    if any(n < 0 for n in shape):
        raise ShapeError(f"expand: sizes must be non-negative (or -1 to keep an axis); got {sizes}")
    return Expand.apply(x, shape)


# --- indexing ----------------------------------------------------------------------------


def _norm_index(idx: Any) -> tuple[Any, bool]:
    """NumPy index with Tensors/lists turned into arrays; and whether it is advanced."""
    parts = idx if isinstance(idx, tuple) else (idx,)
    out, advanced = [], False
    for p in parts:
        if isinstance(p, Tensor):
            p = p._array if p._array.dtype == np.bool_ else as_index(p, "getitem", "index")
            if p.ndim == 0 and p.dtype != np.bool_:
                p = int(p)  # a 0-d integer tensor indexes like an int (the axis goes away)
            else:
                advanced = True
        elif isinstance(p, (list, np.ndarray)):
            p = np.asarray(p)
            if p.size == 0 and p.dtype.kind == "f":
                p = p.astype(np.int64)
            if p.dtype.kind not in "iub":
                raise TypeError(
                    f"getitem: index arrays must hold integers or bools; got dtype {p.dtype}"
                )
            advanced = True
        out.append(p)
    return (tuple(out) if isinstance(idx, tuple) else out[0]), advanced


class GetItem(Function):
    @staticmethod
    def forward(ctx, x, idx, advanced):
        ctx.shape, ctx.idx, ctx.advanced = x.shape, idx, advanced
        return np.asarray(x[idx])

    @staticmethod
    def backward(ctx, g):
        gx = np.zeros(ctx.shape, dtype=np.float32)
        if ctx.advanced:
            np.add.at(gx, ctx.idx, g)  # repeated positions accumulate
        else:
            gx[ctx.idx] = g
        return gx


def getitem(x: Tensor, idx: Any) -> Tensor:
    """``x[idx]`` with NumPy semantics; integer Tensors act as index arrays."""
    idx, advanced = _norm_index(idx)
    try:
        return GetItem.apply(x, idx, advanced)
    except IndexError as e:
        raise IndexError(f"getitem: {e} (tensor shape {x.shape})") from None


class SetItem(Function):
    """``out = x`` with ``out[idx] = value``: the gradient reaches ``x`` everywhere but the
    written positions, and ``value`` from the positions it was written to."""

    @staticmethod
    def forward(ctx, x, value, idx):
        out = x.copy()
        out[idx] = value
        ctx.idx, ctx.vshape = idx, np.shape(value)
        return out

    @staticmethod
    def backward(ctx, g):
        gx = g.copy()
        gx[ctx.idx] = 0.0
        gv = None
        if ctx.needs_input_grad[1]:
            gv = unbroadcast(np.asarray(g[ctx.idx]), ctx.vshape)
        return gx, gv


def setitem(x: Tensor, idx: Any, value: Any) -> Tensor:
    """A copy of ``x`` with ``[idx] = value`` written (NumPy indexing), differentiable in
    ``x`` and in a tensor ``value``; ``Tensor.__setitem__`` on a graph node uses it."""
    idx, _ = _norm_index(idx)
    try:
        return SetItem.apply(x, value, idx)
    except (IndexError, ValueError) as e:
        raise type(e)(f"setitem: {e} (tensor shape {x.shape})") from None


class Gather(Function):
    @staticmethod
    def forward(ctx, x, index, axis):
        # index may be smaller than x in the other axes (PyTorch): read only that corner
        corner = tuple(slice(0, n) if i != axis else slice(None) for i, n in enumerate(index.shape))
        ctx.shape, ctx.index, ctx.axis = x.shape, index, axis
        return np.take_along_axis(x[corner], index, axis=axis)

    @staticmethod
    def backward(ctx, g):
        gx = np.zeros(ctx.shape, dtype=np.float32)
        pos = list(np.indices(ctx.index.shape, sparse=True))
        pos[ctx.axis] = ctx.index
        np.add.at(gx, tuple(pos), g)  # repeated indices accumulate
        return gx


def gather(x: Tensor, dim: int, index: Any) -> Tensor:
    """``out[i][j] = x[index[i][j]][j]`` for dim 0 (and likewise for any dim), as ``torch.gather``.

    # Shapes
    - x: any; index: an integer array/Tensor with x's rank, no larger than x
      outside ``dim`` → out: index's shape
    """
    x = as_tensor(x)
    axis = norm_axis(dim, x.ndim, "gather")
    idx = as_index(index, "gather", "index")
    if idx.ndim != x.ndim:
        raise ShapeError(f"gather: index must have the input's rank {x.ndim}; got shape {idx.shape}")
    if any(i != axis and n > m for i, (n, m) in enumerate(zip(idx.shape, x.shape))):
        raise ShapeError(f"gather: index {idx.shape} is larger than input {x.shape} outside dim {dim}")
    n = x.shape[axis]
    if idx.size and (idx.min() < -n or idx.max() >= n):
        raise IndexError(f"gather: index out of range for dim {dim} of size {n}")
    return Gather.apply(x, np.where(idx < 0, idx + n, idx), axis)


class Pad(Function):
    @staticmethod
    def forward(ctx, x, widths, value):
        ctx.inner = tuple(slice(lo, lo + n) for (lo, _), n in zip(widths, x.shape))
        return np.pad(x, widths, mode="constant", constant_values=np.float32(value))

    @staticmethod
    def backward(ctx, g):
        return g[ctx.inner]


class IndexPad(Function):
    """Each padded axis read through an index map (reflect, replicate, circular); the
    backward adds every output position's gradient into the input position it copied."""

    @staticmethod
    def forward(ctx, x, maps):
        ctx.maps, ctx.shapes = maps, []
        for axis, idx in maps:
            ctx.shapes.append(x.shape)
            x = np.take(x, idx, axis=axis)
        return x

    @staticmethod
    def backward(ctx, g):
        for (axis, idx), shape in zip(reversed(ctx.maps), reversed(ctx.shapes)):
            gi = np.zeros(shape, np.float32)
            np.add.at(gi, (slice(None),) * axis + (idx,), g)
            g = gi
        return g


def _pad_index(n: int, lo: int, hi: int, mode: str) -> np.ndarray:
    """For output positions -lo..n+hi-1, the input position each one copies."""
    i = np.arange(-lo, n + hi)
    if mode == "replicate":
        return np.clip(i, 0, n - 1)
    if mode == "circular":
        return i % n
    return np.abs(n - 1 - np.abs(n - 1 - i))  # reflect: mirrored about the edges, which are not repeated


def pad(x: Tensor, pad: Sequence[int], mode: str = "constant", value: float = 0.0) -> Tensor:
    """``torch.nn.functional.pad``: ``pad = (left, right)`` for the last dim, then
    ``(left, right, top, bottom)`` for the last two, and so on.

    Modes as in PyTorch: ``"constant"`` (``value``; negative widths crop),
    ``"reflect"`` (mirror without repeating the edge; widths < the dim),
    ``"replicate"`` (repeat the edge) and ``"circular"`` (wrap around; widths <= the dim).
    attnrs pads any trailing dims in every mode (PyTorch limits the non-constant modes to
    the last 1–3 dims of a batched input).
    """
    x = as_tensor(x)
    if mode not in ("constant", "reflect", "replicate", "circular"):
        raise ValueError(f'pad: mode must be "constant", "reflect", "replicate" or "circular"; got {mode!r}')
    if len(pad) % 2 or len(pad) // 2 > x.ndim:
        raise ValueError(f"pad: pad must have an even length <= 2·ndim ({2 * x.ndim}); got {tuple(pad)}")
    widths = [(0, 0)] * x.ndim
    for i in range(len(pad) // 2):
        widths[x.ndim - 1 - i] = (int(pad[2 * i]), int(pad[2 * i + 1]))
    if mode == "constant":
        if any(lo < 0 or hi < 0 for lo, hi in widths):  # negative widths crop first
            x = x[tuple(slice(max(-lo, 0), n - max(-hi, 0)) for (lo, hi), n in zip(widths, x.shape))]
            widths = [(max(lo, 0), max(hi, 0)) for lo, hi in widths]
        return Pad.apply(x, tuple(widths), float(value))
    maps = []
    for axis, ((lo, hi), n) in enumerate(zip(widths, x.shape)):
        if lo == hi == 0:
            continue
        limit = n - 1 if mode == "reflect" else n if mode == "circular" else None
        if lo < 0 or hi < 0 or n == 0 or (limit is not None and max(lo, hi) > limit):
            raise ValueError(
                f"pad: {mode} padding of dim {axis} (size {n}) needs widths in 0..{limit if limit is not None else 'any'}; "
                f"got ({lo}, {hi})"
            )
        maps.append((axis, _pad_index(n, lo, hi, mode)))
    return IndexPad.apply(x, tuple(maps)) if maps else x


class TriMask(Function):
    @staticmethod
    def forward(ctx, x, keep):
        ctx.save(keep)
        return np.where(keep, x, np.zeros((), x.dtype))

    @staticmethod
    def backward(ctx, g):
        return np.where(ctx.saved[0], g, np.float32(0))


def _tri(x: Any, diagonal: int, lower: bool, op: str) -> Tensor:
    x = as_tensor(x)
    if x.ndim < 2:
        raise ShapeError(f"{op}: input must have at least 2 dims; got shape {x.shape}")
    r, c = x.shape[-2:]
    fn = np.tril if lower else np.triu
    return TriMask.apply(x, fn(np.ones((r, c), bool), int(diagonal)))


def tril(x: Any, diagonal: int = 0) -> Tensor:
    """The lower triangle of the last two dims (``j <= i + diagonal``), zeros elsewhere."""
    return _tri(x, diagonal, True, "tril")


def triu(x: Any, diagonal: int = 0) -> Tensor:
    """The upper triangle of the last two dims (``j >= i + diagonal``), zeros elsewhere."""
    return _tri(x, diagonal, False, "triu")


def as_index_array(index: Any, op: str) -> np.ndarray:
    return as_index(index, op, "index")


# --- joining and splitting ---------------------------------------------------------------


class Cat(Function):
    @staticmethod
    def forward(ctx, *xs, axis=0):
        ctx.axis = axis
        ctx.bounds = np.cumsum([x.shape[axis] for x in xs])[:-1]
        return np.concatenate(xs, axis=axis)

    @staticmethod
    def backward(ctx, g):
        return tuple(np.split(g, ctx.bounds, axis=ctx.axis))


class Stack(Function):
    @staticmethod
    def forward(ctx, *xs, axis=0):
        ctx.axis = axis
        return np.stack(xs, axis=axis)

    @staticmethod
    def backward(ctx, g):
        return tuple(np.moveaxis(g, ctx.axis, 0))


def _tensors(xs: Sequence[Any], op: str) -> list[Tensor]:
    if isinstance(xs, Tensor) or not len(xs):
        raise ValueError(f"{op}: expects a non-empty sequence of tensors")
    return [as_tensor(x) for x in xs]


def cat(tensors: Sequence[Any], dim: int = 0) -> Tensor:
    """Concatenates along an existing axis ``dim``."""
    ts = _tensors(tensors, "cat")
    axis = norm_axis(dim, ts[0].ndim, "cat")
    ref = ts[0].shape
    for i, t in enumerate(ts):
        if t.ndim != len(ref) or any(
            a != b for j, (a, b) in enumerate(zip(t.shape, ref)) if j != axis
        ):
            raise ShapeError(
                f"cat: tensors must match except along dim {dim}; tensor 0 has shape {ref}, "
                f"tensor {i} has shape {t.shape}"
            )
    return Cat.apply(*ts, axis=axis)


concatenate = cat


def stack(tensors: Sequence[Any], dim: int = 0) -> Tensor:
    """Stacks equal-shaped tensors along a new axis ``dim``."""
    ts = _tensors(tensors, "stack")
    for i, t in enumerate(ts):
        if t.shape != ts[0].shape:
            raise ShapeError(
                f"stack: tensor 0 has shape {ts[0].shape} but tensor {i} has {t.shape}"
            )
    return Stack.apply(*ts, axis=norm_axis(dim, ts[0].ndim + 1, "stack"))


class Split(Function):
    """One node, several outputs; unused outputs get a zero gradient."""

    @staticmethod
    def forward(ctx, x, sizes, axis):
        ctx.sizes, ctx.axis, ctx.shape = sizes, axis, x.shape
        bounds = np.cumsum(sizes)[:-1]
        return tuple(np.split(x, bounds, axis=axis))

    @staticmethod
    def backward(ctx, *gs):
        parts = []
        for g, n in zip(gs, ctx.sizes):
            if g is None:
                shape = list(ctx.shape)
                shape[ctx.axis] = n
                g = np.zeros(shape, dtype=np.float32)
            parts.append(g)
        return np.concatenate(parts, axis=ctx.axis)


def split(
    x: Tensor, split_size_or_sections: int | Sequence[int], dim: int = 0
) -> tuple[Tensor, ...]:
    """Like ``torch.split``: pieces of ``split_size`` (last one shorter) or of the given sizes."""
    axis = norm_axis(dim, x.ndim, "split")
    n = x.shape[axis]
    if isinstance(split_size_or_sections, (int, np.integer)):
        step = int(split_size_or_sections)
        if step <= 0:
            raise ValueError(f"split: split_size must be positive; got {step}")
        sizes = [step] * (n // step) + ([n % step] if n % step else [])
    else:
        sizes = [int(s) for s in split_size_or_sections]
        if any(s < 0 for s in sizes) or sum(sizes) != n:
            raise ShapeError(
                f"split: sections {sizes} must be non-negative and sum to {n} (dim {dim})"
            )
    if not sizes:
        return ()
    out = Split.apply(x, sizes, axis)
    return out if isinstance(out, tuple) else (out,)


def chunk(x: Tensor, chunks: int, dim: int = 0) -> tuple[Tensor, ...]:
    """Like ``torch.chunk``: at most ``chunks`` pieces of ``ceil(n / chunks)``."""
    if int(chunks) <= 0:
        raise ValueError(f"chunk: chunks must be positive; got {chunks}")
    n = x.shape[norm_axis(dim, x.ndim, "chunk")]
    return split(x, max(-(-n // int(chunks)), 1), dim)


# --- selection ---------------------------------------------------------------------------


class MaskedFill(Function):
    @staticmethod
    def forward(ctx, x, mask, value):
        ctx.save(mask)
        return np.where(mask, np.float32(value), x)

    @staticmethod
    def backward(ctx, g):
        return np.where(ctx.saved[0], np.float32(0), g)


def masked_fill(x: Tensor, mask: Any, value: float) -> Tensor:
    """``value`` where ``mask`` is True (mask broadcasts to ``x``'s shape), ``x`` elsewhere."""
    m = as_mask(mask, "masked_fill", "mask")
    try:
        ok = np.broadcast_shapes(x.shape, m.shape) == x.shape
    except ValueError:
        ok = False
    if not ok:
        raise ShapeError(f"masked_fill: mask of shape {m.shape} does not broadcast to {x.shape}")
    return MaskedFill.apply(x, m, float(value))


class Where(Function):
    @staticmethod
    def forward(ctx, a, b, cond):
        ctx.save(cond)
        return np.where(cond, a, b).astype(np.float32, copy=False)

    @staticmethod
    def backward(ctx, g):
        (c,) = ctx.saved
        zero = np.float32(0)
        ga = np.where(c, g, zero) if ctx.needs_input_grad[0] else None
        gb = np.where(c, zero, g) if ctx.needs_input_grad[1] else None
        return ga, gb


def where(condition: Any, a: Any, b: Any) -> Tensor:
    """``a`` where ``condition`` else ``b`` (all three broadcast)."""
    c = as_mask(condition, "where", "condition")
    ta, tb = as_tensor(a), as_tensor(b)
    try:
        np.broadcast_shapes(c.shape, ta.shape, tb.shape)
    except ValueError:
        raise ShapeError(
            f"where: condition {c.shape}, a {ta.shape} and b {tb.shape} do not broadcast"
        ) from None
    return Where.apply(ta, tb, c)
