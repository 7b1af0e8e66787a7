"""Optimizers (SGD, Adam, AdamW) and learning-rate schedules.

One base ``Optimizer`` owns parameter groups, per-parameter state and the
state dict; each variant only writes its per-parameter ``_update`` (or a whole
group's ``_step_group``). Adam and AdamW update a whole parameter group with one
call of the fused multi-tensor kernel ``ops.adamw_step`` (given lists; in place).

``clip_grad_norm_`` (from ``attnrs.nn.utils``) is re-exported here.

State dicts hold NumPy arrays and JSON-able scalars only, so
``attnrs.io.save_checkpoint`` can store them in a safetensors file::

    {"state": {0: {"step": 3, "exp_avg": ndarray, ...}, ...},
     "param_groups": [{"lr": 1e-3, ..., "params": [0, 1, ...]}, ...]}
"""

from __future__ import annotations

import math
import operator
import sys
from collections.abc import Iterable
from typing import Any, Callable

import numpy as np

from . import _core, ops
from ._validate import ShapeError
from .nn.utils import clip_grad_norm_
from .tensor import Tensor

__all__ = [
    "SGD", "Adam", "AdamW", "CosineWarmup", "LRScheduler", "Optimizer", "StepLR", "clip_grad_norm_",
]  # fmt: skip


def _check_number(
    op: str,
    name: str,
    value: Any,
    lo: float = 0.0,
    lo_open: bool = False,
    hi: float | None = None,
    hi_open: bool = True,
) -> float:
    """A finite float in the given range, else ValueError naming op and argument."""
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{op}: {name} must be a number; got {value!r}") from None
    ok = math.isfinite(v) and (v > lo if lo_open else v >= lo)
    if hi is not None:
        ok = ok and (v < hi if hi_open else v <= hi)
    if not ok:
        lo_s = f"{'(' if lo_open else '['}{lo}"
        hi_s = f"{hi}{')' if hi_open else ']'}" if hi is not None else "inf)"
        raise ValueError(f"{op}: {name} must be a finite number in {lo_s}, {hi_s}; got {value!r}")
    return v


def _positive_int(op: str, name: str, value: Any) -> int:
    """``int(value)`` when it is > 0, else ValueError naming op and argument."""
    if int(value) <= 0:
        raise ValueError(f"{op}: {name} must be positive; got {value}")
    return int(value)


def _writable(p: Tensor) -> np.ndarray:
    """The parameter's array, made contiguous and writable once, so updates can be in place."""
    d = p._array
    if not (d.flags.c_contiguous and d.flags.writeable and d.flags.aligned) or d.dtype != np.float32:
        p._array = d = np.array(d, dtype=np.float32, order="C", copy=True)
    return d


