"""RNN, LSTM and GRU against a float64 NumPy step-by-step reference.

Forward outputs are compared directly; every gradient (x, h0, c0, each weight
and bias) is compared with central finite differences of the reference along
random directions (a directional derivative checks the whole tensor at once).
"""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import attnrs as ar
from attnrs import nn

MODES = ["rnn_tanh", "rnn_relu", "lstm", "gru"]
GATES = {"rnn_tanh": 1, "rnn_relu": 1, "lstm": 4, "gru": 3}


# --- float64 reference ---------------------------------------------------------------------


def _sig(a):
    return 1.0 / (1.0 + np.exp(-a))


def ref_layer(mode, x, h0, c0, w_ih, w_hh, b_ih, b_hh, lengths):
    """One layer, one direction, step by step. x (B, T, I) float64."""
    b, t, _ = x.shape
    hdim = w_hh.shape[1]
    h, c = h0.copy(), (c0.copy() if c0 is not None else None)
    out = np.zeros((b, t, hdim))
    lens = np.full(b, t) if lengths is None else np.asarray(lengths)
    for s in range(t):
        gx = x[:, s] @ w_ih.T + b_ih
        gh = h @ w_hh.T + b_hh
        if mode == "rnn_tanh":
            hn, cn = np.tanh(gx + gh), None
        elif mode == "rnn_relu":
            hn, cn = np.maximum(gx + gh, 0.0), None
        elif mode == "lstm":
            a = gx + gh
            i, f, g, o = np.split(a, 4, axis=1)
            cn = _sig(f) * c + _sig(i) * np.tanh(g)
            hn = _sig(o) * np.tanh(cn)
        else:
            xr, xz, xn = np.split(gx, 3, axis=1)
            hr, hz, hh = np.split(gh, 3, axis=1)
            r, z = _sig(xr + hr), _sig(xz + hz)
            n = np.tanh(xn + r * hh)
            hn, cn = (1 - z) * n + z * h, None
        valid = (s < lens)[:, None]
        h = np.where(valid, hn, h)
        if c is not None:
            c = np.where(valid, cn, c)
        out[:, s] = np.where(valid, h, 0.0)
    return out, h, c


def ref_reverse(a, lengths):
    _b, t = a.shape[:2]
    if lengths is None:
        return a[:, ::-1].copy()
    idx = np.arange(t)[None, :]
    lens = np.asarray(lengths)[:, None]
    idx = np.where(idx < lens, lens - 1 - idx, idx)
    return np.take_along_axis(a, idx[:, :, None], axis=1)


def ref_stack(mode, x, h0, c0, params, layers, dirs, lengths):
    """x (B, T, I); h0, c0 (L·D, B, H); params by PyTorch name. Returns out, h_n, c_n."""
    hs, cs = [], []
    inp = x
    for layer in range(layers):
        outs = []
        for d in range(dirs):
            k = layer * dirs + d
            sfx = f"_l{layer}" + ("_reverse" if d else "")
            gh = params["weight_hh" + sfx].shape[0]
            b_ih = params.get("bias_ih" + sfx, np.zeros(gh))
            b_hh = params.get("bias_hh" + sfx, np.zeros(gh))
            xi = inp if d == 0 else ref_reverse(inp, lengths)
            out, h, c = ref_layer(
                mode, xi, h0[k], None if c0 is None else c0[k], params["weight_ih" + sfx],
                params["weight_hh" + sfx], b_ih, b_hh, lengths,
            )  # fmt: skip
            outs.append(out if d == 0 else ref_reverse(out, lengths))
            hs.append(h)
            cs.append(c)
        inp = np.concatenate(outs, axis=-1)
    return inp, np.stack(hs), (np.stack(cs) if c0 is not None else None)


# --- helpers -------------------------------------------------------------------------------


def make_model(mode, inp, hid, layers=1, bidirectional=False, bias=True, seed=0):
    ar.manual_seed(seed)
    kw = {"num_layers": layers, "bias": bias, "bidirectional": bidirectional, "batch_first": True}
    if mode.startswith("rnn_"):
        return nn.RNN(inp, hid, nonlinearity=mode[4:], **kw)
    return (nn.LSTM if mode == "lstm" else nn.GRU)(inp, hid, **kw)


