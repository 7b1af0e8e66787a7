"""Recurrent layers: RNN, LSTM, GRU (whole sequence) and RNNCell, LSTMCell,
GRUCell (one step), with PyTorch's parameter names, shapes, gate order and
initialisation, so state dicts move between the two.

Every layer and direction of a stack runs as one autograd node,
``attnrs.functional.rnn.RNNStack``, over the kernels of ``attnrs.ops.rnn``.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from .. import ops
from .._validate import ShapeError, as_f32
from ..autograd import is_grad_enabled
from ..functional.rnn import RNNStack
from ..tensor import Tensor, default_rng
from .module import Module, Parameter

__all__ = ["GRU", "LSTM", "RNN", "GRUCell", "LSTMCell", "RNNCell"]

_GATES = {"rnn_tanh": 1, "rnn_relu": 1, "lstm": 4, "gru": 3}


def _needs_saving(*args: Any) -> bool:
    """Whether ``RNNStack.apply(*args)`` will record a graph node (grad mode on
    and some input requires a gradient); if not, the kernels skip saving."""
    return is_grad_enabled() and any(isinstance(a, Tensor) and a.requires_grad for a in args)


class _RNNBase(Module):
    """Shared machinery of RNN, LSTM and GRU (see those classes)."""

    def __init__(
        self,
        mode: str,
        input_size: int,
        hidden_size: int,
        num_layers: int = 1,
        bias: bool = True,
        batch_first: bool = False,
        dropout: float = 0.0,
        bidirectional: bool = False,
    ) -> None:
        super().__init__()
        name = type(self).__name__
        if int(input_size) <= 0 or int(hidden_size) <= 0 or int(num_layers) <= 0:
            raise ValueError(
                f"{name}: input_size, hidden_size and num_layers must be positive; "
                f"got {input_size}, {hidden_size}, {num_layers}"
            )
        dropout = float(dropout)
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"{name}: dropout must be in [0, 1); got {dropout}")
        self.mode = mode
        self.input_size, self.hidden_size = int(input_size), int(hidden_size)
        self.num_layers, self.bias, self.batch_first = (
            int(num_layers),
            bool(bias),
            bool(batch_first),
        )
        self.dropout, self.bidirectional = dropout, bool(bidirectional)
        dirs = 2 if self.bidirectional else 1
        gh = _GATES[mode] * self.hidden_size
        bound = 1.0 / math.sqrt(self.hidden_size)
        rng = default_rng()
        for layer in range(self.num_layers):
            width = self.input_size if layer == 0 else self.hidden_size * dirs
            for d in range(dirs):
                sfx = f"_l{layer}" + ("_reverse" if d else "")
                shapes = [("weight_ih", (gh, width)), ("weight_hh", (gh, self.hidden_size))]
                if self.bias:
                    shapes += [("bias_ih", (gh,)), ("bias_hh", (gh,))]
                for pname, shape in shapes:
                    setattr(self, pname + sfx, Parameter(rng.uniform(-bound, bound, shape)))

    @property
    def _flat_weights_names(self) -> list[str]:
        dirs = 2 if self.bidirectional else 1
        kinds = ["weight_ih", "weight_hh"] + (["bias_ih", "bias_hh"] if self.bias else [])
        return [
            f"{kind}_l{layer}" + ("_reverse" if d else "")
            for layer in range(self.num_layers)
            for d in range(dirs)
            for kind in kinds
        ]

    @property
    def all_weights(self) -> list[Parameter]:
        return [getattr(self, n) for n in self._flat_weights_names]

    def flatten_parameters(self) -> None:
        """PyTorch compatibility: parameters are already in the layout the kernel reads."""

    def _state(self, h: Any, arg: str, batch: int, unbatched: bool) -> Tensor:
        dirs = 2 if self.bidirectional else 1
        want = (self.num_layers * dirs, batch, self.hidden_size)
        if h is None:
            return Tensor(np.zeros(want, np.float32))
        t = h if isinstance(h, Tensor) else Tensor(as_f32(h, type(self).__name__, arg))
        if unbatched and t.ndim == 2:
            t = t.reshape(want)
        if t.shape != want:
            raise ShapeError(f"{type(self).__name__}: {arg} must have shape {want}; got {t.shape}")
        return t

    def forward(self, x: Any, hx: Any = None, lengths: Any = None) -> tuple:
        """Runs the whole sequence.

        ``hx`` is h0 (RNN, GRU) or ``(h0, c0)`` (LSTM), zeros when None; a Tensor
        with ``requires_grad`` receives its gradient (a label as initial state is
        learnable). ``lengths`` (B,) gives each sequence's valid steps: its state
        stops there (so padding never reaches h_n) and its outputs are zero after.

        # Shapes
        - x: (B, T, I) when batch_first else (T, B, I); (T, I) unbatched
        - hx: (L·D, B, H) each; output (B, T, D·H); h_n, c_n (L·D, B, H)
        """
        name = type(self).__name__
        xt = x if isinstance(x, Tensor) else Tensor(as_f32(x, name, "input"))
        if xt.ndim not in (2, 3):
            layout = "(batch, seq, feature)" if self.batch_first else "(seq, batch, feature)"
            raise ShapeError(
                f"{name}: input must be 3-D {layout} (batch_first={self.batch_first}) or 2-D "
                f"unbatched; got {xt.shape}"
            )
        unbatched = xt.ndim == 2
        if unbatched:
            xt = xt.reshape(1, xt.shape[0], xt.shape[1])  # (1, T, I)
        elif not self.batch_first:
            xt = xt.transpose(0, 1)  # (T, B, I) -> (B, T, I)
        b, t, feat = xt.shape
        if feat != self.input_size:
            raise ShapeError(
                f"{name}: input must have {self.input_size} features in its last dim; got shape "
                f"{tuple(x.shape)} (batch_first={self.batch_first}, as in PyTorch the default is False)"
            )
        lstm = self.mode == "lstm"
        if lstm and hx is not None and not (isinstance(hx, (tuple, list)) and len(hx) == 2):
            raise ValueError(f"{name}: hx must be a tuple (h0, c0) or None")
        h0 = self._state(hx[0] if lstm and hx is not None else hx, "h0", b, unbatched)
        c0 = self._state(hx[1] if hx is not None else None, "c0", b, unbatched) if lstm else None
        lens = ops.rnn_lengths(lengths, b, t, name)
        args = (xt, h0, c0, *self.all_weights)
        res = RNNStack.apply(
            *args, mode=self.mode, layers=self.num_layers,
            dirs=2 if self.bidirectional else 1, bias=self.bias, lengths=lens,
            dropout=self.dropout, training=self.training, save=_needs_saving(*args),
        )  # fmt: skip
        out, states = res[0], res[1:]
        if unbatched:
            out = out.reshape(out.shape[1], out.shape[2])
            states = tuple(s.reshape(s.shape[0], s.shape[2]) for s in states)
        elif not self.batch_first:
            out = out.transpose(0, 1)
        return (out, (states[0], states[1])) if lstm else (out, states[0])

    def extra_repr(self) -> str:
        s = f"{self.input_size}, {self.hidden_size}"
        if self.num_layers != 1:
            s += f", num_layers={self.num_layers}"
        if not self.bias:
            s += ", bias=False"
        if self.batch_first:
            s += ", batch_first=True"
        if self.dropout:
            s += f", dropout={self.dropout}"
        if self.bidirectional:
            s += ", bidirectional=True"
        return s


class RNN(_RNNBase):
    """Elman RNN: h_t = act(W_ih x_t + b_ih + W_hh h_{t-1} + b_hh), act = tanh or relu.

    Parameters ``weight_ih_l{k}`` (H, I or D·H), ``weight_hh_l{k}`` (H, H),
    ``bias_ih_l{k}``, ``bias_hh_l{k}`` (H,), ``_reverse`` for the backward direction,
    all U(−1/√H, 1/√H). ``forward(x, h0=None, lengths=None) -> (output, h_n)``.
    """

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1,
                 nonlinearity: str = "tanh", bias: bool = True, batch_first: bool = False,
                 dropout: float = 0.0, bidirectional: bool = False) -> None:  # fmt: skip
        if nonlinearity not in ("tanh", "relu"):
            raise ValueError(f"RNN: nonlinearity must be 'tanh' or 'relu'; got {nonlinearity!r}")
        self.nonlinearity = nonlinearity
        super().__init__("rnn_" + nonlinearity, input_size, hidden_size, num_layers, bias,
                         batch_first, dropout, bidirectional)  # fmt: skip

    def extra_repr(self) -> str:
        s = super().extra_repr()
        return s + (", nonlinearity='relu'" if self.nonlinearity == "relu" else "")


class LSTM(_RNNBase):
    """LSTM with PyTorch's gates (i, f, g, o stacked in that order, 4H rows):
    c_t = f ⊙ c_{t-1} + i ⊙ g, h_t = o ⊙ tanh(c_t).

    ``forward(x, (h0, c0)=None, lengths=None) -> (output, (h_n, c_n))``.
    """

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1, bias: bool = True,
                 batch_first: bool = False, dropout: float = 0.0, bidirectional: bool = False) -> None:  # fmt: skip
        super().__init__("lstm", input_size, hidden_size, num_layers, bias, batch_first, dropout,
                         bidirectional)  # fmt: skip


class GRU(_RNNBase):
    """GRU with PyTorch's gates (r, z, n, 3H rows):
    n = tanh(W_in x + b_in + r ⊙ (W_hn h + b_hn)), h_t = (1 − z) ⊙ n + z ⊙ h_{t-1}.

    ``forward(x, h0=None, lengths=None) -> (output, h_n)``.
    """

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1, bias: bool = True,
                 batch_first: bool = False, dropout: float = 0.0, bidirectional: bool = False) -> None:  # fmt: skip
        super().__init__("gru", input_size, hidden_size, num_layers, bias, batch_first, dropout,
                         bidirectional)  # fmt: skip


# --- cells: one step, for step-by-step decoding --------------------------------------------


class _CellBase(Module):
    def __init__(self, mode: str, input_size: int, hidden_size: int, bias: bool) -> None:
        super().__init__()
        name = type(self).__name__
        if int(input_size) <= 0 or int(hidden_size) <= 0:
            raise ValueError(
                f"{name}: input_size and hidden_size must be positive; got {input_size}, {hidden_size}"
            )
        self.mode = mode
        self.input_size, self.hidden_size, self.bias = int(input_size), int(hidden_size), bool(bias)
        gh = _GATES[mode] * self.hidden_size
        bound = 1.0 / math.sqrt(self.hidden_size)
        rng = default_rng()
        self.weight_ih = Parameter(rng.uniform(-bound, bound, (gh, self.input_size)))
        self.weight_hh = Parameter(rng.uniform(-bound, bound, (gh, self.hidden_size)))
        self.bias_ih = Parameter(rng.uniform(-bound, bound, (gh,))) if bias else None
        self.bias_hh = Parameter(rng.uniform(-bound, bound, (gh,))) if bias else None

    def _step(self, x: Any, hx: Any) -> Tensor | tuple:
        name = type(self).__name__
        xt = x if isinstance(x, Tensor) else Tensor(as_f32(x, name, "input"))
        if xt.ndim not in (1, 2) or xt.shape[-1] != self.input_size:
            raise ShapeError(
                f"{name}: input must be (B, {self.input_size}) or ({self.input_size},); got {xt.shape}"
            )
        unbatched = xt.ndim == 1
        b = 1 if unbatched else xt.shape[0]
        xt = xt.reshape(b, 1, self.input_size)
        lstm = self.mode == "lstm"
        if lstm and hx is not None and not (isinstance(hx, (tuple, list)) and len(hx) == 2):
            raise ValueError(f"{name}: hx must be a tuple (h, c) or None")
        states = (hx if hx is not None else (None, None)) if lstm else (hx,)
        prepared = []
        for s, arg in zip(states, ("h", "c")):
            if s is None:
                prepared.append(Tensor(np.zeros((1, b, self.hidden_size), np.float32)))
                continue
            st = s if isinstance(s, Tensor) else Tensor(as_f32(s, name, arg))
            if st.shape not in ((b, self.hidden_size), (self.hidden_size,)):
                raise ShapeError(
                    f"{name}: {arg} must have shape {(b, self.hidden_size)}; got {st.shape}"
                )
            prepared.append(st.reshape(1, b, self.hidden_size))
        weights = [self.weight_ih, self.weight_hh] + (
            [self.bias_ih, self.bias_hh] if self.bias else []
        )
        args = (xt, prepared[0], prepared[1] if lstm else None, *weights)
        res = RNNStack.apply(
            *args, mode=self.mode, layers=1, dirs=1, bias=self.bias, lengths=None, dropout=0.0,
            training=False, save=_needs_saving(*args),
        )  # fmt: skip
        shape = (self.hidden_size,) if unbatched else (b, self.hidden_size)
        outs = tuple(s.reshape(shape) for s in res[1:])
        return outs if lstm else outs[0]

    def extra_repr(self) -> str:
        return f"{self.input_size}, {self.hidden_size}" + ("" if self.bias else ", bias=False")


class RNNCell(_CellBase):
    """One Elman step: ``h' = act(W_ih x + b_ih + W_hh h + b_hh)``.

    # Shapes
    - input (B, I) or (I,), hx (B, H) or None → h' (B, H)
    """

    def __init__(
        self, input_size: int, hidden_size: int, bias: bool = True, nonlinearity: str = "tanh"
    ) -> None:
        if nonlinearity not in ("tanh", "relu"):
            raise ValueError(
                f"RNNCell: nonlinearity must be 'tanh' or 'relu'; got {nonlinearity!r}"
            )
        self.nonlinearity = nonlinearity
        super().__init__("rnn_" + nonlinearity, input_size, hidden_size, bias)

    def forward(self, x: Any, hx: Any = None) -> Tensor:
        return self._step(x, hx)


class LSTMCell(_CellBase):
    """One LSTM step. ``forward(x, (h, c)=None) -> (h', c')``.

    # Shapes
    - input (B, I) or (I,), h and c (B, H) → h', c' (B, H)
    """

    def __init__(self, input_size: int, hidden_size: int, bias: bool = True) -> None:
        super().__init__("lstm", input_size, hidden_size, bias)

    def forward(self, x: Any, hx: Any = None) -> tuple:
        return self._step(x, hx)


class GRUCell(_CellBase):
    """One GRU step. ``forward(x, h=None) -> h'``.

    # Shapes
    - input (B, I) or (I,), hx (B, H) → h' (B, H)
    """

    def __init__(self, input_size: int, hidden_size: int, bias: bool = True) -> None:
        super().__init__("gru", input_size, hidden_size, bias)

    def forward(self, x: Any, hx: Any = None) -> Tensor:
        return self._step(x, hx)
