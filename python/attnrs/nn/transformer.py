"""The pre-norm Transformer block: self-attention (causal or not), optional
cross-attention over an encoder's memory, and a GELU MLP, each a residual
branch ``x + dropout(f(norm(x)))``."""

from __future__ import annotations

from typing import Any

import numpy as np

from .. import autograd, ops
from ..autograd import Function
from ..functional.attention import FusedSelfAttention
from ..tensor import Tensor, as_tensor
from . import functional as F
from .attention import KVCache, MultiheadAttention
from .dropout import Dropout
from .linear import Linear
from .module import Module
from .norm import LayerNorm

__all__ = ["TransformerBlock"]

#: ``_Block`` runs forward and backward each as one kernel call when True and
#: every array is dense float32 (else, and when False, the per-op path below).
_NATIVE = True
_F32 = np.dtype(np.float32)


def _dense_f32(arrays: tuple) -> bool:
    for a in arrays:
        if a is not None and not (type(a) is np.ndarray and a.dtype == _F32 and a.flags.c_contiguous):
            return False
    return True


class _Block(Function):
    """A whole pre-norm self-attention block, forward and backward, as ONE autograd
    node: the same ``ops`` kernels, in the same order, as the ten nodes of the
    layer-by-layer path (LayerNorm, QKV Linear, fused attention, out-projection,
    residual Add, LayerNorm, Linear, GELU, Linear, residual Add), so the results
    are the same bit for bit; what goes is the per-node bookkeeping (Tensor
    wrappers, module calls, graph walk): ~1 % of the nanoGPT-config training
    step at 1 thread, serial Python time at any thread count.
    ``TransformerBlock.forward`` takes it only where the two paths are the same
    model: no dropout in training, no masks, cache or cross-attention, stock
    sub-layers (``_fusable``).

    With dense float32 arrays (always, in training) forward and backward are each
    ONE kernel call (``ops.transformer_block_forward`` / ``_backward``, Rust
    ``kernels/block.rs``): the same kernels again, in the same order, residual
    sums included, in one pool hand-off, with the intermediates in one flat
    ``saved`` array; bitwise the per-op path (``_forward_layered`` /
    ``_backward_layered``, kept for other inputs and ``_NATIVE = False``).

    # Shapes
    - x: (B, T, E) → (B, T, E); the rest: the sub-layers' parameters (biases may be None)
    """

    fresh_grads = True  # every gradient below is a new array of its own

    @staticmethod
    def forward(ctx, x, ln1w, ln1b, wqkv, bqkv, wo, bo, ln2w, ln2b, w1, b1, w2, b2,
                eps1=1e-5, eps2=1e-5, heads=1, causal=False):  # fmt: skip
        args = (x, ln1w, ln1b, wqkv, bqkv, wo, bo, ln2w, ln2b, w1, b1, w2, b2)
        if not (_NATIVE and x.size and _dense_f32(args)):
            return _Block._forward_layered(ctx, *args, eps1, eps2, heads, causal)
        # One kernel call: the same kernels in the same order (ops/block.py).
        y, saved = ops.transformer_block_forward(x, args[1:], eps1=eps1, eps2=eps2, heads=heads,
                                                 causal=causal)  # fmt: skip
        ctx.save(x, saved)
        ctx.native = (eps1, eps2, heads, causal)
        ctx.weights = (ln1w, wqkv, wo, ln2w, w1, w2)
        ctx.has_bias = tuple(b is not None for b in (ln1b, bqkv, bo, ln2b, b1, b2))
        return y

    @staticmethod
    def backward(ctx, dy):
        if ctx.native is None:
            return _Block._backward_layered(ctx, dy)
        x, saved = ctx.saved
        eps1, eps2, heads, causal = ctx.native
        n = ctx.needs_input_grad
        hb = ctx.has_bias
        if not (type(dy) is np.ndarray and dy.dtype == _F32 and dy.flags.c_contiguous):
            dy = np.ascontiguousarray(dy, dtype=np.float32)
        g = ops.transformer_block_backward(x, ctx.weights, saved, dy, _linear_needs(n, hb), eps1=eps1,
                                           eps2=eps2, heads=heads, causal=causal)  # fmt: skip
        return (*g[:2], g[2] if hb[0] else None, *g[3:8], g[8] if hb[3] else None, *g[9:])

    @staticmethod
    def _forward_layered(ctx, x, ln1w, ln1b, wqkv, bqkv, wo, bo, ln2w, ln2b, w1, b1, w2, b2,
                         eps1, eps2, heads, causal):  # fmt: skip
        ctx.native = None
        h1, m1, r1 = ops.layer_norm(x, ln1w, ln1b, eps=eps1)
        qkv = ops.linear(h1, wqkv, bqkv)  # (B, T, 3E)
        actx = FusedSelfAttention.__new__(FusedSelfAttention)
        o = FusedSelfAttention.forward(actx, qkv, heads, causal=causal, key_padding_mask=None,
                                       attn_mask=None, scale=None)  # fmt: skip
        # The residual sums go into the fresh GEMM outputs and gradients (the same
        # sums as the layered path's, without a new array each).
        x2 = ops.linear(o, wo, bo)
        np.add(x2, x, out=x2)
        h2, m2, r2 = ops.layer_norm(x2, ln2w, ln2b, eps=eps2)
        u = ops.linear(h2, w1, b1)
        g = ops.gelu(u)
        ctx.save(x, h1, m1, r1, o, x2, h2, m2, r2, u, g, actx)
        ctx.weights = (ln1w, wqkv, wo, ln2w, w1, w2)
        ctx.has_bias = tuple(b is not None for b in (ln1b, bqkv, bo, ln2b, b1, b2))
        y = ops.linear(g, w2, b2)
        return np.add(y, x2, out=y)

    @staticmethod
    def _backward_layered(ctx, dy):
        x, h1, m1, r1, o, x2, h2, m2, r2, u, g, actx = ctx.saved
        ln1w, wqkv, wo, ln2w, w1, w2 = ctx.weights
        n = ctx.needs_input_grad
        hb = ctx.has_bias
        dg, dw2, db2 = ops.linear_backward(g, w2, dy, need_weight=n[11], need_bias=hb[5] and n[12])
        dh2, dw1, db1 = ops.linear_backward(h2, w1, ops.gelu_backward(u, dg),
                                            need_weight=n[9], need_bias=hb[4] and n[10])  # fmt: skip
        dx2, dln2w, dln2b = ops.layer_norm_backward(dh2, x2, ln2w, m2, r2)
        np.add(dx2, dy, out=dx2)  # the residual's gradient, summed as the graph walk sums it
        do, dwo, dbo = ops.linear_backward(o, wo, dx2, need_weight=n[5], need_bias=hb[2] and n[6])
        dqkv = FusedSelfAttention.backward(actx, do)
        dh1, dwqkv, dbqkv = ops.linear_backward(h1, wqkv, dqkv, need_weight=n[3],
                                                need_bias=hb[1] and n[4])  # fmt: skip
        dx, dln1w, dln1b = ops.layer_norm_backward(dh1, x, ln1w, m1, r1)
        np.add(dx, dx2, out=dx)
        return (dx, dln1w, dln1b if hb[0] else None, dwqkv, dbqkv, dwo, dbo, dln2w,
                dln2b if hb[3] else None, dw1, db1, dw2, db2)  # fmt: skip