def run_case(mode, b, t, i, h, layers=1, dirs=1, lengths=None, bias=True, seed=0, check_grads=True):
    """Forward vs reference; every gradient vs directional finite differences."""
    rng = np.random.default_rng(seed)
    m = make_model(mode, i, h, layers, dirs == 2, bias, seed)
    if mode == "rnn_relu":  # keep pre-activations off the kink of relu for the differences
        for name, p in m.named_parameters():
            if name.startswith("bias_ih"):
                p._array += 0.5
    lstm = mode == "lstm"
    x = ar.tensor(rng.standard_normal((b, t, i)), requires_grad=True)
    h0 = ar.tensor(0.5 * rng.standard_normal((layers * dirs, b, h)), requires_grad=True)
    c0 = (
        ar.tensor(0.5 * rng.standard_normal((layers * dirs, b, h)), requires_grad=True)
        if lstm
        else None
    )
    out, hn = m(x, (h0, c0) if lstm else h0, lengths=lengths)
    hn, cn = hn if lstm else (hn, None)

    params = {n: p._array.astype(np.float64) for n, p in m.named_parameters()}
    c0_64 = c0._array.astype(np.float64) if lstm else None
    r_out, r_hn, r_cn = ref_stack(mode, x._array.astype(np.float64), h0._array.astype(np.float64), c0_64,
                                  params, layers, dirs, lengths)  # fmt: skip
    np.testing.assert_allclose(out.numpy(), r_out, rtol=1e-4, atol=2e-5)
    np.testing.assert_allclose(hn.numpy(), r_hn, rtol=1e-4, atol=2e-5)
    if lstm:
        np.testing.assert_allclose(cn.numpy(), r_cn, rtol=1e-4, atol=2e-5)
    if not check_grads:
        return m
    R = rng.standard_normal(out.shape)
    S = rng.standard_normal(hn.shape)
    U = rng.standard_normal(hn.shape) if lstm else None
    loss = (out * ar.tensor(R)).sum() + (hn * ar.tensor(S)).sum()
    if lstm:
        loss = loss + (cn * ar.tensor(U)).sum()
    loss.backward()

    base = {"x": x._array.astype(np.float64), "h0": h0._array.astype(np.float64), "c0": c0_64, **params}

    def ref_loss(vals):
        o, hh, cc = ref_stack(mode, vals["x"], vals["h0"], vals["c0"],
                              {k: v for k, v in vals.items() if k not in ("x", "h0", "c0")},
                              layers, dirs, lengths)  # fmt: skip
        tot = (o * R).sum() + (hh * S).sum()
        return tot + ((cc * U).sum() if lstm else 0.0)

    grads = {"x": x.grad, "h0": h0.grad, "c0": c0.grad if lstm else None}
    grads.update({n: p.grad for n, p in m.named_parameters()})
    eps = 1e-5
    for name, g in grads.items():
        if base[name] is None:
            continue
        assert g is not None, f"{name} got no gradient"
        for _ in range(2):
            v = rng.standard_normal(base[name].shape)
            plus = dict(base, **{name: base[name] + eps * v})
            minus = dict(base, **{name: base[name] - eps * v})
            fd = (ref_loss(plus) - ref_loss(minus)) / (2 * eps)
            got = float((g.numpy().astype(np.float64) * v).sum())
            assert abs(got - fd) <= 2e-3 * (1.0 + abs(fd)), (
                f"{mode} d/d{name}: kernel {got}, reference {fd}"
            )
    return m


# --- forward and gradients -----------------------------------------------------------------


@pytest.mark.quick
@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("b,t", [(3, 1), (1, 2), (2, 100)])
def test_single_layer_matches_reference(mode, b, t):
    run_case(mode, b, t, i=5, h=13)  # H = 13: not a multiple of any SIMD width


@pytest.mark.quick
@pytest.mark.parametrize("mode", MODES)
def test_two_layer_bidirectional_with_lengths(mode):
    run_case(mode, b=4, t=7, i=3, h=9, layers=2, dirs=2, lengths=[7, 3, 1, 5])


@pytest.mark.parametrize("mode", ["lstm", "gru"])
def test_no_bias_and_zero_length(mode):
    run_case(mode, b=3, t=4, i=2, h=6, bias=False, lengths=[4, 0, 2])


