"""Type stubs for the compiled extension ``attnrs._core``."""

from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

F32 = npt.NDArray[np.float32]

class ShapeError(ValueError): ...
class DTypeError(TypeError): ...

def info() -> dict[str, Any]: ...
def set_num_threads(n: int) -> None: ...
def get_num_threads() -> int: ...
def env_warnings() -> list[str]: ...
def peak_gflops(threads: int, seconds: float = 0.2) -> float:
    """GFLOP/s of `threads` cores running the GEMM microkernel together on hot panels."""
def gemm(a: F32, b: F32, c: F32, alpha: float = 1.0, beta: float = 0.0) -> None:
    """C = alpha·A·B + beta·C. a: (batch|1, m, k), b: (batch|1, k, n), c: (batch, m, n); or all three
    2-D: a (m, k), b (k, n), c (m, n). Any non-negative strides."""
def linear_forward(x: F32, w: F32, y: F32, bias: F32 | None = None) -> None:
    """y = x·Wᵀ + b. x: (rows, in), w: (out, in) any non-negative strides; y: (rows, out), bias: (out,) C-contiguous."""
def linear_backward(
    x: F32, w: F32, dy: F32, dx: F32 | None = None, dw: F32 | None = None, db: F32 | None = None
) -> None:
    """dx = dy·W, dw = dyᵀ·x, db = Σ_rows dy, each written when given; dy and outputs C-contiguous."""
def attention_forward(
    q: F32, k: F32, v: F32, out: F32, lse: F32, scale: float, causal: bool = False,
    causal_offset: int = 0, key_padding_mask: Any = None, attn_mask: Any = None,
) -> None:
    """Flash attention: writes out (B,H,Tq,Dv) and lse (B,H,Tq); q,k,v,out any non-negative strides."""
def attention_backward(
    q: F32, k: F32, v: F32, out: F32, lse: F32, grad_out: F32, dq: F32, dk: F32 | None,
    dv: F32 | None, scale: float, causal: bool = False, causal_offset: int = 0,
    key_padding_mask: Any = None, attn_mask: Any = None,
) -> None:
    """Writes dq, dk, dv (any non-negative strides) from the forward's out and lse; with dk and dv
    None, dq is one (3,B,H,T,D) view receiving all three (Tq == Tk, D == Dv)."""

# A whole pre-norm Transformer block in one call each way (src/py/block.rs); every array
# C-contiguous float32, outputs and the flat saved/scratch buffers allocated by the caller.
def transformer_block_sizes(batch: int, t: int, width: int, heads: int, ff: int) -> tuple[int, int]:
    """Floats of the forward's saved buffer and of the backward's scratch buffer."""
def transformer_block_forward(
    x: F32, ln1_w: F32 | None, ln1_b: F32 | None, qkv_w: F32, qkv_b: F32 | None, out_w: F32,
    out_b: F32 | None, ln2_w: F32 | None, ln2_b: F32 | None, fc1_w: F32, fc1_b: F32 | None,
    fc2_w: F32, fc2_b: F32 | None, saved: F32, y: F32, eps1: float, eps2: float, heads: int,
    causal: bool,
) -> None:
    """y (B,T,C) = x2 + fc2(gelu(fc1(ln2(x2)))), x2 = x + out(attn(qkv(ln1(x)))); fills saved."""
def transformer_block_backward(
    x: F32, ln1_w: F32 | None, qkv_w: F32, out_w: F32, ln2_w: F32 | None, fc1_w: F32, fc2_w: F32,
    saved: F32, dy: F32, scratch: F32, dx: F32, dln1_w: F32, dln1_b: F32, dqkv_w: F32 | None,
    dqkv_b: F32 | None, dout_w: F32 | None, dout_b: F32 | None, dln2_w: F32, dln2_b: F32,
    dfc1_w: F32 | None, dfc1_b: F32 | None, dfc2_w: F32 | None, dfc2_b: F32 | None, eps1: float,
    eps2: float, heads: int, causal: bool,
) -> None:
    """Every gradient of the block from dy and the forward's saved buffer (Linear grads where given)."""
