"""Reverse-mode autograd: ``Function`` nodes and the iterative backward walk.

A differentiable op is a ``Function`` subclass whose ``forward`` works on
NumPy arrays and whose ``backward`` returns one gradient (an ndarray or
None) per positional input, right next to each other, micrograd style::

    class Cube(Function):
        @staticmethod
        def forward(ctx, x):
            ctx.save(x)
            return x * x * x

        @staticmethod
        def backward(ctx, gy):
            (x,) = ctx.saved
            return gy * 3 * x * x

    Cube.apply(t)  # -> Tensor

Tensors among the positional arguments of ``apply`` are the inputs of the
node (their arrays are passed to ``forward``); everything else is passed
through. Gradients that come back with a broadcast shape are summed down to
the input's shape by the walk, so ``backward`` may ignore broadcasting.
The walk is iterative (a chain of 100 000 ops works) and frees saved arrays
as it goes unless ``retain_graph=True``.
"""

from __future__ import annotations

import contextvars
import functools
import weakref
from typing import Any

import numpy as np

__all__ = [
    "Function", "backward", "enable_grad", "inference_mode", "is_grad_enabled", "no_grad", "set_grad_enabled",
]  # fmt: skip

_grad_enabled: contextvars.ContextVar[bool] = contextvars.ContextVar(
    "attnrs_grad_enabled", default=True
)


def is_grad_enabled() -> bool:
    return _grad_enabled.get()


class set_grad_enabled:
    """Context manager (and decorator) that sets grad mode for its block."""

    def __init__(self, mode: bool) -> None:
        self.mode = bool(mode)
        self._tokens: list[contextvars.Token] = []

    def __enter__(self) -> None:
        self._tokens.append(_grad_enabled.set(self.mode))

    def __exit__(self, *exc: object) -> None:
        _grad_enabled.reset(self._tokens.pop())

    def __call__(self, fn):
        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            with set_grad_enabled(self.mode):
                return fn(*args, **kwargs)

        return wrapper


class no_grad(set_grad_enabled):
    """``with attnrs.no_grad(): ...`` — no graph is recorded inside.

    Also a decorator, with or without the call: ``@no_grad()`` and ``@no_grad``.
    """

    def __new__(cls, fn: Any = None) -> Any:
        if fn is not None and callable(fn):  # bare decorator: @no_grad
            return cls()(fn)
        return super().__new__(cls)

    def __init__(self, fn: Any = None) -> None:
        super().__init__(False)


class inference_mode(set_grad_enabled):
    """PyTorch's ``inference_mode``: here the same as ``no_grad`` (``mode=False`` records)."""

    def __new__(cls, mode: Any = True) -> Any:
        if callable(mode):  # bare decorator: @inference_mode
            return cls()(mode)
        return super().__new__(cls)

    def __init__(self, mode: Any = True) -> None:
        super().__init__(not bool(mode))


class enable_grad(set_grad_enabled):
    def __init__(self) -> None:
        super().__init__(True)


# Set by ``tensor.py`` when it is imported (it imports this module first);
# a module global keeps ``apply`` free of per-call imports.
_Tensor: Any = None


class Function:
    """A node of the graph; its instance is the ``ctx`` of forward/backward."""

    __slots__ = ("__dict__", "freed", "inputs", "n_outputs", "needs_input_grad", "saved")

    #: True on a Function whose ``backward`` returns, for each input, a new array that
    #: nothing else holds (never a view, never one array for two inputs): a leaf whose
    #: ``.grad`` is None then takes that array as its gradient instead of a copy.
    fresh_grads = False

    def __init__(self) -> None:
        self.inputs: tuple = ()
        self.saved: tuple = ()
        self.n_outputs = 1
        self.needs_input_grad: tuple = ()
        self.freed = False

    def save(self, *arrays: Any) -> None:
        """Keeps what backward needs; released after the backward pass."""
        self.saved = arrays

    @staticmethod
    def forward(ctx: Function, *args: Any, **kwargs: Any) -> Any:
        raise NotImplementedError

    @staticmethod
    def backward(ctx: Function, *grad_outputs: Any) -> Any:
        raise NotImplementedError

    @classmethod
    def apply(cls, *args: Any, **kwargs: Any) -> Any:
        # The hot path of every op: kept to plain loops and slot writes.
        T = _Tensor
        ctx = cls.__new__(cls)
        ctx.saved = ()
        ctx.n_outputs = 1
        ctx.freed = False
        raw = []
        needs = []
        any_needs = False
        for a in args:
            if isinstance(a, T):
                raw.append(a._array)
                rg = a.requires_grad
                needs.append(rg)
                any_needs = any_needs or rg
            else:
                raw.append(a)
                needs.append(False)
        out = cls.forward(ctx, *raw, **kwargs)
        track = any_needs and _grad_enabled.get()
        node = ctx if track else None
        wrap = T._wrap
        if type(out) is tuple:
            ctx.n_outputs = len(out)
            res = tuple([wrap(o, track, node, i) for i, o in enumerate(out)])
        else:
            res = wrap(out, track, node, 0)
        if track:
            ctx.inputs = tuple([a if isinstance(a, T) else None for a in args])
            ctx.needs_input_grad = tuple(needs)
            for a in ctx.inputs:  # an in-place op may rebase only a tensor no node has read
                if a is not None:
                    a._consumed = True
        else:
            ctx.inputs = ()
            ctx.needs_input_grad = ()
            ctx.saved = ()
        return res


