"""BERT: the masking rule, the loss on masked positions only, state dicts,
encode/pooling, starting a classifier from a pretrained encoder, and a small
learning test."""

import numpy as np
import pytest

import attnrs as ar
from attnrs import data
from attnrs.models import BERT, REGISTRY, BERTConfig, TransformerClassifier, classifier_from_bert

V = 100  # 4 special ids + 96 ordinary ones


def tiny(**kw) -> BERT:
    ar.manual_seed(0)
    cfg = dict(vocab_size=V, block_size=16, n_layer=2, n_head=2, n_embd=16)
    cfg.update(kw)
    return BERT(BERTConfig(**cfg))


def test_masking_frequencies_over_1e5_tokens():
    rng = np.random.default_rng(0)
    ids = rng.integers(data.MLMTokenizer.n_special, V, size=(1000, 100))  # 1e5 ordinary tokens
    inputs, targets = data.bert_mask(ids, np.random.default_rng(1), V)
    chosen = targets != data.MLM_IGNORE
    n = chosen.sum()
    assert abs(chosen.mean() - 0.15) < 0.01
    np.testing.assert_array_equal(targets[chosen], ids[chosen])  # the originals are the targets
    np.testing.assert_array_equal(inputs[~chosen], ids[~chosen])  # the rest is untouched
    masked = (inputs == data.MLM_MASK) & chosen
    kept = (inputs == ids) & chosen
    randomized = chosen & ~masked & ~kept
    p_same = 1 / (V - 4)  # a random replacement may draw the original token
    assert abs(masked.sum() / n - 0.8) < 0.01
    assert abs(randomized.sum() / n - 0.1 * (1 - p_same)) < 0.01
    assert abs(kept.sum() / n - 0.1 * (1 + p_same)) < 0.01
    assert inputs[randomized].min() >= 4 and inputs[randomized].max() < V  # never a special token
    assert not (inputs == data.MLM_MASK)[~chosen].any()


def test_masking_is_deterministic_and_skips_special_tokens():
    ids = np.random.default_rng(0).integers(0, V, size=(64, 32))
    a = data.bert_mask(ids, np.random.default_rng(5), V)
    b = data.bert_mask(ids, np.random.default_rng(5), V)
    np.testing.assert_array_equal(a[0], b[0])
    np.testing.assert_array_equal(a[1], b[1])
    c = data.bert_mask(ids, np.random.default_rng(6), V)
    assert not np.array_equal(a[1], c[1])
    special = ids < 4
    assert (a[1][special] == data.MLM_IGNORE).all() and (a[0][special] == ids[special]).all()
    assert ((a[1] != data.MLM_IGNORE).sum(axis=1) >= 1).all()  # every row has a masked token
    with pytest.raises(ValueError, match="mask_prob"):
        data.bert_mask(ids, np.random.default_rng(0), V, mask_prob=0.0)
    with pytest.raises(ValueError, match="integer"):
        data.bert_mask(ids.astype(np.float32), np.random.default_rng(0), V)


def test_mlm_tokenizer_adds_special_tokens():
    tok = data.MLMTokenizer(data.CharTokenizer.from_text("abc"))
    assert tok.vocab_size == 7 and tok.special_ids == (0, 1, 2, 3)
    ids = tok.encode("cab")
    np.testing.assert_array_equal(ids, [6, 4, 5])
    assert tok.decode([2, *ids, 1]) == "[CLS]cab[MASK]"
    back = data.MLMTokenizer.from_dict(tok.to_dict())
    assert back.vocab_size == 7 and back.decode(ids) == "cab"
    word = data.MLMTokenizer(data.WordTokenizer.from_text("the cat the dog"))
    assert word.decode(word.encode("the dog")) == "the dog"


def test_loss_and_gradient_only_at_masked_positions():
    m = tiny()
    ids = np.random.default_rng(0).integers(4, V, size=(3, 16))
    x, y = data.bert_mask(ids, np.random.default_rng(1), V)
    logits, loss = m(x, y)
    assert logits.shape == (3, 16, V)
    # the loss equals a NumPy cross-entropy over the masked positions alone
    z = logits.numpy().astype(np.float64)
    logp = z - z.max(-1, keepdims=True)
    logp -= np.log(np.exp(logp).sum(-1, keepdims=True))
    sel = y != data.MLM_IGNORE
    np.testing.assert_allclose(loss.item(), -logp[sel, y[sel]].mean(), rtol=1e-5)
    # the gradient of that loss with respect to the logits is zero at every unmasked position
    leaf = ar.tensor(logits.numpy(), requires_grad=True)
    m.mlm_loss(leaf, y).backward()
    g = np.abs(leaf.grad.numpy()).sum(-1)  # (3, 16)
    assert (g[~sel] == 0).all() and (g[sel] > 0).all()
    # and the model's parameters do get a gradient
    m.zero_grad()
    loss.backward()
    assert np.abs(m.wte.weight.grad.numpy()).sum() > 0


