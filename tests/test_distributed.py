"""attnrs.distributed, memmap token datasets and the data-parallel Trainer/CLI.

The first half runs in this process (a world of one: DistributedDataParallel's
buckets, hooks and no_sync work the same, the all-reduce is the identity); the
second half starts real MPI jobs with ``mpiexec -n 2`` (``pip install
'attnrs[mpi]'``; skipped when mpi4py or mpiexec is missing).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

import attnrs as ar
from attnrs import data, nn
from attnrs import distributed as dist

sys.path.insert(0, str(Path(__file__).parent))
import dist_worker as worker  # noqa: E402

HERE = Path(__file__).parent
BIN = Path(sys.executable).parent
MPIEXEC = shutil.which("mpiexec", path=str(BIN)) or shutil.which("mpiexec")


def _has_mpi4py() -> bool:
    import importlib.util

    return importlib.util.find_spec("mpi4py") is not None


# `make test` sets ATTNRS_REQUIRE_MPI=1 after installing the extra: there these tests never skip.
needs_mpi = pytest.mark.skipif(
    not (MPIEXEC and _has_mpi4py()) and not os.environ.get("ATTNRS_REQUIRE_MPI"),
    reason="needs mpi4py and mpiexec (pip install 'attnrs[mpi]')",
)


def _clean_env() -> dict:
    return {k: v for k, v in os.environ.items() if k not in dist._MPI_ENV}


def mpirun(*args: str, n: int = 2, timeout: float = 120) -> subprocess.CompletedProcess:
    env = _clean_env()
    env.setdefault("ATTNRS_NUM_THREADS", "1")
    return subprocess.run([MPIEXEC, "-n", str(n), *args], capture_output=True, text=True, timeout=timeout,
                          env=env, check=False)  # fmt: skip


def rel(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.linalg.norm(a - b) / max(np.linalg.norm(b), 1e-30))


def assert_same_parameters(got: dict, ref: dict, tol: float = 1e-5) -> None:
    """All parameters together, and each tensor, within ``tol`` relative (2-norm).

    The key third of an attention ``in_proj_bias`` is left out of the per-tensor
    check: softmax ignores it, so its gradient is pure rounding noise that Adam
    scales up to full-size steps (in any two float orders, MPI or not).
    """
    keys = list(ref)
    flat = lambda d: np.concatenate([np.ravel(d[k]) for k in keys])
    assert rel(flat(got), flat(ref)) <= tol
    for k in keys:
        a, b = np.asarray(got[k]), np.asarray(ref[k])
        if k.endswith("in_proj_bias"):
            e = len(b) // 3
            a, b = np.r_[a[:e], a[2 * e :]], np.r_[b[:e], b[2 * e :]]
        assert rel(a, b) <= tol, k


# --- a world of one ----------------------------------------------------------------------


def test_no_mpi4py_import_outside_mpi():
    code = ("import sys, attnrs.distributed as d; d.init(); d.barrier(); "
            "print(d.rank(), d.world_size(), d.get_comm(), 'mpi4py' in sys.modules)")  # fmt: skip
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=_clean_env(), timeout=60)
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == ["0", "1", "None", "False"]


def _plain_grads(model, batches):
    for x, y in batches:
        _, loss = model(x, targets=y)
        loss.backward()
    return [p.grad._array.copy() for p in model.parameters()]


def test_ddp_world_of_one_grads_are_bucket_views():
    x1, y1, x2, y2 = worker.micro_batches(3, 0, 1)
    ref = _plain_grads(worker.make_model(), [(x1, y1)])
    model = worker.make_model()
    ddp = dist.DistributedDataParallel(model, bucket_cap_mb=0.02)
    assert ddp.module is model and ddp.comm_stats["buckets"] > 2
    _, loss = ddp(x1, targets=y1)
    loss.backward()
    bufs = ddp.bucket_buffers()
    for p, g in zip(model.parameters(), ref):
        assert np.array_equal(p.grad._array, g)  # the identity all-reduce changes no bit
        assert sum(np.shares_memory(p.grad._array, b) for b in bufs) == 1  # a view, not a copy
    # every bucket was started by the backward walk, none at its end
    assert ddp.comm_stats["launched_in_backward"] == ddp.comm_stats["buckets"]
    # a second step after zero_grad reuses the same buffers
    for p in model.parameters():
        p.grad = None
    _, loss = ddp(x2, targets=y2)
    loss.backward()
    assert all(any(np.shares_memory(p.grad._array, b) for b in bufs) for p in model.parameters())


def test_ddp_no_sync_world_of_one_equals_plain_accumulation():
    x1, y1, x2, y2 = worker.micro_batches(3, 0, 1)
    ref = _plain_grads(worker.make_model(), [(x1, y1), (x2, y2)])
    ddp = dist.DistributedDataParallel(worker.make_model(), bucket_cap_mb=0.02)
    got = worker.no_sync_grads(ddp, x1, y1, x2, y2)
    assert ddp.comm_stats["steps"] == 1  # only the synchronised backward reduced
    for a, b in zip(got, ref):
        assert np.array_equal(a, b)


def test_ddp_tied_weights_and_zero_grad_without_none():
    """A parameter used by two nodes (tied embedding / lm_head) is ready only after
    both; gradients zeroed in place (set_to_none=False) still end in the buckets."""
    from attnrs.models import GPT, GPTConfig
    from attnrs.optim import AdamW

    def make():
        ar.manual_seed(0)
        return GPT(GPTConfig(vocab_size=30, block_size=16, n_layer=1, n_head=2, n_embd=16, dropout=0.0,
                             tie_weights=True))  # fmt: skip

    x1, y1, x2, y2 = worker.micro_batches(3, 0, 1)
    ref = _plain_grads(make(), [(x1, y1)])
    model = make()
    ddp = dist.DistributedDataParallel(model, bucket_cap_mb=0.001)  # ~one parameter per bucket
    opt = AdamW(model.parameters())
    for _ in range(2):
        opt.zero_grad(set_to_none=False)  # 2nd pass: fresh zero arrays replace the views
        _, loss = ddp(x1, targets=y1)
        loss.backward()
        for p, g in zip(model.parameters(), ref):
            assert np.array_equal(p.grad._array, g)
            assert any(np.shares_memory(p.grad._array, b) for b in ddp.bucket_buffers())
    assert ddp.comm_stats["launched_in_backward"] == 2 * ddp.comm_stats["buckets"]


def test_ddp_unused_parameter_keeps_no_grad():
    class TwoHeads(nn.Module):
        def __init__(self):
            super().__init__()
            self.a, self.b = nn.Linear(4, 3), nn.Linear(4, 3)

        def forward(self, x):
            return self.a(x).sum()

    m = TwoHeads()
    ddp = dist.DistributedDataParallel(m)
    ddp(ar.tensor(np.ones((2, 4), np.float32))).backward()
    assert m.a.weight.grad is not None and m.b.weight.grad is None
    with pytest.raises(ValueError, match="bucket_cap_mb"):
        dist.DistributedDataParallel(m, bucket_cap_mb=0)


# --- data: memmap token files, streaming, disjoint windows -------------------------------

CORPUS = "Héllo wörld, it's a TEST.\r\nÜber naïve café — 日本語 ok_go don't stop\n" * 50 + "the end"


@pytest.mark.parametrize("kind", ["char", "word"])
def test_streamed_tokenization_equals_all_at_once(tmp_path, kind):
    src = tmp_path / "corpus.txt"
    src.write_bytes(CORPUS.encode("utf-8"))
    text = data.load_text(src)
    tok = (data.CharTokenizer if kind == "char" else data.WordTokenizer).from_text(text)
    tr, va = data.train_val_split(tok.encode(text))
    for chunk in (1, 5, 64, 1 << 20):
        meta = data.prepare_tokens(src, tmp_path / f"{kind}{chunk}", kind, chunk_chars=chunk)
        td = data.load_tokens(tmp_path / f"{kind}{chunk}")
        assert isinstance(td.train, np.memmap) and td.train.dtype == np.uint16 and meta["dtype"] == "uint16"
        assert td.tokenizer.to_dict() == tok.to_dict()
        np.testing.assert_array_equal(td.train, tr)
        np.testing.assert_array_equal(td.val, va)


def test_prepare_uint32_and_bad_dirs(tmp_path):
    src = tmp_path / "w.txt"
    src.write_text(" ".join(f"w{i}" for i in range(70_000)), encoding="utf-8")
    meta = data.prepare_tokens(src, tmp_path / "big", "word")
    assert meta["dtype"] == "uint32" and meta["vocab_size"] == 70_001
    td = data.load_tokens(tmp_path / "big")
    assert td.train.dtype == np.uint32 and td.tokenizer.decode(td.val[-1:]) == "w69999"
    (tmp_path / "big" / "val.bin").write_bytes(b"\0" * 6)
    with pytest.raises(ValueError, match="val.bin should hold"):
        data.load_tokens(tmp_path / "big")
    with pytest.raises(FileNotFoundError, match="attnrs prepare"):
        data.load_tokens(tmp_path)


def test_memmap_windows_equal_in_memory_windows(tmp_path):
    src = tmp_path / "c.txt"
    src.write_text(CORPUS, encoding="utf-8")
    data.prepare_tokens(src, tmp_path / "tok")
    td = data.load_tokens(tmp_path / "tok")
    mem = np.array(td.train, dtype=np.int64)
    for world in (1, 3):
        for rank in range(world):
            a = data.get_batch(td.train, 5, 16, np.random.default_rng(11), rank=rank, world_size=world)
            b = data.get_batch(mem, 5, 16, np.random.default_rng(11), rank=rank, world_size=world)
            for u, v in zip(a, b):
                assert u.dtype == np.int64
                np.testing.assert_array_equal(u, v)


def test_rank_windows_are_disjoint_and_independent_of_world_size():
    ids = np.arange(10_000)
    whole, _ = data.get_batch(ids, 12, 8, np.random.default_rng(3))
    parts = [data.get_batch(ids, 4, 8, np.random.default_rng(3), rank=r, world_size=3)[0] for r in range(3)]
    np.testing.assert_array_equal(np.concatenate(parts), whole)
    starts = np.concatenate(parts)[:, 0]
    assert len(set(starts.tolist())) == len(starts)
    with pytest.raises(ValueError, match="rank"):
        data.get_batch(ids, 4, 8, np.random.default_rng(3), rank=3, world_size=3)


def test_cli_prepare_then_train_on_token_dir(tmp_path):
    src = tmp_path / "c.txt"
    src.write_text(CORPUS, encoding="utf-8")
    run = lambda *a: subprocess.run([sys.executable, "-m", "attnrs.cli", *a], capture_output=True, text=True,
                                    timeout=120, env=_clean_env(), check=False)  # fmt: skip
    r = run("prepare", "--data", str(src), "--out", str(tmp_path / "tok"), "--tokenizer", "word")
    assert r.returncode == 0, r.stderr
    assert json.loads((tmp_path / "tok" / "meta.json").read_text())["tokenizer"]["kind"] == "word"
    r = run("train", "--data", str(tmp_path / "tok"), "--out", str(tmp_path / "run"), *TINY)
    assert r.returncode == 0, r.stderr
    cfg = json.loads((tmp_path / "run" / "config.json").read_text())
    assert cfg["tokenizer"]["kind"] == "word" and cfg["global_batch_size"] == 2
    r = run("train", "--data", str(tmp_path), "--out", str(tmp_path / "x"), *TINY)
    assert r.returncode == 2 and "attnrs prepare" in r.stderr


# --- real MPI jobs (mpiexec -n 2) --------------------------------------------------------

TINY = ["--steps", "3", "--eval-interval", "3", "--eval-iters", "2", "--block-size", "8", "--batch-size", "2",
        "--n-layer", "1", "--n-embd", "16", "--n-head", "2", "--no-progress", "--sample-length", "0"]  # fmt: skip


@needs_mpi
def test_two_ranks_equal_one_rank_with_double_batch(tmp_path):
    """2 ranks x batch 4 == 1 rank x batch 8 on the same samples after 20 AdamW
    steps, and a second identical job gives the same bits."""
    for tag in ("a", "b"):
        r = mpirun(sys.executable, str(HERE / "dist_worker.py"), "ddp", str(tmp_path), tag)
        assert r.returncode == 0, r.stdout + r.stderr
    a, b = np.load(tmp_path / "ddp_a.npz"), np.load(tmp_path / "ddp_b.npz")
    assert all(np.array_equal(a[k], b[k]) for k in a.files)  # deterministic
    losses, params = worker.train(8, False)
    np.testing.assert_allclose(a["losses"], losses, rtol=1e-5)
    names = [k for k, _ in worker.make_model().named_parameters()]
    assert_same_parameters({k: a[f"arr_{i}"] for i, k in enumerate(names)}, dict(zip(names, params)))


@needs_mpi
def test_two_ranks_no_sync_accumulation(tmp_path):
    """no_sync over micro-batch 1, then a synchronised micro-batch 2, on 2 ranks ==
    the sum of both micro-batches' gradients of both ranks, averaged (computed here)."""
    r = mpirun(sys.executable, str(HERE / "dist_worker.py"), "nosync", str(tmp_path))
    assert r.returncode == 0, r.stdout + r.stderr
    got = np.load(tmp_path / "nosync.npz")
    parts = [_plain_grads(worker.make_model(), [(x1, y1), (x2, y2)])
             for x1, y1, x2, y2 in (worker.micro_batches(3, k, 2) for k in range(2))]  # fmt: skip
    for i, (g0, g1) in enumerate(zip(*parts)):
        assert rel(got[f"arr_{i}"], (g0 + g1) / 2) <= 1e-6, i


