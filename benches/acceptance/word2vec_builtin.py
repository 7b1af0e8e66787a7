"""Acceptance: Word2Vec (skip-gram, negative sampling) on the built-in corpus:
a nearest-neighbour listing, and words that co-occur end up closer (cosine)
than random pairs.

    .venv/bin/python benches/acceptance/word2vec_builtin.py [--steps 3000]
"""

from __future__ import annotations

import numpy as np
from _common import Timer, parser, report, setup

from attnrs import data
from attnrs.models import Word2Vec, Word2VecConfig
from attnrs.models.word2vec import noise_distribution, sgns_batch
from attnrs.train import TrainConfig, Trainer

QUERIES = ["class", "function", "list", "exception", "string", "loop", "true", "import"]


def main() -> None:
    p = parser(__doc__, steps=3000)
    p.add_argument("--vocab", type=int, default=3000)
    p.add_argument("--batch-size", type=int, default=512)
    args = p.parse_args()
    setup(args)
    text = data.builtin_corpus()
    tok = data.WordTokenizer.from_text(text, min_count=5, max_vocab=args.vocab)
    ids = tok.encode(text)
    ids = ids[ids != 0]  # drop <unk>
    cfg = Word2VecConfig(vocab_size=tok.vocab_size, dim=64, window=3, negatives=5, words=tok.words)
    centers, contexts = data.skipgram_pairs(ids, cfg.window)
    noise = noise_distribution(ids, tok.vocab_size)

    def get_batch(split, rng):
        return sgns_batch(centers, contexts, noise, args.batch_size, cfg.negatives, rng)

    model = Word2Vec(cfg)
    tcfg = TrainConfig(steps=args.steps, lr=1e-2, min_lr=1e-3, warmup=100, weight_decay=0.0, grad_clip=0.0,
                       eval_interval=1000, eval_iters=5, seed=args.seed, progress=not args.no_progress)
    with Timer() as wall:
        hist = Trainer(model, tcfg, get_batch).run()
    rng = np.random.default_rng(7)
    pick = rng.integers(0, len(centers), 2000)
    co = np.mean([model.similarity(a, b) for a, b in zip(centers[pick], contexts[pick]) if a != b])
    ra = np.mean([model.similarity(a, b) for a, b in rng.integers(1, tok.vocab_size, (2000, 2)) if a != b])
    neighbours = {q: [w for w, _ in model.most_similar(q, 5)] for q in QUERIES if q in tok.stoi}
    report(args, "word2vec_builtin", {
        "vocab": tok.vocab_size, "pairs": len(centers), "steps": args.steps,
        "final_loss": hist[-1]["train_loss"], "cooccurring_cosine": float(co), "random_cosine": float(ra),
        "passed": bool(co > ra), "neighbours": neighbours, "wall_s": wall.s,
    })  # fmt: skip


if __name__ == "__main__":
    main()
