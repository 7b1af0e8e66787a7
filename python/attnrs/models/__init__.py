"""Ready models. Each file holds a config dataclass and a Module whose
``forward(..., targets=None)`` returns ``(output, loss)``.

``REGISTRY`` maps a model name (as ``attnrs train --model`` spells it) to its
``(Config, Model)`` pair.
"""

from __future__ import annotations

from .bert import BERT, BERTConfig, classifier_from_bert
from .char_rnn import CharRNN, CharRNNConfig
from .classifier import ClassifierConfig, TransformerClassifier
from .conditional_rnn import ConditionalRNN, ConditionalRNNConfig
from .gpt import GPT, GPTConfig
from .rnn_seq2seq import RNNSeq2Seq, RNNSeq2SeqConfig
from .seq2seq import Seq2SeqConfig, Seq2SeqTransformer
from .tcn import TCN, TCNConfig
from .word2vec import Word2Vec, Word2VecConfig

REGISTRY: dict[str, tuple[type, type]] = {
    "gpt": (GPTConfig, GPT),
    "char-rnn": (CharRNNConfig, CharRNN),
    "tcn": (TCNConfig, TCN),
    "classifier": (ClassifierConfig, TransformerClassifier),
    "seq2seq": (Seq2SeqConfig, Seq2SeqTransformer),
    "rnn-seq2seq": (RNNSeq2SeqConfig, RNNSeq2Seq),
    "conditional-rnn": (ConditionalRNNConfig, ConditionalRNN),
    "word2vec": (Word2VecConfig, Word2Vec),
    "bert": (BERTConfig, BERT),
}

__all__ = [
    "BERT",
    "GPT",
    "REGISTRY",
    "TCN",
    "BERTConfig",
    "CharRNN",
    "CharRNNConfig",
    "ClassifierConfig",
    "ConditionalRNN",
    "ConditionalRNNConfig",
    "GPTConfig",
    "RNNSeq2Seq",
    "RNNSeq2SeqConfig",
    "Seq2SeqConfig",
    "Seq2SeqTransformer",
    "TCNConfig",
    "TransformerClassifier",
    "Word2Vec",
    "Word2VecConfig",
    "classifier_from_bert",
]  # fmt: skip
