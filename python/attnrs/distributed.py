"""Data parallelism on MPI (mpi4py): every rank holds the whole model, trains on
its share of each batch, and the gradients are averaged before each step.

::

    mpiexec -n 4 attnrs train ...              # the CLI detects the MPI launch
    # or, in a script:
    from attnrs import distributed as dist
    dist.init()                                # world size 1 outside mpiexec
    model = dist.DistributedDataParallel(model)
    _, loss = model(x, targets=y); loss.backward()   # gradients averaged here
    optimizer.step()

- ``init()`` joins ``mpi4py``'s ``COMM_WORLD`` when the process was started by
  ``mpiexec``/``mpirun`` (MPICH, Open MPI and Intel MPI set ``PMI_*``/``OMPI_*``/
  ``PMIX_*`` variables) or when ``force=True``; otherwise the world is this one
  process and mpi4py is not even imported. ``rank()``, ``world_size()``,
  ``barrier()`` work either way.
- ``DistributedDataParallel(module, bucket_cap_mb=25)`` is PyTorch's wrapper
  on MPI: it broadcasts parameters and buffers from rank 0 when built; the
  gradients live in flat float32 buckets (each parameter's ``.grad`` array is a
  view into its bucket, so gradients are accumulated in place and never copied);
  a bucket's non-blocking ``Iallreduce`` starts as soon as the backward walk has
  finished the gradients of all its parameters (an ``attnrs.autograd`` leaf
  hook), in a fixed bucket order on every rank, and all are waited for at the
  end of ``backward()``, i.e. before the optimizer step. ``no_sync()`` skips the
  all-reduce (gradient accumulation); the next synchronised backward averages
  the accumulated sums.
- Determinism: the same job gives the same bits — each bucket is summed by MPI
  in an order fixed by its size and the world size (never by timing) and then
  divided by the world size on every rank.
- With more than one rank an uncaught exception on any rank calls
  ``MPI_Abort``, so the whole job ends (non-zero) instead of hanging in a
  collective.
"""

from __future__ import annotations

import contextlib
import os
import sys
import time
from collections.abc import Iterator
from typing import Any, Callable

import numpy as np

from .autograd import register_leaf_hooks
from .nn.module import Module
from .tensor import Tensor

__all__ = [
    "DistributedDataParallel",
    "abort",
    "abort_on_error",
    "all_sum",
    "barrier",
    "broadcast_bytes",
    "get_comm",
    "init",
    "is_initialized",
    "launched_under_mpi",
    "rank",
    "world_size",
]

# Variables that MPI launchers set in every rank's environment.
_MPI_ENV = ("PMI_RANK", "PMI_SIZE", "PMIX_RANK", "OMPI_COMM_WORLD_SIZE", "MPI_LOCALNRANKS")


class _World:
    """The process-wide MPI state (like torch.distributed's default group)."""

    initialized = False
    comm: Any = None  # mpi4py COMM_WORLD, or None for a world of one without MPI
    MPI: Any = None


def launched_under_mpi() -> bool:
    """True when an MPI launcher (mpiexec/mpirun) started this process."""
    return any(v in os.environ for v in _MPI_ENV)


def init(force: bool = False) -> None:
    """Joins the MPI job (idempotent).

    Imports mpi4py only when launched under MPI or ``force`` is true (a
    singleton MPI world of one); raises ImportError with the install hint when
    mpi4py is missing then.
    """
    if _World.initialized:
        return
    if force or launched_under_mpi():
        try:
            from mpi4py import MPI
        except ImportError as e:
            raise ImportError(
                "attnrs.distributed: mpi4py is not installed; pip install 'attnrs[mpi]' "
                f"(mpi4py + mpich) ({e})"
            ) from None
        _World.MPI, _World.comm = MPI, MPI.COMM_WORLD
        if _World.comm.Get_size() > 1:
            _install_excepthook()
    _World.initialized = True