class Optimizer:
    """Base class: ``params`` is an iterable of Tensors or of dicts (parameter groups)
    whose keys override ``defaults``."""

    def __init__(self, params: Iterable[Any], defaults: dict[str, Any]) -> None:
        self.defaults = dict(defaults)
        self.param_groups: list[dict[str, Any]] = []
        self.state: dict[Tensor, dict[str, Any]] = {}
        params = list(params) if not isinstance(params, Tensor) else [params]
        if not params:
            raise ValueError(f"{type(self).__name__}: got an empty parameter list")
        groups = params if isinstance(params[0], dict) else [{"params": params}]
        for g in groups:
            self.add_param_group(g)

    @property
    def _name(self) -> str:
        return type(self).__name__

    def _validate(self, group: dict[str, Any]) -> None:
        """Checks a group's hyper-parameters (subclasses extend)."""
        _check_number(self._name, "lr", group["lr"])
        _check_number(self._name, "weight_decay", group.get("weight_decay", 0.0))

    def add_param_group(self, group: dict[str, Any]) -> None:
        if not isinstance(group, dict) or "params" not in group:
            raise TypeError(f"{self._name}: a parameter group must be a dict with a 'params' entry")
        params = group["params"]
        params = [params] if isinstance(params, Tensor) else list(params)
        seen = {id(p) for g in self.param_groups for p in g["params"]}
        for i, p in enumerate(params):
            if not isinstance(p, Tensor):
                raise TypeError(
                    f"{self._name}: parameters must be Tensors; item {i} is {type(p).__name__}"
                )
            if not p.is_leaf:
                raise ValueError(
                    f"{self._name}: can only optimize leaf Tensors (item {i} has a graph)"
                )
            if id(p) in seen:
                raise ValueError(
                    f"{self._name}: a parameter appears in more than one group (item {i})"
                )
            seen.add(id(p))
        unknown = set(group) - set(self.defaults) - {"params", "initial_lr"}
        if unknown:
            raise ValueError(f"{self._name}: unknown hyper-parameters {sorted(unknown)}")
        full = {**self.defaults, **group, "params": params}
        self._validate(full)
        self.param_groups.append(full)

    def zero_grad(self, set_to_none: bool = True) -> None:
        for g in self.param_groups:
            for p in g["params"]:
                if p.grad is not None:
                    if set_to_none:
                        p.grad = None
                    else:
                        p.grad._array = np.zeros_like(p.grad._array)

    def step(self, closure: Callable[[], Any] | None = None) -> Any:
        loss = closure() if closure is not None else None
        for group in self.param_groups:
            self._group_step(group)
        return loss

    def _group_step(self, group: dict[str, Any]) -> None:
        """One step of one parameter group: checks, the parameters that have a
        gradient with their contiguous float32 gradients, ``_step_group``."""
        self._validate(group)  # schedules may have changed lr
        items = []
        for p in group["params"]:
            if p.grad is None:
                continue
            g = p.grad._array
            if g.shape != p._array.shape:
                raise ShapeError(
                    f"{self._name}.step: gradient shape {g.shape} != parameter shape {p.shape}"
                )
            if group.get("maximize"):  # ascend: PyTorch negates the gradient first
                g = np.negative(g, dtype=np.float32)
            # asarray, not ascontiguousarray: that makes a 0-d gradient 1-d.
            items.append((p, np.asarray(g, dtype=np.float32, order="C")))
        if items:
            self._step_group(group, items)

    def _step_group(self, group: dict[str, Any], items: list[tuple[Tensor, np.ndarray]]) -> None:
        """Updates the group's parameters that have a gradient; ``items`` holds
        ``(parameter, contiguous float32 gradient)`` pairs, shapes checked.
        By default one ``_update`` per parameter."""
        for p, g in items:
            self._update(p, g, group, self.state.setdefault(p, {}))

    def _update(
        self, p: Tensor, g: np.ndarray, group: dict[str, Any], state: dict[str, Any]
    ) -> None:
        raise NotImplementedError

    # --- state ---------------------------------------------------------------------------
    def _index(self) -> list[Tensor]:
        return [p for g in self.param_groups for p in g["params"]]

    def state_dict(self) -> dict[str, Any]:
        """Arrays (copies) and JSON-able scalars; parameters referred to by position."""
        index = {id(p): i for i, p in enumerate(self._index())}
        state = {}
        for p, s in self.state.items():
            if s:
                state[index[id(p)]] = {
                    k: (v.copy() if isinstance(v, np.ndarray) else v) for k, v in s.items()
                }
        groups, start = [], 0
        for g in self.param_groups:
            n = len(g["params"])
            h = {k: (list(v) if isinstance(v, tuple) else v) for k, v in g.items() if k != "params"}
            groups.append({**h, "params": list(range(start, start + n))})
            start += n
        return {"state": state, "param_groups": groups}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Restores state and hyper-parameters; checks everything before changing anything."""
        groups, state = self.check_state_dict(state_dict)
        self.param_groups[:] = groups
        self.state = state

    def check_state_dict(
        self, state_dict: dict[str, Any]
    ) -> tuple[list[dict[str, Any]], dict[Tensor, Any]]:
        """Validates ``state_dict`` against this optimizer without changing it.

        Returns the parameter groups and state that ``load_state_dict`` would install.
        """
        name = f"{self._name}.load_state_dict"
        if not isinstance(state_dict, dict) or set(state_dict) != {"state", "param_groups"}:
            raise ValueError(f"{name}: expected a dict with keys 'state' and 'param_groups'")
        groups = state_dict["param_groups"]
        if len(groups) != len(self.param_groups):
            raise ValueError(
                f"{name}: {len(groups)} parameter groups saved, "
                f"optimizer has {len(self.param_groups)}"
            )
        for i, (saved, own) in enumerate(zip(groups, self.param_groups)):
            if len(saved["params"]) != len(own["params"]):
                raise ValueError(
                    f"{name}: group {i} has {len(saved['params'])} parameters saved, "
                    f"{len(own['params'])} here"
                )
        params = self._index()
        new_groups = []
        for saved, own in zip(groups, self.param_groups):
            hp = {
                k: (tuple(v) if isinstance(v, list) and k != "params" else v)
                for k, v in saved.items()
            }
            g = {**own, **{k: v for k, v in hp.items() if k != "params"}}
            self._validate(g)
            new_groups.append(g)
        new_state: dict[Tensor, dict[str, Any]] = {}
        for key, s in state_dict["state"].items():
            i = int(key)
            if not 0 <= i < len(params):
                raise ValueError(
                    f"{name}: state for parameter {i}, but the optimizer has {len(params)}"
                )
            p = params[i]
            entry = {}
            for k, v in s.items():
                if isinstance(v, np.ndarray) or hasattr(v, "shape"):
                    v = np.array(v, dtype=np.float32, copy=True)
                    if v.shape != p.shape:
                        raise ShapeError(
                            f"{name}: state '{k}' of parameter {i} has shape {v.shape}, "
                            f"expected {p.shape}"
                        )
                entry[k] = v
            new_state[p] = entry
        return new_groups, new_state

    def __repr__(self) -> str:
        lines = [f"{self._name} ("]
        for i, g in enumerate(self.param_groups):
            hp = ", ".join(f"{k}={v}" for k, v in g.items() if k != "params")
            lines.append(f"  group {i}: {len(g['params'])} params, {hp}")
        return "\n".join(lines) + "\n)"


class SGD(Optimizer):
    """SGD with optional momentum (PyTorch's formulation), Nesterov and L2 weight decay.

    ``buf ← μ·buf + (1−dampening)·g`` (``buf = g`` on the first step);
    the update uses ``g + μ·buf`` with Nesterov, else ``buf``.
    """

    def __init__(
        self,
        params: Iterable[Any],
        lr: float = 1e-3,
        momentum: float = 0.0,
        dampening: float = 0.0,
        weight_decay: float = 0.0,
        nesterov: bool = False,
        *,
        maximize: bool = False,
        foreach: bool | None = None,
        fused: bool | None = None,
    ) -> None:
        super().__init__(
            params,
            {
                "lr": lr,
                "momentum": momentum,
                "dampening": dampening,
                "weight_decay": weight_decay,
                "nesterov": bool(nesterov),
                "maximize": bool(maximize),
            },
        )

    def _validate(self, group: dict[str, Any]) -> None:
        super()._validate(group)
        _check_number("SGD", "momentum", group["momentum"])
        _check_number("SGD", "dampening", group["dampening"], hi=1.0, hi_open=False)
        if group["nesterov"] and (group["momentum"] <= 0 or group["dampening"] != 0):
            raise ValueError("SGD: nesterov needs momentum > 0 and dampening = 0")

    def _update(
        self, p: Tensor, g: np.ndarray, group: dict[str, Any], state: dict[str, Any]
    ) -> None:
        data = _writable(p)
        mu, wd = group["momentum"], group["weight_decay"]
        if wd:
            g = g + np.float32(wd) * data
        if mu:
            buf = state.get("momentum_buffer")
            if buf is None:
                buf = state["momentum_buffer"] = g.copy()
            else:
                buf *= np.float32(mu)
                buf += np.float32(1.0 - group["dampening"]) * g
            g = g + np.float32(mu) * buf if group["nesterov"] else buf
        data -= np.float32(group["lr"]) * g


_ARRAY = operator.attrgetter("_array")
_GRAD_ARRAY = operator.attrgetter("grad._array")
_EXP_AVG = operator.itemgetter("exp_avg")
_EXP_AVG_SQ = operator.itemgetter("exp_avg_sq")
_STEP = operator.itemgetter("step")


class AdamW(Optimizer):
    """Adam with decoupled weight decay (Loshchilov & Hutter), PyTorch's formulation:

    ``p ← p·(1 − lr·wd)``; ``m ← β₁m + (1−β₁)g``; ``v ← β₂v + (1−β₂)g²``;
    ``p ← p − lr/(1−β₁ᵗ) · m / (√v/√(1−β₂ᵗ) + eps)``. One fused multi-tensor kernel
    call per parameter group.
    """

    decoupled = True

    def __init__(
        self,
        params: Iterable[Any],
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 1e-2,
        amsgrad: bool = False,
        *,
        maximize: bool = False,
        foreach: bool | None = None,
        fused: bool | None = None,
    ) -> None:
        # foreach/fused are accepted for PyTorch programs: the step is always one fused kernel
        # id(group) -> (group, its params list, their arrays, validated hyper-parameters),
        # or (group, None, None, None) once the fast path failed for the group.
        self._fast: dict[int, tuple] = {}
        super().__init__(
            params,
            {"lr": lr, "betas": tuple(betas), "eps": eps, "weight_decay": weight_decay,
             "amsgrad": bool(amsgrad), "maximize": bool(maximize)},
        )  # fmt: skip

    def _validate(self, group: dict[str, Any]) -> None:
        super()._validate(group)
        betas = group["betas"]
        if not isinstance(betas, (tuple, list)) or len(betas) != 2:
            raise ValueError(f"{self._name}: betas must be a pair of numbers; got {betas!r}")
        _check_number(self._name, "betas[0]", betas[0], hi=1.0)
        _check_number(self._name, "betas[1]", betas[1], hi=1.0)
        _check_number(self._name, "eps", group["eps"], lo_open=True)

    def _group_step(self, group: dict[str, Any]) -> None:
        """The general step (``Optimizer._group_step``), or from a group's second step
        on a fast path with the same effect and ~50 µs less Python a step (GPT
        benchmark, 53 parameters): where every parameter still holds the array the
        general path last made writable (identity), and has a gradient and its
        moments, the lists go straight to the kernel. Its binding checks every array
        (float32, C-contiguous, writable, shapes, no overlap) before changing any;
        if it refuses, nothing has changed, the general path runs (with its own
        conversions and errors) and the group keeps it from then on."""
        fast = self._fast.get(id(group))
        if fast is not None and fast[0] is group and self._fast_step(group, fast):
            return
        super()._group_step(group)
        fast = self._fast.get(id(group))  # (group, None, …) if the fast path just failed
        if fast is None or fast[0] is not group or fast[1] is not None:
            live = {id(g) for g in self.param_groups}
            for k in [k for k in self._fast if k not in live]:  # groups replaced since
                del self._fast[k]
            hp = (group["lr"], group["betas"], group["eps"], group["weight_decay"])
            self._fast[id(group)] = (group, group["params"], list(map(_ARRAY, group["params"])), hp)

    def _fast_step(self, group: dict[str, Any], fast: tuple) -> bool:
        """The group's step through the kernel with the cached lists; False (nothing
        changed) where the general path must run."""
        _, params, arrays, hp = fast
        ps = group["params"]
        if group.get("maximize") or group.get("amsgrad") or ps is not params or len(ps) != len(arrays):
            return False
        if not all(map(operator.is_, map(_ARRAY, ps), arrays)):
            return False
        key = (group["lr"], group["betas"], group["eps"], group["weight_decay"])
        if key != hp:  # a schedule changed lr: check again
            self._validate(group)
            self._fast[id(group)] = (group, params, arrays, key)
        try:
            grads = list(map(_GRAD_ARRAY, ps))  # AttributeError: a parameter without one
            states = list(map(self.state.__getitem__, ps))  # KeyError: no state yet
            ms, vs = list(map(_EXP_AVG, states)), list(map(_EXP_AVG_SQ, states))
            steps = [int(t) + 1 for t in map(_STEP, states)]
        except (AttributeError, KeyError, TypeError, ValueError):
            return False
        b1, b2 = group["betas"]
        try:
            _core.adam_multi_step(arrays, grads, ms, vs, steps, lr=float(group["lr"]), beta1=float(b1),
                                  beta2=float(b2), eps=float(group["eps"]),
                                  weight_decay=float(group["weight_decay"]), decoupled=self.decoupled)  # fmt: skip
        except Exception:  # refused before any update: the general path from now on
            self._fast[id(group)] = (group, None, None, None)
            return False
        for state, t in zip(states, steps):
            state["step"] = t
        return True

    def _moments(self, p: Tensor, data: np.ndarray) -> dict[str, Any]:
        """``p``'s state, made on its first step: the step count and both moments at zero."""
        state = self.state.setdefault(p, {})
        if not state:
            state["step"] = 0
            state["exp_avg"] = np.zeros_like(data)
            state["exp_avg_sq"] = np.zeros_like(data)
        return state

    def _step_group(self, group: dict[str, Any], items: list[tuple[Tensor, np.ndarray]]) -> None:
        """One kernel call for the whole group: each parameter keeps its own step
        count (bias corrections), the hyper-parameters are the group's."""
        if group.get("amsgrad"):
            self._step_amsgrad(group, items)
            return
        params, grads, ms, vs, steps, states = [], [], [], [], [], []
        for p, g in items:
            data = _writable(p)
            state = self._moments(p, data)
            params.append(data)
            grads.append(g)
            ms.append(state["exp_avg"])
            vs.append(state["exp_avg_sq"])
            steps.append(int(state["step"]) + 1)
            states.append(state)
        b1, b2 = group["betas"]
        # Adam (not decoupled): the kernel adds the L2 term wd·p to the gradient.
        ops.adamw_step(
            params,
            grads,
            ms,
            vs,
            step=steps,
            lr=float(group["lr"]),
            beta1=float(b1),
            beta2=float(b2),
            eps=float(group["eps"]),
            weight_decay=float(group["weight_decay"]),
            decoupled=self.decoupled,
        )
        for state, t in zip(states, steps):
            state["step"] = t

    def _step_amsgrad(self, group: dict[str, Any], items: list[tuple[Tensor, np.ndarray]]) -> None:
        """AMSGrad (NumPy): the denominator uses the running maximum of the second moment,
        ``v̂ ← max(v̂, v)``; ``p ← p − lr/(1−β₁ᵗ) · m / (√v̂/√(1−β₂ᵗ) + eps)``, as PyTorch."""
        b1, b2 = (float(b) for b in group["betas"])
        lr, eps, wd = float(group["lr"]), float(group["eps"]), float(group["weight_decay"])
        for p, g in items:
            data = _writable(p)
            state = self._moments(p, data)
            if "max_exp_avg_sq" not in state:
                state["max_exp_avg_sq"] = np.zeros_like(data)
            t = int(state["step"]) + 1
            g = np.asarray(g, np.float32)
            if wd:
                if self.decoupled:
                    data *= np.float32(1.0 - lr * wd)
                else:
                    g = g + np.float32(wd) * data
            m, v, vmax = state["exp_avg"], state["exp_avg_sq"], state["max_exp_avg_sq"]
            m *= np.float32(b1)
            m += np.float32(1.0 - b1) * g
            v *= np.float32(b2)
            v += np.float32(1.0 - b2) * g * g
            np.maximum(vmax, v, out=vmax)
            denom = np.sqrt(vmax) / np.float32(math.sqrt(1.0 - b2**t)) + np.float32(eps)
            data -= np.float32(lr / (1.0 - b1**t)) * m / denom
            state["step"] = t