def unbroadcast(grad: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """Sums ``grad`` over the axes NumPy broadcasting added or stretched."""
    if grad.shape == shape:
        return grad
    extra = grad.ndim - len(shape)
    if extra > 0:
        grad = grad.sum(axis=tuple(range(extra)))
    axes = tuple(i for i, n in enumerate(shape) if n == 1 and grad.shape[i] != 1)
    if axes:
        grad = grad.sum(axis=axes, keepdims=True)
    return grad.reshape(shape)


def _topological_order(root: Function) -> list[Function]:
    """Nodes reachable from ``root``, each after every node that consumes it.

    Iterative post-order DFS: a node is marked when it is *expanded*, not when
    it is first pushed, so a node reached again through a later path (a shared
    subexpression such as an RNN state that is both an output and the next
    step's input) is still finished before every consumer.
    """
    order: list[Function] = []
    expanded_ids: set[int] = set()
    stack: list[tuple[Function, bool]] = [(root, False)]
    while stack:
        node, expanded = stack.pop()
        if expanded:
            order.append(node)
            continue
        if id(node) in expanded_ids:
            continue
        expanded_ids.add(id(node))
        stack.append((node, True))
        for t in node.inputs:
            if t is not None:
                c = t._ctx
                if c is not None and id(c) not in expanded_ids:
                    stack.append((c, False))
    order.reverse()
    return order


_F32 = np.dtype(np.float32)


_memory_kept = False


def _keep_freed_memory() -> None:
    """On the first backward pass, ``attnrs.memory.retain_freed_memory()`` (what the Trainer
    did alone), so every training loop reuses its activation pages; opt out with
    ``ATTNRS_RETAIN_FREED_MEMORY=0``."""
    global _memory_kept
    _memory_kept = True
    import os

    if os.environ.get("ATTNRS_RETAIN_FREED_MEMORY", "1") != "0":
        from . import memory

        memory.retain_freed_memory()


def backward(root: Any, grad: np.ndarray | None = None, retain_graph: bool = False) -> None:
    """Accumulates d(root)/d(leaf) into every leaf's ``.grad``."""
    if not _memory_kept:
        _keep_freed_memory()
    T = _Tensor
    if not root.requires_grad:
        raise RuntimeError("backward: the tensor does not require grad and has no graph")
    if grad is None:
        if root._array.size != 1:
            raise RuntimeError(
                "backward: grad can be omitted only for a tensor with one element; "
                f"got shape {root.shape}"
            )
        grad = np.ones(root._array.shape, dtype=np.float32)
    else:
        grad = np.asarray(grad._array if isinstance(grad, T) else grad, dtype=np.float32)
        if grad.shape != root.shape:
            raise ValueError(f"backward: grad must have shape {root.shape}; got {grad.shape}")
    if root._ctx is None:  # a leaf
        if _leaf_hooks and id(root) in _leaf_hooks:
            _hooked_leaf_backward(root, grad)
        else:
            root._accumulate(grad)
        return
    pending: dict[int, list] = {id(root._ctx): [None] * root._ctx.n_outputs}
    pending[id(root._ctx)][root._out_index] = grad
    order = _topological_order(root._ctx)
    hooked = _hooked_leaves(order) if _leaf_hooks else None
    for node in order:
        gouts = pending.pop(id(node), None)
        if gouts is None:
            if hooked:
                _leaves_done(node, hooked)
            continue
        if node.freed:
            raise RuntimeError(
                "backward: trying to go through the graph a second time, but its saved arrays were "
                "freed; pass retain_graph=True to the first backward()"
            )
        gins = node.backward(node, *gouts)
        if type(gins) is not tuple:
            gins = (gins,)
        fresh = node.fresh_grads
        for t, g in zip(node.inputs, gins):
            if t is None or g is None or not t.requires_grad:
                continue
            if type(g) is not np.ndarray or g.dtype is not _F32:
                g = np.asarray(g, dtype=np.float32)
            shape = t._array.shape
            if g.shape != shape:
                g = unbroadcast(g, shape)
            c = t._ctx
            if c is None:
                if hooked and id(t) in hooked:
                    hooked[id(t)][2].accumulate(t, g)
                elif fresh and t.grad is None and g.base is None and g.flags.writeable:
                    t.grad = T._wrap(g, False, None, 0)  # the node's own new array: no copy
                else:
                    t._accumulate(g)
            else:
                slot = pending.get(id(c))
                if slot is None:
                    slot = pending[id(c)] = [None] * c.n_outputs
                prev = slot[t._out_index]
                slot[t._out_index] = g if prev is None else prev + g
        if not retain_graph:
            node.saved = ()
            node.freed = True
        if hooked:
            _leaves_done(node, hooked)
    if hooked:
        _finish_hooks(hooked)


# --- leaf gradient hooks (used by attnrs.distributed) ------------------------------------
#
# A hook group (an object with ``accumulate(t, g)``, ``ready(t)`` and ``finish()``)
# registered on leaf tensors takes over their gradient accumulation: the walk
# calls ``accumulate`` with each contribution instead of ``t._accumulate``, calls
# ``ready(t)`` once the last node that consumes ``t`` is done (its gradient for
# this backward is final) and ``finish()`` once at the end of the walk. Both the
# tensor and the group are held weakly; without registrations the walk pays one
# falsy check.

_leaf_hooks: dict[int, tuple[weakref.ref, weakref.ref]] = {}


def register_leaf_hooks(tensors: Any, group: Any) -> Any:
    """Routes the gradients of the leaf ``tensors`` through ``group`` (see above);
    returns a function that removes the registration."""
    ids = []
    gref = weakref.ref(group)
    for t in tensors:
        if t._ctx is not None:
            raise ValueError("register_leaf_hooks: only leaf tensors can take gradient hooks")
        _leaf_hooks[id(t)] = (weakref.ref(t), gref)
        ids.append((id(t), gref))

    def remove() -> None:
        for i, g in ids:
            entry = _leaf_hooks.get(i)
            if entry is not None and entry[1] is g:
                del _leaf_hooks[i]

    return remove


def _live_group(t: Any) -> Any:
    entry = _leaf_hooks.get(id(t))
    if entry is None:
        return None
    tref, gref = entry
    group = gref()
    if tref() is not t or group is None:  # a dead tensor's id reused, or the group is gone
        del _leaf_hooks[id(t)]
        return None
    return group


def _hooked_leaves(order: list[Function]) -> dict[int, list]:
    """id(leaf) -> [consumer edges left, leaf, group] for the hooked leaves of the graph."""
    hooked: dict[int, list] = {}
    for node in order:
        for t in node.inputs:
            if t is None or t._ctx is not None or not t.requires_grad:
                continue
            entry = hooked.get(id(t))
            if entry is not None:
                entry[0] += 1
                continue
            group = _live_group(t)
            if group is not None:
                hooked[id(t)] = [1, t, group]
    return hooked


def _leaves_done(node: Function, hooked: dict[int, list]) -> None:
    for t in node.inputs:
        if t is not None:
            entry = hooked.get(id(t))
            if entry is not None:
                entry[0] -= 1
                if entry[0] == 0:
                    entry[2].ready(t)


def _finish_hooks(hooked: dict[int, list]) -> None:
    done: set[int] = set()
    for _, _, group in hooked.values():
        if id(group) not in done:
            done.add(id(group))
            group.finish()


def _hooked_leaf_backward(t: Any, grad: np.ndarray) -> None:
    group = _live_group(t)
    if group is None:
        t._accumulate(grad)
        return
    group.accumulate(t, grad)
    group.ready(t)
    group.finish()
