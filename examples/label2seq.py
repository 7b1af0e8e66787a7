"""label2seq: one label in, a whole sequence out.

A ``ConditionalRNN`` turns the label into the recurrent net's initial hidden
state (an embedding followed by tanh(Linear)), then generates tokens one at a
time from BOS, each fed back as the next input. Training uses teacher forcing:
the net reads the true sequence ``BOS s_1 … s_{n-1}`` and predicts
``s_1 … s_n`` in one pass.

The task (``data.make_label2seq_task``): each of 10 classes stands for a fixed
random string of 12 digits; the model must memorise the mapping and replay it.

Writes label2seq.png: the generated digits for every label (rows), wrong ones marked.

    python examples/label2seq.py [--quick] [--steps N] [--out DIR]
"""

from __future__ import annotations

import numpy as np
from _common import optimizer_step, parse_args, plt, save

import attnrs as ar
from attnrs import data
from attnrs.models import ConditionalRNN, ConditionalRNNConfig


def main() -> None:
    args, out = parse_args(__doc__, steps=(300, 20))
    ar.manual_seed(0)
    steps = args.steps
    n_classes, length = 10, 12

    model = ConditionalRNN(ConditionalRNNConfig(n_classes=n_classes, vocab_size=data.N_SPECIAL + 11, cell="gru",
                                                hidden=32 if args.quick else 128))  # fmt: skip
    opt = ar.optim.AdamW(model.parameters(), lr=3e-3, weight_decay=0.0)
    rng = np.random.default_rng(0)
    for step in range(1, steps + 1):
        labels, seqs, table = data.make_label2seq_task(32, rng, n_classes=n_classes, length=length)
        # teacher forcing: read BOS s_1 … s_{n-1}, predict s_1 … s_n
        _, loss = model(labels, seqs[:, :-1], targets=seqs[:, 1:])
        optimizer_step(opt, loss, clip=1.0)
        if step % max(steps // 5, 1) == 0:
            print(f"step {step}: loss {loss.item():.3f}")

    labels = np.arange(n_classes)
    gen = model.generate(labels, length)  # (10, 12), greedy
    correct = gen == table
    print(f"digits right: {correct.mean():.1%}; sequences fully right: {correct.all(axis=1).mean():.0%}")
    for k in range(3):
        print(f"label {k}: wanted {''.join(str(d - data.N_SPECIAL) for d in table[k])}, "
              f"got {''.join(str(d - data.N_SPECIAL) for d in gen[k])}")  # fmt: skip

    fig, ax = plt.subplots(figsize=(6, 4.5))
    ax.imshow(correct, cmap="RdYlGn", vmin=0, vmax=1, aspect="auto")
    for i in range(n_classes):
        for j in range(length):
            ax.text(j, i, str(int(gen[i, j]) - data.N_SPECIAL), ha="center", va="center", fontsize=8)
    ax.set_xlabel("generated position")
    ax.set_ylabel("label")
    ax.set_yticks(range(n_classes))
    ax.set_title("label → sequence (green: right digit, red: wrong)", fontsize=10)
    save(fig, out, "label2seq.png")


if __name__ == "__main__":
    main()
