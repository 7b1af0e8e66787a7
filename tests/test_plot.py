"""Plots by default: ``loss.png`` after ``attnrs train``, ``attnrs plot`` over one or
several run directories, and masked-token accuracy in a BERT run's log."""

import json
import struct
import subprocess
import sys

import pytest

pytest.importorskip("matplotlib")  # installed by `make` (the README's set-up commands)


def png_size(path) -> tuple[int, int]:
    """(width, height) from a PNG's IHDR chunk; fails on anything that is not a PNG."""
    head = path.read_bytes()[:24]
    assert head[:8] == b"\x89PNG\r\n\x1a\n" and head[12:16] == b"IHDR", f"{path} is not a PNG"
    return struct.unpack(">II", head[16:24])


def attnrs(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "attnrs.cli", *args], check=False, capture_output=True,
                          text=True, cwd=cwd, timeout=120)  # fmt: skip


TINY = ["--steps", "4", "--eval-interval", "2", "--eval-iters", "1", "--block-size", "16", "--batch-size", "2",
        "--n-layer", "1", "--n-embd", "16", "--n-head", "2", "--no-progress"]  # fmt: skip


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("runs")
    text = root / "text.txt"
    text.write_text("To be, or not to be, that is the question.\n" * 30, encoding="utf-8")
    r = attnrs("train", "--model", "gpt", "--data", str(text), "--out", str(root / "gpt"), *TINY,
               "--sample-length", "0")  # fmt: skip
    assert r.returncode == 0, r.stderr
    r = attnrs("train", "--model", "bert", "--data", str(text), "--out", str(root / "bert"), *TINY)
    assert r.returncode == 0, r.stderr
    assert "--- fill in the masks ---" in r.stdout
    return root


def test_train_writes_loss_png(runs):
    assert png_size(runs / "gpt" / "loss.png") == (600, 400)  # train + val loss
    assert png_size(runs / "bert" / "loss.png") == (1100, 400)  # + a masked-accuracy panel


def test_bert_logs_masked_accuracy(runs):
    recs = [json.loads(s) for s in (runs / "bert" / "log.jsonl").read_text().splitlines()]
    assert all(0.0 <= r["masked_acc"] <= 1.0 for r in recs)
    evals = [r for r in recs if "val_loss" in r]
    assert [r["step"] for r in evals] == [2, 4] and all(0.0 <= r["val_masked_acc"] <= 1.0 for r in evals)
    cfg = json.loads((runs / "bert" / "config.json").read_text())
    assert cfg["tokenizer"]["kind"] == "mlm" and cfg["model_config"]["vocab_size"] > 4
    r = attnrs("generate", "--out", str(runs / "bert"))
    assert r.returncode == 2 and "does not generate" in r.stderr


def test_plot_command(runs, tmp_path):
    (runs / "gpt" / "loss.png").unlink()
    r = attnrs("plot", str(runs / "gpt"))
    assert r.returncode == 0, r.stderr
    assert png_size(runs / "gpt" / "loss.png") == (600, 400)
    r = attnrs("plot", str(runs / "gpt"), str(runs / "bert"), cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert png_size(tmp_path / "loss_compare.png") == (1100, 400)
    r = attnrs("plot", str(runs / "gpt"), "--out", str(tmp_path / "x.png"))
    assert r.returncode == 0 and png_size(tmp_path / "x.png") == (600, 400)
    r = attnrs("plot", str(tmp_path / "nothing"))
    assert r.returncode == 2 and "log.jsonl" in r.stderr


def test_bert_word_tokenizer_and_flag_checks(tmp_path):
    text = tmp_path / "text.txt"
    text.write_text("the cat sat on the mat and the dog sat on the log\n" * 40, encoding="utf-8")
    r = attnrs("train", "--model", "bert", "--tokenizer", "word", "--data", str(text), "--out",
               str(tmp_path / "w"), *TINY)  # fmt: skip
    assert r.returncode == 0, r.stderr
    cfg = json.loads((tmp_path / "w" / "config.json").read_text())
    assert cfg["tokenizer"]["base"]["kind"] == "word"
    r = attnrs("train", "--model", "gpt", "--tokenizer", "word", "--out", str(tmp_path / "g"), *TINY)
    assert r.returncode == 2 and "--tokenizer word" in r.stderr