def _cli_run(out: Path, steps: int, n: int, batch: int | None = None, resume: bool = False, data=None):
    args = ["train", "--data", str(data), "--out", str(out), "--steps", str(steps), "--warmup", "100",
            "--eval-interval", "4", "--eval-iters", "2", "--block-size", "8", "--n-layer", "1", "--n-embd", "16",
            "--n-head", "2", "--no-progress", "--sample-length", "0"]  # fmt: skip
    if batch:
        args += ["--batch-size", str(batch)]
    if resume:
        args.append("--resume")
    if n == 1:
        return subprocess.run([str(BIN / "attnrs"), *args], capture_output=True, text=True, timeout=120,
                              env=_clean_env(), check=False)  # fmt: skip
    return mpirun(str(BIN / "attnrs"), *args, n=n)


@needs_mpi
def test_cli_two_ranks_rank0_writes_and_resume_across_world_sizes(tmp_path):
    """mpiexec -n 2 attnrs train: one log line per step, one set of files, printed
    once; a 2-rank checkpoint resumed on 1 rank (and a 1-rank one on 2 ranks)
    continues as the uninterrupted 2-rank run (warm-up 100 > steps keeps the
    learning rate independent of --steps)."""
    src = tmp_path / "c.txt"
    src.write_text(CORPUS, encoding="utf-8")
    full = tmp_path / "full"
    r = _cli_run(full, 8, 2, batch=2, data=src)
    assert r.returncode == 0, r.stdout + r.stderr
    assert r.stdout.count("step 8: train loss") == 1 and "global batch 4" in r.stdout
    # (plots too, when matplotlib is installed)
    assert sorted(p.name for p in full.iterdir() if p.suffix != ".png") == [
        "checkpoint.safetensors", "config.json", "log.jsonl"]  # fmt: skip
    log = [json.loads(s) for s in (full / "log.jsonl").read_text().splitlines()]
    assert [x["step"] for x in log] == list(range(1, 9))
    ref = ar.load(str(full / "checkpoint.safetensors"))

    for first, second in ((2, 1), (1, 2)):
        out = tmp_path / f"r{first}{second}"
        r = _cli_run(out, 4, first, batch=4 // first, data=src)
        assert r.returncode == 0, r.stdout + r.stderr
        r = _cli_run(out, 8, second, resume=True, data=src)  # the global batch (4) is kept
        assert r.returncode == 0, r.stdout + r.stderr
        assert r.stdout.count("resumed") == 1
        assert_same_parameters(ar.load(str(out / "checkpoint.safetensors")), ref)
        log2 = [json.loads(s) for s in (out / "log.jsonl").read_text().splitlines()]
        assert [x["step"] for x in log2] == list(range(1, 9))
        np.testing.assert_allclose([x["train_loss"] for x in log2], [x["train_loss"] for x in log], rtol=1e-5)
        np.testing.assert_allclose(log2[-1]["val_loss"], log[-1]["val_loss"], rtol=1e-5)


@needs_mpi
@pytest.mark.parametrize("scenario", ["raise", "raise_outside"])
def test_a_failing_rank_ends_the_job(tmp_path, scenario):
    t0 = time.monotonic()
    r = mpirun(sys.executable, str(HERE / "dist_worker.py"), scenario, str(tmp_path), timeout=60)
    assert r.returncode != 0
    assert time.monotonic() - t0 < 60
    assert "injected failure" in r.stderr and "rank 1 of 2" in r.stderr


@needs_mpi
def test_cli_error_on_all_ranks_exits_2(tmp_path):
    r = mpirun(str(BIN / "attnrs"), "train", "--data", str(tmp_path / "missing.txt"), "--out", str(tmp_path),
               *TINY, timeout=60)  # fmt: skip
    assert r.returncode == 2 and "missing.txt" in r.stderr
