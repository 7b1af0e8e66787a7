"""Data for the models: tokenizers, corpora, batching and synthetic tasks.

- ``CharTokenizer`` / ``WordTokenizer``: text ↔ int64 id arrays; ``to_dict`` /
  ``tokenizer_from_dict`` store the vocabulary in a run's ``config.json``.
- ``builtin_corpus()``: ~465 KB of English prose that ships with every CPython
  (``pydoc_data.topics``), so ``attnrs train`` needs no download.
- ``train_val_split`` (first 90 % / last 10 %) and ``get_batch`` (random
  windows, drawn from a caller-owned seeded generator).
- ``prepare_tokens`` / ``load_tokens``: a corpus larger than memory, streamed
  into ``train.bin`` / ``val.bin`` id files (uint16 or uint32) read with
  ``np.memmap``, plus ``meta.json`` (the tokenizer) — ``attnrs prepare``.
- Synthetic tasks with exact-match metrics: copy, reverse, sort, addition
  (seq2seq), majority (seq2label) and label2seq.

Token ids and targets are plain NumPy int64 arrays.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Union

import numpy as np

__all__ = [
    "BOS",
    "EOS",
    "N_SPECIAL",
    "PAD",
    "SEQ2SEQ_TASKS",
    "CharTokenizer",
    "Seq2SeqData",
    "TokenData",
    "WordTokenizer",
    "builtin_corpus",
    "exact_match",
    "get_batch",
    "is_token_dir",
    "load_text",
    "lm_batches",
    "load_tokens",
    "MLMTokenizer",
    "bert_mask",
    "get_mlm_batch",
    "make_corruption_task",
    "make_label2seq_task",
    "make_majority_task",
    "make_seq2seq_task",
    "prepare_tokens",
    "skipgram_pairs",
    "strip_special",
    "tokenizer_from_dict",
    "train_val_split",
]  # fmt: skip

PathLike = Union[str, Path]


# --- tokenizers --------------------------------------------------------------------------


class CharTokenizer:
    """One id per distinct character, ids in sorted character order (nanoGPT's scheme)."""

    def __init__(self, chars: Sequence[str]) -> None:
        chars = list(chars)
        if not chars:
            raise ValueError("CharTokenizer: chars must not be empty")
        if len(set(chars)) != len(chars) or any(len(c) != 1 for c in chars):
            raise ValueError("CharTokenizer: chars must be distinct single characters")
        self.chars = chars
        self.stoi = {c: i for i, c in enumerate(chars)}

    @classmethod
    def from_text(cls, text: str) -> CharTokenizer:
        return cls(sorted(set(text)))

    @property
    def vocab_size(self) -> int:
        return len(self.chars)

    def encode(self, text: str) -> np.ndarray:
        """``text`` → int64 ids; a character outside the vocabulary raises ValueError."""
        try:
            return np.fromiter((self.stoi[c] for c in text), dtype=np.int64, count=len(text))
        except KeyError as e:
            raise ValueError(
                f"CharTokenizer.encode: character {e.args[0]!r} is not in the vocabulary "
                f"({self.vocab_size} characters)"
            ) from None

    def decode(self, ids: Any) -> str:
        return "".join(self.chars[int(i)] for i in np.asarray(ids).reshape(-1))

    def to_dict(self) -> dict:
        return {"kind": "char", "chars": "".join(self.chars)}


class WordTokenizer:
    """Lower-cased words (``[a-z0-9_']+``) with a frequency-ranked vocabulary.

    Id 0 is ``<unk>``; words rarer than ``min_count`` (or beyond ``max_vocab``)
    map to it.
    """

    UNK = "<unk>"
    _word = re.compile(r"[a-z0-9_']+")

    def __init__(self, words: Sequence[str]) -> None:
        self.words = [self.UNK] + [w for w in words if w != self.UNK]
        self.stoi = {w: i for i, w in enumerate(self.words)}

    @classmethod
    def split(cls, text: str) -> list[str]:
        return cls._word.findall(text.lower())

    @classmethod
    def from_text(cls, text: str, min_count: int = 1, max_vocab: int | None = None) -> WordTokenizer:
        words, counts = np.unique(np.array(cls.split(text), dtype=object), return_counts=True)
        order = sorted(range(len(words)), key=lambda i: (-counts[i], words[i]))
        kept = [str(words[i]) for i in order if counts[i] >= min_count]
        if max_vocab is not None:
            kept = kept[: max(max_vocab - 1, 0)]
        return cls(kept)

    @property
    def vocab_size(self) -> int:
        return len(self.words)

    def encode(self, text: str) -> np.ndarray:
        return np.array([self.stoi.get(w, 0) for w in self.split(text)], dtype=np.int64)

    def decode(self, ids: Any) -> str:
        return " ".join(self.words[int(i)] for i in np.asarray(ids).reshape(-1))

    def to_dict(self) -> dict:
        return {"kind": "word", "words": self.words[1:]}


def tokenizer_from_dict(d: dict) -> CharTokenizer | WordTokenizer:
    """Inverse of ``to_dict`` (the form stored in ``config.json``)."""
    kind = d.get("kind") if isinstance(d, dict) else None
    if kind == "char":
        return CharTokenizer(list(d["chars"]))
    if kind == "word":
        return WordTokenizer(d["words"])
    raise ValueError(f"tokenizer_from_dict: unknown tokenizer kind {kind!r}; expected 'char' or 'word'")


# --- corpora -----------------------------------------------------------------------------

_FALLBACK_MODULES = ("builtins", "collections", "itertools", "functools", "os", "re", "json", "string")


def builtin_corpus() -> str:
    """English prose that ships with Python: the pydoc topic help (~465 KB).

    Where ``pydoc_data`` is absent (some minimal Python builds), falls back to
    the docstrings of a few standard-library modules and their members.
    """
    try:
        from pydoc_data.topics import topics

        return "\n\n".join(topics[k] for k in sorted(topics))
    except ImportError:
        import importlib

        parts: list[str] = []
        for name in _FALLBACK_MODULES:
            mod = importlib.import_module(name)
            parts.append(mod.__doc__ or "")
            for attr in sorted(dir(mod)):
                doc = getattr(getattr(mod, attr, None), "__doc__", None)
                if isinstance(doc, str):
                    parts.append(doc)
        return "\n\n".join(p for p in parts if p)


def load_text(path: PathLike | None = None) -> str:
    """The text at ``path`` (UTF-8), or the built-in corpus when ``path`` is None."""
    if path is None:
        return builtin_corpus()
    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"data file not found: {p}")
    text = p.read_text(encoding="utf-8")
    if not text:
        raise ValueError(f"data file is empty: {p}")
    return text


