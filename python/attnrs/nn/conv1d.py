"""Dilated 1-D convolutions: ``Conv1d``, the WaveNet-style ``TemporalBlock``,
a ``TCNStack`` of them, and streaming generation (``StreamingState``).

A causal conv pads ``(K−1)·d`` zeros on the left, so the output at t depends
on inputs up to t only; stacking dilations 1, 2, 4, … reaches
``1 + (K−1)·Σd`` steps back. For generation every causal conv keeps a ring
buffer of its last ``(K−1)·d + 1`` inputs, so one step costs the same at any
position of the sequence.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from .. import ops
from .._validate import ShapeError, as_f32
from ..autograd import no_grad
from ..tensor import Tensor, default_rng
from . import functional as F
from .container import ModuleList
from .module import Module, Parameter

__all__ = ["Conv1d", "StreamingState", "TCNStack", "TemporalBlock", "receptive_field"]


def receptive_field(kernel_size: int, dilations: Sequence[int]) -> int:
    """Input steps one output of a stack of causal convs sees: ``1 + (K−1)·Σd``."""
    return 1 + (int(kernel_size) - 1) * sum(int(d) for d in dilations)


@dataclass
class _Ring:
    conv: Conv1d  # keeps the layer (and so its id) alive while the state lives
    buffer: np.ndarray  # ((K−1)·d + 1, B, C_in)
    steps: int = 0


class StreamingState:
    """The ring buffers of every causal conv one stream of generation goes through.

    Make one per stream (a batch of sequences generated together) and pass it
    to ``stream_step`` of a ``Conv1d``, ``TemporalBlock`` or ``TCNStack`` at every
    time step; each conv gets its own buffer on first use. ``reset()`` starts
    a new stream.
    """

    def __init__(self) -> None:
        self._rings: dict[int, _Ring] = {}

    def _ring(self, conv: Conv1d, batch: int) -> _Ring:
        ring = self._rings.get(id(conv))
        if ring is None:
            buf = ops.conv1d_state(batch, conv.in_channels, conv.kernel_size, conv.dilation)
            ring = self._rings[id(conv)] = _Ring(conv, buf)
        elif ring.buffer.shape[1] != batch:
            raise ShapeError(
                f"stream_step: this stream has batch size {ring.buffer.shape[1]}; got x_t with batch {batch} "
                "(use a new StreamingState or reset() for another batch)"
            )
        return ring

    def steps(self, conv: Conv1d) -> int:
        """Steps ``conv`` has consumed in this stream (0 if never called)."""
        ring = self._rings.get(id(conv))
        return 0 if ring is None else ring.steps

    def reset(self) -> None:
        """Forgets every buffer: the next step starts a new stream at t = 0."""
        self._rings.clear()

    def __len__(self) -> int:
        return len(self._rings)


class Conv1d(Module):
    """1-D convolution keeping the length T, with PyTorch's weight layout and init.

    ``causal=True`` pads ``(K−1)·dilation`` zeros on the left (the output at t
    sees inputs up to t); ``causal=False`` is PyTorch's ``padding='same'``.
    Weight and bias are drawn from U(−1/√(C_in·K), 1/√(C_in·K)) like
    PyTorch's default (kaiming-uniform with a = √5), so a PyTorch
    ``nn.Conv1d`` state dict (``weight``, ``bias``) loads as is.

    # Shapes
    - input: (B, C_in, T) or (C_in, T) → (B, C_out, T) or (C_out, T)
    - weight: (C_out, C_in, K), bias: (C_out,)
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int,
        dilation: int = 1,
        causal: bool = True,
        bias: bool = True,
    ) -> None:
        super().__init__()
        sizes = {"in_channels": in_channels, "out_channels": out_channels, "kernel_size": kernel_size,
                 "dilation": dilation}  # fmt: skip
        for name, v in sizes.items():
            if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 1:
                raise ValueError(f"Conv1d: {name} must be a positive integer; got {v!r}")
        self.in_channels, self.out_channels = int(in_channels), int(out_channels)
        self.kernel_size, self.dilation, self.causal = int(kernel_size), int(dilation), bool(causal)
        bound = 1.0 / math.sqrt(self.in_channels * self.kernel_size)
        rng = default_rng()
        shape = (self.out_channels, self.in_channels, self.kernel_size)
        self.weight = Parameter(rng.uniform(-bound, bound, shape))
        self.bias = Parameter(rng.uniform(-bound, bound, (self.out_channels,))) if bias else None

    @property
    def receptive_field(self) -> int:
        """Input steps one output sees: ``1 + (K−1)·dilation``."""
        return receptive_field(self.kernel_size, [self.dilation])

    def forward(self, x: Tensor) -> Tensor:
        return F.conv1d(x, self.weight, self.bias, self.dilation, self.causal)

    def stream_step(self, x_t: Any, state: StreamingState) -> Tensor:
        """The output at the next time step of the stream held in ``state``.

        Inference only (no graph is recorded). Needs a causal conv (or K = 1).

        # Shapes
        - x_t: (B, C_in) → (B, C_out)
        """
        if not self.causal and self.kernel_size > 1:
            raise ValueError(
                "Conv1d.stream_step: needs a causal conv (causal=True); this one pads both sides"
            )
        x = as_f32(x_t, "Conv1d.stream_step", "x_t")
        if x.ndim != 2:
            raise ShapeError(
                f"Conv1d.stream_step: x_t must be 2-D (batch, in_channels); got shape {x.shape}"
            )
        ring = state._ring(self, x.shape[0])
        b = None if self.bias is None else self.bias._array
        y = ops.conv1d_step(
            x, self.weight._array, b, state=ring.buffer, step=ring.steps, dilation=self.dilation
        )
        ring.steps += 1
        return Tensor(y)

    def extra_repr(self) -> str:
        return (
            f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, dilation={self.dilation}, "
            f"causal={self.causal}, bias={self.bias is not None}"
        )


