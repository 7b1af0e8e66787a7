"""The ``attnrs`` command: ``train``, ``generate``, ``bench``, ``info``, ``plot``.

``attnrs train`` trains a character language model (gpt, char-rnn or tcn) on
``--data PATH`` or on the built-in corpus, writes ``DIR/config.json``,
``DIR/log.jsonl`` and ``DIR/checkpoint.safetensors`` and prints a sample;
``attnrs generate --out DIR`` samples from such a directory. ``attnrs train
--model bert`` pretrains a masked language model instead (char or word
tokens), and ``attnrs plot DIR [DIR ...]`` redraws loss curves from logs. Bad arguments and
missing files end with a one-line error on stderr and exit status 2.
"""

from __future__ import annotations

import argparse
import json
import sys
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
    t.add_argument("--data", help="UTF-8 text file (default: the built-in corpus)")
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

    sub.add_parser("info", help="version, SIMD level, threads")

    pl = sub.add_parser("plot", help="draw loss curves from run directories' log.jsonl")
    pl.add_argument("dirs", nargs="+", help="run directories (several: one chart, one colour per run)")
    pl.add_argument("--out", help="PNG path (default: DIR/loss.png for one run, loss_compare.png for several)")
    return p


# --- train -------------------------------------------------------------------------------


def _model_config(name: str, settings: dict, vocab_size: int) -> Any:
    from .models import REGISTRY

    config_cls, _ = REGISTRY[name]
    names = {f.name for f in fields(config_cls)}
    kw = {k: v for k, v in settings.items() if k in names}
    return config_cls(vocab_size=vocab_size, **kw)