def train_val_split(data: np.ndarray, train_frac: float = 0.9) -> tuple[np.ndarray, np.ndarray]:
    """First ``train_frac`` of ``data`` for training, the rest for validation."""
    if not 0.0 < train_frac < 1.0:
        raise ValueError(f"train_val_split: train_frac must be in (0, 1); got {train_frac}")
    n = int(len(data) * train_frac)
    return data[:n], data[n:]


def get_batch(
    data: np.ndarray,
    batch_size: int,
    block_size: int,
    rng: np.random.Generator,
    rank: int = 0,
    world_size: int = 1,
) -> tuple[np.ndarray, np.ndarray]:
    """``batch_size`` random windows of ``data`` and the same windows shifted by one.

    Draws the start positions of a global batch of ``world_size * batch_size``
    windows from ``rng`` (distinct positions when the data has that many) and
    returns rank ``rank``'s consecutive share, so ranks holding the same ``rng``
    get disjoint windows and their union does not depend on ``world_size``.
    ``data`` may be an ``np.memmap``: only the chosen windows are read.

    # Shapes
    - data: (N,) int ids, N > block_size
    - returns x, y: (batch_size, block_size) int64, ``y[:, t] == x[:, t + 1]`` inside a window
    """
    n = len(data) - block_size
    if n < 1:
        raise ValueError(
            f"get_batch: data has {len(data)} tokens; need more than block_size={block_size}"
        )
    if not 0 <= rank < world_size:
        raise ValueError(f"get_batch: need 0 <= rank < world_size; got rank={rank}, world_size={world_size}")
    total = batch_size * world_size
    starts = rng.choice(n, size=total, replace=False) if n >= total else rng.integers(0, n, size=total)
    starts = starts[rank * batch_size : (rank + 1) * batch_size]
    idx = starts[:, None] + np.arange(block_size + 1)[None, :]  # (B, T+1)
    win = np.asarray(data[idx], dtype=np.int64)  # fancy indexing reads only these tokens
    return win[:, :-1], win[:, 1:]


