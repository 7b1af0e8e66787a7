"""Acceptance: GPT with nanoGPT's CPU configuration on tinyshakespeare.

block 64, batch 12, 4 layers, 4 heads, n_embd 128, dropout 0, AdamW lr 1e-3,
100 warm-up steps, cosine decay to 1e-4 over 2000 iterations, beta2 0.99,
weight decay 0.1, clipping 1.0, 20 validation batches (nanoGPT's README run).
Target: validation loss <= 1.88. Also reports ms/iteration and KV-cache
generation tokens/s (batch 1, 1-token prompt, 200 new tokens).

    .venv/bin/python benches/acceptance/gpt_shakespeare.py [--steps 2000] [--data PATH]
"""

from __future__ import annotations

import statistics
import time

import numpy as np
from _common import SHAKESPEARE, Timer, parser, report, setup

from attnrs import data
from attnrs.models import GPT, GPTConfig
from attnrs.train import Callback, TrainConfig, Trainer


class StepTimes(Callback):
    def __init__(self) -> None:
        self.times: list[float] = []
        self.t = None

    def on_train_start(self, trainer) -> None:
        self.t = time.perf_counter()

    def on_step_end(self, trainer, record) -> None:
        now = time.perf_counter()
        if "val_loss" not in record:  # evaluation time is not an iteration
            self.times.append(now - self.t)
        self.t = now


def generation_tokens_per_s(model: GPT, n: int = 200, repeats: int = 5) -> float:
    prompt = np.zeros((1, 1), dtype=np.int64)
    model.generate(prompt, 20)  # warm-up
    times = []
    for r in range(repeats):
        t0 = time.perf_counter()
        model.generate(prompt, n, rng=np.random.default_rng(r))
        times.append(time.perf_counter() - t0)
    return n / statistics.median(times)


def main() -> None:
    p = parser(__doc__, steps=2000)
    p.add_argument("--data", default=str(SHAKESPEARE))
    p.add_argument("--tie-weights", action="store_true")
    p.add_argument("--final-eval-iters", type=int, default=200,
                   help="validation batches of the final, lower-noise estimate")
    args = p.parse_args()
    setup(args)
    text = data.load_text(args.data)
    tok = data.CharTokenizer.from_text(text)
    train_ids, val_ids = data.train_val_split(tok.encode(text))

    get_batch = data.lm_batches(train_ids, val_ids, 12, 64)

    cfg = GPTConfig(vocab_size=tok.vocab_size, block_size=64, n_layer=4, n_head=4, n_embd=128,
                    dropout=0.0, tie_weights=args.tie_weights)  # fmt: skip
    model = GPT(cfg)
    tcfg = TrainConfig(steps=args.steps, lr=1e-3, min_lr=1e-4, warmup=100, beta2=0.99,
                       eval_interval=250, eval_iters=20, seed=args.seed,
                       progress=not args.no_progress)  # fmt: skip
    timer = StepTimes()
    trainer = Trainer(model, tcfg, get_batch, out_dir=args.out, callbacks=[timer])
    with Timer() as wall:
        hist = trainer.run()
    val = [r["val_loss"] for r in hist if "val_loss" in r]
    trainer.config.eval_iters = args.final_eval_iters
    val_precise = trainer.evaluate()
    ms = 1e3 * statistics.median(timer.times[10:] or timer.times)
    report(args, "gpt_shakespeare", {
        "vocab": tok.vocab_size, "params": model.num_parameters(), "steps": trainer.step,
        "final_val_loss": val[-1], "best_val_loss": min(val), "target_val_loss": 1.88,
        "passed": val[-1] <= 1.88, f"val_loss_{args.final_eval_iters}_batches": val_precise,
        "tie_weights": args.tie_weights, "wall_s": wall.s, "median_ms_per_iter": ms,
        "iters_per_s": 1e3 / ms, "train_tokens_per_s": 12 * 64 * 1e3 / ms,
        "kv_cache_generate_tokens_per_s": generation_tokens_per_s(model),
    })  # fmt: skip
    print(tok.decode(model.generate(tok.encode("\n")[None, :], 300, temperature=0.8)[0]))


if __name__ == "__main__":
    main()
