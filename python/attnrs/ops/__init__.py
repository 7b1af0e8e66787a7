"""Kernels on NumPy arrays, no autograd: NumPy in, NumPy out (float32).

The only callers of the compiled ``attnrs._core`` kernels. One module per op
family, the same names as ``attnrs.functional`` (the autograd Functions),
``src/py/`` (the bindings) and ``src/kernels/`` (the Rust kernels):
matmul, linear, softmax, norm, activation, loss, embedding, attention,
conv1d, rnn, optim; and block, a whole Transformer block in one call.

float64 input is converted to float32. Strided views are read through their
strides (transposes and slices cost no copy). Ops over an axis other than the
last move it to the end first (one copy) and return a view with the axis
moved back.
"""

from __future__ import annotations

from .activation import (
    gelu,
    gelu_backward,
    relu,
    relu_backward,
    sigmoid,
    sigmoid_backward,
    tanh,
    tanh_backward,
)  # fmt: skip
from .attention import attention, attention_backward, attention_forward
from .block import (
    transformer_block_backward,
    transformer_block_forward,
    transformer_stack_backward,
    transformer_stack_forward,
)
from .conv1d import conv1d, conv1d_backward, conv1d_state, conv1d_step
from .embedding import embedding, embedding_add, embedding_add_backward, embedding_backward
from .linear import linear, linear_backward
from .loss import cross_entropy
from .matmul import matmul
from .norm import layer_norm, layer_norm_backward, layer_norm_inference
from .optim import adamw_step, scale_, total_norm2
from .rnn import rnn_backward, rnn_forward, rnn_lengths
from .softmax import log_softmax, log_softmax_backward, softmax, softmax_backward

__all__ = [
    "adamw_step", "attention", "attention_backward", "attention_forward", "conv1d",
    "conv1d_backward", "conv1d_state", "conv1d_step", "cross_entropy", "embedding",
    "embedding_add", "embedding_add_backward", "embedding_backward", "gelu", "gelu_backward", "layer_norm", "layer_norm_backward", "layer_norm_inference", "linear",
    "linear_backward", "log_softmax", "log_softmax_backward", "matmul", "relu", "relu_backward",
    "rnn_backward", "rnn_forward", "rnn_lengths", "scale_", "sigmoid", "sigmoid_backward",
    "softmax", "softmax_backward", "tanh", "tanh_backward", "total_norm2",
    "transformer_block_backward", "transformer_block_forward", "transformer_stack_backward",
    "transformer_stack_forward",
]  # fmt: skip
