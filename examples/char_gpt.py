"""A character-level GPT: causal self-attention trained to predict the next character.

The model sees a window of characters and, at every position, predicts the
one that follows; the causal mask stops position t from peeking at t+1.
After a short training run it samples new text one character at a time with
its KV cache. Data: ``--data FILE`` (e.g. tinyshakespeare) or the built-in
corpus (Python's own help text, no download).

Writes gpt_loss.png (train and validation loss).

    python examples/char_gpt.py [--quick] [--data FILE] [--steps N] [--out DIR]
"""

from __future__ import annotations

import numpy as np
from _common import parse_args

import attnrs as ar
from attnrs import data
from attnrs.models import GPT, GPTConfig
from attnrs.train import TrainConfig, Trainer, plot_histories


def main() -> None:
    data_arg = lambda p: p.add_argument("--data", help="a UTF-8 text file (default: the built-in corpus)")
    args, out = parse_args(__doc__, steps=(300, 20), more=data_arg)
    ar.manual_seed(0)

    # 1. Text → integer ids, one per distinct character; 90 % train, 10 % validation.
    text = data.load_text(args.data)
    tok = data.CharTokenizer.from_text(text)
    train_ids, val_ids = data.train_val_split(tok.encode(text))

    # 2. The model: token + position embeddings, causal Transformer blocks, a head.
    width, layers, block = (32, 1, 32) if args.quick else (96, 2, 64)
    steps = args.steps
    model = GPT(GPTConfig(vocab_size=tok.vocab_size, block_size=block, n_layer=layers, n_head=4, n_embd=width))
    print(f"GPT: {model.num_parameters():,} parameters, vocabulary of {tok.vocab_size} characters")

    # 3. Batches: random windows x and the same windows shifted by one character, y.
    get_batch = data.lm_batches(train_ids, val_ids, 16, block)  # (split, rng) -> ((x,), y)

    # 4. The Trainer owns the loop: AdamW, warm-up + cosine schedule, clipping, evaluation.
    cfg = TrainConfig(steps=steps, lr=3e-3, min_lr=3e-4, warmup=min(30, steps // 5), eval_interval=max(steps // 5, 1),
                      eval_iters=4, progress=False, checkpoint=False)  # fmt: skip
    history = Trainer(model, cfg, get_batch).run()
    first, last = history[0], history[-1]
    print(f"loss {first['train_loss']:.3f} -> {last['train_loss']:.3f} (val {last['val_loss']:.3f}); "
          f"uniform guessing would be {np.log(tok.vocab_size):.3f}")  # fmt: skip

    # 5. Sample: feed a prompt, then one sampled character at a time (KV cache).
    prompt = tok.encode("The ")
    sample = model.generate(prompt[None, :], 80 if args.quick else 300, temperature=0.8,
                            rng=np.random.default_rng(0))  # fmt: skip
    print("--- sample ---")
    print(tok.decode(sample[0]))

    path = out / "gpt_loss.png"
    plot_histories({"": history}, path)
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