def _linear_needs(n: tuple, has_bias: tuple) -> tuple:
    """Which of the four Linears' (weight, bias) gradients a block's backward computes,
    from its node's ``needs_input_grad`` (x, then the 12 parameters) and which of its six
    bias slots hold a bias."""
    hb = has_bias
    return (n[3], hb[1] and n[4], n[5], hb[2] and n[6], n[9], hb[4] and n[10], n[11], hb[5] and n[12])


class _BlockStack(Function):
    """A whole stack of fused blocks (``_Block``'s native path, block after block) as
    ONE autograd node and one kernel call each way (``ops.transformer_stack_forward``
    / ``_backward``): the same kernel calls in the same order as one ``_Block`` per
    block, so the same bits, without the Python between the blocks (node, wrappers,
    module calls, pool hand-off: ~55 µs a block per step on the GPT benchmark's VM,
    serial time at any thread count). ``apply_blocks`` takes it where every block
    would take ``_Block``'s native path.

    # Shapes
    - x: (B, T, E) → (B, T, E); then 12 parameters per block in ``_Block``'s order
    """

    fresh_grads = True  # every gradient below is a new array of its own

    @staticmethod
    def forward(ctx, x, *params, eps1, eps2, heads, causal):
        blocks = [params[i : i + 12] for i in range(0, len(params), 12)]
        ys, saved = ops.transformer_stack_forward(x, blocks, eps1=eps1, eps2=eps2, heads=heads,
                                                  causal=causal)  # fmt: skip
        ctx.save([x, *ys[:-1]], saved)
        ctx.native = (eps1, eps2, heads, causal)
        ctx.weights = [tuple(p[i] for i in (0, 2, 4, 6, 8, 10)) for p in blocks]
        ctx.has_bias = [tuple(b is not None for b in p[1::2]) for p in blocks]
        return ys[-1]

    @staticmethod
    def backward(ctx, dy):
        xs, saved = ctx.saved
        eps1, eps2, heads, causal = ctx.native
        if not (type(dy) is np.ndarray and dy.dtype == _F32 and dy.flags.c_contiguous):
            dy = np.ascontiguousarray(dy, dtype=np.float32)
        needs = ctx.needs_input_grad  # x, then 12 per block
        need = [_linear_needs((None, *needs[1 + 12 * i : 13 + 12 * i]), hb)
                for i, hb in enumerate(ctx.has_bias)]  # fmt: skip
        grads = ops.transformer_stack_backward(xs, ctx.weights, saved, dy, need, eps1=eps1,
                                               eps2=eps2, heads=heads, causal=causal)  # fmt: skip
        out = [grads[0][0]]
        for g, hb in zip(grads, ctx.has_bias):
            out += [g[1], g[2] if hb[0] else None, *g[3:8], g[8] if hb[3] else None, *g[9:]]
        return tuple(out)


