"""``Tensor.data`` with PyTorch's meaning, uint8 tensors, the legacy ``LongTensor``-style
constructors and ``nonzero`` (issue 17).

PyTorch documents ``x.data`` as a tensor that shares ``x``'s storage, is detached from
the graph and does not require grad; assigning ``x.data = y`` makes ``x`` use ``y``'s
storage. The NumPy array behind a tensor is ``numpy()``.
"""

from __future__ import annotations

import numpy as np
import pytest

import attnrs as ar
from attnrs import nn

RNG = np.random.default_rng(1719)


def test_data_is_a_detached_tensor_on_the_same_storage():
    p = nn.Parameter(ar.zeros(2, 3))
    d = p.data
    assert isinstance(d, ar.Tensor) and not isinstance(d, nn.Parameter)
    assert not d.requires_grad and d.is_leaf and p.requires_grad
    assert np.shares_memory(d.numpy(), p.numpy())
    d[0, 1] = 5.0  # a write through .data is a write into p, and records nothing
    assert p.numpy()[0, 1] == 5.0 and p.grad is None


def test_in_place_ops_through_data_on_a_leaf_that_requires_grad():
    p = nn.Parameter(ar.zeros(3, 4))
    with pytest.raises(RuntimeError, match="leaf"):
        p.copy_(ar.ones(3, 4))  # PyTorch refuses this outside no_grad
    p.data.copy_(ar.full((3, 4), 2.0))
    p.data.mul_(3.0)
    p.data.add_(ar.ones(4))  # broadcast, as in PyTorch
    np.testing.assert_array_equal(p.numpy(), np.full((3, 4), 7.0, np.float32))
    ar.manual_seed(0)
    p.data.normal_(0.0, 0.5)
    assert p.numpy().std() > 0.1 and p.requires_grad


def test_data_of_a_graph_node_cuts_the_graph():
    x = ar.tensor([1.0, 2.0, 3.0], requires_grad=True)
    y = x * 2
    z = (y.data.clone() * x).sum()  # y.data is a constant: dz/dx = y
    z.backward()
    np.testing.assert_array_equal(x.grad.numpy(), [2.0, 4.0, 6.0])
    assert not y.data.requires_grad and y.requires_grad


def test_assigning_data_swaps_the_storage():
    p = nn.Parameter(ar.zeros(2))
    new = ar.tensor([[1.0, 2.0], [3.0, 4.0]])
    p.data = new  # the shape may change, as in PyTorch
    assert p.shape == (2, 2) and p.requires_grad and isinstance(p, nn.Parameter)
    new.add_(1.0)
    np.testing.assert_array_equal(p.numpy(), [[2.0, 3.0], [4.0, 5.0]])  # shared, not copied
    p.data = np.ones(3)  # a NumPy array is accepted (float64 becomes float32)
    assert p.dtype == ar.float32 and p.shape == (3,)
    with pytest.raises(RuntimeError, match="float32"):
        p.data = ar.tensor([1, 2])


def test_augmented_assignment_on_data_updates_the_parameter():
    p = nn.Parameter(ar.ones(3))
    p.data -= 0.25
    p.data *= 2.0
    np.testing.assert_array_equal(p.numpy(), [1.5, 1.5, 1.5])


def test_integer_data_methods_used_by_targets():
    target = ar.tensor([2, 0, 1, 0])
    assert target.data.unsqueeze(1).shape == (4, 1) and target.data.dtype == ar.int64
    mask = ar.nonzero(target.data == 0)
    assert mask.dtype == ar.int64 and mask.tolist() == [[1], [3]]
    rows, = (target == 0).nonzero(as_tuple=True)
    assert rows.tolist() == [1, 3]


def test_uint8_tensors_and_legacy_constructors():
    m = ar.triu(ar.ones((1, 3, 3)), diagonal=1).type(ar.uint8)
    assert m.dtype == ar.uint8 and m.type() == "torch.ByteTensor"
    keep = m == 0
    assert keep.dtype == ar.bool and keep[0].tolist() == [[True, False, False], [True, True, False], [True, True, True]]
    assert ar.tensor(np.arange(3, dtype=np.uint8)).dtype == ar.uint8
    with pytest.raises(RuntimeError, match="floating-point"):
        ar.tensor([1, 2], dtype=ar.uint8, requires_grad=True)

    ids = ar.LongTensor([[1, 2, 3]])
    assert ids.dtype == ar.int64 and ids.shape == (1, 3)
    assert ar.FloatTensor([1, 2]).dtype == ar.float32
    assert ar.BoolTensor([1, 0]).tolist() == [True, False]
    assert ar.LongTensor(2, 5).shape == (2, 5)  # sizes: a (2, 5) tensor
    with pytest.raises(TypeError, match="LongTensor"):
        ar.LongTensor([1], [2])


