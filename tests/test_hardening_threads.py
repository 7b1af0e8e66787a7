"""Issue 14, items 2, 3 and 9 (env vars, set_num_threads): forked children
never hang, a thread pool that cannot start raises RuntimeError and releases
what it started, and bad settings are refused or warned about."""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest

import attnrs as ar

pytestmark = pytest.mark.skipif(os.name != "posix", reason="fork and rlimits are POSIX")


def run(code: str, env: dict | None = None, timeout: float = 60) -> subprocess.CompletedProcess:
    full_env = {**os.environ, **(env or {})}
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=timeout, env=full_env)  # fmt: skip


FORK_SETUP = """
import os, threading, numpy as np, attnrs as ar
a = np.ones((512, 512), np.float32)
# Kernels on two threads other than the main one: one takes the home pool,
# the other a shared pool whose workers a forked child does not have.
for _ in range(2):
    t = threading.Thread(target=ar.ops.matmul, args=(a, a)); t.start(); t.join()
"""


def test_forked_child_after_kernels_on_other_threads():
    code = FORK_SETUP + """
pid = os.fork()
if pid == 0:
    ok = ar.ops.matmul(a, a)[0, 0] == 512 and ar.ops.softmax(a).shape == a.shape
    os._exit(0 if ok else 3)
_, status = os.waitpid(pid, 0)
assert os.waitstatus_to_exitcode(status) == 0, status
print("ok")
"""
    r = run(code)
    assert r.returncode == 0 and "ok" in r.stdout, r.stderr


def test_multiprocessing_fork_pool_after_threads():
    code = FORK_SETUP + """
import multiprocessing as mp
def f(i):
    return float(ar.ops.matmul(a, a)[0, 0]) + i
with mp.get_context("fork").Pool(2) as p:
    assert p.map(f, range(4)) == [512.0, 513.0, 514.0, 515.0]
print("ok")
"""
    r = run(code)
    assert r.returncode == 0 and "ok" in r.stdout, r.stderr


def test_fork_from_home_thread_after_main_ran_kernels():
    code = """
import os, numpy as np, attnrs as ar
a = np.ones((512, 512), np.float32)
ar.ops.matmul(a, a); ar.set_num_threads(2); ar.ops.matmul(a, a)
for _ in range(3):  # fork repeatedly, and from a child too
    pid = os.fork()
    if pid == 0:
        if ar.ops.matmul(a, a)[0, 0] != 512:
            os._exit(3)
        pid2 = os.fork()
        if pid2 == 0:
            os._exit(0 if ar.ops.matmul(a, a)[0, 0] == 512 else 4)
        _, s = os.waitpid(pid2, 0)
        os._exit(os.waitstatus_to_exitcode(s))
    _, s = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(s) == 0, s
print("ok")
"""
    r = run(code)
    assert r.returncode == 0 and "ok" in r.stdout, r.stderr


POOL_FAIL = """
import os, resource, numpy as np, attnrs as ar
a = np.ones((256, 256), np.float32)
def threads():
    return len(os.listdir("/proc/self/task"))
before = threads()
resource.setrlimit(resource.RLIMIT_AS, (700 << 20, 700 << 20))
"""


@pytest.mark.skipif(not os.path.isdir("/proc/self/task"), reason="needs /proc")
def test_pool_start_failure_is_runtime_error_and_stops_threads():
    code = POOL_FAIL + """
old = ar.get_num_threads()
try:
    ar.set_num_threads(250)  # 250 stacks of 8 MiB do not fit in 700 MiB
except RuntimeError as e:
    assert "could not start a pool of 250 threads" in str(e), e
else:
    raise AssertionError("no RuntimeError")
assert threads() == before, (threads(), before)
assert ar.get_num_threads() == old
assert ar.ops.matmul(a, a)[0, 0] == 256
print("ok")
"""
    r = run(code, env={"RUST_MIN_STACK": str(8 << 20)})
    assert r.returncode == 0 and "ok" in r.stdout, r.stderr


@pytest.mark.skipif(not os.path.isdir("/proc/self/task"), reason="needs /proc")
def test_default_pool_that_cannot_start_falls_back():
    code = POOL_FAIL + """
try:
    ar.ops.matmul(a, a)
except RuntimeError as e:
    assert "the pool size is now 1" in str(e), e
else:
    raise AssertionError("no RuntimeError")
assert ar.get_num_threads() == 1
assert ar.ops.matmul(a, a)[0, 0] == 256  # the next call works
assert threads() <= before + 1, (threads(), before)
print("ok")
"""
    r = run(code, env={"ATTNRS_NUM_THREADS": "250", "RUST_MIN_STACK": str(8 << 20)})
    assert r.returncode == 0 and "ok" in r.stdout, r.stderr


@pytest.mark.parametrize("n", [0, -1, 5000, 2**70, -(2**70)])
def test_set_num_threads_refuses_absurd_counts(n, restore_threads):
    before = ar.get_num_threads()
    with pytest.raises(ValueError, match="set_num_threads: n: expected an integer in 1..="):
        ar.set_num_threads(n)
    assert ar.get_num_threads() == before


@pytest.mark.parametrize("n", [1.5, 2.0, "2", None])
def test_set_num_threads_refuses_non_integers(n, restore_threads):
    with pytest.raises(TypeError, match="set_num_threads: n must be an int"):
        ar.set_num_threads(n)


def test_set_num_threads_takes_numpy_ints(restore_threads):
    ar.set_num_threads(np.int64(1))
    assert ar.get_num_threads() == 1


@pytest.fixture
def restore_threads():
    n = ar.get_num_threads()
    yield
    ar.set_num_threads(n)


@pytest.mark.parametrize(
    "var, value, used",
    [
        ("ATTNRS_NUM_THREADS", "abc", "threads (the number of cores)"),
        ("ATTNRS_NUM_THREADS", "0", "threads (the number of cores)"),
        ("ATTNRS_NUM_THREADS", "-1", "threads (the number of cores)"),
        ("ATTNRS_NUM_THREADS", "", "threads (the number of cores)"),
        ("ATTNRS_NUM_THREADS", "100000", "threads (the number of cores)"),
        ("ATTNRS_SPIN_US", "-5", "using 1000"),
        ("ATTNRS_SPIN_US", "abc", "using 1000"),
        ("ATTNRS_SPIN_US", "99999999", "using 100000"),
        ("ATTNRS_SIMD", "bogus", "using"),
    ],
)
def test_bad_env_values_warn_once_naming_variable_and_value(var, value, used):
    code = """
import warnings
with warnings.catch_warnings(record=True) as w:
    warnings.simplefilter("always")
    import attnrs as ar, numpy as np
    ar.ops.matmul(np.ones((300, 300), np.float32), np.ones((300, 300), np.float32))
    import attnrs  # a second import warns no more
for x in w:
    print("WARN", x.category.__name__, x.message)
"""
    r = run(code, env={var: value})
    assert r.returncode == 0, r.stderr
    lines = [s for s in r.stdout.splitlines() if s.startswith("WARN")]
    assert len(lines) == 1, r.stdout
    assert "RuntimeWarning" in lines[0] and var in lines[0] and repr(value)[1:-1] in lines[0]
    assert used in lines[0], lines[0]


def test_good_env_values_do_not_warn():
    code = "import warnings; warnings.simplefilter('error'); import attnrs; print(attnrs.get_num_threads())"
    r = run(code, env={"ATTNRS_NUM_THREADS": "3", "ATTNRS_SPIN_US": "0", "ATTNRS_SIMD": "scalar"})
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "3"