def apply_blocks(blocks: Any, x: Any) -> Tensor:
    """``for block in blocks: x = block(x)`` for a stack of ``TransformerBlock``s called
    without masks, memory or cache. Where every block would run its fused native path
    (``_Block``) — stock blocks (``_fusable``) of one head count and causality, dense
    float32 x and parameters — the whole stack is ONE autograd node and one kernel call
    each way (``_BlockStack``), with the same results bit for bit; otherwise the blocks
    run one by one."""
    x = as_tensor(x)
    params = _stack_params(blocks, x)
    if params is not None:
        b0 = blocks[0]
        return _BlockStack.apply(x, *params, eps1=[b.norm1.eps for b in blocks],
                                 eps2=[b.norm2.eps for b in blocks], heads=b0.self_attn.num_heads,
                                 causal=b0.causal)  # fmt: skip
    for block in blocks:
        x = block(x)
    return x


def _block_params(b: TransformerBlock) -> tuple:
    """A fusable block's 12 parameters in ``_Block``'s order (None for an absent bias)."""
    attn, n1, n2, l1, l2 = b.self_attn, b.norm1, b.norm2, b.linear1, b.linear2
    return (n1.weight, n1.bias, attn.in_proj_weight, attn.in_proj_bias, attn.out_proj.weight,
            attn.out_proj.bias, n2.weight, n2.bias, l1.weight, l1.bias, l2.weight, l2.bias)  # fmt: skip


def _stack_params(blocks: Any, x: Tensor) -> list | None:
    """The 12 parameters of every block, in order, where ``apply_blocks`` may run
    ``blocks`` as one ``_BlockStack`` (what each block's own call would run natively,
    see ``TransformerBlock.forward``); else None."""
    if not (_NATIVE and len(blocks) > 1 and x.ndim == 3 and x.size) or autograd._leaf_hooks:
        # Leaf hooks (data-parallel gradient buckets) want each block's gradients as
        # soon as its backward is done, not all at the end of the stack's.
        return None
    if not _dense_f32((x._array,)):
        return None
    b0, params = blocks[0], []
    for b in blocks:
        if not (type(b) is TransformerBlock and b._fusable() and b.causal == b0.causal
                and b.self_attn.num_heads == b0.self_attn.num_heads
                and b.self_attn.embed_dim == x.shape[-1]):  # fmt: skip
            return None
        ps = _block_params(b)
        if not _dense_f32(tuple(None if p is None else p._array for p in ps)):
            return None
        params += ps
    return params