# --- in-place ops on graph nodes (PyTorch records them; attnrs rebases the node) ----------
def test_setitem_on_a_graph_node_is_recorded():
    x = ar.tensor(RNG.standard_normal((2, 3, 3)).astype(np.float32), requires_grad=True)
    w = RNG.standard_normal((2, 3, 3)).astype(np.float32)
    scores = x * 2.0
    upper = ar.triu_indices(3, 3, offset=1)  # the causal mask written in place, as older code does
    assert upper.dtype == ar.int64 and upper.tolist() == [[0, 0, 1], [1, 2, 2]]
    scores[..., upper[0], upper[1]] = float("-inf")
    (F_softmax(scores) * ar.tensor(w)).sum().backward()
    x2 = ar.tensor(x.numpy(), requires_grad=True)
    masked = (x2 * 2.0).masked_fill(ar.tensor(np.triu(np.ones((3, 3), bool), 1)), float("-inf"))
    (F_softmax(masked) * ar.tensor(w)).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), x2.grad.numpy(), atol=1e-6)
    assert ar.tril_indices(3, 2).tolist() == [[0, 1, 1, 2, 2], [0, 0, 1, 0, 1]]


def F_softmax(t):
    return ar.F.softmax(t, dim=-1)


def test_written_value_gets_its_gradient_and_other_positions_keep_theirs():
    a = ar.tensor(np.zeros((3, 4), np.float32), requires_grad=True)
    v = ar.tensor(np.ones(4, np.float32), requires_grad=True)
    h = a * 1.0
    h[1] = v * 3.0  # row 1 now comes from v
    h.masked_fill_(ar.tensor([[True, False, False, False]] * 3), 0.0)  # column 0 from nowhere
    (h * ar.tensor(np.arange(12, dtype=np.float32).reshape(3, 4))).sum().backward()
    want_a = np.arange(12, dtype=np.float32).reshape(3, 4)
    want_a[1] = 0.0
    want_a[:, 0] = 0.0
    np.testing.assert_array_equal(a.grad.numpy(), want_a)
    np.testing.assert_array_equal(v.grad.numpy(), [0.0, 15.0, 18.0, 21.0])
    buf = ar.zeros(2, 4)  # a plain tensor that receives a value requiring grad joins the graph
    buf[0] = v
    assert buf.requires_grad and not buf.is_leaf


def test_in_place_on_a_node_already_read_raises_instead_of_a_wrong_gradient():
    x = ar.tensor([1.0, 2.0], requires_grad=True)
    y = x * 2.0
    z = y.exp()  # exp's gradient depends on y as it was
    with pytest.raises(RuntimeError, match="already used"):
        y[0] = 0.0
    with pytest.raises(RuntimeError, match="leaf"):
        x[0] = 0.0
    with ar.no_grad():
        x[0] = 5.0  # allowed without grad mode, as in PyTorch
    assert x.numpy()[0] == 5.0 and z.requires_grad


def test_arithmetic_in_place_ops_on_graph_nodes_are_recorded():
    x = ar.tensor([1.0, -2.0, 3.0], requires_grad=True)
    y = x * 1.0
    y.mul_(2.0)
    y.add_(x, alpha=3.0)  # y = 5x, x used twice
    y.clamp_(min=0.0)
    (y * ar.tensor([1.0, 2.0, 3.0])).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [5.0, 0.0, 15.0])  # clamped entry gets none
    v = ar.tensor([1.0, 2.0, 3.0], requires_grad=True)
    buf = ar.zeros(3)
    buf.copy_(v * 2.0)  # a plain buffer takes the graph of what is copied into it
    (buf.sum() + (x * 1.0).zero_().add_(v).sum()).backward()
    np.testing.assert_array_equal(v.grad.numpy(), [3.0, 3.0, 3.0])
    p = nn.Parameter(ar.ones(3))
    with pytest.raises(RuntimeError, match="leaf"):
        p.sub_(1.0)
