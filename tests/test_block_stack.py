"""The whole-stack node (``nn.transformer.apply_blocks`` → ``_BlockStack``, one
``_core.transformer_stack_forward`` / ``_backward`` call each way) against the
same blocks called one by one (one ``_Block`` node each): bitwise equal output
and gradients at 1 and 2 threads, with every block variant ``_Block`` takes;
when it steps aside (blocks it cannot stack, leaf hooks); the binding's errors."""

import numpy as np
import pytest

import attnrs as ar
from attnrs import _core, autograd, nn
from attnrs.nn import transformer


def _blocks(n, causal, variant):
    ar.manual_seed(11)
    blocks = [nn.TransformerBlock(48, 4, 136, causal=causal) for _ in range(n)]
    b = blocks[-1]
    if variant == "no_biases":  # the last block only: blocks may differ in their biases
        b.norm1.bias = b.norm2.bias = b.linear1.bias = b.linear2.bias = None
        b.self_attn.in_proj_bias = b.self_attn.out_proj.bias = None
    elif variant == "no_affine":
        b.norm1 = nn.LayerNorm(48, elementwise_affine=False)
        b.norm2 = nn.LayerNorm(48, eps=1e-3, elementwise_affine=False)  # eps per block
    elif variant == "frozen":
        blocks[0].self_attn.in_proj_weight.requires_grad = b.linear1.bias.requires_grad = False
    return blocks


def _run(blocks, x0, stacked):
    for b in blocks:
        for p in b.parameters():
            p.grad = None
    x = ar.tensor(x0, requires_grad=True)
    y = transformer.apply_blocks(blocks, x) if stacked else x
    if not stacked:
        for b in blocks:
            y = b(y)
    assert isinstance(y._ctx, transformer._BlockStack) == stacked
    dy = np.random.default_rng(1).standard_normal(y.shape).astype(np.float32)
    (y * ar.tensor(dy)).sum().backward()
    grads = [None if p.grad is None else p.grad._array.copy() for b in blocks for p in b.parameters()]
    return y._array.copy(), x.grad._array.copy(), grads


def _assert_same(a, b):
    np.testing.assert_array_equal(a[0], b[0], err_msg="y")
    np.testing.assert_array_equal(a[1], b[1], err_msg="dx")
    assert len(a[2]) == len(b[2])
    for i, (g, h) in enumerate(zip(a[2], b[2])):
        if g is None or h is None:
            assert g is None and h is None, i
        else:
            np.testing.assert_array_equal(g, h, err_msg=f"parameter {i}")


@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("causal", [True, False])
@pytest.mark.parametrize("variant", ["plain", "no_biases", "no_affine", "frozen"])
@pytest.mark.parametrize("n_blocks", [2, 3])
def test_stack_is_bitwise_the_blocks_one_by_one(n_blocks, variant, causal, threads):
    before = ar.get_num_threads()
    ar.set_num_threads(threads)
    try:
        blocks = _blocks(n_blocks, causal, variant)
        x0 = np.random.default_rng(0).standard_normal((7, 29, 48)).astype(np.float32)
        stacked, one_by_one = _run(blocks, x0, True), _run(blocks, x0, False)
    finally:
        ar.set_num_threads(before)
    _assert_same(stacked, one_by_one)
    if variant == "frozen":
        assert stacked[2][2] is None  # block 0's in_proj_weight


def test_gpt_runs_its_blocks_as_one_node():
    from attnrs.models import GPT, GPTConfig

    ar.manual_seed(0)
    m = GPT(GPTConfig(vocab_size=11, block_size=8, n_layer=3, n_head=2, n_embd=16))
    idx = np.random.default_rng(2).integers(0, 11, size=(3, 8))
    logits, loss = m(idx, targets=idx)
    # lm_head(ln_f(stack(...))): the stack is one node below the final LayerNorm.
    nodes, stack = [logits._ctx], []
    while nodes:
        n = nodes.pop()
        stack += [n] if isinstance(n, transformer._BlockStack) else []
        nodes += [t._ctx for t in n.inputs if t is not None and t._ctx is not None]
    assert len(stack) == 1
    loss.backward()
    assert all(p.grad is not None for p in m.parameters())


def test_blocks_it_cannot_stack_run_one_by_one(monkeypatch):
    x = ar.tensor(np.random.default_rng(3).standard_normal((2, 5, 48)).astype(np.float32))
    mixed = _blocks(2, True, "plain")
    mixed[1].causal = False  # causality differs
    assert not isinstance(transformer.apply_blocks(mixed, x)._ctx, transformer._BlockStack)
    one = _blocks(1, True, "plain")  # a single block: its own _Block node
    assert isinstance(transformer.apply_blocks(one, x)._ctx, transformer._Block)
    blocks = _blocks(2, True, "plain")
    xt = ar.tensor(np.random.default_rng(3).standard_normal((5, 2, 48)).astype(np.float32).transpose(1, 0, 2))
    assert not isinstance(transformer.apply_blocks(blocks, xt)._ctx, transformer._BlockStack)
    np.testing.assert_array_equal(
        transformer.apply_blocks(blocks, xt)._array,
        transformer.apply_blocks(blocks, ar.tensor(np.ascontiguousarray(xt._array)))._array,
    )
    monkeypatch.setattr(transformer, "_NATIVE", False)
    assert not isinstance(transformer.apply_blocks(blocks, x)._ctx, transformer._BlockStack)


