"""A TCN: stacked causal dilated convolutions, their receptive field, and streaming generation.

Each block convolves with kernel size K at dilation 1, 2, 4, …; the output at
time t depends on exactly ``1 + (K-1)·(2^L - 1)`` past inputs — the receptive
field grows exponentially with depth while the cost grows linearly. This
script

1. measures the receptive field with autograd: the gradient of the last output
   with respect to every input step is non-zero exactly inside the field;
2. trains a small TCN language model on the built-in corpus;
3. generates by streaming (each convolution keeps a ring buffer of its past
   inputs, so one new character costs one column per layer) and checks that
   the streamed logits equal a full forward pass over the same text.

Writes tcn_receptive_field.png.

    python examples/tcn_streaming.py [--quick] [--out DIR]
"""

from __future__ import annotations

import time

import numpy as np
from _common import parse_args, plt, save

import attnrs as ar
from attnrs import data
from attnrs.models import TCN, TCNConfig
from attnrs.train import TrainConfig, Trainer


def main() -> None:
    args, out = parse_args(__doc__)
    ar.manual_seed(0)

    text = data.builtin_corpus()
    tok = data.CharTokenizer.from_text(text)
    train_ids, val_ids = data.train_val_split(tok.encode(text))
    layers, width, steps = (4, 32, 20) if args.quick else (5, 64, 400)
    cfg = TCNConfig(vocab_size=tok.vocab_size, block_size=64, n_layer=layers, n_embd=width, kernel_size=2)
    model = TCN(cfg)
    print(f"TCN: {layers} blocks, kernel 2, dilations {[2**i for i in range(layers)]}: "
          f"receptive field {cfg.receptive_field} steps")  # fmt: skip

    # 1. Receptive field, measured: d(output at the last step) / d(input at every step).
    T = 64
    x = ar.tensor(np.random.default_rng(0).normal(size=(1, width, T)).astype(np.float32), requires_grad=True)
    _, skip = model.stack(x)  # (1, C, T)
    skip[:, :, T - 1].sum().backward()
    influence = np.abs(x.grad.numpy()[0]).sum(axis=0)  # (T,)
    reach = T - int(np.flatnonzero(influence > 0)[0])
    print(f"measured: the last output depends on the last {reach} inputs (formula: {cfg.receptive_field})")

    # 2. Train a character LM.
    get_batch = data.lm_batches(train_ids, val_ids, 16, 64)  # (split, rng) -> ((x,), y)
    tcfg = TrainConfig(steps=steps, lr=3e-3, min_lr=3e-4, warmup=min(30, steps // 5), eval_interval=steps,
                       eval_iters=4, progress=False, checkpoint=False)  # fmt: skip
    hist = Trainer(model, tcfg, get_batch).run()
    print(f"trained {steps} steps: loss {hist[0]['train_loss']:.3f} -> {hist[-1]['train_loss']:.3f}")

    # 3. Streaming generation, and a check that streaming equals the full convolution.
    prompt = tok.encode("The ")
    n_new = 60 if args.quick else 300
    t0 = time.perf_counter()
    sample = model.generate(prompt[None, :], n_new, temperature=0.8, rng=np.random.default_rng(0))
    dt = time.perf_counter() - t0
    print(f"--- streamed sample ({n_new / dt:,.0f} characters/s) ---")
    print(tok.decode(sample[0]))
    model.eval()
    with ar.no_grad():
        full, _ = model(sample[:, :-1])  # (1, T, V): every position at once
        state = ar.nn.StreamingState()  # the ring buffers of every convolution
        streamed = []
        for t in range(sample.shape[1] - 1):  # one column per layer per character
            _, skip = model.stack.stream_step(model.embed(sample[:, t]), state)  # (1, C)
            streamed.append(model.head(ar.nn.functional.relu(skip)).numpy()[0])  # (V,)
        streamed = np.stack(streamed)
    print(f"streamed vs full forward logits: max |diff| = {np.abs(streamed - full.numpy()[0]).max():.2e}")

    fig, ax = plt.subplots(figsize=(7, 3))
    ax.bar(np.arange(T) - (T - 1), influence, width=0.8)
    ax.axvline(-(cfg.receptive_field - 1) - 0.5, color="C3", ls="--", label=f"receptive field = {cfg.receptive_field}")
    ax.set_xlabel("input step relative to the output step")
    ax.set_ylabel("|∂ output / ∂ input|")
    ax.set_title("what the last output of a causal dilated TCN can see", fontsize=10)
    ax.legend()
    save(fig, out, "tcn_receptive_field.png")


if __name__ == "__main__":
    main()
