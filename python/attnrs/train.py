"""Trainer: a model-agnostic loop (minGPT style) extended by callbacks.

The model only has to return ``(output, loss)`` from
``model(*inputs, targets=targets)``; the data comes from a ``get_batch(split,
rng)`` callable returning ``(inputs_tuple, targets)``. The trainer owns the
rest: AdamW with linear warm-up and cosine decay, gradient clipping, periodic
evaluation, a tqdm bar (loss, tokens/s, ETA), a JSON-lines log, safetensors
checkpoints, exact resume and early stopping.

Resume is exact: the batches and attnrs' global generator (dropout) of step
``s`` are seeded by ``(seed, s)`` (and the rank), and the checkpoint holds the
parameters, the optimizer moments and the step, so a run stopped at step k and
resumed produces the same losses, bit for bit, as an uninterrupted run.

Data parallel (MPI, ``attnrs.distributed``): under ``mpiexec`` (or with
``distributed=True``) the model is wrapped in ``DistributedDataParallel``, each
rank trains on its share of every batch and the gradients are averaged; only
rank 0 shows progress and writes logs, checkpoints and plots. A ``get_batch``
that takes ``rank`` and ``world_size`` keywords gets a generator shared by all
ranks and must return its rank's share of the global batch (as
``data.get_batch`` does), so the samples of a step do not depend on the number
of ranks and a checkpoint resumes on any number of ranks; a plain
``get_batch(split, rng)`` gets a generator seeded by ``(seed, step, rank)``.
"""

from __future__ import annotations

import inspect
import json
import math
import os
import tempfile
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np

from . import io as _io
from .autograd import no_grad
from .memory import retain_freed_memory
from .nn.utils import clip_grad_norm_
from .optim import AdamW
from .tensor import manual_seed

__all__ = ["Callback", "LossCurvePlot", "TrainConfig", "Trainer", "cosine_warmup_lr", "save_attention_map"]
__all__ += ["plot_histories", "plot_logs", "read_log"]

BatchFn = Callable[[str, np.random.Generator], tuple[tuple, Any]]
MetricFn = Callable[[Any, Any], dict]  # (model output, targets) -> {"name": float}


@dataclass
class TrainConfig:
    steps: int = 2000  # optimizer steps in total
    lr: float = 1e-3  # peak learning rate (reached after warm-up)
    min_lr: float = 1e-4  # cosine decay floor, reached at the last step
    warmup: int = 100  # linear warm-up steps from 0
    beta1: float = 0.9
    beta2: float = 0.99  # nanoGPT's value for small-batch char models
    weight_decay: float = 0.1  # AdamW decoupled decay (applied to ≥2-D weights only)
    grad_clip: float = 1.0  # max global gradient norm; 0 turns clipping off
    eval_interval: int = 250  # evaluate every N steps, and after the last
    eval_iters: int = 20  # validation batches per evaluation (the same batches each time)
    log_interval: int = 1  # a log.jsonl line every N steps
    checkpoint: bool = True  # write out_dir/checkpoint.safetensors at each eval and at the end
    patience: int = 0  # stop after N evaluations without a val-loss improvement; 0 = never
    seed: int = 1337  # seeds the batches and attnrs' generator (per step and rank)
    progress: bool = True  # show a tqdm bar

    def __post_init__(self) -> None:
        for name in ("lr", "min_lr", "beta1", "beta2", "weight_decay", "grad_clip"):
            v = getattr(self, name)
            if not isinstance(v, (int, float)) or not math.isfinite(v) or v < 0:
                raise ValueError(f"TrainConfig: {name} must be a finite number >= 0; got {v!r}")
        for name in ("steps", "warmup", "eval_interval", "eval_iters", "log_interval", "patience"):
            v = getattr(self, name)
            if not isinstance(v, int) or v < 0:
                raise ValueError(f"TrainConfig: {name} must be an integer >= 0; got {v!r}")
        if self.eval_interval == 0 or self.eval_iters == 0 or self.log_interval == 0:
            raise ValueError("TrainConfig: eval_interval, eval_iters and log_interval must be >= 1")
        if not (self.beta1 < 1 and self.beta2 < 1):
            raise ValueError(f"TrainConfig: betas must be < 1; got {self.beta1}, {self.beta2}")


