"""The ready models: shapes, gradients by finite differences, learning,
save → load, and the consistency of cached / streamed generation."""

import numpy as np
import pytest

import attnrs as ar
from attnrs import data
from attnrs.models import (
    GPT,
    REGISTRY,
    TCN,
    CharRNN,
    CharRNNConfig,
    ClassifierConfig,
    ConditionalRNN,
    ConditionalRNNConfig,
    GPTConfig,
    RNNSeq2Seq,
    RNNSeq2SeqConfig,
    Seq2SeqConfig,
    Seq2SeqTransformer,
    TCNConfig,
    TransformerClassifier,
    Word2Vec,
    Word2VecConfig,
)  # fmt: skip
from attnrs.models.word2vec import sgns_batch

V = 11  # vocabulary of the tiny LMs


def _lm_batch(rng, B=3, T=8):
    ids = rng.integers(0, V, size=(B, T + 1))
    return (ids[:, :-1],), ids[:, 1:]


def _s2s_batch(rng):
    d = data.make_seq2seq_task("reverse", 3, rng, min_len=3, max_len=5)
    return (d.src, d.tgt_in), d.tgt_out


def make(name, rng):
    """A tiny model of each kind and one batch ((inputs...), targets, output shape)."""
    if name in ("gpt", "tcn") or name.startswith("char-rnn"):  # the language models
        if name == "gpt":
            m = GPT(GPTConfig(vocab_size=V, block_size=8, n_layer=2, n_head=2, n_embd=16))
        elif name == "tcn":
            m = TCN(TCNConfig(vocab_size=V, block_size=8, n_layer=3, n_embd=8, kernel_size=2))
        else:
            cell = name.split("-")[-1]
            m = CharRNN(CharRNNConfig(vocab_size=V, block_size=8, cell=cell, n_layer=2, n_embd=12))
        inp, tgt = _lm_batch(rng)
        return m, inp, tgt, (3, 8, V)
    if name.startswith("classifier"):
        pooling = name.split("-")[-1]
        m = TransformerClassifier(ClassifierConfig(vocab_size=4, n_classes=3, block_size=9, n_layer=1,
                                                   n_head=2, n_embd=16, pooling=pooling))  # fmt: skip
        x, y = data.make_majority_task(4, rng, n_classes=3, length=9)
        return m, (x,), y, (4, 3)
    if name == "seq2seq":
        m = Seq2SeqTransformer(
            Seq2SeqConfig(vocab_size=14, block_size=12, n_layer=1, n_head=2, n_embd=16)
        )
        inp, tgt = _s2s_batch(rng)
        return m, inp, tgt, tgt.shape + (14,)
    if name == "rnn-seq2seq":
        m = RNNSeq2Seq(RNNSeq2SeqConfig(vocab_size=14, n_embd=8, hidden=12))
        inp, tgt = _s2s_batch(rng)
        return m, inp, tgt, tgt.shape + (14,)
    if name.startswith("conditional-rnn"):
        cell = name.split("-")[-1]
        m = ConditionalRNN(
            ConditionalRNNConfig(n_classes=5, vocab_size=14, cell=cell, n_embd=8, hidden=12)
        )
        labels, seqs, _ = data.make_label2seq_task(4, rng, n_classes=5, length=6)
        return m, (labels, seqs[:, :-1]), seqs[:, 1:], (4, 6, 14)
    if name == "word2vec":
        m = Word2Vec(Word2VecConfig(vocab_size=20, dim=8))
        m.out_embed.weight._array = rng.normal(0, 0.3, size=(20, 8)).astype(
            np.float32
        )  # non-zero grads
        c, x = data.skipgram_pairs(rng.integers(0, 20, size=50), window=2)
        inp, tgt = sgns_batch(c, x, np.full(20, 1 / 20), 6, 3, rng)
        return m, inp, tgt, (6, 4)
    raise KeyError(name)


NAMES = ["gpt", "char-rnn-rnn", "char-rnn-lstm", "char-rnn-gru", "tcn", "classifier-mean",
         "classifier-max", "classifier-first", "seq2seq", "rnn-seq2seq", "conditional-rnn-gru",
         "conditional-rnn-lstm", "word2vec"]  # fmt: skip


@pytest.fixture(autouse=True)
def _seed():
    ar.manual_seed(0)


@pytest.mark.parametrize("name", NAMES)
def test_shapes_and_loss(name):
    m, inp, tgt, shape = make(name, np.random.default_rng(0))
    out, loss = m(*inp, targets=tgt)
    assert out.shape == shape
    assert loss.shape == () and np.isfinite(loss.item())
    out2, none = m(*inp)
    assert none is None
    np.testing.assert_array_equal(out._array, out2._array)