def is_initialized() -> bool:
    return _World.initialized


def get_comm() -> Any:
    """mpi4py's COMM_WORLD, or None when this process is a world of one without MPI."""
    init()
    return _World.comm


def rank() -> int:
    init()
    return 0 if _World.comm is None else _World.comm.Get_rank()


def world_size() -> int:
    init()
    return 1 if _World.comm is None else _World.comm.Get_size()


def barrier() -> None:
    init()
    if _World.comm is not None:
        _World.comm.Barrier()


def abort(code: int = 1) -> None:
    """Ends every rank of the job with exit status ``code`` (``MPI_Abort``);
    without other ranks, exits this process."""
    sys.stdout.flush()
    sys.stderr.flush()
    if _World.comm is not None and _World.comm.Get_size() > 1:
        # MPI_Abort makes mpiexec tear down every rank at once; output still in
        # the pipe to mpiexec's proxy can be lost (seen: the whole report), so
        # give the proxy a moment to forward it first.
        time.sleep(0.25)
        _World.comm.Abort(code)
    os._exit(code)


@contextlib.contextmanager
def abort_on_error(code: int | Callable[[BaseException], int] = 1) -> Iterator[None]:
    """With more than one rank, an exception in the block prints its traceback
    (naming the rank) and aborts the whole job with exit status ``code`` (or
    ``code(exception)``); with one rank the exception propagates unchanged."""
    try:
        yield
    except BaseException as e:
        if world_size() <= 1 or isinstance(e, SystemExit) and not e.code:
            raise
        _report(type(e), e, e.__traceback__)
        abort(code(e) if callable(code) else code)


def _report(tp: Any, value: Any, tb: Any) -> None:
    import traceback

    text = "".join(traceback.format_exception(tp, value, tb))
    sys.stderr.write(f"attnrs: rank {rank()} of {world_size()} failed; aborting the job\n{text}")
    sys.stderr.flush()


def _install_excepthook() -> None:
    previous = sys.excepthook

    def hook(tp: Any, value: Any, tb: Any) -> None:
        _report(tp, value, tb)
        abort(1)

    hook.previous = previous  # type: ignore[attr-defined]
    sys.excepthook = hook


def all_sum(values: np.ndarray) -> np.ndarray:
    """Element-wise sum over ranks (float64, blocking; the identity with one rank)."""
    out = np.ascontiguousarray(values, dtype=np.float64).copy()
    comm = get_comm()
    if comm is not None and comm.Get_size() > 1:
        comm.Allreduce(_World.MPI.IN_PLACE, out, op=_World.MPI.SUM)
    return out


def broadcast_bytes(data: bytes | None, root: int = 0) -> bytes:
    """``data`` of rank ``root`` on every rank (raw bytes, no pickle)."""
    comm = get_comm()
    if comm is None or comm.Get_size() == 1:
        return data if data is not None else b""
    n = np.array([len(data) if comm.Get_rank() == root else 0], dtype=np.int64)
    comm.Bcast(n, root=root)
    buf = (
        np.frombuffer(data, dtype=np.uint8).copy()
        if comm.Get_rank() == root
        else np.empty(int(n[0]), dtype=np.uint8)
    )
    comm.Bcast(buf, root=root)
    return buf.tobytes()


# --- DistributedDataParallel -------------------------------------------------------------


class _Bucket:
    """A flat float32 buffer: the gradients of ``params`` back to back, then one
    "has a gradient on this rank" flag per parameter (summed with the rest, so
    parameters unused on every rank keep ``grad = None`` without another message)."""

    def __init__(self, params: list[Tensor]) -> None:
        self.params = params
        self.numel = int(sum(p._array.size for p in params))
        self.buffer = np.zeros(self.numel + len(params), dtype=np.float32)
        self.views: list[np.ndarray] = []
        off = 0
        for p in params:
            n = p._array.size
            self.views.append(self.buffer[off : off + n].reshape(p._array.shape))
            off += n
        self.flags = self.buffer[self.numel :]
        self.pending = len(params)
        self.request: Any = None


