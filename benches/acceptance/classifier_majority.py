"""Acceptance: TransformerClassifier >= 99 % accuracy on a seq2label task
(the most frequent of 4 symbols in a length-16 sequence), with mean pooling
and with a learned first "global" token.

    .venv/bin/python benches/acceptance/classifier_majority.py [--steps 600] [--pooling mean first]
"""

from __future__ import annotations

import numpy as np
from _common import Timer, parser, report, setup

from attnrs import data
from attnrs.models import ClassifierConfig, TransformerClassifier
from attnrs.train import TrainConfig, Trainer


def main() -> None:
    p = parser(__doc__, steps=600)
    p.add_argument("--pooling", nargs="+", default=["mean", "first"])
    p.add_argument("--batch-size", type=int, default=64)
    args = p.parse_args()

    def get_batch(split, rng):
        x, y = data.make_majority_task(args.batch_size, rng, n_classes=4, length=16)
        return (x,), y

    x_test, y_test = data.make_majority_task(2000, np.random.default_rng(2024), n_classes=4, length=16)
    for pooling in args.pooling:
        setup(args)
        model = TransformerClassifier(ClassifierConfig(vocab_size=4, n_classes=4, block_size=16, n_layer=2,
                                                       n_head=4, n_embd=64, pooling=pooling))  # fmt: skip
        tcfg = TrainConfig(steps=args.steps, lr=2e-3, min_lr=1e-4, warmup=50, beta2=0.98, weight_decay=0.01,
                           eval_interval=200, eval_iters=4, seed=args.seed,
                           progress=not args.no_progress)  # fmt: skip
        with Timer() as wall:
            Trainer(model, tcfg, get_batch).run()
        acc = float((model.predict(x_test) == y_test).mean())
        report(args, f"classifier_{pooling}", {
            "pooling": pooling, "steps": args.steps, "accuracy": acc, "target": 0.99,
            "passed": acc >= 0.99, "wall_s": wall.s,
        })  # fmt: skip


if __name__ == "__main__":
    main()
