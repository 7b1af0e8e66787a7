"""Top-level functions with ``torch``'s names and signatures (``attnrs.cat``, ``attnrs.where``, …).

Each forwards to ``attnrs.functional`` (differentiable) or builds a new integer
Tensor (``multinomial``); ``attnrs/__init__.py`` re-exports them.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from . import functional as _f
from ._validate import ShapeError
from .autograd import Function
from .tensor import Tensor, as_tensor, default_rng

__all__ = [
    "abs", "argmax", "bmm", "cat", "clamp", "cos", "einsum", "exp", "log", "matmul", "max", "mean", "min",
    "maximum", "minimum", "multinomial", "sigmoid", "sin", "softmax", "sqrt", "stack", "sum", "tanh", "topk", "tril", "triu",
    "where",
]  # fmt: skip

exp, log, sin, cos, sqrt = _f.exp, _f.log, _f.sin, _f.cos, _f.sqrt
tanh, sigmoid, matmul, topk, tril, triu = _f.tanh, _f.sigmoid, _f.matmul, _f.topk, _f.tril, _f.triu
maximum, minimum = _f.maximum, _f.minimum


def abs(input: Any) -> Tensor:  # noqa: A001, A002
    return _f.abs(as_tensor(input))


def clamp(input: Any, min: Any = None, max: Any = None) -> Tensor:  # noqa: A002
    return _f.clamp(as_tensor(input), min, max)


def cat(tensors: Sequence[Any], dim: int = 0) -> Tensor:
    return _f.cat(tensors, dim)


def stack(tensors: Sequence[Any], dim: int = 0) -> Tensor:
    return _f.stack(tensors, dim)


def where(condition: Any, input: Any, other: Any) -> Tensor:  # noqa: A002
    """``input`` where ``condition`` else ``other`` (broadcast)."""
    return _f.where(condition, input, other)


def softmax(input: Any, dim: int) -> Tensor:  # noqa: A002
    return _f.softmax(as_tensor(input), dim)


def sum(input: Any, dim: Any = None, keepdim: bool = False) -> Tensor:  # noqa: A001, A002
    return as_tensor(input).sum(dim, keepdim)


def mean(input: Any, dim: Any = None, keepdim: bool = False) -> Tensor:  # noqa: A002
    return as_tensor(input).mean(dim, keepdim)


def max(input: Any, dim: Any = None, keepdim: bool = False) -> Any:  # noqa: A001, A002
    """``torch.max``: the largest value, with ``dim`` the named tuple ``(values, indices)``,
    with a Tensor ``other`` the elementwise maximum."""
    return as_tensor(input).max(dim, keepdim)


def min(input: Any, dim: Any = None, keepdim: bool = False) -> Any:  # noqa: A001, A002
    return as_tensor(input).min(dim, keepdim)


def argmax(input: Any, dim: Any = None, keepdim: bool = False) -> Tensor:  # noqa: A002
    return as_tensor(input).argmax(dim, keepdim)


def nonzero(input: Any, as_tuple: bool = False) -> Any:  # noqa: A002
    return as_tensor(input).nonzero(as_tuple)


def triu_indices(row: int, col: int, offset: int = 0, dtype: Any = None, device: Any = None) -> Tensor:
    """The (row, col) indices of the upper triangle (``j >= i + offset``) as an int64 (2, N) tensor."""
    return Tensor(np.stack(np.triu_indices(int(row), int(offset), int(col))).astype(np.int64))


def tril_indices(row: int, col: int, offset: int = 0, dtype: Any = None, device: Any = None) -> Tensor:
    """The (row, col) indices of the lower triangle (``j <= i + offset``) as an int64 (2, N) tensor."""
    return Tensor(np.stack(np.tril_indices(int(row), int(offset), int(col))).astype(np.int64))


def bmm(input: Any, mat2: Any) -> Tensor:  # noqa: A002
    """Batched matrix product of (B, n, m) and (B, m, p) → (B, n, p); no broadcasting."""
    a, b = as_tensor(input), as_tensor(mat2)
    if a.ndim != 3 or b.ndim != 3 or a.shape[0] != b.shape[0] or a.shape[2] != b.shape[1]:
        raise ShapeError(f"bmm: expected (B, n, m) and (B, m, p); got {a.shape} and {b.shape}")
    return _f.matmul(a, b)


class Einsum(Function):
    @staticmethod
    def forward(ctx, *ops, ins, out):
        ctx.save(*ops)
        ctx.ins, ctx.out = ins, out
        return np.einsum(f"{','.join(ins)}->{out}", *ops, optimize=True).astype(np.float32, copy=False)

    @staticmethod
    def backward(ctx, g):
        ops, grads = ctx.saved, []
        for i, sub in enumerate(ctx.ins):
            if not ctx.needs_input_grad[i]:
                grads.append(None)
                continue
            others = [(s, o) for j, (s, o) in enumerate(zip(ctx.ins, ops)) if j != i]
            known = set(ctx.out).union(*(set(s) for s, _ in others))
            lone = [c for c in sub if c not in known]  # summed away in this operand alone
            spec = ",".join([ctx.out] + [s for s, _ in others])
            target = "".join(c for c in sub if c in known)
            gi = np.einsum(f"{spec}->{target}", g, *[o for _, o in others], optimize=True)
            if lone:  # broadcast back over the axes only this operand had
                shape = ops[i].shape
                gi = np.expand_dims(gi, [k for k, c in enumerate(sub) if c in lone])
                gi = np.broadcast_to(gi, shape)
            grads.append(gi)
        return tuple(grads)


def _expand_ellipsis(ins: list[str], ts: list[Tensor]) -> tuple[list[str], str, list[Tensor]]:
    """``...`` replaced by fresh letters, right-aligned and broadcast across operands as
    in PyTorch (size-1 dims are expanded); also returns the letters of the broadcast dims."""
    used = set("".join(ins))
    fresh = [c for c in "ZYXWVUTSRQPONMLKJIHGFEDCBAzyxwvutsrqponmlkjihgfedcba" if c not in used]
    ranks = [t.ndim - (len(s) - 3) if "..." in s else 0 for s, t in zip(ins, ts)]
    if any(r < 0 for r in ranks):
        raise ShapeError("einsum: an operand has fewer dims than its subscripts")
    n = sorted(ranks)[-1]
    letters = "".join(reversed(fresh[:n]))
    ell_shape = [1] * n
    for s, t, r in zip(ins, ts, ranks):
        start = s.find("...")
        for k in range(r):
            size = t.shape[start + k]
            j = n - r + k
            if size != 1 and ell_shape[j] not in (1, size):
                raise ShapeError(f"einsum: '...' dims do not broadcast: {t.shape}")
            ell_shape[j] = size if size != 1 else ell_shape[j]
    new_ins, new_ts = [], []
    for s, t, r in zip(ins, ts, ranks):
        if "..." in s:
            start = s.find("...")
            target = list(t.shape[:start]) + ell_shape[n - r:] + list(t.shape[start + r:])
            if list(t.shape) != target:
                t = t.expand(*target)
            s = s.replace("...", letters[n - r:])
        new_ins.append(s)
        new_ts.append(t)
    return new_ins, letters, new_ts


def einsum(equation: str, *operands: Any) -> Tensor:
    """``torch.einsum``: explicit or implicit equations, ``...`` broadcast across operands
    (implicit output: the ``...`` dims first, then the letters seen once, sorted).
    A repeated index inside one operand (a diagonal) raises. Differentiable in every operand."""
    if len(operands) == 1 and isinstance(operands[0], (list, tuple)):
        operands = tuple(operands[0])
    eq = equation.replace(" ", "")
    lhs, arrow, out = eq.partition("->")
    ins = lhs.split(",")
    if len(ins) != len(operands):
        raise ValueError(f"einsum: {len(ins)} operand subscripts for {len(operands)} operands")
    ts = [as_tensor(o) for o in operands]
    if "." in eq:
        if any(s.count(".") not in (0, 3) or (s.count(".") and "..." not in s) for s in ins + [out]):
            raise ValueError(f"einsum: '.' may only appear as one '...' per operand; got {equation!r}")
        named = "".join(ins).replace(".", "")
        ins, ell, ts = _expand_ellipsis(ins, ts)
        if arrow:
            out = out.replace("...", ell)
        else:  # implicit: the broadcast dims, then the letters seen once, in alphabetical order
            out = ell + "".join(sorted(c for c in set(named) if named.count(c) == 1))
    elif not arrow:  # implicit output: the letters seen once, in alphabetical order
        letters = "".join(ins)
        out = "".join(sorted(c for c in set(letters) if letters.count(c) == 1))
    if any(len(set(s)) != len(s) for s in ins):
        raise NotImplementedError("einsum: a repeated index inside one operand (a diagonal) is not supported")
    for s, t in zip(ins, ts):
        if len(s) != t.ndim:
            raise ShapeError(f"einsum: subscripts {s!r} do not match an operand of shape {t.shape}")
    return Einsum.apply(*ts, ins=tuple(ins), out=out)


def multinomial(input: Any, num_samples: int, replacement: bool = False, generator: Any = None) -> Tensor:  # noqa: A002
    """Draws class indices from (unnormalised, non-negative) rows of ``input``: (C,) or (N, C)
    → int64 (num_samples,) or (N, num_samples)."""
    p = np.asarray(input._array if isinstance(input, Tensor) else input, dtype=np.float64)
    if p.ndim not in (1, 2) or p.shape[-1] == 0:
        raise ShapeError(f"multinomial: input must be (C,) or (N, C) with C > 0; got {p.shape}")
    if not np.all(np.isfinite(p)) or (p < 0).any():
        raise ValueError("multinomial: probabilities must be finite and non-negative")
    rows = p.reshape(-1, p.shape[-1])
    n = int(num_samples)
    if not replacement and n > rows.shape[1]:
        raise ValueError(f"multinomial: cannot draw {n} > {rows.shape[1]} samples without replacement")
    rng = default_rng()
    out = np.empty((rows.shape[0], n), np.int64)
    for i, r in enumerate(rows):
        tot = r.sum()
        if tot <= 0:
            raise ValueError("multinomial: a row of probabilities sums to zero")
        if not replacement and np.count_nonzero(r) < n:
            raise ValueError(f"multinomial: fewer than {n} non-zero probabilities in a row")
        out[i] = rng.choice(r.size, size=n, replace=bool(replacement), p=r / tot)
    return Tensor(out.reshape(p.shape[:-1] + (n,)))
