"""Sampling from the language models: the next token from logits, and the one
``generate`` loop that GPT, CharRNN and TCN share."""

from __future__ import annotations

from typing import Any

import numpy as np

from .. import nn
from ..tensor import default_rng
from ._common import as_prompt, evaluating

__all__ = ["LanguageModel", "sample_next"]


def sample_next(
    logits: np.ndarray,
    temperature: float = 1.0,
    top_k: int | None = None,
    rng: np.random.Generator | None = None,
) -> np.ndarray:
    """One token per row from ``softmax(logits / temperature)``, optionally
    restricted to the ``top_k`` largest logits; ``temperature == 0`` is greedy.

    # Shapes
    - logits: (B, V) → (B, 1) int64
    """
    logits = np.asarray(logits, dtype=np.float64)
    if logits.ndim != 2:
        raise ValueError(f"sample_next: logits must have shape (B, V); got {logits.shape}")
    if not np.isfinite(temperature) or temperature < 0:
        raise ValueError(f"sample_next: temperature must be a finite number >= 0; got {temperature}")
    if temperature == 0:
        return logits.argmax(axis=-1)[:, None].astype(np.int64)
    logits = logits / temperature
    if top_k is not None:
        if int(top_k) < 1:
            raise ValueError(f"sample_next: top_k must be >= 1; got {top_k}")
        k = min(int(top_k), logits.shape[-1])
        kth = np.partition(logits, -k, axis=-1)[:, -k][:, None]
        logits = np.where(logits < kth, -np.inf, logits)
    p = np.exp(logits - logits.max(axis=-1, keepdims=True))
    p /= p.sum(axis=-1, keepdims=True)
    rng = rng if rng is not None else default_rng()
    u = rng.random((p.shape[0], 1))
    idx = (np.cumsum(p, axis=-1) < u).sum(axis=-1, keepdims=True)
    return np.minimum(idx, p.shape[-1] - 1).astype(np.int64)


class LanguageModel(nn.Module):
    """A model that continues token sequences. Subclasses say how to read a prompt
    (``_prefill``) and how to take one more token (``_extend``); ``generate`` is
    the sampling loop around them."""

    @evaluating
    def generate(
        self,
        idx: np.ndarray,
        max_new_tokens: int,
        temperature: float = 1.0,
        top_k: int | None = None,
        rng: np.random.Generator | None = None,
    ) -> np.ndarray:
        """Appends ``max_new_tokens`` tokens to the prompt ``idx`` and returns it. The
        prompt is read once; each new token is drawn from ``softmax(logits /
        temperature)`` (``temperature == 0``: greedy; ``top_k``: only the k most
        likely) and fed back as one incremental step (a KV cache, a hidden state or
        ring buffers, by model). Runs in eval mode without autograd.

        # Shapes
        - idx: (B, T0) int ids, T0 >= 1 → (B, T0 + max_new_tokens)
        """
        idx = as_prompt(idx, f"{type(self).__name__}.generate")
        logits, state = self._prefill(idx)
        out = [idx]
        for i in range(max_new_tokens):
            nxt = sample_next(logits, temperature, top_k, rng)  # (B, 1)
            out.append(nxt)
            if i + 1 < max_new_tokens:
                logits, state = self._extend(nxt, state)
        return np.concatenate(out, axis=1)

    def _prefill(self, idx: np.ndarray) -> tuple[np.ndarray, Any]:
        """Reads the prompt (B, T0): the next token's logits (B, V) and the decoding state."""
        raise NotImplementedError

    def _extend(self, tok: np.ndarray, state: Any) -> tuple[np.ndarray, Any]:
        """Takes the sampled tokens (B, 1): the next logits (B, V) and the new state."""
        raise NotImplementedError
