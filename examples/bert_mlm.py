"""BERT: pretrain a masked language model, then fine-tune it as a classifier.

1. Pretraining needs no labels: hide ~15 % of the characters of a text
   window (of those, 80 % become [MASK], 10 % a random character, 10 % stay)
   and train a non-causal Transformer encoder to recover them from both sides.
2. Fine-tuning: copy the pretrained encoder into a ``TransformerClassifier``
   (``classifier_from_bert``) and train it on a small labelled seq2label task;
   train the same classifier from random weights on the same batches and
   compare. The task: was a text window left intact, or were a few of its
   characters replaced by others drawn from the corpus? Knowing how English
   is spelled (what pretraining taught) is exactly what it needs.

Writes bert_mlm.png: masked-token accuracy during pretraining, and the two
fine-tuning curves.

    python examples/bert_mlm.py [--quick] [--steps N] [--ft-steps N] [--out DIR]
"""

from __future__ import annotations

import numpy as np
from _common import accuracy_curve, parse_args, plt, save

import attnrs as ar
from attnrs import data
from attnrs.models import (
    BERT,
    BERTConfig,
    ClassifierConfig,
    TransformerClassifier,
    classifier_from_bert,
)
from attnrs.train import TrainConfig, Trainer


def main() -> None:
    ft_arg = lambda p: p.add_argument("--ft-steps", type=int, help="fine-tuning steps (default 150, --quick 10)")
    args, out = parse_args(__doc__, steps=(500, 15), what="pretraining steps", more=ft_arg)
    ar.manual_seed(0)
    steps = args.steps
    ft_steps = args.ft_steps or (10 if args.quick else 150)
    width, T = (32, 32) if args.quick else (128, 32)

    # The vocabulary: the corpus's characters after [PAD] [MASK] [CLS] [SEP].
    text = data.builtin_corpus()
    tok = data.MLMTokenizer(data.CharTokenizer.from_text(text))
    train_ids, val_ids = data.train_val_split(tok.encode(text))
    V = tok.vocab_size
    x, y = data.get_mlm_batch(val_ids, 1, T, np.random.default_rng(0), V)
    print("a masked window:", tok.decode(x[0]).replace("\n", "⏎"))

    # --- 1. masked-LM pretraining (loss and accuracy only on the masked positions) ---
    bert = BERT(BERTConfig(vocab_size=V, block_size=T, n_layer=2, n_head=4, n_embd=width))

    def get_batch(split, rng):
        x, y = data.get_mlm_batch(train_ids if split == "train" else val_ids, 32, T, rng, V)
        return (x,), y  # y: the original ids where masked, -100 elsewhere

    cfg = TrainConfig(steps=steps, lr=1e-3, min_lr=1e-4, warmup=min(50, steps // 5), weight_decay=0.01,
                      eval_interval=max(steps // 5, 1), eval_iters=4, progress=False, checkpoint=False)  # fmt: skip
    metric = lambda logits, t: {"masked_acc": BERT.masked_accuracy(logits, t)}
    hist = Trainer(bert, cfg, get_batch, metric_fn=metric).run()
    most_frequent = np.bincount(train_ids, minlength=V).argmax()
    print(f"pretrained {steps} steps: val masked-token accuracy {hist[-1]['val_masked_acc']:.1%} "
          f"(always guessing {tok.decode([most_frequent])!r}: {(val_ids == most_frequent).mean():.1%})")  # fmt: skip
    bert.eval()
    with ar.no_grad():
        logits, _ = bert(x)
    filled = np.where(y != data.MLM_IGNORE, logits.numpy().argmax(-1), x)
    print("model's guesses:", tok.decode(filled[0]).replace("\n", "⏎"))

    # --- 2. fine-tune from the pretrained encoder vs from scratch --------------------
    L, k = T, 8  # a quarter of the characters replaced (the acceptance script uses 16 of 64)
    test = data.make_corruption_task(val_ids, 512, L, k, np.random.default_rng(1))  # (x, y)
    batch = lambda rng: data.make_corruption_task(train_ids, 32, L, k, rng)
    curves = {}
    for name in ("pretrained", "scratch"):
        ar.manual_seed(0)
        if name == "pretrained":
            clf = classifier_from_bert(bert, n_classes=2, pooling="mean")
        else:
            clf = TransformerClassifier(ClassifierConfig(vocab_size=V, n_classes=2, block_size=T, n_layer=2,
                                                         n_head=4, n_embd=width))  # fmt: skip
        opt = ar.optim.AdamW(clf.parameters(), lr=5e-4, weight_decay=0.01)
        rng = np.random.default_rng(2)  # the same labelled batches for both
        curve = curves[name] = accuracy_curve(clf, opt, batch, rng, ft_steps, test)
        print(f"fine-tuned from {name:>10}: test accuracy {curve[-1][1]:.1%} after {ft_steps} steps")

    fig, (a1, a2) = plt.subplots(1, 2, figsize=(10, 4))
    tr = [r for r in hist if "masked_acc" in r]
    a1.plot([r["step"] for r in tr], [r["masked_acc"] for r in tr], lw=0.6, alpha=0.6, label="train batch")
    ev = [r for r in hist if "val_masked_acc" in r]
    a1.plot([r["step"] for r in ev], [r["val_masked_acc"] for r in ev], "o-", label="validation")
    a1.axhline((val_ids == most_frequent).mean(), color="gray", ls=":", label="most frequent character")
    a1.set_xlabel("pretraining step")
    a1.set_ylabel("masked-token accuracy")
    a1.legend(fontsize=8)
    for name, curve in curves.items():
        a2.plot(*zip(*curve), "o-", ms=3, label=f"from {name}")
    a2.axhline(0.5, color="gray", ls=":", label="chance")
    a2.set_xlabel("fine-tuning step")
    a2.set_ylabel("test accuracy (intact vs corrupted)")
    a2.legend(fontsize=8)
    save(fig, out, "bert_mlm.png")


if __name__ == "__main__":
    main()
