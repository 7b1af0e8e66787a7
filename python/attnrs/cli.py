"""The ``attnrs`` command: ``train``, ``prepare``, ``generate``, ``bench``, ``info``, ``plot``.

``attnrs train`` trains a character language model (gpt, char-rnn or tcn) on
``--data PATH`` (a text file, or a token directory written by ``attnrs
prepare``, read with np.memmap) or on the built-in corpus; under ``mpiexec -n
N`` (or with ``--distributed``) it trains data-parallel on N ranks, and writes ``DIR/config.json``,
``DIR/log.jsonl`` and ``DIR/checkpoint.safetensors`` and prints a sample;
``attnrs generate --out DIR`` samples from such a directory. Bad arguments,
missing or malformed files end with a one-line error on stderr and exit status
2; any other failure (out of memory, a bug) with one line and exit status 1.
``--debug`` anywhere on the command line, or ``ATTNRS_DEBUG=1``, prints the
traceback as well.
``attnrs train --model bert`` pretrains a masked language model instead (char
or word tokens), and ``attnrs plot DIR [DIR ...]`` redraws loss curves from logs.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import traceback
from collections.abc import Sequence
from dataclasses import asdict, fields
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["main"]

LM_MODELS = ("gpt", "char-rnn", "tcn")
MLM_MODELS = ("bert",)  # masked language models: `attnrs train --model bert`

# Defaults of `attnrs train` per model (GPT: nanoGPT's CPU configuration, fewer
# steps): about 1–2 minutes on 2 cores, enough for word-like samples. Flags
# override them.
TRAIN_DEFAULTS: dict[str, dict[str, Any]] = {
    "gpt": {"block_size": 64, "batch_size": 12, "n_layer": 4, "n_head": 4, "n_embd": 128, "dropout": 0.0,
            "steps": 1000, "lr": 1e-3, "min_lr": 1e-4, "warmup": 100, "beta2": 0.99, "eval_interval": 200},
    "char-rnn": {"block_size": 64, "batch_size": 16, "n_layer": 1, "n_embd": 256, "dropout": 0.0,
                 "steps": 1000, "lr": 3e-3, "min_lr": 3e-4, "warmup": 50, "beta2": 0.99, "eval_interval": 200},
    "tcn": {"block_size": 64, "batch_size": 16, "n_layer": 6, "n_embd": 96, "dropout": 0.0,
            "steps": 1000, "lr": 2e-3, "min_lr": 2e-4, "warmup": 50, "beta2": 0.99, "eval_interval": 200},
    "bert": {"block_size": 128, "batch_size": 32, "n_layer": 4, "n_head": 4, "n_embd": 128, "dropout": 0.0,
             "steps": 1000, "lr": 1e-3, "min_lr": 1e-4, "warmup": 100, "beta2": 0.99, "weight_decay": 0.01,
             "eval_interval": 200},
}  # fmt: skip


class CliError(Exception):
    """An error shown to the user as one line, without a traceback."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # one line instead of usage + message
        raise CliError(f"{self.prog}: {message}")


def _positive_int(s: str) -> int:
    try:
        v = int(s)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {s!r}") from None
    if v < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {s!r}")
    return v


def _nonneg_int(s: str) -> int:
    try:
        v = int(s)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer >= 0, got {s!r}") from None
    if v < 0:
        raise argparse.ArgumentTypeError(f"expected an integer >= 0, got {s!r}")
    return v


def _nonneg_float(s: str) -> float:
    try:
        v = float(s)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {s!r}") from None
    if not np.isfinite(v) or v < 0:
        raise argparse.ArgumentTypeError(f"expected a finite number >= 0, got {s!r}")
    return v


