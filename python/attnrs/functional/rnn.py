"""Recurrent stacks (Elman, LSTM, GRU) as one autograd node.

The Rust kernel runs one layer in one direction over the whole sequence
(``ops.rnn_forward`` / ``rnn_backward``). Layers and directions are composed
here inside one ``Function``: the reverse direction reads each sequence
backwards within its length, and its outputs are put back in time order.
Inter-layer dropout (training only) sits between layers.
"""

from __future__ import annotations

import numpy as np

from .. import ops
from ..autograd import Function
from ..tensor import default_rng

__all__ = ["RNNStack"]


def _reverse_index(lengths: np.ndarray | None, batch: int, steps: int) -> np.ndarray | None:
    """(B, T) time indices that reverse each sequence within its length
    (padding stays in place); None means a plain flip of the time axis."""
    if lengths is None:
        return None
    t = np.arange(steps)[None, :]
    lens = lengths[:, None]
    return np.where(t < lens, lens - 1 - t, t)


def _reverse(a: np.ndarray, idx: np.ndarray | None) -> np.ndarray:
    """``a`` (B, T, F) with each sequence reversed in time (an involution)."""
    if idx is None:
        return np.ascontiguousarray(a[:, ::-1])
    return np.take_along_axis(a, idx[:, :, None], axis=1)


class RNNStack(Function):
    """Every layer and direction of a recurrent stack as one graph node.

    Inputs: x (B, T, I) batch-first, h0 (L·D, B, H), c0 (L·D, B, H) or None,
    then per layer and direction (w_ih, w_hh[, b_ih, b_hh]).
    Outputs: out (B, T, D·H), h_n (L·D, B, H)[, c_n (L·D, B, H)].
    ``save=False`` (the caller knows no gradient will be taken: no_grad, or no
    input requires one) runs the kernels' inference path, which keeps nothing
    for backward; the results are the same bits.
    """

    @staticmethod
    def forward(
        ctx, x, h0, c0, *weights, mode, layers, dirs, bias, lengths, dropout, training, save=True
    ):
        per = 4 if bias else 2
        b, t, _ = x.shape
        ridx = _reverse_index(lengths, b, t)
        lstm = mode == "lstm"
        h_n, c_n = np.empty_like(h0), (np.empty_like(c0) if lstm else None)
        steps, masks = [], []
        inp = x
        for layer in range(layers):
            outs = []
            for d in range(dirs):
                k = layer * dirs + d
                w = weights[k * per : (k + 1) * per]
                w_ih, w_hh = w[0], w[1]
                b_ih, b_hh = (w[2], w[3]) if bias else (None, None)
                xi = inp if d == 0 else _reverse(inp, ridx)
                out, hk, ck, saved = ops.rnn_forward(
                    mode, xi, h0[k], c0[k] if lstm else None, w_ih, w_hh, b_ih, b_hh, lengths,
                    save=save,
                )  # fmt: skip
                h_n[k] = hk
                if lstm:
                    c_n[k] = ck
                steps.append((xi, saved))
                outs.append(out if d == 0 else _reverse(out, ridx))
            inp = outs[0] if dirs == 1 else np.concatenate(outs, axis=-1)
            mask = None
            if dropout > 0.0 and training and layer < layers - 1:
                keep = default_rng().random(inp.shape) >= dropout
                mask = keep.astype(np.float32) / np.float32(1.0 - dropout)
                inp = inp * mask
            masks.append(mask)
        ctx.mode, ctx.layers, ctx.dirs, ctx.bias, ctx.lengths = mode, layers, dirs, bias, lengths
        ctx.ridx = ridx
        if save:
            ctx.save(weights, steps, masks)
        return (inp, h_n, c_n) if lstm else (inp, h_n)

    @staticmethod
    def backward(ctx, g_out, g_hn, g_cn=None):
        weights, steps, masks = ctx.saved
        mode, layers, dirs, bias, lengths = ctx.mode, ctx.layers, ctx.dirs, ctx.bias, ctx.lengths
        per = 4 if bias else 2
        lstm = mode == "lstm"
        hidden = weights[1].shape[1]
        x0 = steps[0][0]
        b, t, _ = x0.shape
        if g_out is None:
            g_out = np.zeros((b, t, dirs * hidden), np.float32)
        dh0 = np.zeros((layers * dirs, b, hidden), np.float32)
        dc0 = np.zeros_like(dh0) if lstm else None
        dweights: list = [None] * len(weights)
        dinp = g_out
        # The first layer's input gradient only when x needs one (its GEMM is skipped).
        need_x = bool(ctx.needs_input_grad[0]) if ctx.needs_input_grad else True
        for layer in reversed(range(layers)):
            if masks[layer] is not None:
                dinp = dinp * masks[layer]
            dnext = None
            for d in range(dirs):
                k = layer * dirs + d
                xi, saved = steps[k]
                w = weights[k * per : (k + 1) * per]
                b_ih, b_hh = (w[2], w[3]) if bias else (None, None)
                dout = dinp[..., d * hidden : (d + 1) * hidden]
                dout = dout if d == 0 else _reverse(dout, ctx.ridx)
                dx, dh, dc, dwi, dwh, dbi, dbh = ops.rnn_backward(
                    mode, xi, w[0], w[1], b_ih, b_hh, lengths, saved, dout,
                    None if g_hn is None else g_hn[k],
                    None if (g_cn is None or not lstm) else g_cn[k],
                    need_dx=layer > 0 or need_x,
                )  # fmt: skip
                dh0[k] = dh
                if lstm:
                    dc0[k] = dc
                dweights[k * per : (k + 1) * per] = [dwi, dwh, dbi, dbh][:per]
                if dx is None:
                    continue
                dx = dx if d == 0 else _reverse(dx, ctx.ridx)
                dnext = dx if dnext is None else dnext + dx
            dinp = dnext
        return (dinp, dh0, dc0, *dweights)
