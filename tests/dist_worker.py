"""Programs that tests/test_distributed.py runs under ``mpiexec -n 2`` (and,
for the one-rank references, in-process).

    python tests/dist_worker.py SCENARIO OUT_DIR
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

import attnrs as ar
from attnrs import data
from attnrs import distributed as dist
from attnrs.models import GPT, GPTConfig
from attnrs.train import TrainConfig, Trainer

TEXT = "The quick brown fox jumps over the lazy dog; pack my box with five dozen liquor jugs. " * 40
BLOCK = 16


def make_model(seed: int = 0) -> GPT:
    tok = data.CharTokenizer.from_text(TEXT)
    ar.manual_seed(seed)
    return GPT(GPTConfig(vocab_size=tok.vocab_size, block_size=BLOCK, n_layer=2, n_head=2, n_embd=32, dropout=0.0))


def batch_fn(batch_size: int):
    ids = data.CharTokenizer.from_text(TEXT).encode(TEXT)
    tr, va = data.train_val_split(ids)

    def get_batch(split, rng, rank=0, world_size=1):
        x, y = data.get_batch(tr if split == "train" else va, batch_size, BLOCK, rng, rank=rank, world_size=world_size)
        return (x,), y

    return get_batch


def train(batch_size: int, distributed: bool, steps: int = 20) -> tuple[list, list[np.ndarray]]:
    """20 AdamW steps (clipping on, warm-up then cosine); returns (losses, parameters)."""
    model = make_model(seed=dist.rank() if distributed else 0)  # other ranks: rank 0's weights arrive by broadcast
    cfg = TrainConfig(steps=steps, lr=3e-3, min_lr=3e-4, warmup=5, eval_interval=10, eval_iters=4,
                      progress=False, checkpoint=False)  # fmt: skip
    tr = Trainer(model, cfg, batch_fn(batch_size), distributed=distributed)
    hist = tr.run()
    return [r["train_loss"] for r in hist], [p._array.copy() for p in model.parameters()]


def micro_batches(batch_size: int, rank: int, world: int):
    rng = np.random.default_rng(7)
    fn = batch_fn(batch_size)
    (x1,), y1 = fn("train", rng, rank=rank, world_size=world)
    (x2,), y2 = fn("train", rng, rank=rank, world_size=world)
    return x1, y1, x2, y2


def no_sync_grads(ddp, x1, y1, x2, y2) -> list[np.ndarray]:
    with ddp.no_sync():
        _, loss = ddp(x1, targets=y1)
        loss.backward()
    _, loss = ddp(x2, targets=y2)
    loss.backward()
    return [p.grad._array.copy() for p in ddp.module.parameters()]


def main() -> None:
    scenario, out = sys.argv[1], Path(sys.argv[2])
    dist.init()
    r, n = dist.rank(), dist.world_size()
    if scenario == "ddp":  # 2 ranks x batch 4 (compared by the test with 1 rank x batch 8)
        losses, params = train(4, True)
        ref = [dist.all_sum(p.astype(np.float64)) / n for p in params]
        assert all(np.array_equal(p, q) for p, q in zip(params, ref)), "ranks hold different parameters"
        if r == 0:
            np.savez(out / f"ddp_{sys.argv[3]}.npz", *params, losses=np.array(losses))
    elif scenario == "nosync":  # accumulate 2 micro-batches with no_sync, then sync
        ddp = dist.DistributedDataParallel(make_model(), bucket_cap_mb=0.02)
        x1, y1, x2, y2 = micro_batches(3, r, n)
        grads = no_sync_grads(ddp, x1, y1, x2, y2)
        assert ddp.comm_stats["steps"] == 1 and ddp.comm_stats["buckets"] > 1
        bufs = ddp.bucket_buffers()
        assert all(any(np.shares_memory(p.grad._array, b) for b in bufs) for p in ddp.module.parameters())
        if r == 0:
            np.savez(out / "nosync.npz", *grads)
    elif scenario == "raise":  # rank 1 fails in the middle of training
        model = make_model()
        get = batch_fn(2)

        def failing(split, rng, rank=0, world_size=1):
            if dist.rank() == 1 and split == "train" and failing.calls == 3:
                raise RuntimeError("injected failure on rank 1")
            failing.calls += split == "train"
            return get(split, rng, rank=rank, world_size=world_size)

        failing.calls = 0
        Trainer(model, TrainConfig(steps=1000, progress=False, checkpoint=False), failing, distributed=True).run()
    elif scenario == "raise_outside":  # an uncaught exception outside the Trainer
        if r == 1:
            raise ValueError("injected failure outside the trainer")
        dist.barrier()  # rank 0 would wait here forever without the abort
    else:
        raise SystemExit(f"unknown scenario {scenario}")


if __name__ == "__main__":
    main()