def _build_parser() -> argparse.ArgumentParser:
    p = _Parser(prog="attnrs", description="CPU deep learning for sequence models.")
    sub = p.add_subparsers(dest="command", parser_class=_Parser)

    t = sub.add_parser("train", help="train a character language model")
    t.add_argument("--model", choices=LM_MODELS + MLM_MODELS, default="gpt")
    t.add_argument("--data", help="UTF-8 text file, or a directory from `attnrs prepare` "
                   "(default: the built-in corpus)")  # fmt: skip
    t.add_argument("--out", help="output directory (default: runs/<model>)")
    t.add_argument("--resume", action="store_true", help="continue from OUT/checkpoint.safetensors")
    for flag in ("block-size", "batch-size", "n-layer", "n-head", "n-embd", "steps",
                 "eval-interval", "eval-iters", "kernel-size"):  # fmt: skip
        t.add_argument(f"--{flag}", type=_positive_int)
    t.add_argument("--warmup", type=_nonneg_int, help="linear warm-up steps")
    t.add_argument("--tie-weights", action="store_true", default=None, help="gpt: lm_head shares wte")
    for flag in ("dropout", "lr", "min-lr", "beta2", "weight-decay", "grad-clip"):
        t.add_argument(f"--{flag}", type=_nonneg_float)
    t.add_argument("--cell", choices=("rnn", "lstm", "gru"), help="char-rnn cell (default lstm)")
    t.add_argument("--tokenizer", choices=("char", "word"), help="bert: characters (default) or words")
    t.add_argument("--max-vocab", type=_positive_int, help="bert --tokenizer word: vocabulary cap (default 8000)")
    t.add_argument("--seed", type=int, default=1337)
    t.add_argument("--sample-length", type=int, default=300, help="characters sampled at the end")
    t.add_argument("--no-progress", action="store_true", help="no tqdm bar")
    t.add_argument("--distributed", action="store_true",
                   help="data-parallel over MPI (automatic under mpiexec); --batch-size is per rank")
    t.add_argument("--bucket-cap-mb", type=_nonneg_float, default=25.0,
                   help="gradient all-reduce bucket size in MiB (distributed)")  # fmt: skip

    pr = sub.add_parser("prepare", help="tokenize a text file (any size) into memmap token files")
    pr.add_argument("--data", required=True, help="UTF-8 text file")
    pr.add_argument("--out", required=True, help="output directory (train.bin, val.bin, meta.json)")
    pr.add_argument("--tokenizer", choices=("char", "word"), default="char")
    pr.add_argument("--val-fraction", type=_nonneg_float, default=0.1)

    g = sub.add_parser("generate", help="sample from a trained run directory")
    g.add_argument("--out", required=True, help="run directory written by `attnrs train`")
    g.add_argument("--prompt", default="\n")
    g.add_argument("--length", type=_positive_int, default=500)
    g.add_argument("--temperature", type=float, default=0.8)
    g.add_argument("--top-k", type=_positive_int)
    g.add_argument("--seed", type=int, default=0)

    b = sub.add_parser("bench", help="kernel and training benchmarks")
    b.add_argument("--only", help="comma-separated benchmark names (see --list)")
    b.add_argument("--list", action="store_true", help="list the benchmarks and exit")
    b.add_argument("--quick", action="store_true", help="fewer repeats")
    b.add_argument("--isa", choices=("avx2", "native"),
                   help="run attnrs, NumPy and PyTorch all on this SIMD level (re-executes the command)")

    sub.add_parser("info", help="version, SIMD level, threads")

    pl = sub.add_parser("plot", help="draw loss curves from run directories' log.jsonl")
    pl.add_argument("dirs", nargs="+", help="run directories (several: one chart, one colour per run)")
    pl.add_argument("--out", help="PNG path (default: DIR/loss.png for one run, loss_compare.png for several)")
    return p


# --- train -------------------------------------------------------------------------------


