"""The thread pool: the first calling thread is a worker of its pool; other
threads, thread-count changes and forked children must still get the same bits."""

import os
import subprocess
import sys
import threading

import numpy as np
import pytest

import attnrs as ar


def _work(seed: int) -> list[np.ndarray]:
    """A few kernels large enough to run in parallel (GEMM, row-wise, attention)."""
    rng = np.random.default_rng(seed)
    a = rng.standard_normal((300, 257), dtype=np.float32)
    b = rng.standard_normal((257, 190), dtype=np.float32)
    q = rng.standard_normal((2, 3, 130, 32), dtype=np.float32)
    x = rng.standard_normal((512, 384), dtype=np.float32)
    return [
        ar.ops.matmul(a, b),
        ar.ops.softmax(x, -1),
        ar.ops.attention(q, q, q, causal=True),
    ]


def _assert_same(got: list[np.ndarray], want: list[np.ndarray]) -> None:
    for g, w in zip(got, want):
        np.testing.assert_array_equal(g, w)


@pytest.fixture
def restore_threads():
    before = ar.get_num_threads()
    yield
    ar.set_num_threads(before)


def _in_thread(fn):
    out, err = [], []

    def run():
        try:
            out.append(fn())
        except BaseException as e:  # noqa: BLE001 - reraised in the caller
            err.append(e)

    t = threading.Thread(target=run)
    t.start()
    t.join(timeout=120)
    assert not t.is_alive(), "kernel call from another thread did not finish"
    if err:
        raise err[0]
    return out[0]


def test_other_thread_gets_same_bits():
    want = _work(1)
    _assert_same(_in_thread(lambda: _work(1)), want)


@pytest.mark.parametrize("n", [1, 2, 3])
def test_other_thread_with_any_pool_size(n, restore_threads):
    """A 1-thread pool whose only worker is the main thread must still serve
    other threads (they use a pool of their own)."""
    want = _work(2)
    ar.set_num_threads(n)
    _assert_same(_in_thread(lambda: _work(2)), want)
    _assert_same(_work(2), want)


def test_concurrent_callers_agree():
    want = _work(3)
    results, errors = [], []

    def run():
        try:
            results.append(_work(3))
        except BaseException as e:  # noqa: BLE001
            errors.append(e)

    threads = [threading.Thread(target=run) for _ in range(4)]
    for t in threads:
        t.start()
    mine = _work(3)
    for t in threads:
        t.join(timeout=120)
    assert not errors and len(results) == 4
    for r in results + [mine]:
        _assert_same(r, want)


def test_thread_count_round_trip(restore_threads):
    want = _work(4)
    for n in (1, 2, 4, 2, 1, 2):
        ar.set_num_threads(n)
        assert ar.get_num_threads() == n
        _assert_same(_work(4), want)


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_forked_child_can_call_kernels():
    """The parent's pool threads do not exist in a fork child; the main thread
    (a worker of its own pool) must run the parallel loops alone."""
    _work(5)  # the pool exists before the fork
    code = (
        "import os, sys, numpy as np, attnrs as ar\n"
        "sys.path.insert(0, sys.argv[1])\n"
        "from test_threads import _work\n"
        "want = _work(5)\n"
        "pid = os.fork()\n"
        "if pid == 0:\n"
        "    got = _work(5)\n"
        "    ok = all(np.array_equal(g, w) for g, w in zip(got, want))\n"
        "    os._exit(0 if ok else 3)\n"
        "_, status = os.waitpid(pid, 0)\n"
        "sys.exit(os.waitstatus_to_exitcode(status))\n"
    )
    here = os.path.dirname(os.path.abspath(__file__))
    r = subprocess.run([sys.executable, "-c", code, here], timeout=120)
    assert r.returncode == 0


def test_spin_off_gives_same_bits():
    """ATTNRS_SPIN_US=0: workers sleep at once after each call; same results."""
    code = (
        "import sys, numpy as np\n"
        "sys.path.insert(0, sys.argv[1])\n"
        "from test_threads import _work\n"
        "np.savez(sys.argv[2], *_work(6))\n"
    )
    here = os.path.dirname(os.path.abspath(__file__))
    import tempfile

    with tempfile.TemporaryDirectory() as d:
        out = os.path.join(d, "r.npz")
        env = dict(os.environ, ATTNRS_SPIN_US="0")
        subprocess.run([sys.executable, "-c", code, here, out], env=env, check=True, timeout=120)
        got = np.load(out)
        _assert_same([got[f"arr_{i}"] for i in range(3)], _work(6))