class Adam(AdamW):
    """Adam (Kingma & Ba); ``weight_decay`` is an L2 penalty added to the gradient,
    as in PyTorch."""

    decoupled = False

    def __init__(
        self,
        params: Iterable[Any],
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0.0,
        amsgrad: bool = False,
        *,
        maximize: bool = False,
        foreach: bool | None = None,
        fused: bool | None = None,
    ) -> None:
        super().__init__(params, lr=lr, betas=betas, eps=eps, weight_decay=weight_decay, amsgrad=amsgrad,
                         maximize=maximize)


# --- learning-rate schedules ------------------------------------------------------------


class LRScheduler:
    """Sets each group's ``lr`` from its ``initial_lr`` and the step count.

    Call ``scheduler.step()`` after ``optimizer.step()``; construction applies step 0.
    """

    def __init__(self, optimizer: Optimizer) -> None:
        if not isinstance(optimizer, Optimizer):
            raise TypeError(
                f"{type(self).__name__}: expected an Optimizer; got {type(optimizer).__name__}"
            )
        self.optimizer = optimizer
        for g in optimizer.param_groups:
            g.setdefault("initial_lr", g["lr"])
        self.base_lrs = [float(g["initial_lr"]) for g in optimizer.param_groups]
        self.last_step = 0
        self._apply()

    def lr_at(self, step: int, base_lr: float) -> float:
        raise NotImplementedError

    def get_lr(self) -> list[float]:
        """The learning rate of each group at the current step."""
        return [self.lr_at(self.last_step, b) for b in self.base_lrs]

    get_last_lr = get_lr

    def _apply(self) -> None:
        for g, lr in zip(self.optimizer.param_groups, self.get_lr()):
            g["lr"] = lr

    def step(self) -> None:
        self.last_step += 1
        self._apply()

    def state_dict(self) -> dict[str, Any]:
        return {"last_step": self.last_step, "base_lrs": list(self.base_lrs)}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        name = f"{type(self).__name__}.load_state_dict"
        if not isinstance(state, dict) or "last_step" not in state or "base_lrs" not in state:
            raise ValueError(f"{name}: expected a dict with 'last_step' and 'base_lrs'")
        if len(state["base_lrs"]) != len(self.optimizer.param_groups):
            raise ValueError(
                f"{name}: {len(state['base_lrs'])} base lrs saved, "
                f"optimizer has {len(self.optimizer.param_groups)} groups"
            )
        step = int(state["last_step"])
        if step < 0:
            raise ValueError(f"{name}: last_step must be >= 0; got {step}")
        self.base_lrs = [_check_number(name, "base_lrs", b) for b in state["base_lrs"]]
        self.last_step = step
        self._apply()