def lm_batches(
    train: np.ndarray, val: np.ndarray, batch_size: int, block_size: int
) -> Callable[[str, np.random.Generator], tuple[tuple[np.ndarray], np.ndarray]]:
    """The ``get_batch(split, rng)`` a language model's ``Trainer`` asks for:
    ``get_batch`` windows of ``train`` (split ``"train"``) or ``val``, as ``((x,), y)``
    so that ``model(x, targets=y)`` returns ``(logits, loss)``.

    # Shapes
    - train, val: (N,) int ids → x, y: (batch_size, block_size) int64
    """

    def batches(split: str, rng: np.random.Generator) -> tuple[tuple[np.ndarray], np.ndarray]:
        x, y = get_batch(train if split == "train" else val, batch_size, block_size, rng)
        return (x,), y

    return batches


# --- token files larger than memory (attnrs prepare) --------------------------------------

TOKENS_META = "meta.json"
_CHUNK_CHARS = 1 << 22  # characters read per chunk while streaming a corpus (~60 MB of work arrays)


def _text_chunks(path: PathLike, chunk_chars: int) -> Any:
    with open(path, encoding="utf-8") as f:  # universal newlines, like load_text
        while True:
            chunk = f.read(chunk_chars)
            if not chunk:
                return
            yield chunk


def _word_chunks(path: PathLike, chunk_chars: int) -> Any:
    """Lists of lower-cased words of the file, chunk by chunk; a word cut by a
    chunk boundary is carried over to the next chunk."""
    tail = re.compile(r"[a-z0-9_']+\Z")
    carry = ""
    for chunk in _text_chunks(path, chunk_chars):
        low = carry + chunk.lower()
        m = tail.search(low)
        carry, body = (m.group(), low[: m.start()]) if m else ("", low)
        yield WordTokenizer._word.findall(body)
    if carry:
        yield [carry]


def _char_codes(chunk: str) -> np.ndarray:
    return np.frombuffer(chunk.encode("utf-32-le", "surrogatepass"), dtype=np.uint32)


