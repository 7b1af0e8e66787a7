"""Acceptance: ConditionalRNN >= 99 % exact match on label2seq (class k → a
fixed 12-digit sequence determined by k, 10 classes), greedy decoding.

    .venv/bin/python benches/acceptance/conditional_rnn_label2seq.py [--steps 400] [--cell gru]
"""

from __future__ import annotations

import numpy as np
from _common import Timer, parser, report, setup

from attnrs import data
from attnrs.models import ConditionalRNN, ConditionalRNNConfig
from attnrs.train import TrainConfig, Trainer


def main() -> None:
    p = parser(__doc__, steps=400)
    p.add_argument("--cell", default="gru", choices=("rnn", "lstm", "gru"))
    p.add_argument("--classes", type=int, default=10)
    p.add_argument("--length", type=int, default=12)
    args = p.parse_args()
    setup(args)

    def get_batch(split, rng):
        labels, seqs, _ = data.make_label2seq_task(32, rng, n_classes=args.classes, length=args.length)
        return (labels, seqs[:, :-1]), seqs[:, 1:]

    model = ConditionalRNN(ConditionalRNNConfig(n_classes=args.classes, vocab_size=data.N_SPECIAL + 10,
                                                cell=args.cell, n_embd=32, hidden=64))  # fmt: skip
    tcfg = TrainConfig(steps=args.steps, lr=5e-3, min_lr=1e-4, warmup=20, weight_decay=0.0,
                       eval_interval=100, eval_iters=2, seed=args.seed, progress=not args.no_progress)
    with Timer() as wall:
        Trainer(model, tcfg, get_batch).run()
    labels, seqs, _ = data.make_label2seq_task(1000, np.random.default_rng(2024), n_classes=args.classes,
                                               length=args.length)  # fmt: skip
    pred = model.generate(labels, args.length)
    acc = float((pred == seqs[:, 1:]).all(axis=1).mean())
    report(args, f"conditional_rnn_{args.cell}", {
        "steps": args.steps, "exact_match": acc, "target": 0.99, "passed": acc >= 0.99, "wall_s": wall.s,
    })  # fmt: skip


if __name__ == "__main__":
    main()