@settings(max_examples=12)
@given(
    mode=st.sampled_from(MODES),
    b=st.integers(1, 5),
    t=st.integers(1, 9),
    i=st.sampled_from([1, 2, 7, 17]),
    h=st.sampled_from([1, 3, 16, 17, 33]),
    use_len=st.booleans(),
    seed=st.integers(0, 1000),
)
def test_forward_random_shapes(mode, b, t, i, h, use_len, seed):
    lengths = np.random.default_rng(seed).integers(0, t + 1, size=b) if use_len else None
    run_case(mode, b, t, i, h, lengths=lengths, seed=seed, check_grads=False)


def test_padding_never_reaches_the_final_state():
    m = make_model("gru", 3, 4)
    rng = np.random.default_rng(1)
    x = rng.standard_normal((2, 6, 3)).astype(np.float32)
    noisy = x.copy()
    noisy[0, 4:] = 1e3 * rng.standard_normal((2, 3))
    _out_a, h_a = m(x, lengths=[4, 6])
    out_b, h_b = m(noisy, lengths=[4, 6])
    np.testing.assert_array_equal(h_a.numpy(), h_b.numpy())
    np.testing.assert_array_equal(out_b.numpy()[0, 4:], 0.0)
    _short, h_short = m(x[:1, :4])
    np.testing.assert_allclose(h_a.numpy()[:, 0], h_short.numpy()[:, 0], rtol=1e-6)


def test_layouts_batch_first_false_and_unbatched():
    m = make_model("lstm", 3, 5)
    x = np.random.default_rng(2).standard_normal((2, 4, 3)).astype(np.float32)
    out, (h, _c) = m(x)  # batch_first=True (make_model)
    m.batch_first = False
    out_t, (h_t, _c_t) = m(x.transpose(1, 0, 2))
    np.testing.assert_array_equal(out_t.numpy().transpose(1, 0, 2), out.numpy())
    np.testing.assert_array_equal(h_t.numpy(), h.numpy())
    m.batch_first = True
    out_u, (h_u, _c_u) = m(x[1])
    assert out_u.shape == (4, 5) and h_u.shape == (1, 5)
    np.testing.assert_allclose(out_u.numpy(), out.numpy()[1], rtol=1e-6)


# --- h0 as a learnable label state, clipping on long sequences -------------------------------


def test_gradients_reach_h0_so_a_label_state_is_learnable():
    """label2seq: a learnable initial state per label drives the sequence."""
    ar.manual_seed(3)
    rnn = nn.GRU(1, 8, batch_first=True)
    states = nn.Parameter(np.zeros((2, 8), np.float32))  # one learnable h0 per label
    targets = np.array([[0.6] * 10, [-0.6] * 10], np.float32)  # label 0 -> +0.6, label 1 -> -0.6
    zeros = np.zeros((2, 10, 1), np.float32)
    losses = []
    for _ in range(60):
        out, _ = rnn(zeros, states.reshape(1, 2, 8))
        diff = out[:, :, 0] - ar.tensor(targets)
        loss = (diff * diff).mean()
        states.grad = None
        loss.backward()
        assert states.grad is not None and np.abs(states.grad.numpy()).sum() > 0
        states._array -= 2.0 * states.grad.numpy()  # plain gradient descent on h0 alone
        losses.append(loss.item())
    assert losses[-1] < 0.6 * losses[0]  # the state alone cannot fit a random GRU exactly


def _train_long_sequence(max_norm):
    """T = 300, recurrent gain 4: exploding gradients. Returns the losses, the
    gradient norms before clipping and the largest |parameter| after training."""
    ar.manual_seed(4)
    rnn = nn.RNN(2, 16, batch_first=True)
    rnn.weight_hh_l0._array *= 4.0  # exploding regime
    rng = np.random.default_rng(4)
    x = rng.standard_normal((4, 300, 2)).astype(np.float32)
    y = np.tanh(x.sum(axis=2, keepdims=True)).astype(np.float32)
    opt = ar.optim.SGD(rnn.parameters(), lr=0.1)
    losses, norms = [], []
    for _ in range(8):
        out, _ = rnn(x)
        diff = out[:, :, :1] - ar.tensor(y)
        loss = (diff * diff).mean()
        opt.zero_grad()
        loss.backward()
        if max_norm is None:
            norms.append(
                np.sqrt(
                    sum(
                        float((p.grad.numpy().astype(np.float64) ** 2).sum())
                        for p in rnn.parameters()
                    )
                )
            )
        else:
            norms.append(nn.utils.clip_grad_norm_(rnn.parameters(), max_norm=max_norm))
            clipped = np.sqrt(
                sum(float((p.grad.numpy().astype(np.float64) ** 2).sum()) for p in rnn.parameters())
            )
            assert clipped <= max_norm * (1 + 1e-4)
        opt.step()
        losses.append(loss.item())
    biggest = max(float(np.abs(p.numpy()).max()) for p in rnn.parameters())
    return losses, norms, biggest


