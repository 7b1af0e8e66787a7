"""A whole pre-norm Transformer block — ``x2 = x + out(attn(qkv(ln1(x))))``,
``y = x2 + fc2(gelu(fc1(ln2(x2))))`` (nanoGPT; ``nn.TransformerBlock`` without
dropout, masks or cache) — forward and backward, each ONE kernel call
(``src/kernels/block.rs``): the LayerNorm, Linear, attention and GELU kernels
in the order of the per-op path, with the same results bit for bit.

Every array must be float32 and C-contiguous (``nn.transformer._Block`` takes
its per-op path for anything else); the binding checks every shape and names
the argument that is wrong.
"""

from __future__ import annotations

import numpy as np

from .. import _core

__all__ = [
    "transformer_block_backward",
    "transformer_block_forward",
    "transformer_stack_backward",
    "transformer_stack_forward",
]

_F32 = np.float32


def transformer_block_forward(
    x: np.ndarray, params: tuple, *, eps1: float, eps2: float, heads: int, causal: bool
) -> tuple[np.ndarray, np.ndarray]:
    """The block's output and the flat buffer of intermediates its backward reads.

    # Shapes
    - x: (B, T, C); params: ln1 weight, ln1 bias, qkv weight (3C, C), qkv bias, out weight
      (C, C), out bias, ln2 weight, ln2 bias, fc1 weight (F, C), fc1 bias, fc2 weight (C, F),
      fc2 bias — biases and LayerNorm weights may be None
    - returns y (B, T, C) and saved (flat)
    """
    b, t, c = x.shape
    n_saved, _ = _core.transformer_block_sizes(b, t, c, heads, params[8].shape[0])
    saved = np.empty(n_saved, dtype=_F32)
    y = np.empty(x.shape, dtype=_F32)
    _core.transformer_block_forward(x, *params, saved, y, eps1, eps2, heads, causal)
    return y, saved


def transformer_block_backward(
    x: np.ndarray, weights: tuple, saved: np.ndarray, dy: np.ndarray, need: tuple, *,
    eps1: float, eps2: float, heads: int, causal: bool,
) -> tuple:  # fmt: skip
    """Every gradient of the block, in ``params`` order after dx.

    ``weights`` are (ln1 weight, qkv weight, out weight, ln2 weight, fc1 weight, fc2
    weight); ``need`` says which of the four Linears' (weight, bias) gradients to
    compute (8 bools, qkv first). dx and the LayerNorms' gradients are always given
    (a LayerNorm weight's as None when the weight is None).

    # Shapes
    - x, dy: (B, T, C); saved: from ``transformer_block_forward``
    - returns (dx, then 12 gradients like params, None where not computed)
    """
    b, t, c = x.shape
    _, n_scratch = _core.transformer_block_sizes(b, t, c, heads, weights[4].shape[0])
    g = _grad_buffers(x.shape, weights, need)
    _core.transformer_block_backward(x, *weights, saved, dy, np.empty(n_scratch, dtype=_F32), *g,
                                     eps1, eps2, heads, causal)  # fmt: skip
    return _grads_out(g, weights)


def _grad_buffers(x_shape: tuple, weights: tuple, need: tuple) -> tuple:
    """The backward's 13 outputs for one block: dx, then the 12 gradients in ``params``
    order (the LayerNorms' always; a Linear's weight or bias where ``need`` says)."""
    _, wqkv, wo, _, w1, w2 = weights
    c = x_shape[-1]
    lin = [np.empty(w.shape if i % 2 == 0 else w.shape[0], dtype=_F32) if on else None
           for i, (on, w) in enumerate(zip(need, (wqkv, wqkv, wo, wo, w1, w1, w2, w2)))]  # fmt: skip
    ln = [np.empty(c, dtype=_F32) for _ in range(4)]
    return (np.empty(x_shape, dtype=_F32), ln[0], ln[1], *lin[:4], ln[2], ln[3], *lin[4:])


def _grads_out(g: tuple, weights: tuple) -> tuple:
    """``_grad_buffers``' arrays as returned: None for an absent LayerNorm weight's gradient."""
    return (g[0], g[1] if weights[0] is not None else None, *g[2:7],
            g[7] if weights[3] is not None else None, *g[8:])  # fmt: skip


def transformer_stack_forward(
    x: np.ndarray, params: list[tuple], *, eps1: list[float], eps2: list[float], heads: int,
    causal: bool,
) -> tuple[list[np.ndarray], list[np.ndarray]]:  # fmt: skip
    """``transformer_block_forward`` of a stack of blocks in ONE kernel call: block i
    reads x (i = 0) or ``ys[i - 1]``; returns every block's output ``ys`` (the last is
    the stack's output) and its ``saved`` buffer. ``params[i]``, ``eps1[i]`` and
    ``eps2[i]`` are block i's, as ``transformer_block_forward`` takes them."""
    b, t, c = x.shape
    ys, saved = [], []
    for p in params:
        n_saved, _ = _core.transformer_block_sizes(b, t, c, heads, p[8].shape[0])
        saved.append(np.empty(n_saved, dtype=_F32))
        ys.append(np.empty(x.shape, dtype=_F32))
    _core.transformer_stack_forward(x, params, saved, ys, eps1, eps2, heads, causal)
    return ys, saved


def transformer_stack_backward(
    xs: list[np.ndarray], weights: list[tuple], saved: list[np.ndarray], dy: np.ndarray,
    need: list[tuple], *, eps1: list[float], eps2: list[float], heads: int, causal: bool,
) -> list[tuple]:  # fmt: skip
    """``transformer_block_backward`` of a stack run by ``transformer_stack_forward``, in
    ONE kernel call, last block first: ``xs[i]`` is block i's input (x, then the
    forward's ``ys``); ``weights[i]`` and ``need[i]`` as ``transformer_block_backward``
    takes them. Returns each block's gradients as that function does; block 0's dx
    is the stack's input gradient."""
    b, t, c = xs[0].shape
    scratch = max(_core.transformer_block_sizes(b, t, c, heads, w[4].shape[0])[1] for w in weights)
    outs = [_grad_buffers(xs[0].shape, w, on) for w, on in zip(weights, need)]
    _core.transformer_stack_backward(xs, weights, saved, dy, np.empty(scratch, dtype=_F32), outs,
                                     eps1, eps2, heads, causal)  # fmt: skip
    return [_grads_out(g, w) for g, w in zip(outs, weights)]