def _load_run_config(path: Path, blob: bytes | None = None) -> dict[str, Any]:
    """``DIR/config.json`` of a run (or its bytes ``blob``, as rank 0 read and
    broadcast them), checked to hold what ``train --resume`` and ``generate``
    read; ``CliError`` naming the file otherwise."""
    try:
        run = json.loads(path.read_bytes() if blob is None else blob)
    except (ValueError, RecursionError, UnicodeDecodeError) as e:
        raise CliError(f"{path}: not a valid run config (JSON): {e}") from None
    if not isinstance(run, dict):
        raise CliError(f"{path}: expected a JSON object, got {type(run).__name__}")
    for key in ("model_config", "tokenizer"):
        if not isinstance(run.get(key), dict):
            raise CliError(f"{path}: missing or malformed {key!r} (expected an object)")
    return run


def _build_model(path: Path, name: str, model_config: dict) -> Any:
    """The model of a run config, with its config errors as ``CliError``."""
    from .models import REGISTRY

    if name not in REGISTRY:
        raise CliError(f"{path}: unknown model {name!r}")
    config_cls, model_cls = REGISTRY[name]
    try:
        cfg = config_cls(**model_config)
    except TypeError as e:
        raise CliError(f"{path}: bad model_config: {e}") from None
    return cfg, model_cls


def _model_config(name: str, settings: dict, vocab_size: int) -> Any:
    from .models import REGISTRY

    config_cls, _ = REGISTRY[name]
    names = {f.name for f in fields(config_cls)}
    kw = {k: v for k, v in settings.items() if k in names}
    return config_cls(vocab_size=vocab_size, **kw)


def cmd_train(args: argparse.Namespace) -> None:
    from . import distributed as dist

    distributed = bool(args.distributed) or dist.launched_under_mpi()
    if not distributed:
        _train(args, False)
        return
    dist.init(force=True)
    # Any rank's error ends the whole job: a user error with its one line and exit
    # status 2 (as without MPI), anything else with a traceback and status 1.
    with dist.abort_on_error(1):
        try:
            _train(args, True)
        except (CliError, ValueError, TypeError, OSError) as e:
            if dist.world_size() == 1:
                raise
            msg = str(e) if str(e).startswith("attnrs") else f"attnrs train: {e}"
            print(f"error: {msg} (rank {dist.rank()} of {dist.world_size()})", file=sys.stderr)
            dist.abort(2)


def _noop(*args: Any, **kwargs: Any) -> None:
    return None


