"""GPT: a causal self-attention language model (nanoGPT's architecture).

token ids ─ wte ─┐
                 + ─ drop ─ [TransformerBlock(causal) × n_layer] ─ ln_f ─ lm_head ─ logits
positions ─ wpe ─┘

Each block is pre-norm: ``x + attn(ln_1(x))`` then ``x + mlp(ln_2(x))``.
``generate`` decodes one token at a time against a KV cache, so each new
token costs one query row per layer instead of re-running the whole window.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .. import _core, nn, ops
from ..autograd import no_grad
from ..functional.embedding import embedding_add
from ..nn.transformer import apply_blocks
from ..tensor import Tensor
from ._common import check_config, normal_init, transformer_stack
from ._loss import sequence_loss
from ._sampling import LanguageModel

__all__ = ["GPT", "GPTConfig"]


@dataclass
class GPTConfig:
    vocab_size: int = 65  # characters of tinyshakespeare
    block_size: int = 64  # longest context (learned positions)
    n_layer: int = 4  # transformer blocks
    n_head: int = 4  # attention heads per block
    n_embd: int = 128  # model width; n_embd % n_head == 0
    dropout: float = 0.0  # after embeddings, attention and MLP
    tie_weights: bool = False  # lm_head shares wte's weight

    def __post_init__(self) -> None:
        check_config(self, ("vocab_size", "block_size", "n_layer", "n_head", "n_embd"), heads=True, dropout=True)


class GPT(LanguageModel):
    def __init__(self, config: GPTConfig) -> None:
        super().__init__()
        c = config
        self.config = c
        self.wte = nn.Embedding(c.vocab_size, c.n_embd)
        self.wpe = nn.Embedding(c.block_size, c.n_embd)
        self.drop = nn.Dropout(c.dropout)
        self.blocks = transformer_stack(c, causal=True)
        self.ln_f = nn.LayerNorm(c.n_embd)
        self.lm_head = nn.Linear(c.n_embd, c.vocab_size, bias=False)
        if c.tie_weights:
            self.lm_head.weight = self.wte.weight  # (V, C) for both
        # GPT-2 init: N(0, 0.02), zero biases, residual projections scaled by 1/sqrt(2·n_layer)
        normal_init(self, keep=("ln_",), residual_std=0.02 / np.sqrt(2 * c.n_layer))

    def forward(
        self, idx: np.ndarray, targets: np.ndarray | None = None
    ) -> tuple[Tensor, Tensor | None]:
        """# Shapes
        - idx: (B, T) int ids, T <= block_size; targets: (B, T) int ids or None
        - returns logits (B, T, vocab_size) and the mean cross-entropy (or None)
        """
        idx = np.asarray(idx)
        B, T = idx.shape
        if T > self.config.block_size:
            raise ValueError(
                f"GPT.forward: sequence length {T} exceeds block_size {self.config.block_size}"
            )
        x = self.drop(self._embed(idx, np.arange(T)))  # (B, T, C)
        x = apply_blocks(self.blocks, x)  # (B, T, C): every block, as one node where it can
        logits = self.lm_head(self.ln_f(x))  # (B, T, V)
        return logits, sequence_loss(logits, targets)

    def _embed(self, idx: np.ndarray, pos: np.ndarray) -> Tensor:
        """``wte(idx) + wpe(pos)``: as one node (one kernel call each way, the
        same bits) where both are plain ``nn.Embedding`` tables without padding."""
        wte, wpe = self.wte, self.wpe
        plain = all(type(e) is nn.Embedding and e.padding_idx is None for e in (wte, wpe))
        if plain:
            return embedding_add(idx, wte.weight, pos, wpe.weight)
        return wte(idx) + wpe(pos)

    def _prefill(self, idx: np.ndarray) -> tuple[np.ndarray, tuple]:
        """Runs the last ``block_size`` tokens of the prompt once into fresh KV caches.
        The state: the context and either a native decoder (``_core.LmDecoder``:
        weights, caches and the whole per-token step in Rust) or, for a model it
        cannot run, the caches and the projections' Wᵀ copies of the Python path."""
        ctx = idx[:, -self.config.block_size :]
        dec = self._native_decoder(ctx.shape[0])
        if dec is not None:
            return dec.step(ctx), (ctx, dec)
        return self._refill(ctx, self._decode_weights())

    def _refill(self, ctx: np.ndarray, wt: dict[int, np.ndarray]) -> tuple[np.ndarray, tuple]:
        caches = [nn.KVCache() for _ in self.blocks]
        return self._decode_step(ctx, caches, 0, wt), (ctx, caches, wt)

    def _extend(self, tok: np.ndarray, state: tuple) -> tuple[np.ndarray, tuple]:
        """One cached decode step; when the context reaches ``block_size`` the caches
        are rebuilt from its last ``block_size // 2`` tokens (learned positions
        cannot go further), so long generations stay cheap."""
        ctx = np.concatenate([state[0], tok], axis=1)
        keep = self.config.block_size // 2 or 1
        if len(state) == 2:  # native decoder
            dec = state[1]
            if ctx.shape[1] > self.config.block_size:
                ctx = ctx[:, -keep:]
                dec.reset()
                return dec.step(ctx), (ctx, dec)
            return dec.step(tok), (ctx, dec)
        _, caches, wt = state
        if ctx.shape[1] > self.config.block_size:
            return self._refill(ctx[:, -keep:], wt)
        return self._decode_step(tok, caches, ctx.shape[1] - 1, wt), (ctx, caches, wt)

    def _native_decoder(self, batch: int) -> _core.LmDecoder | None:
        """A ``_core.LmDecoder`` over this model's weights (copied now) for ``batch``
        sequences: the same kernels in the same order as ``_decode_step``, so the
        same logits bit for bit, in one call per token. None where a block is
        not the stock pre-norm self-attention block (``decode_spec``) or a
        sub-layer was replaced; the Python path runs those."""
        specs = [getattr(b, "decode_spec", lambda: None)() for b in self.blocks]
        heads = {b.self_attn.num_heads for b in self.blocks}
        ln, head = self.ln_f, self.lm_head
        stock = (type(ln) is nn.LayerNorm and len(ln.normalized_shape) == 1 and type(head) is nn.Linear
                 and type(self.wte) is nn.Embedding and type(self.wpe) is nn.Embedding
                 and all(b.causal for b in self.blocks))  # fmt: skip
        if not stock or None in specs or len(heads) > 1:
            return None

        def a(p: Tensor | None) -> np.ndarray | None:
            return None if p is None else p._array

        return _core.LmDecoder(
            (self.wte.weight._array, self.wpe.weight._array), specs, (a(ln.weight), a(ln.bias), ln.eps),
            (head.weight._array, a(head.bias)), heads=heads.pop() if heads else 1, causal=True, batch=batch,
        )  # fmt: skip

    @no_grad()
    def attention_maps(self, idx: np.ndarray) -> list[np.ndarray]:
        """The causal self-attention weights of every layer for ``idx``.

        # Shapes
        - idx: (B, T) → one (B, n_head, T, T) array per layer
        """
        idx = np.asarray(idx)
        x = self._embed(idx, np.arange(idx.shape[1]))  # (B, T, C)
        maps = []
        for block in self.blocks:
            h = block.norm1(x)
            _, w = block.self_attn(
                h, h, h, is_causal=True, need_weights=True, average_attn_weights=False
            )
            maps.append(np.asarray(w._array if isinstance(w, Tensor) else w))  # (B, nh, T, T)
            x = block(x)
        return maps

    def _decode_weights(self) -> dict[int, np.ndarray]:
        """Row-major copies of every projection's Wᵀ (``TransformerBlock.decode_weights``
        and the head's), made once per ``generate``."""
        wt = {id(self.lm_head.weight): np.ascontiguousarray(self.lm_head.weight._array.T)}
        for block in self.blocks:
            wt.update(block.decode_weights())
        return wt

    def _decode_step(
        self, idx: np.ndarray, caches: list, start: int, wt: dict[int, np.ndarray]
    ) -> np.ndarray:
        """Runs ``idx`` at positions start..start+t-1 through the blocks'
        inference path (``TransformerBlock.decode_step``: the same math as
        ``forward``, without autograd). Either one new token against the
        caches, or a whole context into empty caches (``start == 0``).
        Appends to the caches; returns the last position's logits.

        # Shapes
        - idx: (B, t) int ids → (B, V)
        """
        B, t = idx.shape
        if t > 1 and start != 0:
            raise ValueError("GPT._decode_step: several tokens only into empty caches (start = 0)")
        c = self.config
        pos = np.arange(start, start + t)
        x = (self.wte.weight._array[idx] + self.wpe.weight._array[pos]).reshape(B * t, c.n_embd)  # (B·t, C)
        for block, cache in zip(self.blocks, caches):
            x = block.decode_step(x, cache, B, wt)  # (B·t, C)
        last = np.ascontiguousarray(x.reshape(B, t, c.n_embd)[:, -1])  # (B, C)
        ln, head = self.ln_f, self.lm_head
        h = ops.layer_norm_inference(last, ln.weight._array, None if ln.bias is None else ln.bias._array, ln.eps)
        bias = None if head.bias is None else head.bias._array
        return ops.linear(h, wt[id(head.weight)].T, bias)  # (B, V)