def _loss(m, inp, tgt):
    with ar.no_grad():
        return float(m(*inp, targets=tgt)[1].item())


@pytest.mark.parametrize("name", NAMES)
def test_gradients_match_finite_differences(name):
    rng = np.random.default_rng(1)
    m, inp, tgt, _ = make(name, rng)
    m.zero_grad()
    m(*inp, targets=tgt)[1].backward()
    params = [(n, p) for n, p in m.named_parameters() if p.grad is not None]
    unused = [n for n, p in m.named_parameters() if p.grad is None]
    # WaveNet reads only the skip outputs: the last block's residual conv is unused
    assert unused == (
        ["stack.blocks.2.res.weight", "stack.blocks.2.res.bias"] if name == "tcn" else []
    )
    picks = [params[0], params[len(params) // 2], params[-1]]
    eps = 1e-2
    for pname, p in picks:
        g = p.grad._array.reshape(-1)
        flat = p._array.reshape(-1)
        for i in np.argsort(-np.abs(g))[:2]:
            old = flat[i]
            flat[i] = old + eps
            up = _loss(m, inp, tgt)
            flat[i] = old - eps
            down = _loss(m, inp, tgt)
            flat[i] = old
            fd = (up - down) / (2 * eps)
            assert abs(fd - g[i]) <= 3e-3 + 0.05 * abs(g[i]), (
                f"{pname}[{i}]: fd {fd}, analytic {g[i]}"
            )


@pytest.mark.parametrize("name", ["gpt", "char-rnn-lstm", "tcn", "classifier-first", "seq2seq",
                                  "rnn-seq2seq", "conditional-rnn-gru", "word2vec"])  # fmt: skip
def test_loss_falls(name):
    m, inp, tgt, _ = make(name, np.random.default_rng(2))
    opt = ar.optim.AdamW(m.parameters(), lr=3e-2, weight_decay=0.0)
    first = None
    for _ in range(20):
        _, loss = m(*inp, targets=tgt)
        first = loss.item() if first is None else first
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert _loss(m, inp, tgt) < 0.7 * first


@pytest.mark.parametrize("name", NAMES)
def test_save_load_gives_identical_outputs(name, tmp_path):
    m, inp, tgt, _ = make(name, np.random.default_rng(3))
    path = tmp_path / "m.safetensors"
    ar.save(m, path)
    ar.manual_seed(99)  # a differently initialised twin
    m2 = make(name, np.random.default_rng(3))[0]
    m2.load_state_dict(ar.load(path))
    m.eval()
    m2.eval()
    a, la = m(*inp, targets=tgt)
    b, lb = m2(*inp, targets=tgt)
    np.testing.assert_array_equal(a._array, b._array)
    assert la.item() == lb.item()


@pytest.mark.parametrize("name", ["gpt", "char-rnn-rnn", "char-rnn-lstm", "char-rnn-gru", "tcn"])
def test_greedy_generation_matches_full_forward(name):
    """Cached (GPT), stateful (CharRNN) and streamed (TCN) decoding agree with
    re-running the whole sequence."""
    m, _, _, _ = make(name, np.random.default_rng(4))
    prompt = np.random.default_rng(5).integers(0, V, size=(2, 3))
    out = m.generate(prompt, 5, temperature=0.0)
    assert out.shape == (2, 8)
    np.testing.assert_array_equal(out[:, :3], prompt)
    with ar.no_grad():
        logits, _ = m(out[:, :-1])
    np.testing.assert_array_equal(logits._array.argmax(-1)[:, 2:], out[:, 3:])


def test_gpt_decode_path_matches_forward():
    """The autograd-free decode path (context prefill, then one token at a
    time against the KV caches) gives the logits of the full forward."""
    m, _, _, _ = make("gpt", np.random.default_rng(7))
    m.eval()
    idx = np.random.default_rng(8).integers(0, V, size=(2, 7))
    wt = m._decode_weights()
    caches = [ar.nn.KVCache() for _ in m.blocks]
    with ar.no_grad():
        got = m._decode_step(idx[:, :4], caches, 0, wt)
        full, _ = m(idx[:, :4])
        np.testing.assert_allclose(got, full._array[:, -1], rtol=1e-4, atol=1e-5)
        for t in range(4, 7):
            got = m._decode_step(idx[:, t : t + 1], caches, t, wt)
            full, _ = m(idx[:, : t + 1])
            np.testing.assert_allclose(got, full._array[:, -1], rtol=1e-4, atol=1e-5)
    with pytest.raises(ValueError, match="empty caches"):
        m._decode_step(idx[:, :2], caches, 3, wt)


@pytest.mark.parametrize("threads", [1, 2])
def test_gpt_native_decoder_is_the_python_decode_path(threads):
    """``_core.LmDecoder`` (the whole per-token step in Rust) gives the Python
    decode path's logits bit for bit: a prompt, then one token at a time, for
    several sequences, with tied weights and biases left out."""
    ar.manual_seed(3)
    m = GPT(GPTConfig(vocab_size=13, block_size=12, n_layer=3, n_head=3, n_embd=24, tie_weights=True))
    m.blocks[1].linear1.bias = None
    m.blocks[2].self_attn.in_proj_bias = None
    m.blocks[2].norm2.bias = None
    m.lm_head.bias = ar.nn.Parameter(np.linspace(-1, 1, 13, dtype=np.float32))
    m.eval()
    rng = np.random.default_rng(9)
    idx = rng.integers(0, 13, size=(3, 12))
    before = ar.get_num_threads()
    ar.set_num_threads(threads)
    try:
        dec = m._native_decoder(3)
        with ar.no_grad():
            got = first = dec.step(idx[:, :5])
            # The Python path with the biases this test removed (decode_step needs them all).
            zeros = ar.nn.Parameter
            m.blocks[1].linear1.bias = zeros(np.zeros(72 + 24, np.float32))
            m.blocks[2].self_attn.in_proj_bias = zeros(np.zeros(72, np.float32))
            m.blocks[2].norm2.bias = zeros(np.zeros(24, np.float32))
            wt, caches = m._decode_weights(), [ar.nn.KVCache() for _ in m.blocks]
            np.testing.assert_array_equal(got, m._decode_step(idx[:, :5], caches, 0, wt))
            for t in range(5, 12):
                got = dec.step(idx[:, t : t + 1])
                np.testing.assert_array_equal(got, m._decode_step(idx[:, t : t + 1], caches, t, wt))
            assert len(dec) == 12 == dec.max_len
            with pytest.raises(ValueError, match="exceed"):
                dec.step(idx[:, :1])
            dec.reset()
            np.testing.assert_array_equal(dec.step(idx[:, :5]), first)
    finally:
        ar.set_num_threads(before)


def test_gpt_generate_native_and_python_paths_agree():
    """Sampled and greedy generation, past block_size (cache rebuilds), give the
    same tokens with the native decoder and with the Python path; a model whose
    blocks the native decoder cannot run takes the Python path."""
    m, _, _, _ = make("gpt", np.random.default_rng(11))
    prompt = np.random.default_rng(12).integers(0, V, size=(2, 3))
    assert m._native_decoder(2) is not None
    native = [m.generate(prompt, 25, temperature=t, top_k=k, rng=np.random.default_rng(0))
              for t, k in ((1.0, None), (0.7, 4), (0.0, None))]  # fmt: skip
    m._native_decoder = lambda batch: None  # instance attribute: the Python path
    python = [m.generate(prompt, 25, temperature=t, top_k=k, rng=np.random.default_rng(0))
              for t, k in ((1.0, None), (0.7, 4), (0.0, None))]  # fmt: skip
    for a, b in zip(native, python):
        np.testing.assert_array_equal(a, b)
    m2, _, _, _ = make("gpt", np.random.default_rng(11))
    m2.blocks[0].causal = False  # a block the native decoder does not run (it is causal throughout)
    assert m2._native_decoder(1) is None
    assert m2.generate(prompt[:1], 10, temperature=0.0).shape == (1, 13)


def test_lm_decoder_bad_input():
    m, _, _, _ = make("gpt", np.random.default_rng(13))
    dec = m._native_decoder(2)
    with pytest.raises(ar.ShapeError, match="LmDecoder.step: ids: expected 2 sequences"):
        dec.step(np.zeros((1, 1), np.int64))
    with pytest.raises(ValueError, match=r"token ids in 0\.\.11, got 11"):
        dec.step(np.full((2, 1), V, np.int64))
    with pytest.raises(ar.ShapeError, match="ids must be 2-D"):
        dec.step(np.zeros(2, np.int64))
    with pytest.raises(TypeError):
        dec.step(np.zeros((2, 1), np.float32))
    dec.step(np.zeros((2, 1), np.int64))
    with pytest.raises(ValueError, match="only into empty caches"):
        dec.step(np.zeros((2, 2), np.int64))
    w = m.blocks[0].linear1.weight._array
    spec = m.blocks[0].decode_spec()
    bad = (spec[0], spec[1], spec[2], spec[3], (np.ascontiguousarray(w[:, :5]), None), spec[5])
    with pytest.raises(ar.ShapeError, match="block 0 fc1"):
        ar._core.LmDecoder((m.wte.weight._array, m.wpe.weight._array), [bad], spec[0], (m.lm_head.weight._array, None),
                           heads=2, causal=True, batch=1)  # fmt: skip


def test_gpt_generate_beyond_block_and_sampling():
    m, _, _, _ = make("gpt", np.random.default_rng(6))
    out = m.generate(np.zeros((1, 1), dtype=np.int64), 20, temperature=1.0, top_k=3,
                     rng=np.random.default_rng(0))  # fmt: skip
    assert out.shape == (1, 21) and out.min() >= 0 and out.max() < V
    again = m.generate(np.zeros((1, 1), dtype=np.int64), 20, temperature=1.0, top_k=3,
                       rng=np.random.default_rng(0))  # fmt: skip
    np.testing.assert_array_equal(out, again)
    with pytest.raises(ValueError, match="block_size"):
        m(np.zeros((1, 9), dtype=np.int64))


def test_gpt_weight_tying():
    m = GPT(GPTConfig(vocab_size=V, block_size=8, n_layer=1, n_head=2, n_embd=16, tie_weights=True))
    assert m.lm_head.weight is m.wte.weight
    names = [n for n, _ in m.named_parameters()]
    assert len(names) == len({id(p) for p in m.parameters()})


@pytest.mark.parametrize("tie", [False, True])
def test_gpt_fused_embeddings_match_two_lookups(tie):
    """GPT's token + position embeddings run as one node (``embedding_add``); a
    subclassed table sends it down the two-lookups-and-an-add path, which must
    give the same loss and gradients bit for bit (tied lm_head too)."""

    class PlainSubclass(ar.nn.Embedding):
        pass

    rng = np.random.default_rng(3)
    idx = rng.integers(0, V, (3, 8))
    runs = []
    for fused in (True, False):
        ar.manual_seed(0)
        m = GPT(GPTConfig(vocab_size=V, block_size=8, n_layer=1, n_head=2, n_embd=16, tie_weights=tie))
        if not fused:
            plain = PlainSubclass(8, 16)
            plain.weight = m.wpe.weight
            m.wpe = plain
        _, loss = m(idx[:, :-1], targets=idx[:, 1:])
        loss.backward()
        runs.append([loss._array] + [p.grad._array for p in m.parameters()])
    for a, b in zip(*runs):
        assert a.tobytes() == b.tobytes()


def test_config_errors():
    with pytest.raises(ValueError, match="divisible"):
        GPTConfig(n_embd=10, n_head=4)
    with pytest.raises(ValueError, match="cell"):
        CharRNNConfig(cell="transformer")
    with pytest.raises(ValueError, match="pooling"):
        ClassifierConfig(pooling="median")
    assert set(REGISTRY) >= {"gpt", "char-rnn", "tcn", "classifier", "seq2seq", "rnn-seq2seq",
                             "conditional-rnn", "word2vec"}  # fmt: skip


def test_seq2seq_decoding():
    m, inp, _, _ = make("seq2seq", np.random.default_rng(7))
    src = inp[0]
    greedy = m.greedy_decode(src, max_len=6)
    beam1 = m.beam_decode(src, beam_size=1, max_len=6)
    np.testing.assert_array_equal(greedy, beam1)
    beam = m.beam_decode(src, beam_size=3, max_len=6)
    assert beam.shape[0] == src.shape[0] and (beam[:, 0] == data.BOS).all()
    r = RNNSeq2Seq(RNNSeq2SeqConfig(vocab_size=14, n_embd=8, hidden=12))
    out = r.greedy_decode(src, max_len=6)
    assert out.shape[0] == src.shape[0] and out.shape[1] <= 7
    w = r.attention_weights(src, inp[1])
    assert w.shape == (src.shape[0], inp[1].shape[1], src.shape[1])
    np.testing.assert_allclose(w.sum(-1), 1.0, rtol=1e-5)
    assert (w[src[:, None, :].repeat(w.shape[1], 1) == data.PAD] < 1e-6).all()


def test_conditional_rnn_generate_and_classifier_predict():
    m, inp, _, _ = make("conditional-rnn-gru", np.random.default_rng(8))
    assert m.generate(inp[0], 6).shape == (4, 6)
    c, inp, _, _ = make("classifier-mean", np.random.default_rng(8))
    pred = c.predict(inp[0])
    assert pred.shape == (4,) and pred.dtype == np.int64


def test_word2vec_most_similar():
    w = Word2Vec(Word2VecConfig(vocab_size=4, dim=3, words=["<unk>", "a", "b", "c"]))
    w.in_embed.weight._array = np.array(
        [[0, 0, 1], [1, 0, 0], [0.9, 0.1, 0], [0, 1, 0]], dtype=np.float32
    )
    top = w.most_similar("a", k=2)
    assert top[0][0] == "b" and top[0][1] > 0.9 and len(top) == 2
    assert w.most_similar(1, k=1)[0][0] == "b"
    with pytest.raises(ValueError, match="vocabulary"):
        w.most_similar("zzz")