def transformer_stack_forward(
    x: F32, params: Sequence[Sequence[F32 | None]], saved: Sequence[F32], ys: Sequence[F32],
    eps1: Sequence[float], eps2: Sequence[float], heads: int, causal: bool,
) -> None:
    """Blocks one after the other (12 params each, as transformer_block_forward): block i reads x
    or ys[i-1] and fills saved[i] and ys[i]."""
def transformer_stack_backward(
    xs: Sequence[F32], weights: Sequence[Sequence[F32 | None]], saved: Sequence[F32], dy: F32,
    scratch: F32, grads: Sequence[Sequence[F32 | None]], eps1: Sequence[float],
    eps2: Sequence[float], heads: int, causal: bool,
) -> None:
    """The stack's backward, last block first: block i's 6 weights and 13 gradient slots (dx, then
    as transformer_block_backward); grads[0][0] is the stack's dx."""

# Fused layer kernels (src/py/softmax.rs loss.rs norm.rs activation.rs embedding.rs optim.rs).
# All arrays C-contiguous float32
# (ids/targets int64); outputs are allocated by the caller and filled.
I64 = npt.NDArray[np.int64]

def softmax(x: F32, out: F32, scale: float = 1.0, mask: F32 | None = None) -> None:
    """Softmax over the last axis; mask (n,) or x.shape, additive after the scale."""
def softmax_backward(y: F32, dy: F32, out: F32, scale: float = 1.0, log: bool = False) -> None:
    """Softmax backward, or with ``log`` the log-softmax backward (``scale`` unused)."""
def log_softmax(x: F32, out: F32) -> None: ...
def cross_entropy(
    logits: F32,
    target: I64,
    losses: F32,
    dlogits: F32,
    ignore_index: int = -100,
    label_smoothing: float = 0.0,
    reduction: str = "mean",
) -> float:
    """logits (N, C), target (N,), losses (N,), dlogits (N, C); returns the reduced loss."""
def layer_norm(
    x: F32, weight: F32 | None, bias: F32 | None, eps: float, out: F32, mean: F32, rstd: F32
) -> None: ...
def layer_norm_backward(
    dy: F32,
    x: F32,
    weight: F32 | None,
    mean: F32,
    rstd: F32,
    dx: F32,
    dweight: F32 | None = None,
    dbias: F32 | None = None,
) -> None: ...
def activation(act: str, x: F32, out: F32) -> None:
    """act: 'gelu', 'gelu_tanh', 'relu', 'tanh', 'sigmoid'."""
def activation_backward(act: str, saved: F32, dy: F32, out: F32) -> None:
    """saved is x for gelu/gelu_tanh/relu, the forward output y for tanh/sigmoid."""
def embedding(weight: F32, ids: I64, out: F32) -> None:
    """weight (V, D), ids (N,), out (N, D)."""
def embedding_backward(dy: F32, ids: I64, dweight: F32) -> None:
    """dy (N, D), ids (N,), dweight (V, D) overwritten."""
def embedding_add(a: F32, ids_a: I64, b: F32, ids_b: I64, out: F32) -> None:
    """out[i] = a[ids_a[i]] + b[ids_b[i]]: a (Va, D), b (Vb, D), ids (N,), out (N, D)."""
def embedding_add_backward(dy: F32, ids_a: I64, ids_b: I64, da: F32, db: F32) -> None:
    """Both tables' gradients: dy (N, D), ids (N,), da (Va, D), db (Vb, D) overwritten."""
def adamw_step(
    param: F32,
    grad: F32,
    exp_avg: F32,
    exp_avg_sq: F32,
    *,
    lr: float,
    beta1: float,
    beta2: float,
    eps: float,
    weight_decay: float,
    step: int,
) -> None: ...

# Multi-tensor kernels (src/py/optim.rs): lists of float32, C-contiguous arrays.
def adam_multi_step(
    params: list[F32],
    grads: list[F32],
    exp_avgs: list[F32],
    exp_avg_sqs: list[F32],
    steps: list[int],
    *,
    lr: float,
    beta1: float,
    beta2: float,
    eps: float,
    weight_decay: float,
    decoupled: bool,
) -> None:
    """One AdamW (decoupled) or Adam (L2 in the gradient) step in place over a group;
    steps[i] >= 1 is tensor i's step count; shapes match per index."""
