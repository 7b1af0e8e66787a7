"""word2vec: words that appear in the same contexts get nearby vectors.

Skip-gram with negative sampling (Mikolov et al. 2013) on the built-in
corpus: for each (center, context) word pair within a window, push the
center's vector towards the context's output vector and away from a few
random "noise" words. No labels, only co-occurrence. Afterwards we list each
query word's nearest neighbours by cosine similarity and project the vectors
of frequent words to 2-D (PCA) to see the clusters.

Writes word2vec_pca.png.

    python examples/word2vec_neighbours.py [--quick] [--steps N] [--out DIR]
"""

from __future__ import annotations

import numpy as np
from _common import parse_args, plt, save

import attnrs as ar
from attnrs import data
from attnrs.models import Word2Vec, Word2VecConfig
from attnrs.models.word2vec import noise_distribution, sgns_batch
from attnrs.train import TrainConfig, Trainer

QUERIES = ["class", "function", "list", "exception", "string", "true", "import", "file"]


def main() -> None:
    args, out = parse_args(__doc__, steps=(2000, 50))
    ar.manual_seed(0)
    steps = args.steps

    # Words → ids (the 3000 most frequent words seen >= 5 times; the rest is <unk>, dropped).
    text = data.builtin_corpus()
    tok = data.WordTokenizer.from_text(text, min_count=5, max_vocab=1000 if args.quick else 3000)
    ids = tok.encode(text)
    ids = ids[ids != 0]
    cfg = Word2VecConfig(vocab_size=tok.vocab_size, dim=32 if args.quick else 64, window=3, negatives=5,
                         words=tok.words)  # fmt: skip
    centers, contexts = data.skipgram_pairs(ids, cfg.window)  # every pair within 3 words
    noise = noise_distribution(ids, tok.vocab_size)  # unigram ** 0.75
    print(f"{tok.vocab_size} words, {len(ids):,} tokens, {len(centers):,} (center, context) pairs")

    def get_batch(split, rng):  # (center, [context, noise × 5]) with targets [1, 0 × 5]
        return sgns_batch(centers, contexts, noise, 512, cfg.negatives, rng)

    model = Word2Vec(cfg)
    tcfg = TrainConfig(steps=steps, lr=1e-2, min_lr=1e-3, warmup=min(100, steps // 5), weight_decay=0.0,
                       grad_clip=0.0, eval_interval=steps, eval_iters=2, progress=False, checkpoint=False)  # fmt: skip
    hist = Trainer(model, tcfg, get_batch).run()
    print(f"loss {hist[0]['train_loss']:.3f} -> {hist[-1]['train_loss']:.3f}")
    for q in QUERIES:
        if q in tok.stoi:
            near = ", ".join(f"{w} ({s:.2f})" for w, s in model.most_similar(q, 5))
            print(f"{q:>10}: {near}")

    # 2-D projection (PCA) of frequent words, skipping the most common function words.
    shown = [w for w in tok.words[30:130] if w.isalpha()][:60] + [q for q in QUERIES if q in tok.stoi]
    vec = model.vectors()[[tok.stoi[w] for w in shown]].astype(np.float64)
    vec = vec / np.linalg.norm(vec, axis=1, keepdims=True)
    vec -= vec.mean(axis=0)
    _, _, vt = np.linalg.svd(vec, full_matrices=False)
    xy = vec @ vt[:2].T  # (n, 2)
    fig, ax = plt.subplots(figsize=(8, 6))
    ax.scatter(xy[:, 0], xy[:, 1], s=6, color="C0")
    for (x, y), w in zip(xy, shown):
        ax.annotate(w, (x, y), fontsize=7, color="C3" if w in QUERIES else "black")
    ax.set_title("word2vec vectors, PCA to 2-D (red: the query words)", fontsize=10)
    ax.set_xticks([])
    ax.set_yticks([])
    save(fig, out, "word2vec_pca.png")


if __name__ == "__main__":
    main()
