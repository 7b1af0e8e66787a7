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
