"""Acceptance: CharRNN (LSTM) and TCN on tinyshakespeare — validation loss after
a fixed budget (same data split, batch 32, block 64, AdamW with warm-up and
cosine decay), with ms/iteration.

    .venv/bin/python benches/acceptance/lm_shakespeare.py --model char-rnn [--steps 600]
    .venv/bin/python benches/acceptance/lm_shakespeare.py --model tcn [--steps 600]
"""

from __future__ import annotations

from _common import SHAKESPEARE, Timer, parser, report, setup

from attnrs import data
from attnrs.models import TCN, CharRNN, CharRNNConfig, TCNConfig
from attnrs.train import TrainConfig, Trainer


def main() -> None:
    p = parser(__doc__, steps=600)
    p.add_argument("--model", default="char-rnn", choices=("char-rnn", "tcn"))
    p.add_argument("--data", default=str(SHAKESPEARE))
    p.add_argument("--batch-size", type=int, default=32)
    args = p.parse_args()
    setup(args)
    text = data.load_text(args.data)
    tok = data.CharTokenizer.from_text(text)
    train_ids, val_ids = data.train_val_split(tok.encode(text))

    get_batch = data.lm_batches(train_ids, val_ids, args.batch_size, 64)

    if args.model == "char-rnn":
        model = CharRNN(CharRNNConfig(vocab_size=tok.vocab_size, block_size=64, cell="lstm", n_layer=2, n_embd=256))
        lr = 3e-3
    else:
        model = TCN(TCNConfig(vocab_size=tok.vocab_size, block_size=64, n_layer=5, n_embd=128, kernel_size=3))
        lr = 2e-3
    tcfg = TrainConfig(steps=args.steps, lr=lr, min_lr=lr / 10, warmup=50, beta2=0.99, eval_interval=250,
                       eval_iters=20, seed=args.seed, progress=not args.no_progress)  # fmt: skip
    with Timer() as wall:
        hist = Trainer(model, tcfg, get_batch, out_dir=args.out).run()
    val = [r["val_loss"] for r in hist if "val_loss" in r]
    report(args, f"{args.model}_shakespeare", {
        "params": model.num_parameters(), "steps": args.steps, "batch_size": args.batch_size,
        "final_val_loss": val[-1], "wall_s": wall.s, "ms_per_iter": 1e3 * wall.s / args.steps,
    })  # fmt: skip
    print(tok.decode(model.generate(tok.encode("\n")[None, :], 300, temperature=0.8)[0]))


if __name__ == "__main__":
    main()