def cosine_warmup_lr(step: int, lr: float, min_lr: float, warmup: int, total: int) -> float:
    """Learning rate of 0-based ``step``: linear warm-up to ``lr`` over ``warmup``
    steps, then cosine decay to ``min_lr`` at ``total``."""
    if step < warmup:
        return lr * (step + 1) / warmup
    if step >= total:
        return min_lr
    frac = (step - warmup) / max(total - warmup, 1)
    return min_lr + 0.5 * (1.0 + math.cos(math.pi * frac)) * (lr - min_lr)


class Callback:
    """Hooks called by ``Trainer.run``; override what you need."""

    def on_train_start(self, trainer: Trainer) -> None: ...

    def on_step_end(self, trainer: Trainer, record: dict) -> None: ...

    def on_eval(self, trainer: Trainer, val_loss: float) -> None: ...

    def on_train_end(self, trainer: Trainer) -> None: ...


def _tokens(targets: Any) -> int:
    return int(np.asarray(targets).size)


def _takes_rank(fn: Any) -> bool:
    try:
        names = inspect.signature(fn).parameters
    except (TypeError, ValueError):
        return False
    return "rank" in names and "world_size" in names


def _seed_int(*key: int) -> int:
    return int(np.random.SeedSequence(list(key)).generate_state(1, np.uint64)[0])