def prepare_tokens(
    src: PathLike,
    out_dir: PathLike,
    tokenizer: str = "char",
    val_fraction: float = 0.1,
    chunk_chars: int = _CHUNK_CHARS,
) -> dict:
    """Tokenizes the UTF-8 file ``src`` into ``out_dir/train.bin``, ``val.bin``
    and ``meta.json``, streaming: two passes over the file (vocabulary and
    counts, then ids), ``chunk_chars`` characters in memory at a time.

    The ids are those of ``CharTokenizer.from_text`` / ``WordTokenizer.from_text``
    on the whole text, split like ``train_val_split`` (first ``1 - val_fraction``
    for training); stored as uint16 when the vocabulary fits, else uint32.
    Returns the meta dict (also written to ``meta.json``, last).
    """
    src, out = Path(src), Path(out_dir)
    if tokenizer not in ("char", "word"):
        raise ValueError(f"prepare_tokens: tokenizer must be 'char' or 'word'; got {tokenizer!r}")
    if not 0.0 < val_fraction < 1.0:
        raise ValueError(f"prepare_tokens: val_fraction must be in (0, 1); got {val_fraction}")
    if not src.is_file():
        raise FileNotFoundError(f"data file not found: {src}")
    if chunk_chars < 1:
        raise ValueError(f"prepare_tokens: chunk_chars must be >= 1; got {chunk_chars}")
    # pass 1: vocabulary and token count
    total = 0
    tok: CharTokenizer | WordTokenizer
    if tokenizer == "char":
        codes = np.zeros(0, dtype=np.uint32)
        for chunk in _text_chunks(src, chunk_chars):
            codes = np.union1d(codes, np.unique(_char_codes(chunk)))
            total += len(chunk)
        tok = CharTokenizer([chr(c) for c in codes]) if len(codes) else None  # type: ignore[assignment]
    else:
        from collections import Counter

        counts: Counter = Counter()
        for words in _word_chunks(src, chunk_chars):
            counts.update(words)
            total += len(words)
        order = sorted(counts, key=lambda w: (-counts[w], w))
        tok = WordTokenizer(order)
    if total == 0:
        raise ValueError(f"prepare_tokens: {src} holds no tokens")
    dtype = np.uint16 if tok.vocab_size <= 1 << 16 else np.uint32
    n_train = int(total * (1.0 - val_fraction))
    # pass 2: ids, streamed into train.bin then val.bin
    out.mkdir(parents=True, exist_ok=True)
    paths = {s: out / f"{s}.bin" for s in ("train", "val")}
    tmp = {s: p.with_name(p.name + ".tmp") for s, p in paths.items()}
    written = 0
    with open(tmp["train"], "wb") as ftr, open(tmp["val"], "wb") as fva:
        if tokenizer == "char":
            table = np.array([ord(c) for c in tok.chars], dtype=np.uint32)  # sorted code points
            chunks: Any = (np.searchsorted(table, _char_codes(c)) for c in _text_chunks(src, chunk_chars))
        else:
            stoi = tok.stoi
            chunks = (np.fromiter((stoi[w] for w in ws), dtype=np.int64, count=len(ws))
                      for ws in _word_chunks(src, chunk_chars))  # fmt: skip
        for ids in chunks:
            ids = ids.astype(dtype)
            cut = min(max(n_train - written, 0), len(ids))
            ids[:cut].tofile(ftr)
            ids[cut:].tofile(fva)
            written += len(ids)
    if written != total:
        raise ValueError(f"prepare_tokens: {src} changed while it was read ({total} then {written} tokens)")
    for s in paths:
        tmp[s].replace(paths[s])
    meta = {
        "format": "attnrs-tokens-v1", "tokenizer": tok.to_dict(), "vocab_size": tok.vocab_size,
        "dtype": np.dtype(dtype).name, "train_tokens": n_train, "val_tokens": total - n_train,
        "source": str(src),
    }  # fmt: skip
    (out / TOKENS_META).write_text(json.dumps(meta, indent=1), encoding="utf-8")
    return meta


@dataclass
class TokenData:
    """A directory written by ``prepare_tokens``: ``train`` / ``val`` are read-only
    ``np.memmap`` id arrays (uint16 or uint32), ``tokenizer`` the stored tokenizer."""

    train: np.ndarray
    val: np.ndarray
    tokenizer: CharTokenizer | WordTokenizer
    meta: dict


def is_token_dir(path: PathLike | None) -> bool:
    return path is not None and (Path(path) / TOKENS_META).is_file()


def load_tokens(path: PathLike) -> TokenData:
    """Opens a ``prepare_tokens`` directory with ``np.memmap`` (nothing is read yet)."""
    d = Path(path)
    meta_path = d / TOKENS_META
    if not meta_path.is_file():
        raise FileNotFoundError(f"load_tokens: {meta_path} not found (run `attnrs prepare --out {d}`)")
    try:
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
        dtype = np.dtype(meta["dtype"])
        sizes = {"train": int(meta["train_tokens"]), "val": int(meta["val_tokens"])}
        tok = tokenizer_from_dict(meta["tokenizer"])
    except (ValueError, KeyError, TypeError) as e:
        raise ValueError(f"load_tokens: {meta_path} is not a valid token meta file ({e})") from None
    if dtype not in (np.dtype(np.uint16), np.dtype(np.uint32)):
        raise ValueError(f"load_tokens: {meta_path}: dtype must be uint16 or uint32; got {dtype}")
    arrays = {}
    for split, n in sizes.items():
        f = d / f"{split}.bin"
        have = f.stat().st_size if f.is_file() else -1
        if have != n * dtype.itemsize:
            raise ValueError(
                f"load_tokens: {f} should hold {n} {dtype} tokens ({n * dtype.itemsize} bytes); "
                f"found {'no file' if have < 0 else f'{have} bytes'}"
            )
        arrays[split] = np.memmap(f, dtype=dtype, mode="r", shape=(n,)) if n else np.zeros(0, dtype)
    return TokenData(arrays["train"], arrays["val"], tok, meta)


