"""Issue 14, item 11: every failure of ``attnrs`` is one line on stderr and a
non-zero exit; ``--debug`` (anywhere) or ``ATTNRS_DEBUG=1`` adds the traceback."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import pytest

from attnrs.cli import main

TINY = ["--steps", "2", "--eval-interval", "2", "--eval-iters", "1", "--block-size", "8",
        "--batch-size", "2", "--n-layer", "1", "--n-embd", "8", "--n-head", "2", "--no-progress",
        "--sample-length", "0"]  # fmt: skip


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("run") / "gpt"
    data = out.parent / "text.txt"
    data.write_text("hello world, hello attnrs.\n" * 20, encoding="utf-8")
    assert main(["train", "--data", str(data), "--out", str(out), *TINY]) == 0
    return out


@pytest.fixture
def broken(run_dir, tmp_path):
    d = tmp_path / "run"
    shutil.copytree(run_dir, d)
    return d


def one_line_error(capsys, code, rc=(1, 2)):
    err = capsys.readouterr().err.strip()
    assert code in rc, (code, err)
    assert err.startswith("error:") and "\n" not in err and "Traceback" not in err, err
    return err


def set_config(d, value):
    (d / "config.json").write_text(json.dumps(value))


def edit_ckpt_meta(d, **changes):
    from test_hardening_io import edit_meta

    edit_meta(d / "checkpoint.safetensors", **changes)


CONFIG_CASES = {
    "list": lambda c: [1, 2],
    "no_model_config": lambda c: {k: v for k, v in c.items() if k != "model_config"},
    "no_tokenizer": lambda c: {k: v for k, v in c.items() if k != "tokenizer"},
    "model_config_list": lambda c: {**c, "model_config": [1]},
    "bad_model_field": lambda c: {**c, "model_config": {**c["model_config"], "nope": 1}},
    "tokenizer_garbage": lambda c: {**c, "tokenizer": {"kind": "char", "chars": 5}},
    "unknown_model": lambda c: {**c, "model": "nope"},
}


@pytest.mark.parametrize("case", sorted(CONFIG_CASES))
@pytest.mark.parametrize("command", ["generate", "resume"])
def test_bad_config_json_is_one_line(broken, case, command, capsys):
    cfg = json.loads((broken / "config.json").read_text())
    set_config(broken, CONFIG_CASES[case](cfg))
    if command == "generate":
        code = main(["generate", "--out", str(broken), "--length", "3"])
    else:
        code = main(["train", "--resume", "--out", str(broken), *TINY])
    one_line_error(capsys, code)


def test_config_json_not_json(broken, capsys):
    (broken / "config.json").write_text("{not json")
    one_line_error(capsys, main(["generate", "--out", str(broken)]))


CKPT_CASES = {
    "json_5": {"attnrs__json": "5"},
    "crc32_list": {"attnrs__crc32": "[1]"},
    "no_crc32": {"attnrs__crc32": None},
    "deep_extra": {"extra": "[" * 100_000 + "]" * 100_000},
}


@pytest.mark.parametrize("case", sorted(CKPT_CASES))
def test_bad_checkpoint_header_is_one_line(broken, case, capsys):
    edit_ckpt_meta(broken, **CKPT_CASES[case])
    err = one_line_error(capsys, main(["generate", "--out", str(broken), "--length", "3"]))
    assert "checkpoint.safetensors" in err


def test_truncated_checkpoint_is_one_line(broken, capsys):
    p = broken / "checkpoint.safetensors"
    p.write_bytes(p.read_bytes()[:100])
    one_line_error(capsys, main(["generate", "--out", str(broken)]))


def test_debug_flag_and_env_show_the_traceback(broken, capsys, monkeypatch):
    set_config(broken, [1])
    assert main(["generate", "--debug", "--out", str(broken)]) == 2
    err = capsys.readouterr().err
    assert "Traceback" in err and err.strip().splitlines()[-1].startswith("error:")
    monkeypatch.setenv("ATTNRS_DEBUG", "1")
    assert main(["generate", "--out", str(broken)]) == 2
    assert "Traceback" in capsys.readouterr().err


def test_unexpected_exception_is_one_line(monkeypatch, capsys):
    import attnrs.cli as cli

    def boom(args):
        raise KeyError("internal")

    monkeypatch.setitem(cli.COMMANDS, "info", boom)
    err = one_line_error(capsys, main(["info"]), rc=(1,))
    assert "KeyError" in err and "--debug" in err


@pytest.mark.skipif(os.name != "posix", reason="rlimits are POSIX")
@pytest.mark.parametrize("how", ["n_embd", "vocab"])
def test_out_of_memory_is_one_line(run_dir, tmp_path, how):
    """Under an address-space limit (so no machine really tries to allocate)."""
    if how == "n_embd":
        args = ["train", "--out", str(tmp_path / "x"), "--steps", "1", "--n-embd", "2147483648",
                "--n-head", "2", "--no-progress", "--sample-length", "0"]  # fmt: skip
    else:
        d = tmp_path / "run"
        shutil.copytree(run_dir, d)
        cfg = json.loads((d / "config.json").read_text())
        cfg["model_config"]["vocab_size"] = 2**40
        set_config(d, cfg)
        args = ["generate", "--out", str(d)]
    code = (
        "import resource, sys\n"
        "resource.setrlimit(resource.RLIMIT_AS, (3 << 30, 3 << 30))\n"
        "from attnrs.cli import main\n"
        f"sys.exit(main({args!r}))\n"
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    err = r.stderr.strip()
    assert r.returncode in (1, 2), (r.returncode, err)
    assert err.startswith("error:") and "\n" not in err and "Traceback" not in err, err
    assert "memory" in err.lower() or "allocate" in err, err
