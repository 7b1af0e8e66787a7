"""Encoder–decoder attention as a picture (the "visualizing NMT" heat map).

A ``Seq2SeqTransformer`` learns to reverse a digit string: the non-causal
encoder reads the source, the causal decoder writes the output one token at a
time (trained with teacher forcing) and, in every layer, cross-attends to the
encoder's states. Drawing the last layer's cross-attention weights (output
tokens down, source tokens across) shows what each output token looked at:
for reversal, an anti-diagonal — output i reads source position n-1-i.

Writes attention_map.png.

    python examples/attention_maps.py [--quick] [--steps N] [--out DIR]
"""

from __future__ import annotations

import numpy as np
from _common import optimizer_step, parse_args, plt, save

import attnrs as ar
from attnrs import data
from attnrs.models import Seq2SeqConfig, Seq2SeqTransformer


def cross_attention(model: Seq2SeqTransformer, src: np.ndarray, tgt_in: np.ndarray) -> np.ndarray:
    """The last decoder layer's cross-attention weights, averaged over heads: (B, T, S)."""
    with ar.no_grad():
        memory, pad = model.encode(src)  # (B, S, C), (B, S)
        y = model.pos(model.tgt_embed(tgt_in))  # (B, T, C)
        for block in model.decoder[:-1]:
            y = block(y, memory=memory, memory_key_padding_mask=pad)
        last = model.decoder[-1]  # redo its first two branches, asking for the weights
        h = last.norm1(y)
        a, _ = last.self_attn(h, h, h, is_causal=True)
        y = y + a
        h = last.norm_cross(y)
        _, w = last.cross_attn(h, memory, memory, key_padding_mask=pad, need_weights=True)
    return np.asarray(w.numpy() if isinstance(w, ar.Tensor) else w)


def main() -> None:
    args, out = parse_args(__doc__, steps=(500, 20))
    ar.manual_seed(0)
    steps = args.steps
    lo, hi = 6, 10

    model = Seq2SeqTransformer(Seq2SeqConfig(vocab_size=data.N_SPECIAL + 11, block_size=hi + 2, n_layer=2,
                                             n_head=4, n_embd=32 if args.quick else 64))  # fmt: skip
    opt = ar.optim.AdamW(model.parameters(), lr=2e-3, betas=(0.9, 0.98), weight_decay=0.01)
    rng = np.random.default_rng(0)
    for step in range(1, steps + 1):
        d = data.make_seq2seq_task("reverse", 64, rng, lo, hi)  # src (64, S), tgt BOS … EOS (64, T)
        for g in opt.param_groups:
            g["lr"] = 2e-3 * min(1.0, step / 50)
        _, loss = model(d.src, d.tgt_in, targets=d.tgt_out)  # teacher forcing
        optimizer_step(opt, loss, clip=1.0)
        if step % max(steps // 5, 1) == 0:
            print(f"step {step}: loss {loss.item():.3f}")

    test = data.make_seq2seq_task("reverse", 200, np.random.default_rng(1), lo, hi)
    pred = model.greedy_decode(test.src)
    print(f"exact match on 200 new strings: {data.exact_match(pred, test.tgt):.0%}")

    # One example: the source, the model's own output, and where each output token looked.
    src = test.src[:1]
    n = int((src[0] != data.PAD).sum())
    out_ids = [data.BOS] + data.strip_special(pred[0]) + [data.EOS]
    w = cross_attention(model, src[:, :n], np.array([out_ids[:-1]]))[0]  # (T, n)
    digits = lambda ids: [str(int(i) - data.N_SPECIAL) if i >= data.N_SPECIAL else "·" for i in ids]
    fig, ax = plt.subplots(figsize=(5, 5))
    ax.imshow(w, cmap="viridis", vmin=0, vmax=max(float(w.max()), 1e-6))
    ax.set_xticks(range(n), digits(src[0, :n]))
    ax.set_yticks(range(len(out_ids) - 1), digits(out_ids[1:]))
    ax.set_xlabel("source token (encoder)")
    ax.set_ylabel("output token (decoder)")
    ax.set_title("cross-attention, last decoder layer (mean of heads)", fontsize=10)
    save(fig, out, "attention_map.png")


if __name__ == "__main__":
    main()
