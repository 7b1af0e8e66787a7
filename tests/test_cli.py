"""The ``attnrs`` command end to end (subprocesses) and its error exits."""

import importlib.util
import json
import subprocess
import sys

import pytest

from attnrs.cli import main

TINY = ["--steps", "3", "--eval-interval", "3", "--eval-iters", "1", "--block-size", "16",
        "--batch-size", "2", "--n-layer", "1", "--n-embd", "16", "--n-head", "2", "--no-progress",
        "--sample-length", "20"]  # fmt: skip


def attnrs(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "attnrs.cli", *args], check=False, capture_output=True,
                          text=True, cwd=cwd, timeout=120)  # fmt: skip


@pytest.mark.parametrize("model", ["gpt", "char-rnn", "tcn"])
def test_train_then_generate(model, tmp_path):
    out = tmp_path / model
    data = tmp_path / "text.txt"
    data.write_text("To be, or not to be, that is the question.\n" * 30, encoding="utf-8")
    r = attnrs("train", "--model", model, "--data", str(data), "--out", str(out), *TINY)
    assert r.returncode == 0, r.stderr
    assert "--- sample ---" in r.stdout
    lines = [json.loads(s) for s in (out / "log.jsonl").read_text().splitlines()]
    assert [x["step"] for x in lines] == [1, 2, 3]
    assert {"step", "train_loss", "lr", "tokens_per_s"} <= set(lines[0]) and "val_loss" in lines[-1]
    cfg = json.loads((out / "config.json").read_text())
    assert cfg["model"] == model and cfg["tokenizer"]["kind"] == "char"
    assert (out / "checkpoint.safetensors").is_file()
    if model == "gpt" and importlib.util.find_spec("matplotlib"):
        assert (out / "attention.png").is_file() and (out / "loss.png").is_file()

    r = attnrs("generate", "--out", str(out), "--prompt", "To be", "--length", "15", "--top-k", "5")
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith("To be") and len(r.stdout.rstrip("\n")) >= 15

    # --resume continues from the checkpoint to the new --steps
    r = attnrs("train", "--model", model, "--data", str(data), "--out", str(out), "--resume",
               *TINY[:1], "5", *TINY[2:])  # fmt: skip
    assert r.returncode == 0, r.stderr
    steps = [json.loads(s)["step"] for s in (out / "log.jsonl").read_text().splitlines()]
    assert steps == [1, 2, 3, 4, 5]
    other = "tcn" if model == "gpt" else "gpt"
    r = attnrs("train", "--model", other, "--resume", "--out", str(out), "--data", str(data))
    assert r.returncode == 2 and "holds a" in r.stderr and "Traceback" not in r.stderr


def test_train_on_builtin_corpus(tmp_path):
    r = attnrs("train", "--out", str(tmp_path / "run"), *TINY)
    assert r.returncode == 0, r.stderr
    assert json.loads((tmp_path / "run" / "config.json").read_text())["data"] == "builtin"


@pytest.mark.parametrize(
    "args, message",
    [
        (["train", "--steps", "0"], "positive integer"),
        (["train", "--model", "lstm"], "invalid choice"),
        (["train", "--lr", "nan"], "finite"),
        (["train", "--warmup", "-1"], ">= 0"),
        (["train", "--dropout", "1.5"], "dropout must be in [0, 1)"),
        (["train", "--data", "/nonexistent/file.txt"], "not found"),
        (["train", "--n-embd", "10", "--n-head", "4"], "divisible"),
        (["generate", "--out", "/nonexistent/run"], "not a run directory"),
        (["train", "--resume", "--out", "/nonexistent/run"], "no checkpoint"),
        (["bench", "--only", "nope"], "unknown benchmark"),
        (["frobnicate"], "invalid choice"),
    ],
)
def test_errors_are_one_line(args, message, capsys):
    assert main(args) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and err.startswith("error:") and message in err, err


def test_error_exit_in_a_subprocess():
    r = attnrs("generate", "--out", "/nonexistent/run")
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1


def test_info_and_bench_list(capsys):
    assert main(["info"]) == 0
    assert "isa" in capsys.readouterr().out
    assert main(["bench", "--list"]) == 0
    assert "training" in capsys.readouterr().out.split()


def test_no_command_prints_help(capsys):
    assert main([]) == 2
    assert "train" in capsys.readouterr().out
