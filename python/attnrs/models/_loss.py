"""The sequence models' training loss (shared by the language and seq2seq models)."""

from __future__ import annotations

from typing import Any

import numpy as np

from ..nn import functional as F
from ..tensor import Tensor

__all__ = ["sequence_loss"]


def sequence_loss(logits: Tensor, targets: Any, ignore_index: int = -100) -> Tensor | None:
    """Mean cross-entropy of every position's logits against its target id
    (None when ``targets`` is None); ``ignore_index`` targets (padding) count for nothing.

    # Shapes
    - logits: (B, T, V), targets: (B, T) ids → a scalar
    """
    if targets is None:
        return None
    B, T, V = logits.shape
    return F.cross_entropy(logits.reshape(B * T, V), np.asarray(targets).reshape(B * T), ignore_index=ignore_index)
