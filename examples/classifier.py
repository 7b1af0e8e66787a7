"""seq2label: a Transformer encoder reads a sequence and outputs one label.

The task (``data.make_majority_task``): which of 4 symbols occurs most often
in a sequence of 16? Every position matters, so the encoder is non-causal
(each position sees all others), and its (B, T, C) output must be pooled into
one vector per sequence. Three ways, compared here:

- ``mean``: average over time;
- ``max``: per-feature maximum over time;
- ``first``: a learned "global" token is prepended; its output, which has
  attended to every position, is the summary (BERT's [CLS] idea).

Writes classifier_pooling.png (test accuracy against step for each pooling).

    python examples/classifier.py [--quick] [--steps N] [--out DIR]
"""

from __future__ import annotations

import numpy as np
from _common import accuracy_curve, parse_args, plt, save

import attnrs as ar
from attnrs import data
from attnrs.models import ClassifierConfig, TransformerClassifier


def main() -> None:
    args, out = parse_args(__doc__, steps=(200, 15), what="training steps per pooling")
    test = data.make_majority_task(300 if args.quick else 500, np.random.default_rng(1), n_classes=4, length=16)

    batch = lambda rng: data.make_majority_task(64, rng, n_classes=4, length=16)  # (64, 16), (64,)
    curves = {}
    for pooling in ("mean", "max", "first"):
        ar.manual_seed(0)
        model = TransformerClassifier(ClassifierConfig(vocab_size=4, n_classes=4, block_size=16, n_layer=2,
                                                       n_head=4, n_embd=32 if args.quick else 64,
                                                       pooling=pooling))  # fmt: skip
        opt = ar.optim.AdamW(model.parameters(), lr=2e-3, weight_decay=0.01)
        rng = np.random.default_rng(0)  # the same training batches for every pooling
        curve = curves[pooling] = accuracy_curve(model, opt, batch, rng, args.steps, test)
        print(f"pooling={pooling:>5}: test accuracy {curve[-1][1]:.3f} after {args.steps} steps")

    fig, ax = plt.subplots(figsize=(6, 4))
    for pooling, curve in curves.items():
        ax.plot(*zip(*curve), "o-", ms=3, label=pooling)
    ax.axhline(0.25, color="gray", ls=":", lw=0.8, label="chance")
    ax.set_xlabel("step")
    ax.set_ylabel("test accuracy")
    ax.set_title("seq2label: most frequent of 4 symbols", fontsize=10)
    ax.legend()
    save(fig, out, "classifier_pooling.png")


if __name__ == "__main__":
    main()