def test_state_dict_round_trip(tmp_path):
    m = tiny(n_segments=2)
    names = list(m.state_dict())
    assert "wte.weight" in names and "wse.weight" in names and "mlm_bias" in names
    assert not any("lm_head" in n for n in names)  # the output projection is tied to wte
    path = tmp_path / "bert.safetensors"
    ar.save(m, str(path))
    ar.manual_seed(123)
    m2 = BERT(BERTConfig(**vars(m.config)))
    ids = np.random.default_rng(0).integers(0, V, size=(2, 10))
    seg = np.zeros((2, 10), np.int64)
    assert not np.allclose(m(ids, segments=seg)[0].numpy(), m2(ids, segments=seg)[0].numpy())
    m2.load_state_dict(ar.load(str(path)))
    np.testing.assert_array_equal(m(ids, segments=seg)[0].numpy(), m2(ids, segments=seg)[0].numpy())


def test_encode_shapes_and_padding_aware_mean():
    m = tiny()
    ids = np.random.default_rng(0).integers(4, V, size=(2, 8))
    pad = np.zeros((2, 8), bool)
    pad[1, 5:] = True
    tokens, pooled = m.encode(ids, key_padding_mask=pad)
    assert tokens.shape == (2, 8, 16) and pooled.shape == (2, 16)
    h = tokens.numpy()
    np.testing.assert_allclose(pooled.numpy()[1], h[1, :5].mean(0), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(pooled.numpy()[0], h[0].mean(0), rtol=1e-5, atol=1e-6)
    _, first = m.encode(ids, pooling="first")
    np.testing.assert_allclose(first.numpy(), m.encode(ids)[0].numpy()[:, 0], rtol=1e-6)
    with pytest.raises(ValueError, match="block_size"):
        m(np.zeros((1, 17), np.int64))
    with pytest.raises(ValueError, match="n_segments"):
        m(ids, segments=np.zeros_like(ids))
    with pytest.raises(ValueError, match="divisible"):
        BERTConfig(n_embd=10, n_head=4)


def test_classifier_starts_from_pretrained_encoder():
    m = tiny()
    clf = classifier_from_bert(m, n_classes=3, pooling="first")
    assert isinstance(clf, TransformerClassifier)
    np.testing.assert_array_equal(clf.embed.weight._array[:V], m.wte.weight._array)
    np.testing.assert_array_equal(clf.embed.weight._array[V], m.wte.weight._array[data.MLM_CLS])
    np.testing.assert_array_equal(clf.pos.weight._array[:16], m.wpe.weight._array)
    bert_sd, clf_sd = m.state_dict(), clf.state_dict()
    for name in bert_sd:
        if name.startswith(("blocks.", "ln_f.")):
            np.testing.assert_array_equal(clf_sd[name], bert_sd[name])
    # with mean pooling the classifier's encoder computes exactly BERT's hidden states
    clf = classifier_from_bert(m, n_classes=3, pooling="mean")
    ids = np.random.default_rng(0).integers(4, V, size=(2, 12))
    with ar.no_grad():
        _, pooled = m.encode(ids)
        h = clf.pos(clf.embed(ids))
        for block in clf.blocks:
            h = block(h)
        np.testing.assert_allclose(clf.ln_f(h).numpy().mean(1), pooled.numpy(), rtol=1e-5, atol=1e-6)
    logits, loss = clf(ids, targets=np.array([0, 2]))
    assert logits.shape == (2, 3) and np.isfinite(loss.item())


def test_bert_is_registered_and_learns_a_neighbour_task():
    assert REGISTRY["bert"] == (BERTConfig, BERT)
    # x_t = previous + 1 (mod 10): a masked token follows from its neighbours
    m = tiny(vocab_size=14, block_size=16, n_embd=64, n_head=4)
    opt = ar.optim.AdamW(m.parameters(), lr=1e-3)
    rng = np.random.default_rng(0)
    for _ in range(200):
        ids = (rng.integers(0, 10, size=(32, 1)) + np.arange(16)) % 10 + 4
        x, y = data.bert_mask(ids, rng, 14)
        _, loss = m(x, y)
        opt.zero_grad()
        loss.backward()
        opt.step()
    ids = (np.random.default_rng(9).integers(0, 10, size=(64, 1)) + np.arange(16)) % 10 + 4
    x, y = data.bert_mask(ids, np.random.default_rng(10), 14)
    with ar.no_grad():
        logits, _ = m(x)
    assert BERT.masked_accuracy(logits, y) > 0.9