class _Reducer:
    """The autograd hook group of one DistributedDataParallel (see autograd.py)."""

    def __init__(self, params: list[Tensor], comm: Any, mpi: Any, bucket_cap_bytes: int) -> None:
        self.comm, self.mpi = comm, mpi
        self.world = 1 if comm is None else comm.Get_size()
        self.sync = True
        # Buckets in reverse parameter order: roughly the order backward finishes them.
        self.buckets: list[_Bucket] = []
        group: list[Tensor] = []
        size = 0
        for p in reversed(params):
            if group and size + p._array.nbytes > bucket_cap_bytes:
                self.buckets.append(_Bucket(group))
                group, size = [], 0
            group.append(p)
            size += p._array.nbytes
        if group:
            self.buckets.append(_Bucket(group))
        self.where: dict[int, tuple[_Bucket, np.ndarray]] = {}
        for b in self.buckets:
            for p, v in zip(b.params, b.views):
                self.where[id(p)] = (b, v)
        self.next_launch = 0
        self.stats = {"steps": 0, "wait_s": 0.0, "last_wait_s": 0.0, "last_backward_end": 0.0,
                      "launched_in_backward": 0, "buckets": len(self.buckets)}  # fmt: skip

    # -- hook protocol --
    def accumulate(self, p: Tensor, g: np.ndarray) -> None:
        """Adds one gradient contribution into the parameter's bucket view, in place."""
        _, view = self.where[id(p)]
        grad = p.grad
        if grad is None:
            np.copyto(view, g)
            p.grad = Tensor(view)
        elif grad._array is view:
            np.add(view, g, out=view)
        else:  # a gradient array set from outside (zero_grad(set_to_none=False), user code)
            np.add(grad._array, g, out=view)
            grad._array = view

    def ready(self, p: Tensor) -> None:
        if not self.sync:
            return
        b, _ = self.where[id(p)]
        b.pending -= 1
        if b.pending == 0:
            # Launch in bucket order on every rank (MPI needs the same collective order).
            while self.next_launch < len(self.buckets) and self.buckets[self.next_launch].pending == 0:
                self._launch(self.buckets[self.next_launch])
                self.next_launch += 1
                self.stats["launched_in_backward"] += 1
        self._progress()

    def finish(self) -> None:
        if not self.sync:
            self._reset()
            return
        while self.next_launch < len(self.buckets):  # buckets holding unused parameters
            self._launch(self.buckets[self.next_launch])
            self.next_launch += 1
        t0 = time.perf_counter()
        if self.comm is not None and self.world > 1:
            self.mpi.Request.Waitall([b.request for b in self.buckets])
        t1 = time.perf_counter()
        self.stats["wait_s"] += t1 - t0
        self.stats["last_wait_s"], self.stats["last_backward_end"] = t1 - t0, t0
        self.stats["steps"] += 1
        for b in self.buckets:
            b.request = None
            if self.world > 1:
                np.divide(b.buffer[: b.numel], self.world, out=b.buffer[: b.numel])
            for p, v, used in zip(b.params, b.views, b.flags):
                if p.grad is None and used > 0:  # unused here, used on another rank
                    p.grad = Tensor(v)
        self._reset()

    # -- internals --
    def _launch(self, b: _Bucket) -> None:
        for i, (p, v) in enumerate(zip(b.params, b.views)):
            grad = p.grad
            if grad is None:
                v.fill(0.0)
                b.flags[i] = 0.0
            else:
                if grad._array is not v:
                    np.copyto(v, grad._array)
                    grad._array = v
                b.flags[i] = 1.0
        if self.comm is not None and self.world > 1:
            b.request = self.comm.Iallreduce(self.mpi.IN_PLACE, b.buffer, op=self.mpi.SUM)

    def _progress(self) -> None:
        # MPICH advances non-blocking collectives only inside MPI calls: poke it.
        if self.comm is not None and self.world > 1:
            reqs = [b.request for b in self.buckets[: self.next_launch] if b.request is not None]
            if reqs:
                self.mpi.Request.Testall(reqs)

    def _reset(self) -> None:
        for b in self.buckets:
            b.pending = len(b.params)
        self.next_launch = 0