def total_norm2(xs: list[F32], *, writable: bool = False) -> float:
    """sqrt(sum of x**2) over all arrays, float64 sums per fixed chunk in a fixed order;
    writable=True: each array must also be writable and overlap no other (else ValueError)."""
def add_(dst: F32, src: F32) -> None:
    """dst += src in place (both C-contiguous, same shape), over the thread pool."""
def scale_(xs: list[F32], c: float) -> None:
    """x *= float32(c) in place for every (writable) array."""

# Conv1d (src/py/conv1d.rs).
def conv1d_forward(x: F32, w: F32, b: F32 | None, y: F32, dilation: int, causal: bool) -> None:
    """y = conv1d(x, w) + b. x: (B, C_in, T) strided, w: (C_out, C_in, K) strided, b: (C_out,) contiguous,
    y: C-contiguous (B, C_out, T), overwritten."""
def conv1d_backward(
    x: F32, w: F32, dy: F32, dx: F32 | None, dw: F32 | None, db: F32 | None, dilation: int, causal: bool
) -> None:
    """Gradients of conv1d into the given C-contiguous outputs dx (B, C_in, T), dw (C_out, C_in, K), db (C_out,)."""
def conv1d_step(x_t: F32, w: F32, b: F32 | None, ring: F32, y_t: F32, pos: int, dilation: int) -> None:
    """One causal streaming step: x_t (B, C_in) C-contiguous, ring ((K-1)*d+1, B, C_in) updated in place,
    y_t (B, C_out) overwritten; pos = steps already taken."""
def rnn_forward(
    mode: str,
    x: F32,
    h0: F32,
    c0: F32 | None,
    w_ih: F32,
    w_hh: F32,
    b_ih: F32 | None,
    b_hh: F32 | None,
    lengths: npt.NDArray[np.int64] | None = None,
    save: bool = True,
) -> tuple[F32, F32, F32 | None, list[F32]]:
    """One recurrent layer, one direction (mode rnn_tanh|rnn_relu|lstm|gru), C-contiguous
    batch-first arrays: x (B,T,I), h0/c0 (B,H), w_ih (G·H,I), w_hh (G·H,H), b_* (G·H,).
    Returns out (B,T,H), h_n, c_n (LSTM) and the saved arrays for rnn_backward
    (``save=False``, inference: nothing is kept for backward and that list is empty)."""

def rnn_backward(
    mode: str,
    x: F32,
    w_ih: F32,
    w_hh: F32,
    b_ih: F32 | None,
    b_hh: F32 | None,
    lengths: npt.NDArray[np.int64] | None,
    saved: list[F32],
    dout: F32,
    dh_n: F32 | None = None,
    dc_n: F32 | None = None,
    need_dx: bool = True,
) -> tuple[F32 | None, F32, F32 | None, F32, F32, F32 | None, F32 | None]:
    """BPTT of rnn_forward: (dx, dh0, dc0, dw_ih, dw_hh, db_ih, db_hh); dx is None
    when need_dx is False (its GEMM is skipped)."""

_Norm = tuple[F32 | None, F32 | None, float]  # LayerNorm (weight, bias, eps)
_Proj = tuple[F32, F32 | None]  # Linear (weight (out, in), bias)

class LmDecoder:
    """KV-cache decoding of wte/wpe embeddings → pre-norm blocks (ln1, qkv, out, ln2,
    fc1, fc2) → ln_f → head, one call per token; weights are copied at construction,
    caches hold ``batch`` sequences of up to ``wpe.shape[0]`` positions."""

    def __init__(
        self,
        embeddings: tuple[F32, F32],
        blocks: list[tuple[_Norm, _Proj, _Proj, _Norm, _Proj, _Proj]],
        ln_f: _Norm,
        head: _Proj,
        *,
        heads: int,
        causal: bool,
        batch: int,
    ) -> None: ...
    def step(self, ids: npt.NDArray[np.int64]) -> F32:
        """ids (B, t) at the next t positions (t > 1 only into empty caches) → the last
        position's logits (B, V)."""
    def reset(self) -> None: ...
    def __len__(self) -> int: ...
    @property
    def max_len(self) -> int: ...
