"""Differentiable ops: each ``Function`` pairs a forward with its backward.

Forward and backward work on NumPy float32 arrays; heavy and fused work goes
to the Rust kernels through ``attnrs.ops``. Broadcast gradients are reduced
by the autograd walk (``autograd.unbroadcast``). One module per op family,
with the names of ``attnrs.ops`` (matmul, linear, softmax, norm, activation,
loss, embedding, attention, conv1d, rnn) plus arith, reduce, shape and
dropout, which NumPy does alone.

Signatures here are attnrs' own (``softmax(x, axis, *, scale, mask)``);
``attnrs.nn.functional`` (``attnrs.F``) is the torch-signature facade.
"""

from __future__ import annotations

from ..autograd import Function
from .activation import gelu, relu, sigmoid, tanh
from .arith import (
    abs,
    add,
    clamp,
    cos,
    div,
    eq,
    exp,
    ge,
    gt,
    le,
    log,
    lt,
    maximum,
    minimum,
    mul,
    ne,
    neg,
    pow,
    sin,
    sqrt,
    sub,
)  # fmt: skip
from .attention import attention_weights, fused_self_attention, scaled_dot_product_attention
from .conv1d import conv1d
from .dropout import dropout
from .embedding import embedding
from .linear import linear
from .loss import cross_entropy, mse_loss
from .matmul import matmul
from .norm import layer_norm
from .reduce import MaxMin, argmax, argmin, max, max_dim, mean, min, min_dim, sum, topk
from .rnn import RNNStack
from .shape import (
    as_index_array,
    cat,
    chunk,
    concatenate,
    expand,
    flatten,
    gather,
    getitem,
    masked_fill,
    pad,
    permute,
    reshape,
    setitem,
    split,
    squeeze,
    stack,
    transpose,
    tril,
    triu,
    unsqueeze,
    where,
)  # fmt: skip
from .softmax import log_softmax, softmax

__all__ = ["as_index_array", "cos", "maximum", "minimum", "sin", "topk", "tril", "triu"]
__all__ += [
    "Function", "MaxMin", "RNNStack", "abs", "add", "argmax", "argmin", "attention_weights", "cat", "chunk",
    "clamp", "concatenate", "conv1d", "cross_entropy", "div", "dropout", "embedding", "eq", "exp",
    "expand", "flatten", "fused_self_attention", "gather", "ge", "gelu", "getitem", "gt", "layer_norm", "le",
    "linear", "log", "log_softmax", "lt", "masked_fill", "matmul", "max", "max_dim", "mean", "min", "min_dim", "mse_loss",
    "mul", "ne", "neg", "pad", "permute", "pow", "relu", "reshape", "setitem", "scaled_dot_product_attention",
    "sigmoid", "softmax", "split", "sqrt", "squeeze", "stack", "sub", "sum", "tanh", "transpose",
    "unsqueeze", "where",
]  # fmt: skip
