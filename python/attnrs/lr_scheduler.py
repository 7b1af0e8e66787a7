"""``attnrs.optim.lr_scheduler``: PyTorch's schedulers, each a closed form of the step.

Call ``scheduler.step()`` after ``optimizer.step()``; building a scheduler applies
step 0. ``get_last_lr()`` gives each group's current rate. The formulas are the
ones PyTorch documents (its chainable forms agree with them).
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Callable, Sequence
from typing import Any

from .optim import CosineWarmup, LRScheduler, Optimizer, StepLR, _check_number, _positive_int

__all__ = [
    "CosineAnnealingLR", "CosineWarmup", "ExponentialLR", "LRScheduler", "LambdaLR", "LinearLR",
    "MultiStepLR", "OneCycleLR", "ReduceLROnPlateau", "SequentialLR", "StepLR",
]  # fmt: skip


class LambdaLR(LRScheduler):
    """``lr = base · lr_lambda(t)`` (one function, or one per parameter group)."""

    def __init__(self, optimizer: Optimizer, lr_lambda: Callable[[int], float] | Sequence) -> None:
        n = len(optimizer.param_groups)
        fns = list(lr_lambda) if isinstance(lr_lambda, (list, tuple)) else [lr_lambda] * n
        if len(fns) != n:
            raise ValueError(f"LambdaLR: expected {n} lr_lambdas (one per group); got {len(fns)}")
        self.lr_lambdas = fns
        super().__init__(optimizer)

    def get_lr(self) -> list[float]:
        return [b * float(f(self.last_step)) for b, f in zip(self.base_lrs, self.lr_lambdas)]

    get_last_lr = get_lr


class CosineAnnealingLR(LRScheduler):
    """``lr = eta_min + (base − eta_min)·(1 + cos(π·t/T_max))/2``."""

    def __init__(self, optimizer: Optimizer, T_max: int, eta_min: float = 0.0) -> None:  # noqa: N803
        self.T_max = _positive_int("CosineAnnealingLR", "T_max", T_max)
        self.eta_min = _check_number("CosineAnnealingLR", "eta_min", eta_min)
        super().__init__(optimizer)

    def lr_at(self, step: int, base_lr: float) -> float:
        return self.eta_min + (base_lr - self.eta_min) * 0.5 * (1.0 + math.cos(math.pi * step / self.T_max))


class LinearLR(LRScheduler):
    """The factor goes linearly from ``start_factor`` to ``end_factor`` over ``total_iters``
    steps, then stays: ``lr = base · (s + (e − s)·min(t, n)/n)``."""

    def __init__(self, optimizer: Optimizer, start_factor: float = 1.0 / 3, end_factor: float = 1.0,
                 total_iters: int = 5) -> None:  # fmt: skip
        s = _check_number("LinearLR", "start_factor", start_factor)
        e = _check_number("LinearLR", "end_factor", end_factor)
        if not (0.0 < s <= 1.0) or not (0.0 <= e <= 1.0) or int(total_iters) <= 0:
            raise ValueError(
                "LinearLR: need 0 < start_factor <= 1, 0 <= end_factor <= 1, total_iters > 0; "
                f"got {start_factor}, {end_factor}, {total_iters}"
            )
        self.start_factor, self.end_factor, self.total_iters = s, e, int(total_iters)
        super().__init__(optimizer)

    def lr_at(self, step: int, base_lr: float) -> float:
        q = min(step, self.total_iters) / self.total_iters
        return base_lr * (self.start_factor + (self.end_factor - self.start_factor) * q)


class OneCycleLR(LRScheduler):
    """The 1cycle policy (Smith & Topin): from ``max_lr/div_factor`` up to ``max_lr`` over
    the first ``pct_start`` of ``total_steps``, then down to ``initial/final_div_factor``;
    momentum (``betas[0]`` for Adam) cycles the other way between ``max_momentum`` and
    ``base_momentum`` when ``cycle_momentum``. ``three_phase`` adds PyTorch's third phase."""

    def __init__(self, optimizer: Optimizer, max_lr: float | Sequence[float], total_steps: int | None = None,
                 epochs: int | None = None, steps_per_epoch: int | None = None, pct_start: float = 0.3,
                 anneal_strategy: str = "cos", cycle_momentum: bool = True, base_momentum: float = 0.85,
                 max_momentum: float = 0.95, div_factor: float = 25.0, final_div_factor: float = 1e4,
                 three_phase: bool = False) -> None:  # fmt: skip
        if total_steps is None:
            if epochs is None or steps_per_epoch is None:
                raise ValueError("OneCycleLR: give total_steps, or epochs and steps_per_epoch")
            total_steps = int(epochs) * int(steps_per_epoch)
        if int(total_steps) <= 0 or not 0.0 < float(pct_start) < 1.0:
            raise ValueError(f"OneCycleLR: need total_steps > 0 and 0 < pct_start < 1; got {total_steps}, {pct_start}")
        if anneal_strategy not in ("cos", "linear"):
            raise ValueError(f'OneCycleLR: anneal_strategy must be "cos" or "linear"; got {anneal_strategy!r}')
        n = len(optimizer.param_groups)
        maxes = list(max_lr) if isinstance(max_lr, (list, tuple)) else [float(max_lr)] * n
        self.total_steps, self.anneal = int(total_steps), anneal_strategy
        self.cycle_momentum = bool(cycle_momentum)
        t = self.total_steps
        ends = [float(pct_start) * t - 1, t - 1] if not three_phase else [
            float(pct_start) * t - 1, 2 * float(pct_start) * t - 2, t - 1]  # fmt: skip
        self._phases = []  # per group: [(end_step, lr0, lr1, m0, m1)]
        for g, mx in zip(optimizer.param_groups, maxes):
            lo = mx / div_factor
            g["initial_lr"], g["max_lr"], g["min_lr"] = lo, mx, lo / final_div_factor
            if three_phase:
                ph = [(ends[0], lo, mx, max_momentum, base_momentum), (ends[1], mx, lo, base_momentum, max_momentum),
                      (ends[2], lo, lo / final_div_factor, max_momentum, max_momentum)]  # fmt: skip
            else:
                ph = [(ends[0], lo, mx, max_momentum, base_momentum),
                      (ends[1], mx, lo / final_div_factor, base_momentum, max_momentum)]  # fmt: skip
            self._phases.append(ph)
        super().__init__(optimizer)

    def _anneal(self, a: float, b: float, pct: float) -> float:
        if self.anneal == "cos":
            return b + (a - b) / 2.0 * (math.cos(math.pi * pct) + 1)
        return (b - a) * pct + a

    def _at(self, step: int, phases: list) -> tuple[float, float]:
        start = 0.0
        for i, (end, lr0, lr1, m0, m1) in enumerate(phases):
            if step <= end or i == len(phases) - 1:
                pct = (step - start) / (end - start) if end > start else 1.0
                return self._anneal(lr0, lr1, pct), self._anneal(m0, m1, pct)
            start = end
        raise AssertionError("unreachable")

    def get_lr(self) -> list[float]:
        if self.last_step > self.total_steps:
            raise ValueError(
                f"OneCycleLR: stepped {self.last_step} times, past total_steps={self.total_steps}"
            )
        return [self._at(self.last_step, ph)[0] for ph in self._phases]

    get_last_lr = get_lr

    def _apply(self) -> None:
        super()._apply()
        if not self.cycle_momentum:
            return
        for g, ph in zip(self.optimizer.param_groups, self._phases):
            m = self._at(self.last_step, ph)[1]
            if "betas" in g:
                g["betas"] = (m, g["betas"][1])
            elif "momentum" in g:
                g["momentum"] = m


