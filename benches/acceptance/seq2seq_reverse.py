"""Acceptance: Seq2SeqTransformer reverses held-out random digit strings of
length 10–20 with >= 99 % exact match (greedy decoding; beam 4 also reported).

Every training batch is freshly drawn; the 1000 test strings come from another
seed, so they are (with overwhelming probability) never seen in training.

    .venv/bin/python benches/acceptance/seq2seq_reverse.py [--steps 1500]
"""

from __future__ import annotations

import numpy as np
from _common import Timer, parser, report, setup

from attnrs import data
from attnrs.models import RNNSeq2Seq, RNNSeq2SeqConfig, Seq2SeqConfig, Seq2SeqTransformer
from attnrs.train import TrainConfig, Trainer


def evaluate(model, test: data.Seq2SeqData, beam: int = 1, chunk: int = 200) -> float:
    preds = []
    for i in range(0, len(test.src), chunk):
        src = test.src[i : i + chunk]
        if beam == 1:
            preds += list(model.greedy_decode(src, max_len=test.tgt.shape[1]))
        else:
            preds += list(model.beam_decode(src, beam_size=beam, max_len=test.tgt.shape[1]))
    return data.exact_match(preds, test.tgt)


def main() -> None:
    p = parser(__doc__, steps=1500)
    p.add_argument("--task", default="reverse", choices=data.SEQ2SEQ_TASKS)
    p.add_argument("--model", default="transformer", choices=("transformer", "rnn"))
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--load", help="evaluate this checkpoint instead of training")
    args = p.parse_args()
    setup(args)

    def get_batch(split, rng):
        d = data.make_seq2seq_task(args.task, args.batch_size, rng, 10, 20)
        return (d.src, d.tgt_in), d.tgt_out

    if args.model == "transformer":
        model = Seq2SeqTransformer(Seq2SeqConfig(vocab_size=14, block_size=24, n_layer=2, n_head=4, n_embd=64))
    else:
        model = RNNSeq2Seq(RNNSeq2SeqConfig(vocab_size=14, n_embd=32, hidden=128, max_len=24))
    tcfg = TrainConfig(steps=args.steps, lr=2e-3, min_lr=1e-4, warmup=100, beta2=0.98, weight_decay=0.01,
                       eval_interval=250, eval_iters=4, seed=args.seed,
                       progress=not args.no_progress)  # fmt: skip
    trainer = Trainer(model, tcfg, get_batch, out_dir=args.out)
    with Timer() as wall:
        if args.load:
            trainer.load_checkpoint(args.load)
        trainer.run()
    test = data.make_seq2seq_task(args.task, 1000, np.random.default_rng(2024), 10, 20)
    greedy = evaluate(model, test)
    beam = evaluate(model, test, beam=4) if args.model == "transformer" else None
    if args.model == "rnn" and args.out:
        from attnrs.train import save_attention_map

        src, tgt = test.src[:1], test.tgt[:1]
        n, m = len(data.strip_special(src[0])), len(data.strip_special(tgt[0])) + 1
        w = model.attention_weights(src, tgt[:, :-1])[0, :m, :n]  # (target steps, source)
        digits = [str(t - data.N_SPECIAL) for t in src[0, :n]]
        save_attention_map(w, f"{args.out}/attention.png", digits, [*digits[::-1], "EOS"][:m],
                           title="RNNSeq2Seq reversal: attention over the source")  # fmt: skip
    report(args, f"seq2seq_{args.model}_{args.task}", {
        "steps": args.steps, "batch_size": args.batch_size, "params": model.num_parameters(),
        "final_val_loss": trainer.evaluate(),
        "exact_match_greedy": greedy, "exact_match_beam4": beam, "target": 0.99,
        "passed": greedy >= 0.99, "wall_s": wall.s,
    })  # fmt: skip


if __name__ == "__main__":
    main()