def _train(args: argparse.Namespace, distributed: bool) -> None:
    from . import data
    from . import distributed as dist
    from .models import REGISTRY
    from .tensor import manual_seed
    from .train import LossCurvePlot, TrainConfig, Trainer

    rank, world = (dist.rank(), dist.world_size()) if distributed else (0, 1)
    say = print if rank == 0 else _noop
    out = Path(args.out or f"runs/{args.model}")
    if args.tokenizer == "word" and args.model not in MLM_MODELS:
        raise CliError(f"--tokenizer word: only for --model bert (the {args.model} command trains on characters)")
    settings = dict(TRAIN_DEFAULTS[args.model])
    skip = ("model", "data", "out", "resume", "no_progress", "command", "distributed", "bucket_cap_mb")
    for k, v in vars(args).items():
        if v is not None and k not in skip:
            settings[k] = v
    if args.model == "gpt" and settings["n_embd"] % settings["n_head"]:
        raise CliError(f"--n-embd ({settings['n_embd']}) must be divisible by --n-head ({settings['n_head']})")
    tokens = None
    if args.data is not None and Path(args.data).is_dir():
        if not data.is_token_dir(args.data):
            raise CliError(f"--data {args.data}: a directory must come from `attnrs prepare` (no meta.json)")
        tokens = data.load_tokens(args.data)  # np.memmap: nothing is read yet
        text = None
    else:
        text = data.load_text(args.data)
    if args.model in MLM_MODELS:
        if tokens is not None:
            raise CliError(f"--model {args.model}: --data must be a text file (the tokenizer adds [MASK] etc.)")
        return _train_bert(args, settings, text, out)
    saved = None
    if args.resume:  # the model and tokenizer come from the run; training flags may change
        blob = None
        if rank == 0:
            cfg_path = out / "config.json"
            if not (out / Trainer.CHECKPOINT).is_file() or not cfg_path.is_file():
                raise CliError(f"--resume: no checkpoint in {out}")
            blob = cfg_path.read_bytes()
        cfg_path = out / "config.json"
        saved = _load_run_config(cfg_path, dist.broadcast_bytes(blob) if distributed else blob)
        if saved.get("model") != args.model:
            raise CliError(f"--resume: {out} holds a {saved.get('model')!r} run, not {args.model!r}")
        try:
            settings.update(block_size=int(saved["model_config"]["block_size"]))
            if args.batch_size is None:  # keep the global batch when the number of ranks changed
                glob = int(saved.get("global_batch_size", saved["batch_size"]))
                settings["batch_size"] = glob // world if glob % world == 0 else int(saved["batch_size"])
        except (KeyError, TypeError, ValueError):
            raise CliError(f"{cfg_path}: missing or malformed block_size/batch_size") from None
        tok = data.tokenizer_from_dict(saved["tokenizer"])
        if tokens is not None and tokens.tokenizer.to_dict() != saved["tokenizer"]:
            raise CliError(f"--resume: the tokenizer of {args.data} differs from the run's in {out}")
    else:
        tok = tokens.tokenizer if tokens is not None else data.CharTokenizer.from_text(text)
    if tokens is not None:
        train_ids, val_ids = tokens.train, tokens.val
    else:
        train_ids, val_ids = data.train_val_split(tok.encode(text))
    bs, block = settings["batch_size"], settings["block_size"]
    if len(val_ids) <= block or len(train_ids) <= block:
        raise CliError(f"data too small: {len(train_ids) + len(val_ids)} tokens for --block-size {block}")

    def get_batch(split: str, rng: np.random.Generator, rank: int = 0,
                  world_size: int = 1) -> tuple[tuple, np.ndarray]:  # fmt: skip
        ids = train_ids if split == "train" else val_ids
        x, y = data.get_batch(ids, bs, block, rng, rank=rank, world_size=world_size)
        return (x,), y

    manual_seed(args.seed)
    config_cls, model_cls = REGISTRY[args.model]
    if saved is not None:
        mcfg, _ = _build_model(cfg_path, args.model, saved["model_config"])
    else:
        mcfg = _model_config(args.model, settings, tok.vocab_size)
    model = model_cls(mcfg)
    tnames = {f.name for f in fields(TrainConfig)}
    tcfg = TrainConfig(progress=not args.no_progress,
                       **{k: v for k, v in settings.items() if k in tnames})  # fmt: skip
    run_config = {
        "model": args.model, "model_config": asdict(mcfg), "train_config": asdict(tcfg),
        "batch_size": bs, "world_size": world, "global_batch_size": bs * world,
        "data": str(args.data) if args.data else "builtin", "tokenizer": tok.to_dict(),
    }  # fmt: skip
    trainer = Trainer(model, tcfg, get_batch, out_dir=out, callbacks=[LossCurvePlot()],
                      run_config=run_config, distributed=distributed,
                      bucket_cap_mb=args.bucket_cap_mb or 25.0)  # fmt: skip
    if rank == 0:
        out.mkdir(parents=True, exist_ok=True)
    if args.resume:
        trainer.load_checkpoint(out / Trainer.CHECKPOINT)
        say(f"resumed {out} at step {trainer.step}")
    elif rank == 0:
        (out / Trainer.LOG).unlink(missing_ok=True)
    if rank == 0:
        (out / "config.json").write_text(json.dumps(run_config, indent=2))
    say(f"{args.model}: {model.num_parameters():,} parameters, vocab {tok.vocab_size}, "
        f"{len(train_ids):,} train / {len(val_ids):,} val tokens -> {out}")  # fmt: skip
    if distributed:
        say(f"data parallel: {world} rank(s) x batch {bs} = global batch {bs * world} "
            f"sequences of {block} tokens")  # fmt: skip
    trainer.run()
    if rank != 0:
        return
    last = trainer.history[-1] if trainer.history else {}
    print(f"step {trainer.step}: train loss {last.get('train_loss', float('nan')):.4f}, "
          f"val loss {last.get('val_loss', trainer.best_val):.4f}")  # fmt: skip
    _plot_attention(model, tok, np.asarray(val_ids[: min(32, block)], dtype=np.int64), out)
    if args.sample_length > 0:
        print("--- sample ---")
        chars = getattr(tok, "chars", None)
        if chars is not None:
            prompt = "\n" if "\n" in chars else chars[0]
        else:
            prompt = tok.words[1] if len(tok.words) > 1 else ""
        print(_sample(model, tok, prompt, args.sample_length, 0.8, None, args.seed))


