"""Neural-network layers. Each file holds one family of layers."""

from . import functional, init, utils
from .activation import GELU, ReLU, Sigmoid, Softmax, Tanh
from .attention import KVCache, MultiheadAttention, SelfAttention
from .container import ModuleDict, ModuleList, Sequential
from .conv1d import Conv1d, StreamingState, TCNStack, TemporalBlock, receptive_field
from .dropout import Dropout
from .embedding import Embedding
from .linear import Identity, Linear
from .loss import BCEWithLogitsLoss, CrossEntropyLoss, KLDivLoss, MSELoss, NLLLoss
from .module import Module, Parameter
from .norm import LayerNorm
from .positional import PositionalEmbedding, SinusoidalPositionalEncoding
from .rnn import GRU, LSTM, RNN, GRUCell, LSTMCell, RNNCell
from .transformer import TransformerBlock
from .transformer_torch import (
    Transformer,
    TransformerDecoder,
    TransformerDecoderLayer,
    TransformerEncoder,
    TransformerEncoderLayer,
)

__all__ = [
    "GELU", "Dropout", "Embedding", "Identity", "LayerNorm", "Linear", "Module", "ModuleDict",
    "ModuleList", "Parameter", "ReLU", "Sequential", "Sigmoid", "Softmax", "Tanh", "functional", "init",
    "utils", "Conv1d", "StreamingState", "TCNStack", "TemporalBlock", "receptive_field",
]  # fmt: skip
__all__ += [
    "KVCache", "MultiheadAttention", "PositionalEmbedding", "SelfAttention", "SinusoidalPositionalEncoding",
    "TransformerBlock",
    "RNN", "LSTM", "GRU", "RNNCell", "LSTMCell", "GRUCell",
    "Transformer", "TransformerDecoder", "TransformerDecoderLayer", "TransformerEncoder",
    "TransformerEncoderLayer",
    "BCEWithLogitsLoss", "CrossEntropyLoss", "KLDivLoss", "MSELoss", "NLLLoss",
]  # fmt: skip