# --- synthetic seq2seq tasks -------------------------------------------------------------

PAD, BOS, EOS = 0, 1, 2
N_SPECIAL = 3  # digits d map to id d + N_SPECIAL; "+" maps to 10 + N_SPECIAL
SEQ2SEQ_TASKS = ("copy", "reverse", "sort", "addition")


@dataclass
class Seq2SeqData:
    """A padded batch of a seq2seq task.

    - src: (N, S) source ids, PAD-padded on the right
    - tgt: (N, T) ``BOS y_1 … y_n EOS PAD…``; the decoder reads ``tgt[:, :-1]`` and
      predicts ``tgt[:, 1:]`` (teacher forcing), PAD positions ignored
    """

    src: np.ndarray
    tgt: np.ndarray
    vocab_size: int

    @property
    def tgt_in(self) -> np.ndarray:
        return self.tgt[:, :-1]

    @property
    def tgt_out(self) -> np.ndarray:
        return self.tgt[:, 1:]


def _pad(seqs: list[np.ndarray], width: int) -> np.ndarray:
    out = np.full((len(seqs), width), PAD, dtype=np.int64)
    for i, s in enumerate(seqs):
        out[i, : len(s)] = s
    return out


def make_seq2seq_task(
    name: str, n: int, rng: np.random.Generator, min_len: int = 10, max_len: int = 20
) -> Seq2SeqData:
    """``n`` examples of a digit task: copy, reverse, sort (lengths in
    [min_len, max_len]) or addition (two numbers of 1..max_len//2 digits, src ``a+b``,
    tgt the digits of ``a + b``)."""
    if name not in SEQ2SEQ_TASKS:
        raise ValueError(f"make_seq2seq_task: unknown task {name!r}; expected one of {SEQ2SEQ_TASKS}")
    if not 1 <= min_len <= max_len:
        raise ValueError(f"make_seq2seq_task: need 1 <= min_len <= max_len; got {min_len}, {max_len}")
    srcs, tgts = [], []
    for _ in range(n):
        if name == "addition":
            nd = max(max_len // 2, 1)
            a = int(rng.integers(0, 10 ** int(rng.integers(1, nd + 1))))
            b = int(rng.integers(0, 10 ** int(rng.integers(1, nd + 1))))
            src = [int(c) for c in str(a)] + [10] + [int(c) for c in str(b)]
            out = [int(c) for c in str(a + b)]
        else:
            src = rng.integers(0, 10, size=int(rng.integers(min_len, max_len + 1))).tolist()
            out = {"copy": src, "reverse": src[::-1], "sort": sorted(src)}[name]
        srcs.append(np.array(src, dtype=np.int64) + N_SPECIAL)
        tgts.append(np.array([BOS] + [t + N_SPECIAL for t in out] + [EOS], dtype=np.int64))
    src = _pad(srcs, max(len(s) for s in srcs))
    tgt = _pad(tgts, max(len(t) for t in tgts))
    return Seq2SeqData(src, tgt, vocab_size=N_SPECIAL + 11)


def strip_special(seq: Any) -> list[int]:
    """The ids of ``seq`` after an optional BOS and before the first EOS/PAD."""
    out = []
    for i, t in enumerate(np.asarray(seq).reshape(-1).tolist()):
        if i == 0 and t == BOS:
            continue
        if t in (EOS, PAD):
            break
        out.append(t)
    return out


def exact_match(pred: Any, target: Any) -> float:
    """Fraction of rows whose tokens (up to EOS, ignoring BOS/PAD) are all equal."""
    pred, target = list(pred), list(target)  # rows may differ in length
    if len(pred) != len(target):
        raise ValueError(f"exact_match: {len(pred)} predictions for {len(target)} targets")
    if len(pred) == 0:
        return 0.0
    hits = sum(strip_special(p) == strip_special(t) for p, t in zip(pred, target))
    return hits / len(pred)


# --- seq2label and label2seq tasks -------------------------------------------------------


def make_majority_task(
    n: int, rng: np.random.Generator, n_classes: int = 4, length: int = 16
) -> tuple[np.ndarray, np.ndarray]:
    """seq2label: label = the symbol that occurs most often in the sequence.

    Random positions are overwritten with the label until it occurs at least
    twice more than any other symbol, so the answer is never a tie.

    # Shapes
    - returns x: (n, length) ids in [0, n_classes), y: (n,) int64 labels
    """
    y = rng.integers(0, n_classes, size=n)
    x = rng.integers(0, n_classes, size=(n, length))
    for i in range(n):
        while True:
            counts = np.bincount(x[i], minlength=n_classes)
            others = np.delete(counts, y[i])
            if counts[y[i]] >= others.max() + 2:
                break
            pos = rng.integers(0, length)
            x[i, pos] = y[i]
    return x.astype(np.int64), y.astype(np.int64)


def make_corruption_task(
    ids: np.ndarray, n: int, length: int, k: int, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """``n`` windows of ``ids``, about half of them corrupted: ``y = 1`` where ``k``
    tokens of the window were replaced by tokens drawn from ``ids`` itself (its
    unigram distribution, never the token that stood there), so no single token
    gives the corruption away. A binary task for a fine-tuned encoder.

    # Shapes
    - ids: (N,) int ids, N > length → x: (n, length), y: (n,) int64 in {0, 1}
    """
    ids = np.asarray(ids)
    if not 0 <= k <= length < len(ids):
        raise ValueError(f"make_corruption_task: need 0 <= k <= length < len(ids); got k={k}, "
                         f"length={length}, len(ids)={len(ids)}")  # fmt: skip
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


def make_label2seq_task(
    n: int, rng: np.random.Generator, n_classes: int = 10, length: int = 12, table_seed: int = 0
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """label2seq: class k → a fixed random digit sequence (the table is drawn
    from ``table_seed``, so train and test share it).

    # Shapes
    - returns labels: (n,), seqs: (n, length + 1) ``BOS d_1 … d_length`` ids,
      table: (n_classes, length) digit ids (offset by N_SPECIAL)
    """
    table = np.random.default_rng(table_seed).integers(0, 10, size=(n_classes, length)) + N_SPECIAL
    labels = rng.integers(0, n_classes, size=n).astype(np.int64)
    seqs = np.concatenate([np.full((n, 1), BOS), table[labels]], axis=1).astype(np.int64)
    return labels, seqs, table.astype(np.int64)


# --- word2vec ----------------------------------------------------------------------------


def skipgram_pairs(ids: np.ndarray, window: int) -> tuple[np.ndarray, np.ndarray]:
    """Every (center, context) pair with ``0 < |offset| <= window``.

    # Shapes
    - ids: (N,) → centers, contexts: (P,) int64
    """
    ids = np.asarray(ids, dtype=np.int64)
    cs, xs = [], []
    for off in range(1, window + 1):
        if off >= len(ids):
            break
        cs += [ids[:-off], ids[off:]]
        xs += [ids[off:], ids[:-off]]
    if not cs:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    return np.concatenate(cs), np.concatenate(xs)


# --- BERT masked language modelling (issue 16) -------------------------------------------
# Kept in one block: the special-token vocabulary and BERT's masking rule.

MLM_SPECIAL_TOKENS = ("[PAD]", "[MASK]", "[CLS]", "[SEP]")
MLM_PAD, MLM_MASK, MLM_CLS, MLM_SEP = 0, 1, 2, 3
MLM_IGNORE = -100  # target of every position the MLM loss skips (cross_entropy's ignore_index)


class MLMTokenizer:
    """A char or word tokenizer with BERT's special tokens in front of its vocabulary.

    Ids 0..3 are ``[PAD] [MASK] [CLS] [SEP]``; the base tokenizer's id ``i``
    becomes ``i + 4``. ``decode`` spells special ids by their names.
    """

    n_special = len(MLM_SPECIAL_TOKENS)
    pad_id, mask_id, cls_id, sep_id = MLM_PAD, MLM_MASK, MLM_CLS, MLM_SEP

    def __init__(self, base: CharTokenizer | WordTokenizer) -> None:
        self.base = base

    @property
    def vocab_size(self) -> int:
        return self.base.vocab_size + self.n_special

    @property
    def special_ids(self) -> tuple[int, ...]:
        return tuple(range(self.n_special))

    def encode(self, text: str) -> np.ndarray:
        return self.base.encode(text) + self.n_special

    def decode(self, ids: Any) -> str:
        ids = np.asarray(ids).reshape(-1)
        sep = " " if isinstance(self.base, WordTokenizer) else ""
        return sep.join(
            MLM_SPECIAL_TOKENS[i] if i < self.n_special else self.base.decode([i - self.n_special])
            for i in ids.tolist()
        )

    def to_dict(self) -> dict:
        return {"kind": "mlm", "base": self.base.to_dict()}

    @classmethod
    def from_dict(cls, d: dict) -> MLMTokenizer:
        if not isinstance(d, dict) or d.get("kind") != "mlm":
            raise ValueError(f"MLMTokenizer.from_dict: expected kind 'mlm'; got {d!r:.60}")
        return cls(tokenizer_from_dict(d["base"]))


def bert_mask(
    ids: Any,
    rng: np.random.Generator,
    vocab_size: int,
    mask_id: int = MLM_MASK,
    special_ids: Sequence[int] = tuple(range(len(MLM_SPECIAL_TOKENS))),
    mask_prob: float = 0.15,
    ignore_index: int = MLM_IGNORE,
) -> tuple[np.ndarray, np.ndarray]:
    """BERT's masking rule: returns ``(inputs, targets)`` for a masked LM.

    Each token that is not special is chosen with probability ``mask_prob``
    (at least one per row when a row has any candidate, so no batch row is
    loss-free); of the chosen, 80 % become ``mask_id``, 10 % a random
    non-special token, 10 % stay unchanged. ``targets`` holds the original id
    at the chosen positions and ``ignore_index`` elsewhere. Deterministic for a
    given ``rng`` state; ``ids`` is not modified.

    # Shapes
    - ids: (..., T) int ids → inputs, targets: same shape, int64
    """
    if not 0.0 < mask_prob <= 1.0:
        raise ValueError(f"bert_mask: mask_prob must be in (0, 1]; got {mask_prob}")
    ids = np.asarray(ids)
    if ids.ndim < 1 or ids.shape[-1] == 0 or not np.issubdtype(ids.dtype, np.integer):
        raise ValueError(f"bert_mask: ids must be a non-empty integer array (..., T); got {ids.dtype} {ids.shape}")
    ids = ids.astype(np.int64)
    special = np.asarray(sorted(set(int(s) for s in special_ids)), dtype=np.int64)
    normal = np.setdiff1d(np.arange(int(vocab_size), dtype=np.int64), special)
    if len(normal) == 0:
        raise ValueError(f"bert_mask: no non-special ids in a vocabulary of {vocab_size}")
    candidate = ~np.isin(ids, special)
    chosen = (rng.random(ids.shape) < mask_prob) & candidate
    rows = ids.reshape(-1, ids.shape[-1])
    ch, cand = chosen.reshape(rows.shape), candidate.reshape(rows.shape)
    for r in np.flatnonzero(~ch.any(axis=1) & cand.any(axis=1)):  # rare: force one per row
        ch[r, rng.choice(np.flatnonzero(cand[r]))] = True
    u = rng.random(ids.shape)
    to_mask = chosen & (u < 0.8)
    to_random = chosen & (u >= 0.8) & (u < 0.9)
    inputs = ids.copy()
    inputs[to_mask] = mask_id
    inputs[to_random] = normal[rng.integers(0, len(normal), size=int(to_random.sum()))]
    targets = np.where(chosen, ids, ignore_index).astype(np.int64)
    return inputs, targets


def get_mlm_batch(
    data: np.ndarray,
    batch_size: int,
    block_size: int,
    rng: np.random.Generator,
    vocab_size: int,
    mask_prob: float = 0.15,
) -> tuple[np.ndarray, np.ndarray]:
    """Random windows of ``data`` (ids of an ``MLMTokenizer``), masked by ``bert_mask``.

    # Shapes
    - returns inputs, targets: (batch_size, block_size) int64
    """
    x, _ = get_batch(data, batch_size, block_size, rng)
    return bert_mask(x, rng, vocab_size, mask_prob=mask_prob)