def cmd_prepare(args: argparse.Namespace) -> None:
    from . import data

    if not 0.0 < args.val_fraction < 1.0:
        raise CliError(f"--val-fraction must be in (0, 1); got {args.val_fraction}")
    meta = data.prepare_tokens(args.data, args.out, args.tokenizer, args.val_fraction)
    print(f"{args.data}: {meta['train_tokens']:,} train / {meta['val_tokens']:,} val tokens, "
          f"{args.tokenizer} vocabulary {meta['vocab_size']:,} ({meta['dtype']}) -> {args.out}")  # fmt: skip


def _train_bert(args: argparse.Namespace, settings: dict, text: str, out: Path) -> None:
    """``attnrs train --model bert``: masked-LM pretraining (BERT's 15 % / 80-10-10
    rule) on char or word tokens with [PAD] [MASK] [CLS] [SEP] added to the
    vocabulary; logs masked-token accuracy beside the loss."""
    from . import data
    from .autograd import no_grad
    from .models import BERT, BERTConfig
    from .tensor import manual_seed
    from .train import LossCurvePlot, TrainConfig, Trainer

    saved = None
    if args.resume:
        cfg_path = out / "config.json"
        if not (out / Trainer.CHECKPOINT).is_file() or not cfg_path.is_file():
            raise CliError(f"--resume: no checkpoint in {out}")
        saved = _load_run_config(cfg_path)
        if saved.get("model") != "bert":
            raise CliError(f"--resume: {out} holds a {saved.get('model')!r} run, not 'bert'")
        try:
            settings.update(block_size=int(saved["model_config"]["block_size"]),
                            batch_size=int(saved["batch_size"]))  # fmt: skip
        except (KeyError, TypeError, ValueError):
            raise CliError(f"{cfg_path}: missing or malformed block_size/batch_size") from None
        tok = data.MLMTokenizer.from_dict(saved["tokenizer"])
    elif (args.tokenizer or "char") == "word":
        tok = data.MLMTokenizer(data.WordTokenizer.from_text(text, max_vocab=args.max_vocab or 8000))
    else:
        tok = data.MLMTokenizer(data.CharTokenizer.from_text(text))
    ids = tok.encode(text)
    train_ids, val_ids = data.train_val_split(ids)
    bs, block, V = settings["batch_size"], settings["block_size"], tok.vocab_size
    if len(val_ids) <= block:
        raise CliError(f"data too small: {len(ids)} tokens for --block-size {block}")

    def get_batch(split: str, rng: np.random.Generator) -> tuple[tuple, np.ndarray]:
        x, y = data.get_mlm_batch(train_ids if split == "train" else val_ids, bs, block, rng, V)
        return (x,), y

    manual_seed(args.seed)
    mcfg = BERTConfig(**saved["model_config"]) if saved else _model_config("bert", settings, V)
    model = BERT(mcfg)
    tnames = {f.name for f in fields(TrainConfig)}
    tcfg = TrainConfig(progress=not args.no_progress, **{k: v for k, v in settings.items() if k in tnames})
    run_config = {
        "model": "bert", "model_config": asdict(mcfg), "train_config": asdict(tcfg), "batch_size": bs,
        "data": str(args.data) if args.data else "builtin", "tokenizer": tok.to_dict(),
    }  # fmt: skip
    metric = lambda logits, t: {"masked_acc": BERT.masked_accuracy(logits, t)}
    trainer = Trainer(model, tcfg, get_batch, out_dir=out, callbacks=[LossCurvePlot()],
                      run_config=run_config, metric_fn=metric)  # fmt: skip
    out.mkdir(parents=True, exist_ok=True)
    if args.resume:
        trainer.load_checkpoint(out / Trainer.CHECKPOINT)
        print(f"resumed {out} at step {trainer.step}")
    else:
        (out / Trainer.LOG).unlink(missing_ok=True)
    (out / "config.json").write_text(json.dumps(run_config, indent=2))
    print(f"bert: {model.num_parameters():,} parameters, vocab {V} ({tok.n_special} special), "
          f"{len(train_ids):,} train / {len(val_ids):,} val tokens -> {out}")  # fmt: skip
    trainer.run()
    last = trainer.history[-1] if trainer.history else {}
    print(f"step {trainer.step}: train loss {last.get('train_loss', float('nan')):.4f}, "
          f"val loss {last.get('val_loss', trainer.best_val):.4f}, "
          f"val masked-token accuracy {last.get('val_masked_acc', float('nan')):.3f}")  # fmt: skip
    # A fill-in-the-blanks demo on a held-out window: [MASK]ed input, then the model's guesses.
    x, y = data.get_mlm_batch(val_ids, 1, min(block, 48), np.random.default_rng(args.seed), V)
    model.eval()
    with no_grad():
        logits, _ = model(x)
    filled = np.where(y != data.MLM_IGNORE, logits._array.argmax(-1), x)
    print("--- fill in the masks ---")
    print("input: ", tok.decode(x[0]))
    print("filled:", tok.decode(filled[0]))
    print("truth: ", tok.decode(np.where(y != data.MLM_IGNORE, y, x)[0]))


