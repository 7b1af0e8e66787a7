"""The package layout: one F, every public name of the old layout still
reachable, Tensor's methods on the class, and the decode fast path equal to
the blocks' forward."""

import numpy as np
import pytest

import attnrs as ar
from attnrs import nn

# The public names of attnrs.functional and attnrs.ops before the restructure.
OLD_FUNCTIONAL = """Function abs add argmax argmin cat chunk clamp concatenate conv1d cross_entropy div dropout
embedding eq exp expand flatten ge gelu getitem gt layer_norm le linear log log_softmax lt masked_fill matmul
max mean min mse_loss mul ne neg permute pow relu reshape sigmoid softmax split sqrt squeeze stack sub sum tanh
transpose unsqueeze where""".split()
OLD_OPS = """adamw_step cross_entropy embedding embedding_backward gelu gelu_backward layer_norm layer_norm_backward
log_softmax log_softmax_backward matmul relu relu_backward sigmoid sigmoid_backward softmax softmax_backward tanh
tanh_backward attention attention_forward attention_backward conv1d conv1d_backward conv1d_state conv1d_step
rnn_forward rnn_backward rnn_lengths""".split()
OLD_NN_FUNCTIONAL = """conv1d cross_entropy dropout embedding gelu global_pool layer_norm linear log_softmax mse_loss
relu sigmoid softmax tanh attention_weights fused_self_attention scaled_dot_product_attention""".split()


def test_one_f_with_torch_signatures():
    assert ar.F is ar.nn.functional
    x = ar.tensor(np.random.default_rng(0).standard_normal((2, 5)))
    np.testing.assert_allclose(ar.F.softmax(x, dim=0).numpy(), ar.functional.softmax(x, 0).numpy())


@pytest.mark.parametrize(("module", "names"), [
    (ar.functional, OLD_FUNCTIONAL), (ar.ops, OLD_OPS), (ar.nn.functional, OLD_NN_FUNCTIONAL),
])  # fmt: skip
def test_old_public_names_still_work(module, names):
    missing = [n for n in names if not callable(getattr(module, n, None))]
    assert not missing, f"{module.__name__} lost {missing}"
    assert set(names) <= set(module.__all__)


def test_sdpa_reachable_from_every_layer():
    assert ar.functional.scaled_dot_product_attention is ar.nn.functional.scaled_dot_product_attention
    assert ar.ops.attention_forward.__module__ == "attnrs.ops.attention"


@pytest.mark.parametrize("family", ["matmul", "linear", "softmax", "norm", "activation", "loss", "embedding",
                                    "attention", "conv1d", "rnn"])  # fmt: skip
def test_one_file_name_per_family(family):
    """ops/ and functional/ hold a module of the same name for each family."""
    import importlib

    for layer in ("ops", "functional"):
        mod = importlib.import_module(f"attnrs.{layer}.{family}")
        assert mod.__all__, f"attnrs.{layer}.{family}"


def test_tensor_methods_are_written_on_the_class():
    for name in ("__add__", "__matmul__", "__getitem__", "sum", "reshape", "T", "gelu", "softmax", "split"):
        assert name in vars(ar.Tensor), name
    t = ar.tensor(np.arange(6.0).reshape(2, 3), requires_grad=True)
    (t.T @ t).gelu().sum().backward()
    assert t.grad.shape == (2, 3)


def test_adamw_step_lists_match_the_single_tensor_path():
    rng = np.random.default_rng(0)
    ps = [rng.standard_normal(n).astype(np.float32) for n in (3, 40)]
    gs = [rng.standard_normal(p.shape).astype(np.float32) for p in ps]
    ms, vs = [np.zeros_like(p) for p in ps], [np.zeros_like(p) for p in ps]
    ref = [p.copy() for p in ps]
    hp = dict(lr=1e-2, beta1=0.9, beta2=0.999, eps=1e-8, weight_decay=0.1)
    ar.ops.adamw_step(ps, gs, ms, vs, step=[1, 1], **hp)
    for p, g in zip(ref, gs):
        ar.ops.adamw_step(p, g, np.zeros_like(p), np.zeros_like(p), step=1, **hp)
    for a, b in zip(ps, ref):
        np.testing.assert_array_equal(a, b)


def test_ops_linear_matches_numpy_on_strided_views():
    rng = np.random.default_rng(1)
    x = rng.standard_normal((2, 4, 6)).astype(np.float32)[:, ::-1]
    w = rng.standard_normal((5, 6)).astype(np.float32)[:, ::-1]
    b = rng.standard_normal(10).astype(np.float32)[::2]
    np.testing.assert_allclose(ar.ops.linear(x, w, b), x @ w.T + b, rtol=1e-5, atol=1e-5)
    with pytest.raises(ar.ShapeError, match="linear"):
        ar.ops.linear(x, w[:, :3])


def test_decode_step_is_the_blocks_forward():
    """The per-token fast path gives what forward with a KV cache gives."""
    ar.manual_seed(0)
    block = nn.TransformerBlock(16, 2, 32, causal=True)
    block.eval()
    x = np.random.default_rng(2).standard_normal((2, 5, 16)).astype(np.float32)
    cache_fwd, cache_fast = nn.KVCache(), nn.KVCache()
    with ar.no_grad():
        want = [block(ar.tensor(x[:, :3]), cache=cache_fwd).numpy()]
        want += [block(ar.tensor(x[:, t : t + 1]), cache=cache_fwd).numpy() for t in (3, 4)]
        wt = block.decode_weights()
        got = [block.decode_step(np.ascontiguousarray(x[:, :3]).reshape(6, 16), cache_fast, 2, wt)]
        got += [block.decode_step(np.ascontiguousarray(x[:, t]), cache_fast, 2, wt) for t in (3, 4)]
    np.testing.assert_allclose(got[0], want[0].reshape(6, 16), rtol=1e-4, atol=1e-5)
    for g, w in zip(got[1:], want[1:]):
        np.testing.assert_allclose(g, w.reshape(2, 16), rtol=1e-4, atol=1e-5)


def test_gpt_generate_greedy_follows_forward():
    """Greedy KV-cache generation picks the argmax of forward's last logits."""
    from attnrs.models import GPT, GPTConfig

    ar.manual_seed(0)
    model = GPT(GPTConfig(vocab_size=11, block_size=16, n_layer=2, n_head=2, n_embd=16))
    model.eval()
    idx = np.array([[1, 2, 3]])
    out = model.generate(idx, 4, temperature=0.0)
    for t in range(3, 7):
        with ar.no_grad():
            logits, _ = model(out[:, :t])
        assert out[0, t] == int(np.argmax(logits.numpy()[0, -1]))
