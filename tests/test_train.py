"""Trainer: schedule, logging, checkpoints, exact resume, early stopping."""

import json
import math

import numpy as np
import pytest

import attnrs as ar
from attnrs import data, nn
from attnrs.train import Callback, LossCurvePlot, TrainConfig, Trainer, cosine_warmup_lr

TEXT = "the quick brown fox jumps over the lazy dog. " * 40


class TinyLM(nn.Module):
    """Embedding → dropout → Linear: a bigram model, enough to test the loop."""

    def __init__(self, vocab, dim, dropout):
        super().__init__()
        self.embed = nn.Embedding(vocab, dim)
        self.drop = nn.Dropout(dropout)
        self.head = nn.Linear(dim, vocab)

    def forward(self, idx, targets=None):
        logits = self.head(self.drop(self.embed(idx)))  # (B, T, V)
        loss = None
        if targets is not None:
            B, T, V = logits.shape
            loss = nn.functional.cross_entropy(logits.reshape(B * T, V), targets.reshape(B * T))
        return logits, loss


def _setup(seed=0, dropout=0.1, model="tiny"):
    tok = data.CharTokenizer.from_text(TEXT)
    tr, va = data.train_val_split(tok.encode(TEXT))

    def get_batch(split, rng):
        x, y = data.get_batch(tr if split == "train" else va, 4, 12, rng)
        return (x,), y

    ar.manual_seed(seed)
    if model == "gpt":
        from attnrs.models import GPT, GPTConfig

        cfg = GPTConfig(vocab_size=tok.vocab_size, block_size=12, n_layer=1, n_head=2, n_embd=16, dropout=dropout)
        return GPT(cfg), get_batch
    return TinyLM(tok.vocab_size, 16, dropout), get_batch


def _cfg(**kw):
    base = {"steps": 8, "lr": 3e-3, "min_lr": 3e-4, "warmup": 2, "eval_interval": 4, "eval_iters": 2, "progress": False}
    base.update(kw)
    return TrainConfig(**base)


def test_cosine_warmup_lr():
    assert cosine_warmup_lr(0, 1.0, 0.1, 10, 100) == pytest.approx(0.1)
    assert cosine_warmup_lr(9, 1.0, 0.1, 10, 100) == pytest.approx(1.0)
    assert cosine_warmup_lr(10, 1.0, 0.1, 10, 100) == pytest.approx(1.0)
    assert cosine_warmup_lr(55, 1.0, 0.1, 10, 100) == pytest.approx(0.55)
    assert cosine_warmup_lr(100, 1.0, 0.1, 10, 100) == pytest.approx(0.1)
    assert cosine_warmup_lr(5, 1.0, 0.1, 0, 10) == pytest.approx(0.55)


def test_config_validation():
    with pytest.raises(ValueError, match="lr"):
        TrainConfig(lr=float("nan"))
    with pytest.raises(ValueError, match="steps"):
        TrainConfig(steps=-1)
    with pytest.raises(ValueError, match="eval_interval"):
        TrainConfig(eval_interval=0)
    with pytest.raises(ValueError, match="betas"):
        TrainConfig(beta2=1.0)


def test_log_and_checkpoint(tmp_path):
    model, get_batch = _setup()
    tr = Trainer(model, _cfg(), get_batch, out_dir=tmp_path)
    hist = tr.run()
    lines = [json.loads(s) for s in (tmp_path / "log.jsonl").read_text().splitlines()]
    assert lines == hist and [r["step"] for r in lines] == list(range(1, 9))
    for r in lines:
        assert {"step", "train_loss", "lr", "tokens_per_s"} <= set(r)
        assert math.isfinite(r["train_loss"]) and r["tokens_per_s"] > 0
    assert [r["step"] for r in lines if "val_loss" in r] == [4, 8]
    assert (tmp_path / Trainer.CHECKPOINT).is_file()
    assert lines[0]["lr"] == pytest.approx(1.5e-3)


@pytest.mark.parametrize("kind", ["tiny", "gpt"])
def test_resume_equals_uninterrupted(tmp_path, kind):
    """Stop at step 4, resume into a fresh (differently initialised) model:
    steps 5..8 give bitwise the same losses as one uninterrupted run. Dropout
    is on, so the global generator state must be restored too."""
    model, get_batch = _setup(model=kind)
    full = Trainer(model, _cfg(), get_batch, out_dir=tmp_path / "a").run()

    class StopAt(Callback):
        def on_step_end(self, trainer, record):
            if trainer.step == 4:
                trainer.stop = True

    model, get_batch = _setup(model=kind)
    Trainer(model, _cfg(), get_batch, out_dir=tmp_path / "b", callbacks=[StopAt()]).run()
    model, get_batch = _setup(seed=123, model=kind)
    tr = Trainer(model, _cfg(), get_batch, out_dir=tmp_path / "b")
    tr.load_checkpoint(tmp_path / "b" / Trainer.CHECKPOINT)
    assert tr.step == 4
    rest = tr.run()
    assert [r["train_loss"] for r in rest] == [r["train_loss"] for r in full[4:]]
    assert [r["val_loss"] for r in rest if "val_loss" in r] == [full[7]["val_loss"]]


def test_early_stopping():
    model, get_batch = _setup(dropout=0.0)
    tr = Trainer(model, _cfg(steps=40, lr=0.0, min_lr=0.0, eval_interval=2, patience=2), get_batch)
    tr.run()
    assert tr.stop and tr.step == 6  # evals at 2 (best), 4, 6 (two without improvement)


def test_loss_falls_on_text():
    model, get_batch = _setup(dropout=0.0)
    hist = Trainer(model, _cfg(steps=30, lr=1e-2, min_lr=1e-3, eval_interval=30), get_batch).run()
    assert hist[-1]["train_loss"] < hist[0]["train_loss"] - 0.5


def test_corrupt_checkpoint_is_refused(tmp_path):
    bad = tmp_path / "bad.safetensors"
    bad.write_bytes(b"not a checkpoint")
    model, get_batch = _setup()
    with pytest.raises(ValueError):
        Trainer(model, _cfg(), get_batch).load_checkpoint(bad)


def test_loss_curve_plot(tmp_path):
    pytest.importorskip("matplotlib")
    model, get_batch = _setup()
    Trainer(model, _cfg(steps=4), get_batch, out_dir=tmp_path, callbacks=[LossCurvePlot()]).run()
    assert (tmp_path / "loss.png").stat().st_size > 1000


def test_attention_map_png(tmp_path):
    pytest.importorskip("matplotlib")
    from attnrs.train import save_attention_map

    w = np.full((2, 3, 4), 0.25, dtype=np.float32)
    assert save_attention_map(w, tmp_path / "a.png", x_labels="abcd", y_labels="xyz", title="t")
    assert (tmp_path / "a.png").stat().st_size > 1000
    with pytest.raises(ValueError, match="weights"):
        save_attention_map(np.zeros(3), tmp_path / "b.png")