def cmd_plot(args: argparse.Namespace) -> None:
    from .train import plot_logs

    dirs = [Path(d) for d in args.dirs]
    for d in dirs:
        if not (d / "log.jsonl").is_file():
            raise CliError(f"plot: {d} has no log.jsonl (a directory written by `attnrs train`)")
    out = Path(args.out) if args.out else (dirs[0] / "loss.png" if len(dirs) == 1 else Path("loss_compare.png"))
    if not plot_logs(dirs, out):
        raise CliError("plot: needs matplotlib (pip install matplotlib, or `make build`)")
    print(f"curves -> {out}")


def _plot_attention(model: Any, tok: Any, ids: np.ndarray, out: Path) -> None:
    """``out/attention.png``: the last layer's heads on a validation snippet
    (models with ``attention_maps`` only; needs matplotlib)."""
    if not hasattr(model, "attention_maps"):
        return
    from .train import save_attention_map

    maps = model.attention_maps(ids[None, :])[-1][0]  # (n_head, T, T)
    labels = [repr(tok.decode([int(i)]))[1:-1] for i in ids]
    if save_attention_map(maps, out / "attention.png", labels, labels, title="last layer, per head"):
        print(f"attention map -> {out / 'attention.png'}")


def _sample(model: Any, tok: Any, prompt: str, length: int, temperature: float,
            top_k: int | None, seed: int) -> str:  # fmt: skip
    from .tensor import manual_seed

    try:
        ctx = tok.encode(prompt or "\n")
    except ValueError as e:
        raise CliError(str(e)) from None
    if len(ctx) == 0:
        ctx = np.zeros(1, dtype=np.int64)
    manual_seed(seed)
    model.eval()
    out = model.generate(ctx[None, :], length, temperature=temperature, top_k=top_k)
    return tok.decode(np.asarray(out)[0])


