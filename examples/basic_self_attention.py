"""Basic self-attention: Y = softmax(X Xᵀ) X, with no parameters at all.

Every output row is a weighted average of the input rows, weighted by how
similar (dot product) they are. Two facts follow, shown numerically here:

1. It is permutation equivariant: shuffle the input rows and the output rows
   come out shuffled the same way. Order carries no information.
2. Adding position vectors (sinusoids) to X breaks that symmetry: the same
   token at two places now attends differently.

Writes self_attention.png: the weight matrix W = softmax(X Xᵀ) for a sequence
with repeated tokens, without and with positions.

    python examples/basic_self_attention.py [--quick] [--out DIR]
"""

from __future__ import annotations

import numpy as np
from _common import parse_args, plt, save

import attnrs as ar
from attnrs.nn.positional import sinusoidal_table


def softmax_rows(s: np.ndarray) -> np.ndarray:
    e = np.exp(s - s.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def main() -> None:
    args, out = parse_args(__doc__)
    rng = np.random.default_rng(0)

    # A sequence of token vectors: a 4-word vocabulary embedded in d dimensions,
    # and a sentence that repeats its words ("a b c a d b a").
    d = 8 if args.quick else 16
    vocab = rng.normal(size=(4, d)).astype(np.float32) / np.sqrt(d) * 2
    words = ["a", "b", "c", "a", "d", "b", "a"]
    ids = np.array(["abcd".index(w) for w in words])
    X = vocab[ids]  # (T, d)

    # The layer: nn.SelfAttention() has no parameters; Y = softmax(X Xᵀ) X.
    attn = ar.nn.SelfAttention()
    Y = attn(ar.tensor(X)).numpy()  # (T, d)
    W = softmax_rows(X @ X.T)  # (T, T), the weights it used
    print(f"Y == softmax(X Xᵀ) X (NumPy): max |diff| = {np.abs(Y - W @ X).max():.2e}")

    # 1. Permutation equivariance: f(X[perm]) == f(X)[perm].
    perm = rng.permutation(len(X))
    Yp = attn(ar.tensor(X[perm])).numpy()
    print(f"permuted input -> permuted output: max |f(X[perm]) - f(X)[perm]| = {np.abs(Yp - Y[perm]).max():.2e}")
    print(f"rows for the three 'a's are identical: {np.allclose(Y[0], Y[3]) and np.allclose(Y[0], Y[6])}")

    # 2. Add positions: the model can now tell the first 'a' from the last.
    P = sinusoidal_table(len(X), d) * 0.7  # (T, d)
    Xp = X + P
    Z = attn(ar.tensor(Xp)).numpy()
    Zperm = attn(ar.tensor(X[perm] + P)).numpy()  # positions stay in place, tokens move
    print(f"with positions, equivariance is gone: max |f(X[perm]+P) - f(X+P)[perm]| = {np.abs(Zperm - Z[perm]).max():.2f}")
    print(f"rows for the three 'a's differ: max |Z[0] - Z[6]| = {np.abs(Z[0] - Z[6]).max():.2f}")
    Wp = softmax_rows(Xp @ Xp.T)

    fig, axes = plt.subplots(1, 2, figsize=(8, 3.6))
    for ax, w, title in ((axes[0], W, "softmax(X Xᵀ): no positions"), (axes[1], Wp, "with sinusoidal positions")):
        ax.imshow(w, cmap="viridis", vmin=0, vmax=1)
        ax.set_xticks(range(len(words)), words)
        ax.set_yticks(range(len(words)), words)
        ax.set_xlabel("key")
        ax.set_ylabel("query")
        ax.set_title(title, fontsize=10)
    save(fig, out, "self_attention.png")


if __name__ == "__main__":
    main()
