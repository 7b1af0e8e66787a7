"""What every example script shares: its command line, one optimiser step, a
test-accuracy curve and saving its picture. Not part of the library; the
scripts import it as ``from _common import ...`` (Python puts the script's
folder on the path).
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Callable

import matplotlib

matplotlib.use("Agg")  # no display needed: every script writes a PNG
import matplotlib.pyplot as plt
import numpy as np

import attnrs as ar

__all__ = ["accuracy", "accuracy_curve", "optimizer_step", "parse_args", "plt", "save"]


def parse_args(
    doc: str,
    steps: tuple[int, int] | None = None,
    what: str = "training steps",
    more: Callable[[argparse.ArgumentParser], None] | None = None,
) -> tuple[argparse.Namespace, Path]:
    """Parses ``--quick``, ``--out DIR``, ``--steps N`` when ``steps`` is given as
    ``(default, with --quick)``, and what ``more(parser)`` adds. Returns the
    arguments, with ``args.steps`` resolved, and the output folder (created)."""
    p = argparse.ArgumentParser(description=doc.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="tiny sizes (a few seconds; used by the tests)")
    if steps:
        p.add_argument("--steps", type=int, help=f"{what} (default {steps[0]}, --quick {steps[1]})")
    if more:
        more(p)
    p.add_argument("--out", default="runs/examples", help="folder for the PNG")
    args = p.parse_args()
    if steps:
        args.steps = args.steps or (steps[1] if args.quick else steps[0])
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    return args, out


def optimizer_step(opt: ar.optim.Optimizer, loss: ar.Tensor, clip: float | None = None) -> None:
    """One update: clear the gradients, backpropagate ``loss``, clip the global
    gradient norm to ``clip`` (when given), step."""
    opt.zero_grad()
    loss.backward()
    if clip is not None:
        params = [p for g in opt.param_groups for p in g["params"]]
        ar.nn.utils.clip_grad_norm_(params, clip)
    opt.step()


def accuracy(model: ar.nn.Module, x: np.ndarray, y: np.ndarray) -> float:
    """Share of rows where ``model.predict(x)`` equals the label ``y``."""
    return float((model.predict(x) == y).mean())


def accuracy_curve(
    model: ar.nn.Module,
    opt: ar.optim.Optimizer,
    make_batch: Callable[[np.random.Generator], tuple[np.ndarray, np.ndarray]],
    rng: np.random.Generator,
    steps: int,
    test: tuple[np.ndarray, np.ndarray],
    points: int = 10,
) -> list[tuple[int, float]]:
    """Trains a classifier ``steps`` steps on ``make_batch(rng)`` and returns its test
    accuracy at step 0 and about ``points`` more steps: ``[(step, accuracy), ...]``."""
    every = max(steps // points, 1)
    curve = [(0, accuracy(model, *test))]
    for step in range(1, steps + 1):
        x, y = make_batch(rng)
        _, loss = model(x, targets=y)
        optimizer_step(opt, loss)
        if step % every == 0:
            curve.append((step, accuracy(model, *test)))
    return curve


def save(fig: matplotlib.figure.Figure, out: Path, name: str) -> None:
    """Lays out ``fig``, writes it to ``out / name`` (100 dpi), closes it and says so."""
    fig.tight_layout()
    path = out / name
    fig.savefig(path, dpi=100)
    plt.close(fig)
    print(f"wrote {path}")