def test_clipping_keeps_long_sequence_training_stable():
    """The same exploding setting with and without clip_grad_norm_: clipped,
    every step is bounded and the weights stay sane; unclipped, one step with a
    huge gradient throws the weights far away."""
    losses, norms, biggest = _train_long_sequence(max_norm=1.0)
    assert max(norms) > 1e3, "the setting should produce exploding gradients"
    assert all(np.isfinite(losses)) and biggest < 10.0
    _, raw_norms, raw_biggest = _train_long_sequence(max_norm=None)
    assert max(raw_norms) > 1e3 and (not np.isfinite(raw_biggest) or raw_biggest > 1e3)


# --- determinism, ISAs ---------------------------------------------------------------------


@pytest.mark.parametrize("mode", MODES)
def test_one_and_two_threads_are_bitwise_equal(mode):
    rng = np.random.default_rng(5)
    x = rng.standard_normal((32, 6, 19)).astype(np.float32)
    res = []
    for n in (1, 2):
        ar.set_num_threads(n)
        m = make_model(mode, 19, 70, layers=2, bidirectional=True)
        xt = ar.tensor(x, requires_grad=True)
        out, _hn = m(xt, lengths=np.arange(32) % 6 + 1)
        out.sum().backward()
        res.append([out.numpy(), xt.grad.numpy()] + [p.grad.numpy() for p in m.parameters()])
    ar.set_num_threads(2)
    for a, b in zip(*res):
        np.testing.assert_array_equal(a, b)


@pytest.mark.skipif(
    os.environ.get("ATTNRS_SIMD") is not None, reason="already inside a forced-ISA run"
)
@pytest.mark.parametrize("isa", ar.info()["isa_available"])
def test_every_isa(isa):
    env = dict(os.environ, ATTNRS_SIMD=isa)
    code = (
        "import sys, pytest, attnrs; assert attnrs.info()['isa'] == sys.argv[1]; "
        "sys.exit(pytest.main(['-q', '-x', '-m', 'quick', '-p', 'no:cacheprovider', sys.argv[2]]))"
    )
    r = subprocess.run(
        [sys.executable, "-c", code, isa, __file__],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]


# --- PyTorch compatibility, cells ----------------------------------------------------------


def test_pytorch_shaped_state_dict_loads():
    names = [
        "weight_ih_l0", "weight_hh_l0", "bias_ih_l0", "bias_hh_l0",
        "weight_ih_l0_reverse", "weight_hh_l0_reverse", "bias_ih_l0_reverse", "bias_hh_l0_reverse",
        "weight_ih_l1", "weight_hh_l1", "bias_ih_l1", "bias_hh_l1",
        "weight_ih_l1_reverse", "weight_hh_l1_reverse", "bias_ih_l1_reverse", "bias_hh_l1_reverse",
    ]  # fmt: skip
    m = nn.LSTM(10, 20, num_layers=2, bidirectional=True, batch_first=True)
    assert list(m.state_dict()) == names  # PyTorch's names, in PyTorch's order
    shapes = {
        "weight_ih_l0": (80, 10),
        "weight_hh_l0": (80, 20),
        "bias_ih_l0": (80,),
        "weight_ih_l1": (80, 40),
    }
    for k, shp in shapes.items():
        assert m.state_dict()[k].shape == shp
    rng = np.random.default_rng(6)
    torch_like = {k: rng.uniform(-0.2, 0.2, v.shape) for k, v in m.state_dict().items()}
    m.load_state_dict(torch_like)
    x = rng.standard_normal((2, 3, 10))
    out, (_h, c) = m(x)
    z = np.zeros((4, 2, 20))
    r_out, _r_h, r_c = ref_stack("lstm", x, z, z, torch_like, 2, 2, None)
    np.testing.assert_allclose(out.numpy(), r_out, rtol=1e-4, atol=2e-5)
    np.testing.assert_allclose(c.numpy(), r_c, rtol=1e-4, atol=2e-5)
    bound = 1 / np.sqrt(20)
    fresh = nn.GRU(4, 20)
    assert all(np.abs(p.numpy()).max() <= bound for p in fresh.parameters())