class TemporalBlock(Module):
    """WaveNet residual block: a dilated conv to 2·C channels, the gated unit
    ``z = tanh(filter) ⊙ sigmoid(gate)``, then 1×1 convs for the residual path
    ``out = x + res(z)`` and the skip path ``skip = skip(z)``.

    # Shapes
    - input: (B, C, T) → out (B, C, T), skip (B, skip_channels, T)
    """

    def __init__(
        self,
        channels: int,
        kernel_size: int = 2,
        dilation: int = 1,
        skip_channels: int | None = None,
        causal: bool = True,
        bias: bool = True,
    ) -> None:
        super().__init__()
        self.channels = int(channels)
        self.skip_channels = int(skip_channels) if skip_channels is not None else self.channels
        self.conv = Conv1d(channels, 2 * self.channels, kernel_size, dilation, causal, bias)
        self.res = Conv1d(channels, channels, 1, bias=bias)
        self.skip = Conv1d(channels, self.skip_channels, 1, bias=bias)

    @property
    def receptive_field(self) -> int:
        return self.conv.receptive_field

    def _gate(self, a: Tensor, axis: int) -> Tensor:
        filt, gate = a.split(self.channels, axis)  # (B, C, …) each
        return F.tanh(filt) * F.sigmoid(gate)

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        if np.ndim(x._array if isinstance(x, Tensor) else x) != 3:
            raise ShapeError(
                f"TemporalBlock: input must be 3-D (B, C={self.channels}, T); "
                f"got shape {np.shape(x._array if isinstance(x, Tensor) else x)}"
            )
        z = self._gate(self.conv(x), 1)
        return x + self.res(z), self.skip(z)

    def stream_step(self, x_t: Any, state: StreamingState) -> tuple[Tensor, Tensor]:
        """``(out_t, skip_t)`` at the next step of the stream in ``state``.

        # Shapes
        - x_t: (B, C) → out_t (B, C), skip_t (B, skip_channels)
        """
        with no_grad():
            x = (
                x_t
                if isinstance(x_t, Tensor)
                else Tensor(as_f32(x_t, "TemporalBlock.stream_step", "x_t"))
            )
            z = self._gate(self.conv.stream_step(x, state), 1)
            return x + self.res.stream_step(z, state), self.skip.stream_step(z, state)


class TCNStack(Module):
    """A stack of ``TemporalBlock``s with dilations 1, 2, 4, … (or as given);
    returns the last block's output and the sum of every block's skip output.

    The receptive field is ``1 + (K−1)·Σd`` (``receptive_field``).

    # Shapes
    - input: (B, C, T) → out (B, C, T), skip (B, skip_channels, T)
    """

    def __init__(
        self,
        channels: int,
        num_layers: int = 8,
        kernel_size: int = 2,
        dilations: Sequence[int] | None = None,
        skip_channels: int | None = None,
        causal: bool = True,
        bias: bool = True,
    ) -> None:
        super().__init__()
        dil = (
            [2**i for i in range(int(num_layers))]
            if dilations is None
            else [int(d) for d in dilations]
        )
        if not dil:
            raise ValueError(
                "TCNStack: needs at least one layer (num_layers >= 1 or a non-empty dilations)"
            )
        self.kernel_size, self.dilations = int(kernel_size), dil
        self.blocks = ModuleList(
            TemporalBlock(channels, kernel_size, d, skip_channels, causal, bias) for d in dil
        )

    @property
    def receptive_field(self) -> int:
        return receptive_field(self.kernel_size, self.dilations)

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        skip_sum: Tensor | None = None
        for block in self.blocks:
            x, skip = block(x)
            skip_sum = skip if skip_sum is None else skip_sum + skip
        return x, skip_sum

    def stream_step(self, x_t: Any, state: StreamingState) -> tuple[Tensor, Tensor]:
        """``(out_t, skip_t)`` at the next step of the stream in ``state``.

        # Shapes
        - x_t: (B, C) → out_t (B, C), skip_t (B, skip_channels)
        """
        skip_sum: Tensor | None = None
        x = x_t
        for block in self.blocks:
            x, skip = block.stream_step(x, state)
            skip_sum = skip if skip_sum is None else skip_sum + skip
        return x, skip_sum