class SequentialLR(LRScheduler):
    """Runs ``schedulers[i]`` from ``milestones[i-1]`` on, each restarted at its own step 0."""

    def __init__(self, optimizer: Optimizer, schedulers: Sequence[LRScheduler], milestones: Sequence[int]) -> None:
        if len(schedulers) != len(milestones) + 1:
            raise ValueError(
                f"SequentialLR: expected len(milestones) == len(schedulers) - 1; got {len(milestones)} "
                f"milestones for {len(schedulers)} schedulers"
            )
        if any(s.optimizer is not optimizer for s in schedulers):
            raise ValueError("SequentialLR: every scheduler must drive the same optimizer")
        self.schedulers, self.milestones = list(schedulers), [int(m) for m in milestones]
        super().__init__(optimizer)

    def get_lr(self) -> list[float]:
        i = bisect.bisect_right(self.milestones, self.last_step)
        sched = self.schedulers[i]
        local = self.last_step - (self.milestones[i - 1] if i else 0)
        saved = sched.last_step
        sched.last_step = local
        try:
            return sched.get_lr()
        finally:
            sched.last_step = saved

    get_last_lr = get_lr

    def state_dict(self) -> dict[str, Any]:
        return {**super().state_dict(), "milestones": list(self.milestones)}


class MultiStepLR(LRScheduler):
    """``lr = base · gamma^(number of milestones <= t)``."""

    def __init__(self, optimizer: Optimizer, milestones: Sequence[int], gamma: float = 0.1) -> None:
        self.milestones = sorted(int(m) for m in milestones)
        self.gamma = _check_number("MultiStepLR", "gamma", gamma)
        super().__init__(optimizer)

    def lr_at(self, step: int, base_lr: float) -> float:
        return base_lr * self.gamma ** bisect.bisect_right(self.milestones, step)