@pytest.mark.parametrize("mode", MODES)
def test_cells_agree_with_the_full_sequence_layer(mode):
    layer = make_model(mode, 4, 11)
    if mode.startswith("rnn_"):
        cell = nn.RNNCell(4, 11, nonlinearity=mode[4:])
    else:
        cell = (nn.LSTMCell if mode == "lstm" else nn.GRUCell)(4, 11)
    cell.load_state_dict({k[:-3]: v for k, v in layer.state_dict().items()})
    rng = np.random.default_rng(7)
    x = rng.standard_normal((3, 5, 4)).astype(np.float32)
    out, _ = layer(x)
    state = None
    xt = ar.tensor(x, requires_grad=True)
    steps = []
    for s in range(5):
        state = cell(xt[:, s], state)
        steps.append(state[0] if mode == "lstm" else state)
        np.testing.assert_allclose(steps[-1].numpy(), out.numpy()[:, s], rtol=1e-5, atol=1e-6)
    ar.functional.stack(steps, 1).sum().backward()
    xl = ar.tensor(x, requires_grad=True)
    layer(xl)[0].sum().backward()
    np.testing.assert_allclose(xt.grad.numpy(), xl.grad.numpy(), rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(
        cell.weight_hh.grad.numpy(), layer.weight_hh_l0.grad.numpy(), rtol=1e-4, atol=1e-5
    )


# --- bad input -----------------------------------------------------------------------------


def test_bad_input_raises_clear_errors():
    m = nn.LSTM(3, 4, batch_first=True)
    x = np.zeros((2, 5, 3), np.float32)
    with pytest.raises(ar.ShapeError, match="3 features"):
        m(np.zeros((2, 5, 4), np.float32))
    with pytest.raises(ar.DTypeError):
        m(np.zeros((2, 5, 3), np.int32))
    with pytest.raises(ValueError, match="lengths"):
        m(x, lengths=[6, 1])
    with pytest.raises(ar.ShapeError, match="lengths"):
        m(x, lengths=[1, 2, 3])
    with pytest.raises(ar.ShapeError, match="h0"):
        m(x, (np.zeros((1, 3, 4)), np.zeros((1, 2, 4))))
    with pytest.raises(ValueError, match="tuple"):
        m(x, np.zeros((1, 2, 4)))
    with pytest.raises(ValueError, match="nonlinearity"):
        nn.RNN(3, 4, nonlinearity="sigmoid")
    with pytest.raises(ValueError, match="mode"):
        ar.ops.rnn_forward("elman", x, None, None, np.zeros((4, 3)), np.zeros((4, 4)))
    with pytest.raises(ar.ShapeError):
        ar.ops.rnn_forward("gru", x, None, None, np.zeros((12, 2)), np.zeros((12, 4)))


def test_dropout_between_layers_only_in_training():
    ar.manual_seed(8)
    m = nn.GRU(3, 6, num_layers=2, dropout=0.5, batch_first=True)
    x = np.random.default_rng(8).standard_normal((2, 4, 3)).astype(np.float32)
    a, _ = m(x)
    b, _ = m(x)
    assert not np.array_equal(a.numpy(), b.numpy())
    m.eval()
    c, _ = m(x)
    d, _ = m(x)
    np.testing.assert_array_equal(c.numpy(), d.numpy())


@pytest.mark.parametrize("mode", ["rnn_tanh", "lstm", "gru"])
def test_benchmark_numpy_reference_computes_the_same_math(mode):
    from attnrs.bench.rnn import np_backward, np_forward

    rng = np.random.default_rng(9)
    g = GATES[mode]
    x = rng.standard_normal((3, 5, 4)).astype(np.float32)
    w_ih = (0.4 * rng.standard_normal((g * 6, 4))).astype(np.float32)
    w_hh = (0.4 * rng.standard_normal((g * 6, 6))).astype(np.float32)
    b_ih = (0.1 * rng.standard_normal(g * 6)).astype(np.float32)
    b_hh = (0.1 * rng.standard_normal(g * 6)).astype(np.float32)
    dout = rng.standard_normal((3, 5, 6)).astype(np.float32)
    out, cache = np_forward(mode, x, w_ih, w_hh, b_ih, b_hh)
    ref = np_backward(mode, x, w_ih, w_hh, cache, dout)
    k_out, _, _, saved = ar.ops.rnn_forward(mode, x, None, None, w_ih, w_hh, b_ih, b_hh)
    dx, _, _, dwi, dwh, dbi, dbh = ar.ops.rnn_backward(
        mode, x, w_ih, w_hh, b_ih, b_hh, None, saved, dout
    )
    np.testing.assert_allclose(k_out, out, rtol=1e-4, atol=1e-5)
    for got, want in zip((dx, dwi, dwh, dbi, dbh), ref):
        np.testing.assert_allclose(got, want, rtol=1e-3, atol=1e-4)


def test_autograd_shared_state_gets_every_gradient():
    """A state that is both an output and the next step's input (a decode
    loop) must receive both gradients (the graph walk finishes it last)."""
    a = ar.tensor(np.ones((2, 3)), requires_grad=True)
    b = a * 2.0
    c = b * 3.0
    ar.functional.stack([b, c], 1).sum().backward()
    np.testing.assert_array_equal(a.grad.numpy(), np.full((2, 3), 8.0))


@pytest.mark.parametrize("mode", MODES)
def test_input_without_grad_skips_dx_and_keeps_every_weight_gradient(mode):
    # x needs no gradient: the first layer's dx GEMM is skipped (as PyTorch
    # does), and nothing else may change, bit for bit.
    rng = np.random.default_rng(11)
    x = rng.standard_normal((5, 7, 9)).astype(np.float32)
    grads = []
    for need in (True, False):
        m = make_model(mode, 9, 13, layers=2, bidirectional=True)
        xt = ar.tensor(x, requires_grad=need)
        out, _ = m(xt, lengths=np.array([7, 3, 5, 1, 7]))
        out.sum().backward()
        assert (xt.grad is not None) == need
        grads.append([p.grad.numpy() for p in m.parameters()])
    for a, b in zip(*grads):
        np.testing.assert_array_equal(a, b)
    assert ar.ops.rnn_backward(
        mode, x, m.weight_ih_l0.numpy(), m.weight_hh_l0.numpy(), None, None, None,
        ar.ops.rnn_forward(mode, x, None, None, m.weight_ih_l0.numpy(), m.weight_hh_l0.numpy())[3],
        np.ones((5, 7, 13), np.float32), need_dx=False,
    )[0] is None  # fmt: skip


@pytest.mark.parametrize("mode", MODES)
def test_inference_path_gives_the_same_bits_and_keeps_nothing(mode):
    # Under no_grad (or with nothing requiring a gradient) the kernels save
    # nothing for backward; outputs and final states must not change a bit.
    rng = np.random.default_rng(12)
    x = rng.standard_normal((5, 7, 9)).astype(np.float32)
    lens = np.array([7, 3, 5, 0, 7])
    m = make_model(mode, 9, 13, layers=2, bidirectional=True)
    train = m(ar.tensor(x), lengths=lens)
    assert train[0].requires_grad
    with ar.no_grad():
        infer = m(ar.tensor(x), lengths=lens)
    for p in m.parameters():
        p.requires_grad_(False)
    frozen = m(ar.tensor(x), lengths=lens)
    flat = lambda r: [r[0], *(r[1] if mode == "lstm" else (r[1],))]  # noqa: E731
    for a, b, c in zip(flat(train), flat(infer), flat(frozen)):
        np.testing.assert_array_equal(a.numpy(), b.numpy())
        np.testing.assert_array_equal(a.numpy(), c.numpy())
    assert not infer[0].requires_grad and not frozen[0].requires_grad
    w_ih, w_hh = m.weight_ih_l0.numpy(), m.weight_hh_l0.numpy()
    kept = ar.ops.rnn_forward(mode, x, None, None, w_ih, w_hh, lengths=lens)
    lean = ar.ops.rnn_forward(mode, x, None, None, w_ih, w_hh, lengths=lens, save=False)
    assert len(kept[3]) == 4 and lean[3] == ()
    np.testing.assert_array_equal(kept[0], lean[0])
