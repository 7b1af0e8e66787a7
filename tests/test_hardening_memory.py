"""Issue 14, item 1: a kernel allocation that cannot be met raises MemoryError
naming the op (never aborts the interpreter), and the process keeps working.

Each case runs in a subprocess (a failure would be SIGABRT) under an address
space limit (``resource.setrlimit``), so "cannot be met" is deterministic."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

resource = pytest.importorskip("resource")

PRELUDE = """
import resource, numpy as np, attnrs as ar
from attnrs import nn
a = np.ones((64, 64), np.float32)
want = a @ a
ar.ops.matmul(a, a)  # start the pool before the limit
resource.setrlimit(resource.RLIMIT_AS, (AS_LIMIT, AS_LIMIT))
def expect_memory_error(f, op):
    try:
        f()
    except MemoryError as e:
        assert str(e).startswith(op + ": could not allocate"), (op, str(e))
        print("MemoryError:", e)
    else:
        raise AssertionError("no MemoryError")
    # The interpreter and the kernels still work.
    assert np.array_equal(ar.ops.matmul(a, a), want)
"""

CASES = {
    # The reproducer (there 2**22 rows: 16 MiB of input asking for
    # 64 GiB of gates), scaled so that NumPy's own arrays fit the limit.
    "lstm_forward": ("rnn", """ar.ops.rnn_forward('lstm', np.zeros((2**18, 1, 1), np.float32), None, None,
                       np.zeros((4096, 1), np.float32), np.zeros((4096, 1024), np.float32))"""),
    # 16 bytes and a broadcast view: Dv = 2**28 per-task scratch.
    "attention_broadcast_v": ("attention", """
q = np.zeros((1, 1, 2, 1), np.float32)
ar.ops.attention(q, q, np.broadcast_to(np.float32(0), (1, 1, 2, 2**28)))"""),
    "attention_decode_broadcast_v": ("attention", """
q = np.zeros((1, 1, 1, 1), np.float32)
ar.ops.attention(q, np.zeros((1, 1, 3, 1), np.float32), np.broadcast_to(np.float32(0), (1, 1, 3, 2**28)))"""),
    "gru_layer": ("rnn", """nn.GRU(1, 1024)(ar.tensor(np.zeros((512, 512, 1), np.float32)))"""),
    # A broadcast K: the packed panels would be K × block floats.
    "matmul_broadcast_k": ("matmul", """
x = np.broadcast_to(np.float32(1), (1, 2**31))
ar.ops.matmul(x, np.broadcast_to(np.float32(1), (2**31, 40)))"""),
    "matmul_broadcast_k_rows": ("matmul", """
x = np.broadcast_to(np.float32(1), (9, 2**31))
ar.ops.matmul(x, np.broadcast_to(np.float32(1), (2**31, 40)))"""),
    "lstm_backward": ("rnn", """
x = ar.tensor(np.zeros((4, 2**17, 1), np.float32), requires_grad=True)
m = nn.LSTM(1, 512)
out, _ = m(x)
out.sum().backward()"""),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_allocation_failure_is_memory_error(name):
    op, body = CASES[name]
    limit = 3 << 30
    code = PRELUDE.replace("AS_LIMIT", str(limit)) + textwrap.dedent(
        f"expect_memory_error(lambda: exec({body.strip()!r}, globals()), {op!r})\nprint('alive')"
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, f"rc={r.returncode}\n{r.stdout}\n{r.stderr[-3000:]}"
    assert "alive" in r.stdout and "MemoryError:" in r.stdout, r.stdout

