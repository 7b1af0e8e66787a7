"""Tokenizers, corpus, batching and synthetic tasks (attnrs.data)."""

import numpy as np
import pytest

from attnrs import data


def test_char_tokenizer_round_trip_and_dict():
    text = "hello, world\nthe end"
    tok = data.CharTokenizer.from_text(text)
    assert tok.vocab_size == len(set(text))
    ids = tok.encode(text)
    assert ids.dtype == np.int64 and ids.shape == (len(text),)
    assert tok.decode(ids) == text
    assert tok.chars == sorted(set(text))  # ids follow the sorted characters
    tok2 = data.tokenizer_from_dict(tok.to_dict())
    assert tok2.chars == tok.chars
    with pytest.raises(ValueError, match="not in the vocabulary"):
        tok.encode("Z")


def test_word_tokenizer():
    tok = data.WordTokenizer.from_text("The cat sat. the cat ran! A dog", min_count=2)
    assert tok.words == ["<unk>", "cat", "the"]
    assert tok.encode("the dog cat").tolist() == [2, 0, 1]
    assert tok.decode([2, 1]) == "the cat"
    assert data.tokenizer_from_dict(tok.to_dict()).words == tok.words
    with pytest.raises(ValueError, match="unknown tokenizer kind"):
        data.tokenizer_from_dict({"kind": "bpe"})


def test_builtin_corpus_and_load_text(tmp_path):
    text = data.builtin_corpus()
    assert len(text) > 100_000
    assert data.load_text() == text
    p = tmp_path / "t.txt"
    p.write_text("abc", encoding="utf-8")
    assert data.load_text(p) == "abc"
    with pytest.raises(FileNotFoundError):
        data.load_text(tmp_path / "missing.txt")


def test_builtin_corpus_fallback(monkeypatch):
    import builtins

    real_import = builtins.__import__

    def no_pydoc(name, *a, **k):
        if name.startswith("pydoc_data"):
            raise ImportError(name)
        return real_import(name, *a, **k)

    monkeypatch.setattr(builtins, "__import__", no_pydoc)
    text = data.builtin_corpus()
    assert len(text) > 10_000


def test_split_and_batches():
    ids = np.arange(1000)
    tr, va = data.train_val_split(ids)
    assert len(tr) == 900 and tr[-1] == 899 and va[0] == 900
    rng = np.random.default_rng(0)
    x, y = data.get_batch(tr, 5, 8, rng)
    assert x.shape == y.shape == (5, 8) and x.dtype == np.int64
    np.testing.assert_array_equal(x[:, 1:], y[:, :-1])
    np.testing.assert_array_equal(y - x, 1)
    x2, _ = data.get_batch(tr, 5, 8, np.random.default_rng(0))
    np.testing.assert_array_equal(x, x2)  # seeded: reproducible
    with pytest.raises(ValueError, match="block_size"):
        data.get_batch(np.arange(8), 2, 8, rng)


@pytest.mark.parametrize("name", data.SEQ2SEQ_TASKS)
def test_seq2seq_tasks(name):
    d = data.make_seq2seq_task(name, 50, np.random.default_rng(1), min_len=3, max_len=7)
    assert d.src.shape[0] == d.tgt.shape[0] == 50
    assert (d.tgt[:, 0] == data.BOS).all()
    for s, t in zip(d.src, d.tgt):
        src = [v - data.N_SPECIAL for v in data.strip_special(s)]
        out = [v - data.N_SPECIAL for v in data.strip_special(t)]
        if name == "addition":
            k = src.index(10)
            a = int("".join(map(str, src[:k])))
            b = int("".join(map(str, src[k + 1:])))
            assert int("".join(map(str, out))) == a + b
        else:
            assert 3 <= len(src) <= 7
            want = {"copy": src, "reverse": src[::-1], "sort": sorted(src)}[name]
            assert out == want
    assert data.exact_match(d.tgt, d.tgt) == 1.0
    assert d.tgt_in.shape == d.tgt_out.shape


def test_exact_match():
    tgt = np.array([[data.BOS, 5, 6, data.EOS], [data.BOS, 7, data.EOS, data.PAD]])
    pred = np.array([[5, 6, data.EOS, 9], [7, 8, data.EOS, data.PAD]])
    assert data.exact_match(pred, tgt) == 0.5
    assert data.exact_match([[5, 6, data.EOS], [7, 8]], list(tgt)) == 0.5  # ragged rows
    with pytest.raises(ValueError):
        data.exact_match(pred[:1], tgt)


def test_majority_and_label2seq():
    x, y = data.make_majority_task(200, np.random.default_rng(2), n_classes=4, length=9)
    for row, lab in zip(x, y):
        c = np.bincount(row, minlength=4)
        assert c[lab] >= np.delete(c, lab).max() + 2
    labels, seqs, table = data.make_label2seq_task(30, np.random.default_rng(3), n_classes=5, length=6)
    assert seqs.shape == (30, 7) and (seqs[:, 0] == data.BOS).all()
    np.testing.assert_array_equal(seqs[:, 1:], table[labels])


def test_skipgram_pairs():
    c, x = data.skipgram_pairs(np.array([10, 11, 12]), window=1)
    assert sorted(zip(c.tolist(), x.tolist())) == [(10, 11), (11, 10), (11, 12), (12, 11)]
