"""What the models share: config checks, the Transformer block stack, GPT-2
style initialisation, and the evaluation mode of their decoding methods."""

from __future__ import annotations

import functools
from typing import Any, Callable, TypeVar

import numpy as np

from .. import nn
from ..autograd import no_grad
from ..tensor import default_rng

__all__ = ["as_prompt", "check_config", "evaluating", "normal_init", "transformer_stack"]

_Method = TypeVar("_Method", bound=Callable[..., Any])


def check_config(
    cfg: Any,
    positive: tuple[str, ...] = (),
    heads: bool = False,
    dropout: bool = False,
    choices: dict[str, Any] | None = None,
) -> None:
    """Raises ``ValueError`` naming the config class and field unless every field in
    ``positive`` is >= 1, ``n_embd % n_head == 0`` (``heads``), ``0 <= dropout < 1``
    (``dropout``) and each field in ``choices`` is one of its allowed values."""
    name = type(cfg).__name__
    for field, allowed in (choices or {}).items():
        if getattr(cfg, field) not in allowed:
            raise ValueError(f"{name}: {field} must be one of {allowed}; got {getattr(cfg, field)!r}")
    for field in positive:
        if int(getattr(cfg, field)) < 1:
            raise ValueError(f"{name}: {field} must be >= 1; got {getattr(cfg, field)}")
    if heads and cfg.n_embd % cfg.n_head:
        raise ValueError(f"{name}: n_embd ({cfg.n_embd}) must be divisible by n_head ({cfg.n_head})")
    if dropout and not 0.0 <= cfg.dropout < 1.0:
        raise ValueError(f"{name}: dropout must be in [0, 1); got {cfg.dropout}")


def transformer_stack(cfg: Any, causal: bool, cross_attention: bool = False) -> nn.ModuleList:
    """``cfg.n_layer`` pre-norm ``TransformerBlock``s of width ``cfg.n_embd``, ``cfg.n_head``
    heads, an MLP of ``4 * n_embd`` and ``cfg.dropout``."""
    return nn.ModuleList(
        [nn.TransformerBlock(cfg.n_embd, cfg.n_head, 4 * cfg.n_embd, causal=causal,
                             cross_attention=cross_attention, dropout=cfg.dropout)
         for _ in range(cfg.n_layer)]
    )  # fmt: skip


def normal_init(
    model: nn.Module, keep: tuple[str, ...], residual_std: float | None = None, std: float = 0.02
) -> None:
    """GPT-2 / BERT initialisation: weights N(0, ``std``), biases 0; parameters whose
    name starts with one of ``keep`` or contains ``.norm`` (the LayerNorms) stay as
    they are; with ``residual_std``, the residual projections (``out_proj``,
    ``linear2``) get that standard deviation instead."""
    rng = default_rng()
    for name, p in model.named_parameters():
        if name.startswith(keep) or ".norm" in name:
            continue
        if name.endswith("bias"):
            p._array = np.zeros_like(p._array)
            continue
        s = std
        if residual_std is not None and name.endswith(("out_proj.weight", "linear2.weight")):
            s = residual_std
        p._array = rng.normal(0.0, s, size=p._array.shape).astype(np.float32)


def evaluating(method: _Method) -> _Method:
    """Runs a decoding or prediction method under ``no_grad`` with the model in eval
    mode (no dropout), and puts back its training flag afterwards, also on error."""

    @functools.wraps(method)
    def wrapper(self: nn.Module, *args: Any, **kwargs: Any) -> Any:
        was_training = self.training
        self.eval()
        try:
            with no_grad():
                return method(self, *args, **kwargs)
        finally:
            self.train(was_training)

    return wrapper  # type: ignore[return-value]


def as_prompt(idx: Any, who: str) -> np.ndarray:
    """``idx`` as an int64 (B, T) array with T >= 1, or a ``ValueError`` naming ``who``."""
    idx = np.asarray(idx, dtype=np.int64)
    if idx.ndim != 2 or idx.shape[1] < 1:
        raise ValueError(f"{who}: idx must have shape (B, T) with T >= 1; got {idx.shape}")
    return idx
