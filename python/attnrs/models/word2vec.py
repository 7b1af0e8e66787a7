"""Word2Vec: skip-gram with negative sampling (Mikolov et al. 2013).

center ─ in_embed ─ u (B, D)
candidates ─ out_embed ─ V (B, M, D)   (column 0: a real context word, 1..K: noise words)
logits = V u (B, M);  loss = binary cross-entropy(logits, [1, 0, …, 0])

Noise words are drawn from the unigram distribution raised to 3/4. After
training, words used in the same contexts have nearby ``in_embed`` vectors:
``most_similar(word, k)`` lists the nearest by cosine similarity.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .. import nn
from ..autograd import Function
from ..tensor import Tensor

__all__ = ["Word2Vec", "Word2VecConfig", "noise_distribution", "sgns_batch"]


@dataclass
class Word2VecConfig:
    vocab_size: int = 5000  # words (id 0 = <unk>)
    dim: int = 64  # embedding size
    window: int = 3  # context words on each side
    negatives: int = 5  # noise words per (center, context) pair
    words: list = field(default_factory=list)  # id → word, for most_similar by name


class _BCEWithLogits(Function):
    """Mean over rows of Σ_m [softplus(x) − t·x]: the negative-sampling loss.

    # Shapes
    - logits, targets: (B, M) → scalar
    """

    @staticmethod
    def forward(ctx, x, t):
        ctx.save(x, t)
        sp = np.logaddexp(0.0, x)  # softplus, stable for large |x|
        return np.asarray((sp - t * x).sum() / x.shape[0], dtype=np.float32)

    @staticmethod
    def backward(ctx, g):
        x, t = ctx.saved
        sig = 1.0 / (1.0 + np.exp(-x))
        return (g * (sig - t) / x.shape[0]).astype(np.float32), None


class Word2Vec(nn.Module):
    def __init__(self, config: Word2VecConfig) -> None:
        super().__init__()
        c = config
        self.config = c
        self.in_embed = nn.Embedding(c.vocab_size, c.dim)
        self.out_embed = nn.Embedding(c.vocab_size, c.dim)
        from ..tensor import default_rng

        bound = 0.5 / c.dim
        self.in_embed.weight._array = default_rng().uniform(-bound, bound, (c.vocab_size, c.dim)).astype(np.float32)
        self.out_embed.weight._array = np.zeros((c.vocab_size, c.dim), dtype=np.float32)

    def forward(
        self, center: np.ndarray, candidates: np.ndarray, targets: np.ndarray | None = None
    ) -> tuple[Tensor, Tensor | None]:
        """# Shapes
        - center: (B,) ids, candidates: (B, M) ids, targets: (B, M) in {0, 1} or None
        - returns logits (B, M) and the negative-sampling loss (or None)
        """
        u = self.in_embed(np.asarray(center))  # (B, D)
        v = self.out_embed(np.asarray(candidates))  # (B, M, D)
        B, D = u.shape
        logits = (v @ u.reshape(B, D, 1)).reshape(B, -1)  # (B, M)
        loss = None
        if targets is not None:
            loss = _BCEWithLogits.apply(logits, Tensor(np.asarray(targets, dtype=np.float32)))
        return logits, loss

    def vectors(self) -> np.ndarray:
        """The word vectors (``in_embed``), (vocab_size, dim)."""
        return self.in_embed.weight._array

    def similarity(self, a: int, b: int) -> float:
        """Cosine similarity of the vectors of ids ``a`` and ``b``."""
        w = self.vectors()
        va, vb = w[a], w[b]
        return float(va @ vb / (np.linalg.norm(va) * np.linalg.norm(vb) + 1e-12))

    def most_similar(self, word: str | int, k: int = 10) -> list[tuple[str | int, float]]:
        """The ``k`` nearest words to ``word`` (a word of ``config.words`` or an id)
        by cosine similarity, excluding itself, best first."""
        words = self.config.words
        if isinstance(word, str):
            if word not in words:
                raise ValueError(f"Word2Vec.most_similar: {word!r} is not in the vocabulary")
            idx = words.index(word)
        else:
            idx = int(word)
            if not 0 <= idx < self.config.vocab_size:
                raise ValueError(f"Word2Vec.most_similar: id {idx} is out of range [0, {self.config.vocab_size})")
        w = self.vectors().astype(np.float64)
        w = w / (np.linalg.norm(w, axis=1, keepdims=True) + 1e-12)
        sims = w @ w[idx]
        sims[idx] = -np.inf
        best = np.argsort(-sims, kind="stable")[:k]
        name = (lambda i: words[i]) if words else (lambda i: int(i))
        return [(name(i), float(sims[i])) for i in best]


def noise_distribution(ids: np.ndarray, vocab_size: int, power: float = 0.75) -> np.ndarray:
    """Unigram counts ** power, normalised: the distribution of noise words."""
    counts = np.bincount(np.asarray(ids), minlength=vocab_size).astype(np.float64)
    p = counts**power
    return p / p.sum()


def sgns_batch(
    centers: np.ndarray,
    contexts: np.ndarray,
    noise: np.ndarray,
    batch_size: int,
    negatives: int,
    rng: np.random.Generator,
) -> tuple[tuple[np.ndarray, np.ndarray], np.ndarray]:
    """A random batch of (center, [context, noise…]) with targets [1, 0, …].

    # Shapes
    - centers, contexts: (P,) pairs; noise: (V,) probabilities
    - returns ((center (B,), candidates (B, 1+K)), targets (B, 1+K))
    """
    pick = rng.integers(0, len(centers), size=batch_size)
    neg = rng.choice(len(noise), size=(batch_size, negatives), p=noise)
    cand = np.concatenate([contexts[pick][:, None], neg], axis=1)
    targets = np.zeros(cand.shape, dtype=np.float32)
    targets[:, 0] = 1.0
    return (centers[pick], cand), targets