class TransformerBlock(Module):
    """Pre-norm block (GPT-2 / nanoGPT style).

    ``dropout`` applies to the output of each residual branch (attention
    weights themselves are not dropped: the flash kernel never forms them).
    ``cache`` (a ``KVCache``) makes the self-attention incremental: pass only
    the new steps, with ``causal=True`` they attend to every cached step
    (cross-attention keys/values are recomputed from ``memory`` each call).

    # Shapes
    - x: (B, T, d_model); memory: (B, S, d_model) (cross_attention only) → (B, T, d_model)
    """

    def __init__(self, d_model: int, n_heads: int, d_ff: int, causal: bool = False,
                 cross_attention: bool = False, dropout: float = 0.0) -> None:  # fmt: skip
        super().__init__()
        self.causal, self.cross_attention = bool(causal), bool(cross_attention)
        self.norm1 = LayerNorm(d_model)
        self.self_attn = MultiheadAttention(d_model, n_heads, batch_first=True)
        if self.cross_attention:
            self.norm_cross = LayerNorm(d_model)
            self.cross_attn = MultiheadAttention(d_model, n_heads, batch_first=True)
        self.norm2 = LayerNorm(d_model)
        self.linear1 = Linear(d_model, d_ff)
        self.linear2 = Linear(d_ff, d_model)
        self.dropout = Dropout(dropout)

    def forward(self, x: Tensor, memory: Tensor | None = None, *, key_padding_mask: Any = None,
                memory_key_padding_mask: Any = None, attn_mask: Any = None,
                cache: KVCache | None = None) -> Tensor:  # fmt: skip
        if not self.cross_attention and (memory is not None or memory_key_padding_mask is not None):
            raise ValueError(
                "TransformerBlock: memory / memory_key_padding_mask given, but this block has no "
                "cross-attention; build it with cross_attention=True to attend to memory"
            )
        if key_padding_mask is None and attn_mask is None and cache is None and self._fusable():
            return self._fused(x)
        h = self.norm1(x)
        a, _ = self.self_attn(h, h, h, key_padding_mask=key_padding_mask, attn_mask=attn_mask,
                              is_causal=self.causal, cache=cache, need_weights=False)  # fmt: skip
        x = x + self.dropout(a)
        if self.cross_attention:
            if memory is None:
                raise ValueError("TransformerBlock: cross_attention=True needs memory (B, S, d_model)")
            h = self.norm_cross(x)
            a, _ = self.cross_attn(h, memory, memory, key_padding_mask=memory_key_padding_mask,
                                   need_weights=False)  # fmt: skip
            x = x + self.dropout(a)
        h = self.norm2(x)
        return x + self.dropout(self.linear2(F.gelu(self.linear1(h))))

    def _fusable(self) -> bool:
        """Whether ``_Block`` computes exactly what the layer-by-layer path would."""
        attn = self.self_attn
        return (
            not self.cross_attention
            and (not self.training or (self.dropout.p == 0.0 and attn.dropout == 0.0))
            and type(self.norm1) is LayerNorm and type(self.norm2) is LayerNorm
            and type(attn) is MultiheadAttention and attn.batch_first and type(attn.out_proj) is Linear
            and type(self.linear1) is Linear and type(self.linear2) is Linear
            and len(self.norm1.normalized_shape) == 1 and len(self.norm2.normalized_shape) == 1
        )  # fmt: skip

    def _fused(self, x: Tensor) -> Tensor:
        x = as_tensor(x)
        e = self.self_attn.embed_dim
        if x.ndim != 3 or x.shape[-1] != e:
            raise ValueError(f"TransformerBlock: x must be (B, T, {e}); got shape {x.shape}")
        attn, n1, n2, l1, l2 = self.self_attn, self.norm1, self.norm2, self.linear1, self.linear2
        return _Block.apply(x, n1.weight, n1.bias, attn.in_proj_weight, attn.in_proj_bias,
                            attn.out_proj.weight, attn.out_proj.bias, n2.weight, n2.bias,
                            l1.weight, l1.bias, l2.weight, l2.bias, eps1=n1.eps, eps2=n2.eps,
                            heads=attn.num_heads, causal=self.causal)  # fmt: skip

    # --- incremental decoding: the inference fast path of ``forward`` --------------------

    def decode_weights(self) -> dict[int, np.ndarray]:
        """Row-major copies of the four projections' Wᵀ, keyed by ``id(weight)``,
        for ``decode_step``: a one-row GEMM streams a row-major B unpacked, while
        the transposed view would be packed again for every token. Make them
        once per generation (they go stale when the weights change)."""
        attn = self.self_attn
        mats = (attn.in_proj_weight, attn.out_proj.weight, self.linear1.weight, self.linear2.weight)
        return {id(w): np.ascontiguousarray(w._array.T) for w in mats}

    def decode_spec(self) -> tuple | None:
        """This block's weights as ``_core.LmDecoder`` takes them — (ln1, qkv, out,
        ln2, fc1, fc2), LayerNorms as (weight, bias, eps), Linears as (weight,
        bias) — or None where the native decoder would not compute what
        ``decode_step`` does (cross-attention, replaced sub-layers)."""
        if not self._fusable():
            return None
        attn, n1, n2, l1, l2 = self.self_attn, self.norm1, self.norm2, self.linear1, self.linear2

        def a(p: Any) -> np.ndarray | None:
            return None if p is None else p._array

        return ((a(n1.weight), a(n1.bias), n1.eps), (a(attn.in_proj_weight), a(attn.in_proj_bias)),
                (a(attn.out_proj.weight), a(attn.out_proj.bias)), (a(n2.weight), a(n2.bias), n2.eps),
                (a(l1.weight), a(l1.bias)), (a(l2.weight), a(l2.bias)))  # fmt: skip

    def decode_step(
        self, x: np.ndarray, cache: KVCache, batch: int, wt: dict[int, np.ndarray] | None = None
    ) -> np.ndarray:
        """``forward(x, cache=cache)`` in eval mode on raw arrays, without autograd:
        the same math through the same ``ops`` kernels (generation runs under
        ``no_grad``, where building graph nodes is pure overhead: about 25
        Function calls per block and token). Either new tokens against
        ``cache`` or a whole context into an empty one; appends to ``cache``.
        ``wt`` is ``decode_weights()`` (made here when None).

        # Shapes
        - x: (B·t, d_model) float32, C-contiguous, rows batch-major → (B·t, d_model)
        """
        if self.cross_attention:
            raise ValueError("TransformerBlock.decode_step: only self-attention blocks (no memory)")
        attn, fc1, fc2, ln1, ln2 = self.self_attn, self.linear1, self.linear2, self.norm1, self.norm2
        nh, hs = attn.num_heads, attn.head_dim
        t = x.shape[0] // batch
        if wt is None:
            wt = self.decode_weights()
        # Straight-line calls, no helpers: per generated token, every Python call counts.
        h = ops.layer_norm_inference(x, ln1.weight._array, ln1.bias._array, ln1.eps)
        qkv = ops.linear(h, wt[id(attn.in_proj_weight)].T, attn.in_proj_bias._array)  # (B·t, 3C)
        qkv = qkv.reshape(batch, t, 3, nh, hs)
        q, k, v = (qkv[:, :, i].transpose(0, 2, 1, 3) for i in range(3))  # (B, nh, t, hs) views
        k_all, v_all = cache.update(k, v)  # (B, nh, T, hs)
        # New rows see every cached step; a whole context attends causally.
        o = ops.attention(q, k_all, v_all, causal=self.causal and t > 1)  # (B, nh, t, hs)
        o = o.transpose(0, 2, 1, 3).reshape(batch * t, nh * hs)  # (B·t, C)
        x = x + ops.linear(o, wt[id(attn.out_proj.weight)].T, attn.out_proj.bias._array)
        h = ops.layer_norm_inference(x, ln2.weight._array, ln2.bias._array, ln2.eps)
        h = ops.gelu(ops.linear(h, wt[id(fc1.weight)].T, fc1.bias._array))
        return x + ops.linear(h, wt[id(fc2.weight)].T, fc2.bias._array)

    def extra_repr(self) -> str:
        return f"causal={self.causal}, cross_attention={self.cross_attention}"
