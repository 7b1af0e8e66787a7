"""Acceptance: BERT masked-LM pretraining on the built-in corpus, then fine-tuning.

1. Pretrain ``models.BERT`` (char level, 4 layers, 128 wide, block 128, batch 32)
   for ``--steps`` steps with BERT's masking rule; measure masked-token accuracy on
   held-out windows against predicting the most frequent character (target: >= 45 %
   where the baseline is < 20 %).
2. Fine-tune a seq2label task from the pretrained encoder and from scratch (same
   classifier, same data, same optimizer settings) and record test accuracy every
   ``--ft-eval`` steps; report the steps each needs to reach ``--ft-target``.
   The task: is a 64-character window of the held-out text intact, or were
   ``--corrupt`` of its characters replaced by characters drawn from the corpus's
   own character frequencies? (Spelling knowledge helps; single characters do not
   give it away.)

    .venv/bin/python benches/acceptance/bert_mlm.py [--steps 1500] [--ft-steps 300] \\
        [--short-steps 300 --short-block 16] [--out runs/acceptance_bert] [--json results.jsonl]

``--short-steps/--short-block`` is BERT's sequence-length schedule (short windows
first); results of both variants are in benches/RESULTS.md.

Writes OUT/log.jsonl, OUT/loss.png (pretraining) and OUT/finetune.png (both curves).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from _common import Timer, parser, report, setup

import attnrs as ar
from attnrs import data
from attnrs.models import (
    BERT,
    BERTConfig,
    ClassifierConfig,
    TransformerClassifier,
    classifier_from_bert,
)
from attnrs.train import LossCurvePlot, TrainConfig, Trainer


def corruption_task(ids: np.ndarray, n: int, length: int, k: int, rng: np.random.Generator):
    """(x, y): windows of ``ids``; y = 1 where ``k`` characters were replaced by
    characters drawn from the text's unigram distribution (never the same one)."""
    starts = rng.integers(0, len(ids) - length, size=n)
    x = ids[starts[:, None] + np.arange(length)[None, :]].copy()  # (n, length)
    y = rng.integers(0, 2, size=n).astype(np.int64)
    for i in np.flatnonzero(y):
        for pos in rng.choice(length, size=k, replace=False):
            new = x[i, pos]
            while new == x[i, pos]:
                new = ids[rng.integers(0, len(ids))]
            x[i, pos] = new
    return x, y


def accuracy(model: TransformerClassifier, x: np.ndarray, y: np.ndarray) -> float:
    return float(np.mean([(model.predict(x[i : i + 256]) == y[i : i + 256]).mean()
                          for i in range(0, len(x), 256)]))  # fmt: skip