# --- generate ----------------------------------------------------------------------------


def cmd_generate(args: argparse.Namespace) -> None:
    from . import data, io

    out = Path(args.out)
    cfg_path, ckpt = out / "config.json", out / "checkpoint.safetensors"
    for p in (cfg_path, ckpt):
        if not p.is_file():
            raise CliError(f"not a run directory: {p} is missing (run `attnrs train --out {out}`)")
    if not (args.temperature > 0 and np.isfinite(args.temperature)):
        raise CliError(f"--temperature must be a positive number; got {args.temperature}")
    run = _load_run_config(cfg_path)
    mcfg, model_cls = _build_model(cfg_path, run.get("model"), run["model_config"])
    model = model_cls(mcfg)
    if not hasattr(model_cls, "generate"):
        raise CliError(f"{out} holds a {run.get('model')!r} run, which does not generate text")
    io.load_checkpoint(str(ckpt), model)
    tok = data.tokenizer_from_dict(run["tokenizer"])
    print(_sample(model, tok, args.prompt, args.length, args.temperature, args.top_k, args.seed))


# --- bench and info ----------------------------------------------------------------------


def cmd_bench(args: argparse.Namespace) -> None:
    from . import bench

    if args.isa:
        from .bench import _isa

        argv = ["bench", "--isa", args.isa] + (["--only", args.only] if args.only else [])
        _isa.reexec(args.isa, argv + ["--quick"] * args.quick + ["--list"] * args.list)
        print(_isa.report(), end="\n\n")
    names = bench.available()
    if args.list:
        print("\n".join(names))
        return
    only = [s.strip() for s in args.only.split(",")] if args.only else names
    unknown = [n for n in only if n not in names]
    if unknown:
        raise CliError(f"bench --only: unknown benchmark(s) {unknown}; available: {names}")
    for name in only:
        print(f"== {name}")
        rows = bench.run(name, quick=args.quick)
        print(bench.format_table(rows))
        print()


def cmd_info(args: argparse.Namespace) -> None:
    import attnrs

    for k, v in attnrs.info().items():
        print(f"{k}: {v}")


COMMANDS = {
    "train": cmd_train, "prepare": cmd_prepare, "generate": cmd_generate, "bench": cmd_bench,
    "info": cmd_info, "plot": cmd_plot,
}  # fmt: skip


def _debug_requested(argv: list[str]) -> bool:
    return "--debug" in argv or os.environ.get("ATTNRS_DEBUG", "") not in ("", "0")


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    debug = _debug_requested(argv)
    argv = [a for a in argv if a != "--debug"]
    parser = _build_parser()
    args = None
    try:
        args = parser.parse_args(argv)
        if args.command is None:
            parser.print_help()
            return 2
        COMMANDS[args.command](args)
        return 0
    except CliError as e:
        if debug:
            traceback.print_exc()
        msg = str(e) if str(e).startswith("attnrs") else f"attnrs: {e}"
        print(f"error: {_one_line(msg)}", file=sys.stderr)
        return 2
    except (ValueError, TypeError, OSError) as e:
        if debug:
            traceback.print_exc()
        print(f"error: attnrs {getattr(args, 'command', '')}: {_one_line(str(e))}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("attnrs: interrupted", file=sys.stderr)
        return 130
    except Exception as e:  # out of memory, a bug: still one line, unless --debug
        if debug:
            traceback.print_exc()
        hint = "" if debug else " (run with --debug for the traceback)"
        what = "out of memory: " if isinstance(e, MemoryError) else f"{type(e).__name__}: "
        print(f"error: attnrs {getattr(args, 'command', '')}: {what}{_one_line(str(e))}{hint}",
              file=sys.stderr)  # fmt: skip
        return 1


def _one_line(msg: str) -> str:
    return " ".join(msg.split()) or "(no message)"


if __name__ == "__main__":
    sys.exit(main())
