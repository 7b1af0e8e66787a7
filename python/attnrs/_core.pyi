"""Type stubs for the compiled extension ``attnrs._core``."""

from typing import Any

import numpy as np
import numpy.typing as npt

F32 = npt.NDArray[np.float32]

class ShapeError(ValueError): ...
class DTypeError(TypeError): ...

def info() -> dict[str, Any]: ...
def set_num_threads(n: int) -> None: ...
def get_num_threads() -> int: ...
def gemm(a: F32, b: F32, c: F32, alpha: float = 1.0, beta: float = 0.0) -> None:
    """C = alpha·A·B + beta·C. a: (batch|1, m, k), b: (batch|1, k, n), c: (batch, m, n); any non-negative strides."""
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
) -> tuple[F32, F32, F32 | None, list[F32]]:
    """One recurrent layer, one direction (mode rnn_tanh|rnn_relu|lstm|gru), C-contiguous
    batch-first arrays: x (B,T,I), h0/c0 (B,H), w_ih (G·H,I), w_hh (G·H,H), b_* (G·H,).
    Returns out (B,T,H), h_n, c_n (LSTM) and the saved arrays for rnn_backward."""

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
) -> tuple[F32, F32, F32 | None, F32, F32, F32 | None, F32 | None]:
    """BPTT of rnn_forward: (dx, dh0, dc0, dw_ih, dw_hh, db_ih, db_hh)."""