def main() -> None:
    p = parser(__doc__, steps=1500)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--ft-steps", type=int, default=300)
    p.add_argument("--ft-eval", type=int, default=20)
    p.add_argument("--ft-target", type=float, default=0.80)
    p.add_argument("--ft-lr", type=float, default=5e-4)
    p.add_argument("--corrupt", type=int, default=16)
    p.add_argument("--val-batches", type=int, default=50)
    p.add_argument("--short-steps", type=int, default=0,
                   help="BERT's sequence-length schedule: the first N steps on shorter windows")
    p.add_argument("--short-block", type=int, default=32, help="window length of those first steps")
    p.add_argument("--pretrained", help="load this BERT (bert.safetensors of an earlier run) instead of pretraining")
    args = p.parse_args()
    out = Path(args.out or "runs/acceptance_bert")
    out.mkdir(parents=True, exist_ok=True)
    setup(args)

    text = data.builtin_corpus()
    tok = data.MLMTokenizer(data.CharTokenizer.from_text(text))
    ids = tok.encode(text)
    train_ids, val_ids = data.train_val_split(ids)
    V, bs, block = tok.vocab_size, args.batch_size, 128

    # --- 1. pretraining ---------------------------------------------------------------
    def get_batch(split, rng):
        # Optionally BERT's own recipe: short sequences first (positions 0..short_block-1),
        # then full-length windows; evaluation always uses full windows.
        T = args.short_block if split == "train" and trainer.step < args.short_steps else block
        x, y = data.get_mlm_batch(train_ids if split == "train" else val_ids, bs, T, rng, V)
        return (x,), y

    model = BERT(BERTConfig(vocab_size=V, block_size=block, n_layer=4, n_head=4, n_embd=128))
    tcfg = TrainConfig(steps=args.steps, lr=1e-3, min_lr=1e-4, warmup=100, beta2=0.99,
                       weight_decay=0.01, eval_interval=250, eval_iters=10, seed=args.seed,
                       checkpoint=False, progress=not args.no_progress)  # fmt: skip
    if not args.pretrained:
        (out / Trainer.LOG).unlink(missing_ok=True)
    metric = lambda logits, t: {"masked_acc": BERT.masked_accuracy(logits, t)}
    trainer = Trainer(model, tcfg, get_batch, out_dir=out, callbacks=[LossCurvePlot()], metric_fn=metric)
    with Timer() as wall:
        if args.pretrained:
            model.load_state_dict(ar.load(args.pretrained))
        else:
            trainer.run()
            ar.save(model, str(out / "bert.safetensors"))

    # Held-out masked-token accuracy, and the most-frequent-character baseline on the
    # very same masked positions.
    rng = np.random.default_rng([args.seed, 7])
    most_frequent = int(np.bincount(train_ids, minlength=V).argmax())
    hits = base_hits = total = 0
    model.eval()
    with ar.no_grad():
        for _ in range(args.val_batches):
            x, y = data.get_mlm_batch(val_ids, bs, block, rng, V)
            logits, _ = model(x)
            sel = y != data.MLM_IGNORE
            hits += int((logits._array.argmax(-1)[sel] == y[sel]).sum())
            base_hits += int((y[sel] == most_frequent).sum())
            total += int(sel.sum())
    mlm_acc, base_acc = hits / total, base_hits / total
    report(args, "bert_mlm_pretrain", {
        "steps": args.steps, "short_steps": args.short_steps, "short_block": args.short_block, "batch_size": bs, "block_size": block, "n_layer": 4, "n_embd": 128,
        "masked_positions": total, "masked_acc": mlm_acc, "baseline_char": tok.decode([most_frequent]),
        "baseline_acc": base_acc, "target": ">= 0.45 vs baseline < 0.20",
        "passed": mlm_acc >= 0.45 and base_acc < 0.20, "wall_s": wall.s,
        "final_val_loss": trainer.history[-1].get("val_loss") if trainer.history else None,
    })  # fmt: skip

    # --- 2. fine-tuning vs from scratch -------------------------------------------------
    L = 64
    x_test, y_test = corruption_task(val_ids, 1024, L, args.corrupt, np.random.default_rng(99))
    curves = {}
    for name in ("pretrained", "scratch"):
        ar.manual_seed(args.seed)
        if name == "pretrained":
            clf = classifier_from_bert(model, n_classes=2, pooling="mean")
        else:
            clf = TransformerClassifier(ClassifierConfig(vocab_size=V, n_classes=2, block_size=block,
                                                         n_layer=4, n_head=4, n_embd=128))  # fmt: skip
        clf.train()
        opt = ar.optim.AdamW(clf.parameters(), lr=args.ft_lr, weight_decay=0.01)
        rng = np.random.default_rng([args.seed, 3])  # the same batches for both
        curve = [(0, accuracy(clf, x_test, y_test))]
        with Timer() as ft_wall:
            for step in range(1, args.ft_steps + 1):
                x, y = corruption_task(train_ids, bs, L, args.corrupt, rng)
                for g in opt.param_groups:
                    g["lr"] = args.ft_lr * min(1.0, step / 50)
                _, loss = clf(x, targets=y)
                opt.zero_grad()
                loss.backward()
                ar.nn.utils.clip_grad_norm_(list(clf.parameters()), 1.0)
                opt.step()
                if step % args.ft_eval == 0:
                    curve.append((step, accuracy(clf, x_test, y_test)))
                    clf.train()
        curves[name] = curve
        reached = next((s for s, a in curve if a >= args.ft_target), None)
        report(args, f"bert_finetune_{name}", {
            "task": f"corrupted ({args.corrupt}/{L} chars) vs intact text", "steps": args.ft_steps,
            "lr": args.ft_lr, "target": args.ft_target, "steps_to_target": reached,
            "final_acc": curve[-1][1], "best_acc": max(a for _, a in curve), "wall_s": ft_wall.s,
            "curve": curve,
        })  # fmt: skip
    (out / "finetune.json").write_text(json.dumps(curves))
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        fig, ax = plt.subplots(figsize=(6, 4))
        for name, curve in curves.items():
            ax.plot(*zip(*curve), "o-", ms=3, label=name)
        ax.axhline(args.ft_target, color="gray", ls="--", lw=0.8, label="target")
        ax.set_xlabel("fine-tuning step")
        ax.set_ylabel("test accuracy")
        ax.legend()
        fig.tight_layout()
        fig.savefig(out / "finetune.png", dpi=100)
        plt.close(fig)
    except ImportError:
        pass


if __name__ == "__main__":
    main()
