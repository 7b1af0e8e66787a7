"""Finite-difference gradient check shared by the autograd and nn tests.

The ops run in float32; the check perturbs the float32 inputs, measures the
actual (representable) step, and compares central differences, computed in
float64 from the float32 outputs, with the analytic gradient of a random
projection ``sum(w * f(x))``.
"""

from __future__ import annotations

from typing import Any, Callable

import numpy as np

import attnrs as ar


def gradcheck(
    fn: Callable[..., Any],
    *inputs: np.ndarray,
    eps: float = 1e-2,
    rtol: float = 2e-2,
    atol: float = 2e-3,
    seed: int = 0,
    before_eval: Callable[[], None] | None = None,
    check: list[bool] | None = None,
) -> None:
    """Asserts analytic == numeric gradients of ``fn`` for every input (or those in ``check``).

    ``before_eval`` runs before every evaluation (e.g. re-seeding dropout).
    """
    rng = np.random.default_rng(seed)
    xs = [np.asarray(x, dtype=np.float32) for x in inputs]
    check = check or [True] * len(xs)

    def evaluate(arrs: list[np.ndarray], grad: bool) -> tuple[Any, list[ar.Tensor]]:
        if before_eval is not None:
            before_eval()
        ts = [ar.tensor(a, requires_grad=grad and c) for a, c in zip(arrs, check)]
        return fn(*ts), ts

    out, ts = evaluate(xs, True)
    outs = out if isinstance(out, tuple) else (out,)
    ws = [rng.standard_normal(o.shape).astype(np.float32) for o in outs]
    total = None
    for o, w in zip(outs, ws):
        term = (o * ar.tensor(w)).sum()
        total = term if total is None else total + term
    total.backward()

    def projected(arrs: list[np.ndarray]) -> float:
        with ar.no_grad():
            res, _ = evaluate(arrs, False)
        res = res if isinstance(res, tuple) else (res,)
        return float(sum(np.sum(r.numpy().astype(np.float64) * w) for r, w in zip(res, ws)))

    for i, (x, t) in enumerate(zip(xs, ts)):
        if not check[i]:
            continue
        assert t.grad is not None, f"input {i} got no gradient"
        analytic = t.grad.numpy().astype(np.float64)
        assert analytic.shape == x.shape
        numeric = np.zeros(x.shape)
        for j in np.ndindex(*x.shape):
            xp, xm = x.copy(), x.copy()
            xp[j] = np.float32(x[j] + eps)
            xm[j] = np.float32(x[j] - eps)
            step = float(xp[j]) - float(xm[j])
            fp = projected([xp if k == i else a for k, a in enumerate(xs)])
            fm = projected([xm if k == i else a for k, a in enumerate(xs)])
            numeric[j] = (fp - fm) / step
        np.testing.assert_allclose(
            analytic, numeric, rtol=rtol, atol=atol, err_msg=f"gradient of input {i}"
        )