def cmd_train(args: argparse.Namespace) -> None:
    from . import data
    from .models import REGISTRY
    from .tensor import manual_seed
    from .train import LossCurvePlot, TrainConfig, Trainer

    out = Path(args.out or f"runs/{args.model}")
    if args.tokenizer == "word" and args.model not in MLM_MODELS:
        raise CliError(f"--tokenizer word: only for --model bert (the {args.model} command trains on characters)")
    settings = dict(TRAIN_DEFAULTS[args.model])
    for k, v in vars(args).items():
        if v is not None and k not in ("model", "data", "out", "resume", "no_progress", "command"):
            settings[k] = v
    if args.model == "gpt" and settings["n_embd"] % settings["n_head"]:
        raise CliError(f"--n-embd ({settings['n_embd']}) must be divisible by --n-head ({settings['n_head']})")
    text = data.load_text(args.data)
    if args.model in MLM_MODELS:
        return _train_bert(args, settings, text, out)
    saved = None
    if args.resume:  # the model and tokenizer come from the run; training flags may change
        cfg_path = out / "config.json"
        if not (out / Trainer.CHECKPOINT).is_file() or not cfg_path.is_file():
            raise CliError(f"--resume: no checkpoint in {out}")
        saved = json.loads(cfg_path.read_text())
        if saved.get("model") != args.model:
            raise CliError(f"--resume: {out} holds a {saved.get('model')!r} run, not {args.model!r}")
        settings.update(block_size=saved["model_config"]["block_size"], batch_size=saved["batch_size"])
        tok = data.tokenizer_from_dict(saved["tokenizer"])
    else:
        tok = data.CharTokenizer.from_text(text)
    ids = tok.encode(text)
    train_ids, val_ids = data.train_val_split(ids)
    bs, block = settings["batch_size"], settings["block_size"]
    if len(val_ids) <= block:
        raise CliError(f"data too small: {len(ids)} characters for --block-size {block}")

    def get_batch(split: str, rng: np.random.Generator) -> tuple[tuple, np.ndarray]:
        x, y = data.get_batch(train_ids if split == "train" else val_ids, bs, block, rng)
        return (x,), y

    manual_seed(args.seed)
    config_cls, model_cls = REGISTRY[args.model]
    if saved is not None:
        mcfg = config_cls(**saved["model_config"])
    else:
        mcfg = _model_config(args.model, settings, tok.vocab_size)
    model = model_cls(mcfg)
    tnames = {f.name for f in fields(TrainConfig)}
    tcfg = TrainConfig(progress=not args.no_progress,
                       **{k: v for k, v in settings.items() if k in tnames})  # fmt: skip
    run_config = {
        "model": args.model, "model_config": asdict(mcfg), "train_config": asdict(tcfg),
        "batch_size": bs, "data": str(args.data) if args.data else "builtin",
        "tokenizer": tok.to_dict(),
    }  # fmt: skip
    trainer = Trainer(model, tcfg, get_batch, out_dir=out, callbacks=[LossCurvePlot()],
                      run_config=run_config)  # fmt: skip
    out.mkdir(parents=True, exist_ok=True)
    if args.resume:
        trainer.load_checkpoint(out / Trainer.CHECKPOINT)
        print(f"resumed {out} at step {trainer.step}")
    else:
        (out / Trainer.LOG).unlink(missing_ok=True)
    (out / "config.json").write_text(json.dumps(run_config, indent=2))
    print(f"{args.model}: {model.num_parameters():,} parameters, vocab {tok.vocab_size}, "
          f"{len(train_ids):,} train / {len(val_ids):,} val tokens -> {out}")  # fmt: skip
    trainer.run()
    last = trainer.history[-1] if trainer.history else {}
    print(f"step {trainer.step}: train loss {last.get('train_loss', float('nan')):.4f}, "
          f"val loss {last.get('val_loss', trainer.best_val):.4f}")  # fmt: skip
    _plot_attention(model, tok, val_ids[: min(32, block)], out)
    if args.sample_length > 0:
        print("--- sample ---")
        prompt = "\n" if "\n" in tok.chars else tok.chars[0]
        print(_sample(model, tok, prompt, args.sample_length, 0.8, None, args.seed))


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
        saved = json.loads(cfg_path.read_text())
        if saved.get("model") != "bert":
            raise CliError(f"--resume: {out} holds a {saved.get('model')!r} run, not 'bert'")
        settings.update(block_size=saved["model_config"]["block_size"], batch_size=saved["batch_size"])
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
    filled = np.where(y != data.MLM_IGNORE, logits.data.argmax(-1), x)
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
    labels = [repr(c)[1:-1] for c in tok.decode(ids)]
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
    from .models import REGISTRY

    out = Path(args.out)
    cfg_path, ckpt = out / "config.json", out / "checkpoint.safetensors"
    for p in (cfg_path, ckpt):
        if not p.is_file():
            raise CliError(f"not a run directory: {p} is missing (run `attnrs train --out {out}`)")
    if not (args.temperature > 0 and np.isfinite(args.temperature)):
        raise CliError(f"--temperature must be a positive number; got {args.temperature}")
    run = json.loads(cfg_path.read_text())
    name = run.get("model")
    if name not in REGISTRY:
        raise CliError(f"{cfg_path}: unknown model {name!r}")
    config_cls, model_cls = REGISTRY[name]
    if not hasattr(model_cls, "generate"):
        raise CliError(f"{out} holds a {name!r} run, which does not generate text")
    model = model_cls(config_cls(**run["model_config"]))
    io.load_checkpoint(str(ckpt), model)
    tok = data.tokenizer_from_dict(run["tokenizer"])
    print(_sample(model, tok, args.prompt, args.length, args.temperature, args.top_k, args.seed))


# --- bench and info ----------------------------------------------------------------------


def cmd_bench(args: argparse.Namespace) -> None:
    from . import bench

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


COMMANDS = {"train": cmd_train, "generate": cmd_generate, "bench": cmd_bench, "info": cmd_info}
COMMANDS["plot"] = cmd_plot


def main(argv: Sequence[str] | None = None) -> int:
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
        msg = str(e) if str(e).startswith("attnrs") else f"attnrs: {e}"
        print(f"error: {msg}", file=sys.stderr)
        return 2
    except (ValueError, TypeError, OSError) as e:
        print(f"error: attnrs {getattr(args, 'command', '')}: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("attnrs: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