class ExponentialLR(LRScheduler):
    """``lr = base · gamma^t``."""

    def __init__(self, optimizer: Optimizer, gamma: float) -> None:
        self.gamma = _check_number("ExponentialLR", "gamma", gamma)
        super().__init__(optimizer)

    def lr_at(self, step: int, base_lr: float) -> float:
        return base_lr * self.gamma**step


class ReduceLROnPlateau:
    """Multiplies each group's ``lr`` by ``factor`` once the metric passed to
    ``step(metric)`` has not improved for more than ``patience`` calls, as PyTorch does:
    improvement is relative (``threshold_mode="rel"``: better than ``best·(1 ∓ threshold)``)
    or absolute (``"abs"``); after a reduction, ``cooldown`` calls pass before counting
    again; no ``lr`` goes below ``min_lr`` and changes smaller than ``eps`` are skipped."""

    def __init__(self, optimizer: Optimizer, mode: str = "min", factor: float = 0.1, patience: int = 10,
                 threshold: float = 1e-4, threshold_mode: str = "rel", cooldown: int = 0,
                 min_lr: float | Sequence[float] = 0.0, eps: float = 1e-8) -> None:  # fmt: skip
        if not isinstance(optimizer, Optimizer):
            raise TypeError(f"ReduceLROnPlateau: expected an Optimizer; got {type(optimizer).__name__}")
        if mode not in ("min", "max") or threshold_mode not in ("rel", "abs"):
            raise ValueError(
                f"ReduceLROnPlateau: mode must be 'min' or 'max' and threshold_mode 'rel' or 'abs'; "
                f"got {mode!r}, {threshold_mode!r}"
            )
        if not float(factor) < 1.0:
            raise ValueError(f"ReduceLROnPlateau: factor must be < 1.0; got {factor}")
        n = len(optimizer.param_groups)
        mins = list(min_lr) if isinstance(min_lr, (list, tuple)) else [min_lr] * n
        if len(mins) != n:
            raise ValueError(f"ReduceLROnPlateau: expected {n} min_lrs (one per group); got {len(mins)}")
        self.optimizer, self.mode, self.threshold_mode = optimizer, mode, threshold_mode
        self.factor = _check_number("ReduceLROnPlateau", "factor", factor)
        self.threshold = _check_number("ReduceLROnPlateau", "threshold", threshold)
        self.eps = _check_number("ReduceLROnPlateau", "eps", eps)
        self.patience, self.cooldown = int(patience), int(cooldown)
        self.min_lrs = [_check_number("ReduceLROnPlateau", "min_lr", m) for m in mins]
        self.best = math.inf if mode == "min" else -math.inf
        self.num_bad_epochs = self.cooldown_counter = self.last_epoch = 0

    def _better(self, a: float) -> bool:
        rel = self.threshold_mode == "rel"
        if self.mode == "min":
            return a < (self.best * (1.0 - self.threshold) if rel else self.best - self.threshold)
        return a > (self.best * (1.0 + self.threshold) if rel else self.best + self.threshold)

    def step(self, metrics: Any) -> None:
        current = float(metrics)
        self.last_epoch += 1
        if self._better(current):
            self.best, self.num_bad_epochs = current, 0
        else:
            self.num_bad_epochs += 1
        if self.cooldown_counter > 0:
            self.cooldown_counter -= 1
            self.num_bad_epochs = 0
        if self.num_bad_epochs > self.patience:
            for g, lo in zip(self.optimizer.param_groups, self.min_lrs):
                new = max(float(g["lr"]) * self.factor, lo)
                if float(g["lr"]) - new > self.eps:
                    g["lr"] = new
            self.cooldown_counter, self.num_bad_epochs = self.cooldown, 0

    def get_last_lr(self) -> list[float]:
        return [float(g["lr"]) for g in self.optimizer.param_groups]

    def state_dict(self) -> dict[str, Any]:
        keys = ("best", "num_bad_epochs", "cooldown_counter", "last_epoch")
        return {k: getattr(self, k) for k in keys}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        for k in ("best", "num_bad_epochs", "cooldown_counter", "last_epoch"):
            if k not in state:
                raise ValueError(f"ReduceLROnPlateau.load_state_dict: missing {k!r}")
            setattr(self, k, type(getattr(self, k))(state[k]))
