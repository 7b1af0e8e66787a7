"""Module and Parameter: parameters are found by walking attributes, lists and
dicts in a fixed (definition) order and named like ``blocks.0.attn.weight``."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterator
from typing import Any

import numpy as np

from .._validate import ShapeError
from ..tensor import Tensor

__all__ = ["Module", "Parameter"]


class Parameter(Tensor):
    """A leaf Tensor that a Module registers as trainable."""

    __slots__ = ()

    def __init__(self, data: Any, requires_grad: bool = True) -> None:
        super().__init__(data._array if isinstance(data, Tensor) else data, requires_grad)

    def __repr__(self) -> str:
        return "Parameter containing:\n" + super().__repr__()


class Module:
    """Base class of every layer and model.

    Children and parameters are the attributes that are Modules / Parameters,
    or lists, tuples and dicts of them, in the order they were assigned.
    Buffers (non-trainable arrays saved in the state dict) are registered with
    ``register_buffer``.
    """

    def __init__(self) -> None:
        object.__setattr__(self, "training", True)
        object.__setattr__(self, "_buffers", OrderedDict())

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self.forward(*args, **kwargs)

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        raise NotImplementedError(f"{type(self).__name__}.forward is not implemented")

    # --- registration ------------------------------------------------------------------
    def register_buffer(self, name: str, value: Any, persistent: bool = True) -> None:
        """A non-trainable array or Tensor kept on the module; saved in the state dict
        unless ``persistent=False`` (PyTorch's rule)."""
        self._buffers[name] = value
        skip = self.__dict__.setdefault("_non_persistent", set())
        if persistent:
            skip.discard(name)
        else:
            skip.add(name)
        object.__setattr__(self, name, value)

    def __setattr__(self, name: str, value: Any) -> None:
        if "_buffers" in self.__dict__ and name in self._buffers:
            self._buffers[name] = value
        object.__setattr__(self, name, value)

    def _members(self) -> Iterator[tuple[str, Any]]:
        for name, value in self.__dict__.items():
            if name.startswith("_") or name == "training":
                continue
            yield name, value

    def _members_of(self, kind: type) -> Iterator[tuple[str, Any]]:
        """The members that are a ``kind``, also inside a plain list, tuple or dict
        (``name.i`` / ``name.key``)."""
        for name, value in self._members():
            if isinstance(value, kind):
                yield name, value
            elif isinstance(value, (list, tuple)):
                for i, v in enumerate(value):
                    if isinstance(v, kind):
                        yield f"{name}.{i}", v
            elif isinstance(value, dict):
                for k, v in value.items():
                    if isinstance(v, kind):
                        yield f"{name}.{k}", v

    def named_children(self) -> Iterator[tuple[str, Module]]:
        return self._members_of(Module)

    def children(self) -> Iterator[Module]:
        for _, m in self.named_children():
            yield m

    def named_modules(self, prefix: str = "") -> Iterator[tuple[str, Module]]:
        stack = [(prefix, self)]
        seen = set()
        while stack:
            name, mod = stack.pop()
            if id(mod) in seen:
                continue
            seen.add(id(mod))
            yield name, mod
            kids = [(f"{name}.{n}" if name else n, m) for n, m in mod.named_children()]
            stack.extend(reversed(kids))

    def modules(self) -> Iterator[Module]:
        for _, m in self.named_modules():
            yield m

    def _direct_parameters(self) -> Iterator[tuple[str, Parameter]]:
        return self._members_of(Parameter)

    def named_parameters(self, prefix: str = "", recurse: bool = True,
                         remove_duplicate: bool = True) -> Iterator[tuple[str, Parameter]]:  # fmt: skip
        """(name, parameter) pairs; a tied parameter comes once, under its first name,
        unless ``remove_duplicate=False``."""
        seen = set()
        for mname, mod in self.named_modules(prefix):
            for pname, p in mod._direct_parameters():
                if id(p) in seen and remove_duplicate:
                    continue
                seen.add(id(p))
                yield (f"{mname}.{pname}" if mname else pname), p

    def parameters(self) -> Iterator[Parameter]:
        for _, p in self.named_parameters():
            yield p

    def named_buffers(self, persistent_only: bool = False) -> Iterator[tuple[str, np.ndarray]]:
        for mname, mod in self.named_modules():
            skip = mod.__dict__.get("_non_persistent", ()) if persistent_only else ()
            for bname, b in mod._buffers.items():
                if bname not in skip:
                    yield (f"{mname}.{bname}" if mname else bname), b

    # --- state -------------------------------------------------------------------------
    def state_dict(self) -> OrderedDict[str, np.ndarray]:
        """Name → float32 array (parameters, then buffers); arrays are copies."""
        out: OrderedDict[str, np.ndarray] = OrderedDict()
        for name, p in self.named_parameters():
            out[name] = p._array.copy()
        for name, b in self.named_buffers(persistent_only=True):
            out[name] = np.array(b, copy=True)
        return out

    def check_state_dict(self, state: dict, strict: bool = True) -> tuple[list[str], list[str]]:
        """Checks names and shapes of ``state`` against this module without changing it.

        Returns ``(missing, unexpected)`` keys; raises ``ShapeError`` listing every
        missing / unexpected (when ``strict``) and mis-shaped key.
        """
        own = {k: p._array.shape for k, p in self.named_parameters()}
        own.update({k: np.shape(b) for k, b in self.named_buffers(persistent_only=True)})
        # a tied parameter's other names (PyTorch saves lm_head.weight and wte.weight both)
        first = {id(p): k for k, p in self.named_parameters()}
        aliases = {k: first[id(p)] for k, p in self.named_parameters(remove_duplicate=False) if k not in own}
        missing = [k for k in own if k not in state and not any(a in state for a, o in aliases.items() if o == k)]
        unexpected = [k for k in state if k not in own and k not in aliases]
        for a, o in aliases.items():
            if a in state and tuple(np.shape(state[a])) != own[o]:
                own[a] = own[o]  # reported as mis-shaped below
        mis = [
            f"{k}: expected {shape}, got {tuple(np.shape(state[k]))}"
            for k, shape in own.items()
            if k in state and tuple(np.shape(state[k])) != shape
        ]
        problems = []
        if strict and missing:
            problems.append(f"missing keys: {missing}")
        if strict and unexpected:
            problems.append(f"unexpected keys: {unexpected}")
        if mis:
            problems.append(f"mis-shaped keys: {mis}")
        if problems:
            raise ShapeError(f"load_state_dict ({type(self).__name__}): " + "; ".join(problems))
        return missing, unexpected

    def load_state_dict(self, state: dict, strict: bool = True) -> tuple[list[str], list[str]]:
        """Copies arrays into the parameters and buffers; checks every name and shape first.

        Returns ``(missing, unexpected)`` keys; with ``strict`` either raises.
        """
        missing, unexpected = self.check_state_dict(state, strict)
        for k, p in self.named_parameters(remove_duplicate=False):  # any alias of a tied weight
            if k in state:
                p._array = np.array(np.asarray(state[k]), dtype=np.float32, copy=True)
        for mname, mod in self.named_modules():
            skip = mod.__dict__.get("_non_persistent", ())
            for bname in list(mod._buffers):
                key = f"{mname}.{bname}" if mname else bname
                if key in state and bname not in skip:
                    old = mod._buffers[bname]
                    new = np.array(state[key], dtype=np.asarray(old).dtype, copy=True)
                    setattr(mod, bname, Tensor(new) if isinstance(old, Tensor) else new)
        return missing, unexpected

    # --- modes and grads -----------------------------------------------------------------
    def train(self, mode: bool = True) -> Module:
        for m in self.modules():
            object.__setattr__(m, "training", bool(mode))
        return self

    def eval(self) -> Module:
        return self.train(False)

    def zero_grad(self, set_to_none: bool = True) -> None:
        """Clears every parameter's gradient (``None``; zeros with ``set_to_none=False``)."""
        for p in self.parameters():
            if set_to_none or p.grad is None:
                p.grad = None
            else:
                p.grad._array[...] = 0.0

    # --- devices and dtypes (CPU only, float32 only: PyTorch programs' moves are no-ops) ---
    def to(self, *args: Any, **kwargs: Any) -> Module:
        """``module.to(device)`` / ``.to(dtype)``: the CPU and float32 are all there is.

        Another device raises; a floating dtype keeps float32 (float64 is stored as
        float32 everywhere in attnrs); an integer dtype raises.
        """
        from ..device import check_device
        from ..tensor import as_dtype

        for a in (*args, *kwargs.values()):
            if isinstance(a, bool) or a is None:
                continue  # non_blocking=, copy=
            try:
                dt = as_dtype(a, "Module.to")
            except TypeError:
                check_device(a)
                continue
            if dt.kind != "f":
                raise TypeError(f"Module.to: only floating-point dtypes are supported; got {dt}")
        return self

    def cpu(self) -> Module:
        return self

    def float(self) -> Module:
        return self

    def requires_grad_(self, flag: bool = True) -> Module:
        """Freezes (``False``) or unfreezes every parameter."""
        for p in self.parameters():
            p.requires_grad = bool(flag)
        return self

    def apply(self, fn: Any) -> Module:
        """Calls ``fn(module)`` on every submodule and then on this one (e.g. custom init)."""
        for m in reversed(list(self.modules())):
            fn(m)
        return self

    def num_parameters(self) -> int:
        """The number of trainable numbers (``sum(p.numel() for p in parameters())``)."""
        return int(sum(p._array.size for p in self.parameters()))

    # --- repr ----------------------------------------------------------------------------
    def extra_repr(self) -> str:
        return ""

    def __repr__(self) -> str:
        kids = list(self.named_children())
        head = f"{type(self).__name__}({self.extra_repr()}"
        if not kids:
            return head + ")"
        lines = [head]
        for name, m in kids:
            sub = repr(m).replace("\n", "\n  ")
            lines.append(f"  ({name}): {sub}")
        return "\n".join(lines) + "\n)"