def test_leaf_hooks_keep_the_blocks_separate():
    class Group:
        def accumulate(self, t, g):
            t._accumulate(g)

        def ready(self, t):
            pass

        def finish(self):
            pass

    blocks = _blocks(2, True, "plain")
    group = Group()
    autograd.register_leaf_hooks(list(blocks[0].parameters()), group)
    try:
        x = ar.tensor(np.ones((2, 5, 48), np.float32))
        assert not isinstance(transformer.apply_blocks(blocks, x)._ctx, transformer._BlockStack)
    finally:
        autograd._leaf_hooks.clear()


def _stack_args(n=2, b=2, t=3, c=8, f=12):
    z = lambda *s: np.zeros(s, np.float32)  # noqa: E731
    params = [[z(c), z(c), z(3 * c, c), z(3 * c), z(c, c), z(c), z(c), z(c), z(f, c), z(f), z(c, f), z(c)]
              for _ in range(n)]  # fmt: skip
    saved, _ = _core.transformer_block_sizes(b, t, c, 2, f)
    return [z(b, t, c), params, [z(saved) for _ in range(n)], [z(b, t, c) for _ in range(n)],
            [1e-5] * n, [1e-5] * n, 2, False]  # fmt: skip


def test_stack_binding_names_op_argument_expected_and_actual():
    _core.transformer_stack_forward(*_stack_args())  # the arguments as they should be
    a = _stack_args()
    a[1][1][7] = np.zeros(7, np.float32)
    with pytest.raises(ar.ShapeError, match=r"transformer_block: block 1 ln2 bias must have shape \(8,\), got \(7,\)"):
        _core.transformer_stack_forward(*a)
    a = _stack_args()
    a[1][0][2] = None
    with pytest.raises(ar.ShapeError, match=r"transformer_block: block 0 qkv weight must be an array of shape \(24, 8\), got None"):
        _core.transformer_stack_forward(*a)
    a = _stack_args()
    a[3] = a[3][:1]
    with pytest.raises(ar.ShapeError, match=r"transformer_block: ys must have one entry per block \(2\), got 1"):
        _core.transformer_stack_forward(*a)
    a = _stack_args()
    a[2][1] = np.zeros(5, np.float32)
    with pytest.raises(ar.ShapeError, match=r"transformer_block: saved\[1\] must have shape"):
        _core.transformer_stack_forward(*a)
    a = _stack_args()
    a[1] = []
    with pytest.raises(ar.ShapeError, match="transformer_block: params must hold at least one block"):
        _core.transformer_stack_forward(*a)
    a = _stack_args()
    a[1][0] = a[1][0][:11]
    with pytest.raises(ar.ShapeError, match="transformer_block: block 0 must have 12 parameters, got 11"):
        _core.transformer_stack_forward(*a)


def test_stack_backward_binding_names_the_block_and_slot():
    b, t, c, f = 2, 3, 8, 12
    z = lambda *s: np.zeros(s, np.float32)  # noqa: E731
    fa = _stack_args(b=b, t=t, c=c, f=f)
    _core.transformer_stack_forward(*fa)
    xs = [fa[0], fa[3][0]]
    weights = [[p[i] for i in (0, 2, 4, 6, 8, 10)] for p in fa[1]]
    _, scratch = _core.transformer_block_sizes(b, t, c, 2, f)

    def grads():
        return [[z(b, t, c), z(c), z(c), z(3 * c, c), z(3 * c), z(c, c), z(c), z(c), z(c), z(f, c), z(f),
                 z(c, f), z(c)] for _ in range(2)]  # fmt: skip

    def call(g, ws=weights, sc=scratch):
        _core.transformer_stack_backward(xs, ws, fa[2], z(b, t, c), z(sc), g, [1e-5] * 2, [1e-5] * 2, 2, False)

    call(grads())  # as they should be
    g = grads()
    g[1][0] = None
    with pytest.raises(ar.ShapeError, match=r"transformer_block: block 1 dx must be an array of shape \(2, 3, 8\), got None"):
        call(g)
    g = grads()
    g[0][9] = z(f, c + 1)
    with pytest.raises(ar.ShapeError, match=r"transformer_block: block 0 fc1 weight grad must have shape \(12, 8\), got \(12, 9\)"):
        call(g)
    with pytest.raises(ar.ShapeError, match="transformer_block: block 0 must have 13 gradient slots"):
        call([grads()[0][:12], grads()[1]])
    with pytest.raises(ar.ShapeError, match="transformer_block: scratch must have shape"):
        call(grads(), sc=scratch - 1)
    with pytest.raises(ar.ShapeError, match=r"transformer_block: grads must have one entry per block \(2\), got 1"):
        call(grads()[:1])