class Trainer:
    """Trains ``model`` on batches from ``get_batch``.

    ``trainer.step`` counts completed optimizer steps; ``trainer.history`` holds
    the log records. ``out_dir`` receives ``log.jsonl`` and
    ``checkpoint.safetensors`` (nothing is written when it is None, and only
    rank 0 writes).

    ``distributed``: None detects an MPI launch (``mpiexec``), True joins MPI
    even with one rank, False never does. ``trainer.model`` stays the plain
    model; ``trainer.ddp`` is its ``DistributedDataParallel`` wrapper (or None).
    """

    CHECKPOINT = "checkpoint.safetensors"
    LOG = "log.jsonl"

    def __init__(
        self,
        model: Any,
        config: TrainConfig,
        get_batch: BatchFn,
        out_dir: os.PathLike | None = None,
        callbacks: Sequence[Callback] = (),
        run_config: dict | None = None,
        distributed: bool | None = None,
        bucket_cap_mb: float = 25.0,
        metric_fn: MetricFn | None = None,
    ) -> None:
        from . import distributed as dist

        if distributed is None:
            distributed = dist.launched_under_mpi()
        if distributed:
            dist.init(force=True)
        self.rank = dist.rank() if distributed else 0
        self.world_size = dist.world_size() if distributed else 1
        self.is_main = self.rank == 0
        self.model = model
        self.ddp = dist.DistributedDataParallel(model, bucket_cap_mb) if distributed else None
        self.config = config
        self.get_batch = get_batch
        self.out_dir = Path(out_dir) if out_dir is not None else None
        self.callbacks = list(callbacks)
        self.run_config = run_config  # JSON-able, stored in the checkpoint (model config, tokenizer…)
        # Extra metrics beside the loss (e.g. BERT's masked-token accuracy): called on
        # each step's (output, targets); logged as-is, and as "val_<name>" (means over
        # the validation batches) at each evaluation.
        self.metric_fn = metric_fn
        self.last_metrics: dict = {}
        self.last_val_metrics: dict = {}
        self.params = list(model.parameters())
        decay = [p for p in self.params if p._array.ndim >= 2]
        no_decay = [p for p in self.params if p._array.ndim < 2]
        self.optimizer = AdamW(
            [{"params": decay, "weight_decay": config.weight_decay},
             {"params": no_decay, "weight_decay": 0.0}],
            lr=config.lr, betas=(config.beta1, config.beta2),
        )  # fmt: skip
        self._rank_aware = _takes_rank(get_batch)
        self.step = 0
        self.best_val = math.inf
        self.bad_evals = 0
        self.stop = False
        self.history: list[dict] = []
        retain_freed_memory()  # reuse activation pages across steps (attnrs.memory)

    # --- one step ----------------------------------------------------------------------
    def lr_at(self, step: int) -> float:
        c = self.config
        return cosine_warmup_lr(step, c.lr, c.min_lr, c.warmup, c.steps)

    def batch(self, split: str, key: int, rank: int = -1, world_size: int = 0) -> tuple[tuple, Any]:
        """This rank's batch number ``key`` of ``split`` (see the module docstring)."""
        rank = self.rank if rank < 0 else rank
        world_size = world_size or self.world_size
        salt = 0 if split == "train" else 1
        if self._rank_aware:
            rng = np.random.default_rng([self.config.seed, salt, key])
            return self.get_batch(split, rng, rank=rank, world_size=world_size)
        return self.get_batch(split, np.random.default_rng([self.config.seed, salt, key, rank]))

    def train_step(self) -> tuple[float, int]:
        """One optimizer step; returns (loss, tokens in the batch) of this rank."""
        inputs, targets = self.batch("train", self.step)
        manual_seed(_seed_int(self.config.seed, 2, self.step, self.rank))  # dropout of this step
        self.model.train()
        out, loss = (self.model if self.ddp is None else self.ddp)(*inputs, targets=targets)
        if self.metric_fn is not None:  # this rank's share of the batch
            self.last_metrics = {k: float(v) for k, v in self.metric_fn(out, targets).items()}
        self.optimizer.zero_grad()
        loss.backward()
        if self.config.grad_clip > 0:
            clip_grad_norm_(self.params, self.config.grad_clip)
        for group in self.optimizer.param_groups:
            group["lr"] = self.lr_at(self.step)
        self.optimizer.step()
        self.step += 1
        return float(loss.item()), _tokens(targets)

    def evaluate(self) -> float:
        """Mean loss over ``eval_iters`` validation batches, the same ones each call
        and whatever the number of ranks: a rank-aware ``get_batch`` gives each rank
        its share of every batch (the ranks' losses are averaged); otherwise rank r
        evaluates whole batches r, r + N, ..."""
        n_iter, world = self.config.eval_iters, self.world_size
        self.model.eval()
        losses = np.zeros(n_iter)
        metrics: dict[str, np.ndarray] = {}
        with no_grad():
            for i in range(n_iter) if self._rank_aware else range(self.rank, n_iter, world):
                inputs, targets = self.batch("val", i, *(() if self._rank_aware else (0, 1)))
                out, loss = self.model(*inputs, targets=targets)
                losses[i] = float(loss.item())
                if self.metric_fn is not None:
                    for k, v in self.metric_fn(out, targets).items():
                        metrics.setdefault(k, np.zeros(n_iter))[i] = float(v)
        self.model.train()
        share = world if self._rank_aware else 1  # rank-aware: each rank saw 1/N of every batch
        if self.ddp is not None and self.metric_fn is not None:
            # Every rank must sum the same metrics in the same order, also a rank that
            # evaluated no batch (eval_iters < N): rank 0, which always evaluates batch 0, names them.
            from .distributed import broadcast_bytes

            names = json.loads(broadcast_bytes(json.dumps(sorted(metrics)).encode() if self.is_main else None))
            metrics = {k: metrics.get(k, np.zeros(n_iter)) for k in names}
        self.last_val_metrics = {f"val_{k}": float(np.mean(self._all_sum(v) / share)) for k, v in metrics.items()}
        total = self._all_sum(losses)
        return float(np.mean(total / share))

    def _all_sum(self, values: np.ndarray) -> np.ndarray:
        if self.ddp is None:
            return values
        from .distributed import all_sum

        return all_sum(values)

    def _global_loss(self, loss: float) -> float:
        """Mean of the ranks' losses (the loss of the global batch)."""
        if self.world_size == 1:
            return loss
        v = np.zeros(self.world_size)
        v[self.rank] = loss
        return float(np.mean(self._all_sum(v)))

    # --- the loop ----------------------------------------------------------------------
    def run(self) -> list[dict]:
        """Trains to ``config.steps``; with several ranks, an exception on any rank
        aborts the whole MPI job (exit status 1) instead of leaving the others waiting."""
        if self.world_size == 1:
            return self._run()
        from .distributed import abort_on_error

        with abort_on_error():
            return self._run()

    def _run(self) -> list[dict]:
        c = self.config
        if self.step == 0:
            manual_seed(c.seed)
        for cb in self.callbacks:
            cb.on_train_start(self)
        bar = self._bar()
        t_last, tok_acc = time.perf_counter(), 0
        while self.step < c.steps and not self.stop:
            lr = self.lr_at(self.step)
            loss, ntok = self.train_step()
            loss = self._global_loss(loss)
            tok_acc += ntok * self.world_size
            rec: dict = {"step": self.step, "train_loss": loss, "lr": lr, **self.last_metrics}
            evaluating = self.step % c.eval_interval == 0 or self.step == c.steps
            if evaluating or self.step % c.log_interval == 0:
                now = time.perf_counter()
                rec["tokens_per_s"] = tok_acc / max(now - t_last, 1e-9)
                if evaluating:
                    rec["val_loss"] = self._eval_and_track()
                    rec.update(self.last_val_metrics)
                self._log(rec)
                if evaluating and c.checkpoint and self.out_dir is not None and self.is_main:
                    self.save_checkpoint(self.out_dir / self.CHECKPOINT)
                t_last, tok_acc = time.perf_counter(), 0  # evaluation time is not counted
            if bar is not None:
                bar.update(1)
                bar.set_postfix(self._postfix(rec), refresh=False)
            for cb in self.callbacks:
                cb.on_step_end(self, rec)
            if self.world_size > 1:  # a callback may stop one rank: stop them all
                self.stop = bool(self._all_sum(np.array([float(self.stop)]))[0] > 0)
        if bar is not None:
            bar.close()
        for cb in self.callbacks:
            cb.on_train_end(self)
        return self.history

    def _eval_and_track(self) -> float:
        val = self.evaluate()
        if val < self.best_val:
            self.best_val, self.bad_evals = val, 0
        else:
            self.bad_evals += 1
            if self.config.patience and self.bad_evals >= self.config.patience:
                self.stop = True
        for cb in self.callbacks:
            cb.on_eval(self, val)
        return val

    def _bar(self) -> Any:
        if not self.config.progress or not self.is_main:
            return None
        from tqdm.auto import tqdm

        return tqdm(total=self.config.steps, initial=self.step, unit="step", dynamic_ncols=True)

    def _postfix(self, rec: dict) -> dict:
        out = {"loss": f"{rec['train_loss']:.4f}"}
        if "tokens_per_s" in rec:
            self._last_tps = rec["tokens_per_s"]
        if getattr(self, "_last_tps", None):
            out["tok/s"] = f"{self._last_tps:,.0f}"
        if math.isfinite(self.best_val):
            out["val"] = f"{self.best_val:.4f}"
        return out

    def _log(self, rec: dict) -> None:
        self.history.append(rec)
        if self.out_dir is not None and self.is_main:
            self.out_dir.mkdir(parents=True, exist_ok=True)
            with open(self.out_dir / self.LOG, "a", encoding="utf-8") as f:
                f.write(json.dumps(rec) + "\n")

    # --- checkpoints -------------------------------------------------------------------
    def state(self) -> dict:
        """Trainer state stored beside the arrays (JSON-serialisable)."""
        best = self.best_val if math.isfinite(self.best_val) else None
        return {
            "step": self.step, "best_val": best, "bad_evals": self.bad_evals,
            "world_size": self.world_size, "train_config": asdict(self.config),
        }  # fmt: skip

    def save_checkpoint(self, path: os.PathLike) -> None:
        """Model, optimizer and trainer state in one safetensors file (atomic write)."""
        _io.save_checkpoint(
            str(path), self.model, self.optimizer, config=self.run_config, extra={"trainer": self.state()}
        )

    def load_checkpoint(self, path: os.PathLike) -> dict:
        """Restores model, optimizer and trainer state; returns what
        ``io.load_checkpoint`` returns (``config``, ``extra``, ``metadata``).

        With several ranks, rank 0 reads the file and broadcasts its bytes, so
        only rank 0 needs to see it; a checkpoint written by any number of ranks
        loads on any other number."""
        if self.world_size == 1:
            info = _io.load_checkpoint(str(path), self.model, self.optimizer)
        else:
            from .distributed import broadcast_bytes

            blob = broadcast_bytes(Path(path).read_bytes() if self.is_main else None)
            with tempfile.TemporaryDirectory(prefix="attnrs-resume-") as tmp:
                local = Path(tmp) / "checkpoint.safetensors"
                local.write_bytes(blob)
                info = _io.load_checkpoint(str(local), self.model, self.optimizer)
        st = (info.get("extra") or {}).get("trainer")
        if not isinstance(st, dict):
            raise ValueError(f"Trainer.load_checkpoint: {path} holds no trainer state")  # noqa: TRY004
        self.step, self.bad_evals = int(st["step"]), int(st["bad_evals"])
        self.best_val = math.inf if st["best_val"] is None else float(st["best_val"])
        return info


