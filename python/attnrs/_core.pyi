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
def attention_forward(
    q: F32, k: F32, v: F32, out: F32, lse: F32, scale: float, causal: bool = False,
    causal_offset: int = 0, key_padding_mask: Any = None, attn_mask: Any = None,
) -> None:
    """Flash attention: writes out (B,H,Tq,Dv) and lse (B,H,Tq); q,k,v,out any non-negative strides."""
def attention_backward(
    q: F32, k: F32, v: F32, out: F32, lse: F32, grad_out: F32, dq: F32, dk: F32, dv: F32,
    scale: float, causal: bool = False, causal_offset: int = 0, key_padding_mask: Any = None,
    attn_mask: Any = None,
) -> None:
    """Writes dq, dk, dv (any non-negative strides) from the forward's out and lse."""