class DistributedDataParallel(Module):
    """Wraps ``module`` for data-parallel training over the MPI world (PyTorch's name).

    Calling the wrapper calls ``module``; ``.module`` is the wrapped model (save
    and load its state dict, not the wrapper's, for checkpoints that do not
    depend on the world size). See the module docstring for the mechanics.

    ``bucket_cap_mb`` caps a gradient bucket (MiB): smaller buckets start
    their all-reduce earlier in the backward, larger ones send fewer messages.
    """

    def __init__(self, module: Module, bucket_cap_mb: float = 25.0, broadcast_buffers: bool = True) -> None:
        super().__init__()
        if not isinstance(module, Module):
            raise TypeError(f"DistributedDataParallel: module must be an attnrs Module; got {type(module).__name__}")
        if not (bucket_cap_mb > 0 and np.isfinite(bucket_cap_mb)):
            raise ValueError(f"DistributedDataParallel: bucket_cap_mb must be a positive number; got {bucket_cap_mb!r}")
        init()
        self.module = module
        params = [p for p in module.parameters() if p.requires_grad]
        comm = _World.comm
        self._reducer = _Reducer(params, comm, _World.MPI, int(bucket_cap_mb * 2**20))
        self._remove_hooks = register_leaf_hooks(params, self._reducer)
        if comm is not None and comm.Get_size() > 1:
            self._broadcast(module, broadcast_buffers)

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        return self.module(*args, **kwargs)

    @contextlib.contextmanager
    def no_sync(self) -> Iterator[None]:
        """Backward passes inside the block accumulate gradients locally, without
        all-reduce; the first synchronised backward after it averages the sums."""
        old = self._reducer.sync
        self._reducer.sync = False
        try:
            yield
        finally:
            self._reducer.sync = old

    @property
    def comm_stats(self) -> dict:
        """``steps`` synchronised, ``wait_s`` spent waiting for all-reduces after the
        backward (in total; ``last_wait_s`` of the last step, which ended its
        backward walk at ``time.perf_counter() == last_backward_end``),
        ``buckets``, ``launched_in_backward`` (bucket launches made by the backward
        walk rather than at its end)."""
        return dict(self._reducer.stats)

    def bucket_buffers(self) -> list[np.ndarray]:
        """The flat gradient buffers (each ends with one flag per parameter)."""
        return [b.buffer for b in self._reducer.buckets]

    def _broadcast(self, module: Module, buffers: bool) -> None:
        comm = _World.comm
        params = list(module.parameters())
        flat = np.concatenate([p._array.reshape(-1) for p in params]).astype(np.float32) if params else None
        if flat is not None:
            comm.Bcast(flat, root=0)
            off = 0
            for p in params:
                n = p._array.size
                src = flat[off : off + n].reshape(p._array.shape)
                if p._array.flags.writeable and p._array.flags.c_contiguous and p._array.dtype == np.float32:
                    np.copyto(p._array, src)
                else:
                    p._array = src.copy()
                off += n
        if buffers:
            for mod in module.modules():
                for bname, b in list(mod._buffers.items()):
                    if not isinstance(b, np.ndarray) or b.size == 0:
                        continue
                    arr = np.ascontiguousarray(b).copy()
                    comm.Bcast(arr, root=0)
                    setattr(mod, bname, arr)

    def __del__(self) -> None:
        remove = self.__dict__.get("_remove_hooks")
        if remove is not None:
            remove()