class LossCurvePlot(Callback):
    """Writes ``out_dir/loss.png`` (train and val loss against step) at the end.

    Needs matplotlib (installed by ``make``; ``pip install attnrs[plot]``);
    silently does nothing without it.
    """

    def on_train_end(self, trainer: Trainer) -> None:
        if trainer.out_dir is None or not trainer.history or not getattr(trainer, "is_main", True):
            return
        plot_histories({"": trainer.history}, trainer.out_dir / "loss.png")


# --- curves from logs (issue 16: `attnrs plot`) ------------------------------------------

_NOT_METRICS = {"step", "lr", "tokens_per_s", "train_loss", "val_loss"}


def read_log(run_dir: os.PathLike) -> list[dict]:
    """The records of ``run_dir/log.jsonl`` (one JSON object per line)."""
    path = Path(run_dir) / Trainer.LOG
    if not path.is_file():
        raise FileNotFoundError(f"read_log: no {Trainer.LOG} in {run_dir}")
    with open(path, encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def plot_histories(histories: dict, path: os.PathLike) -> bool:
    """Draws one chart of train (thin line) and val (markers) loss against step
    for each ``label → records`` entry, and a second panel with any other
    metric the records carry (e.g. ``masked_acc``). Returns False without
    matplotlib."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return False
    metrics = sorted({k for h in histories.values() for r in h for k in r} - _NOT_METRICS)
    fig, axes = plt.subplots(1, 2 if metrics else 1, figsize=(11 if metrics else 6, 4), squeeze=False)
    ax = axes[0][0]
    for i, (label, hist) in enumerate(histories.items()):
        color = f"C{i}"
        tr = [r for r in hist if "train_loss" in r]
        ev = [r for r in hist if "val_loss" in r]
        ax.plot([r["step"] for r in tr], [r["train_loss"] for r in tr], color=color, lw=0.8, alpha=0.6,
                label=f"{label} train".strip())  # fmt: skip
        ax.plot([r["step"] for r in ev], [r["val_loss"] for r in ev], "o-", color=color, ms=4,
                label=f"{label} val".strip())  # fmt: skip
    ax.set_xlabel("step")
    ax.set_ylabel("loss")
    ax.legend(fontsize=8)
    if metrics:
        ax2 = axes[0][1]
        bases = sorted({m[4:] if m.startswith("val_") else m for m in metrics})
        for i, (label, hist) in enumerate(histories.items()):
            for m in metrics:
                pts = [(r["step"], r[m]) for r in hist if m in r]
                if pts:  # a metric and its val_ twin share a colour; val gets markers
                    j = bases.index(m[4:] if m.startswith("val_") else m)
                    style = "o-" if m.startswith("val_") else "-"
                    ax2.plot(*zip(*pts), style, color=f"C{(i * len(bases) + j) % 10}", ms=3, lw=0.8,
                             label=f"{label} {m}".strip())  # fmt: skip
        ax2.set_xlabel("step")
        ax2.set_ylabel("metric")
        ax2.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return True


def plot_logs(run_dirs: Sequence[os.PathLike], path: os.PathLike) -> bool:
    """``plot_histories`` of the ``log.jsonl`` of each run directory, labelled by
    the directory's name."""
    hists = {}
    for d in run_dirs:
        name = Path(d).resolve().name
        while name in hists:
            name += "'"
        hists[name] = read_log(d)
    if len(hists) == 1:
        hists = {"": next(iter(hists.values()))}
    return plot_histories(hists, path)


def save_attention_map(
    weights: Any,
    path: os.PathLike,
    x_labels: Sequence[str] | None = None,
    y_labels: Sequence[str] | None = None,
    title: str | None = None,
) -> bool:
    """Writes an attention matrix as a heat map PNG (queries down, keys across).

    ``weights`` is (Tq, Tk), or (H, Tq, Tk) for one panel per head. Needs
    matplotlib (``pip install attnrs[plot]``); returns False without it.
    """
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return False
    w = np.asarray(weights, dtype=np.float32)
    if w.ndim == 2:
        w = w[None]
    if w.ndim != 3:
        raise ValueError(f"save_attention_map: weights must be (Tq, Tk) or (H, Tq, Tk); got {w.shape}")
    h = w.shape[0]
    fig, axes = plt.subplots(1, h, figsize=(3.2 * h + 0.8, 3.4), squeeze=False)
    for i, ax in enumerate(axes[0]):
        ax.imshow(w[i], cmap="viridis", vmin=0.0, vmax=max(float(w.max()), 1e-6), aspect="auto")
        if h > 1:
            ax.set_title(f"head {i}")
        if x_labels is not None:
            ax.set_xticks(range(len(x_labels)), list(x_labels), fontsize=6)
        if y_labels is not None:
            ax.set_yticks(range(len(y_labels)), list(y_labels), fontsize=6)
        ax.set_xlabel("key")
        ax.set_ylabel("query")
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return True