class CosineWarmup(LRScheduler):
    """Linear warmup to the base lr over ``warmup_steps``, then cosine decay to ``min_lr``
    at ``total_steps`` (held there afterwards).

    ``lr(t) = base·(t+1)/warmup`` for ``t < warmup``; then with
    ``q = (t−warmup)/(total−warmup)``: ``min_lr + (base−min_lr)·(1+cos πq)/2``.
    """

    def __init__(
        self, optimizer: Optimizer, warmup_steps: int, total_steps: int, min_lr: float = 0.0
    ) -> None:
        w, t = int(warmup_steps), int(total_steps)
        if w < 0 or t <= 0 or w > t:
            raise ValueError(
                "CosineWarmup: need 0 <= warmup_steps <= total_steps and total_steps > 0; "
                f"got {w}, {t}"
            )
        self.warmup_steps, self.total_steps = w, t
        self.min_lr = _check_number("CosineWarmup", "min_lr", min_lr)
        super().__init__(optimizer)

    def lr_at(self, step: int, base_lr: float) -> float:
        if step < self.warmup_steps:
            return base_lr * (step + 1) / self.warmup_steps
        span = self.total_steps - self.warmup_steps
        q = min(1.0, (step - self.warmup_steps) / span) if span > 0 else 1.0
        return self.min_lr + (base_lr - self.min_lr) * 0.5 * (1.0 + math.cos(math.pi * q))

    def state_dict(self) -> dict[str, Any]:
        return {
            **super().state_dict(),
            "warmup_steps": self.warmup_steps,
            "total_steps": self.total_steps,
            "min_lr": self.min_lr,
        }


class StepLR(LRScheduler):
    """``lr = base · gamma^(t // step_size)``."""

    def __init__(self, optimizer: Optimizer, step_size: int, gamma: float = 0.1) -> None:
        self.step_size = _positive_int("StepLR", "step_size", step_size)
        self.gamma = _check_number("StepLR", "gamma", gamma)
        super().__init__(optimizer)

    def lr_at(self, step: int, base_lr: float) -> float:
        return base_lr * self.gamma ** (step // self.step_size)

    def state_dict(self) -> dict[str, Any]:
        return {**super().state_dict(), "step_size": self.step_size, "gamma": self.gamma}


# ``attnrs.optim.lr_scheduler`` as in PyTorch (``from attnrs.optim.lr_scheduler import StepLR``
# works too: optim is one file, so the submodule is registered under that name).
from . import lr_scheduler  # noqa: E402

sys.modules[__name__ + ".lr_scheduler"] = lr_scheduler
