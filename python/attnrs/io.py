"""Save and load weights and checkpoints as safetensors files (never pickle).

- ``save(module_or_state_dict, path, metadata=None)`` / ``load(path)``: named
  arrays, in their original order, with optional metadata (strings, or
  JSON-able values) in the safetensors header.
- ``save_checkpoint`` / ``load_checkpoint``: model weights under their own
  names, optimizer (and schedule) state beside them — arrays as
  ``optim.state.<i>.<name>``, scalars and hyper-parameters as JSON in the
  header — plus a model config and any JSON-able extras.

Writes are atomic: attnrs writes the safetensors file itself (no second
writer's temporary file) to ``.NAME.<pid>-<thread>.tmp`` in the target
directory, fsyncs it, then ``os.replace``s the target. A save removes the
temporary files that killed processes left for the same target, so they never
pile up. The file gets the usual mode: the target's own mode when it is
overwritten, else 0o666 minus the umask.

Every array carries a CRC-32 in the header. A file that has attnrs header
entries must carry a checksum for every array, and each must match, unless the
caller passes ``verify=False``; a file with no attnrs entries (written by
another program) has nothing to verify against and loads as it is. A
truncated, corrupted or malformed file raises ``ValueError`` naming the file.
``load_checkpoint`` validates the whole file (every name, shape and dtype,
the optimizer and schedule state, the JSON metadata) before it changes the
model, the optimizer or the schedule, and refuses arrays whose dtype is not
what the model holds instead of casting them.
"""

from __future__ import annotations

import json
import math
import os
import re
import stat
import struct
import tempfile
import threading
import zlib
from collections import OrderedDict
from collections.abc import Mapping
from typing import Any

import numpy as np
import safetensors
import safetensors.numpy

from ._validate import DTypeError, ShapeError
from .tensor import Tensor

__all__ = ["load", "load_checkpoint", "load_metadata", "save", "save_checkpoint"]

_RESERVED = "attnrs."  # prefix of the header keys attnrs writes for itself
_OPTIM = "optim."  # prefix of optimizer arrays in a checkpoint
_FORMAT = "attnrs.format"


# --- arrays + header ---------------------------------------------------------------------


def _arrays(obj: Any, op: str) -> OrderedDict[str, np.ndarray]:
    """Name → contiguous ndarray from a Module or a mapping of arrays/Tensors."""
    from .nn.module import Module

    if isinstance(obj, Module):
        obj = obj.state_dict()
    if not isinstance(obj, Mapping):
        raise TypeError(f"{op}: expected a Module or a dict of arrays; got {type(obj).__name__}")
    out: OrderedDict[str, np.ndarray] = OrderedDict()
    for k, v in obj.items():
        if not isinstance(k, str) or not k:
            raise TypeError(f"{op}: keys must be non-empty strings; got {k!r}")
        arr = v._array if isinstance(v, Tensor) else v
        if not isinstance(arr, np.ndarray):
            raise TypeError(
                f"{op}: value of {k!r} must be an ndarray or Tensor; got {type(v).__name__}"
            )
        if arr.dtype.kind not in "fiub":
            raise DTypeError(f"{op}: value of {k!r} has unsupported dtype {arr.dtype}")
        out[k] = _contig(arr)
    return out


def _contig(a: np.ndarray) -> np.ndarray:
    """C-contiguous, keeping 0-d arrays 0-d (``np.ascontiguousarray`` makes them 1-d)."""
    return a if a.flags.c_contiguous else np.array(a, order="C")


def _header(user: Mapping[str, Any] | None, op: str) -> dict[str, str]:
    """User metadata as strings: str values kept, others JSON (their keys listed in attnrs.json)."""
    meta: dict[str, str] = {}
    as_json: list[str] = []
    for k, v in (user or {}).items():
        if not isinstance(k, str) or k.startswith(_RESERVED):
            raise ValueError(
                f"{op}: metadata keys must be strings not starting with {_RESERVED!r}; got {k!r}"
            )
        if isinstance(v, str):
            meta[k] = v
        else:
            try:
                meta[k] = json.dumps(v, allow_nan=False)
            except (TypeError, ValueError) as e:
                raise ValueError(
                    f"{op}: metadata {k!r} is not a string or JSON-able value ({e})"
                ) from None
            as_json.append(k)
    if as_json:
        meta[_RESERVED + "json"] = json.dumps(as_json)
    return meta


# safetensors dtype names of the NumPy dtypes attnrs writes.
_ST_DTYPE = {
    np.dtype(np.float64): "F64", np.dtype(np.float32): "F32", np.dtype(np.float16): "F16",
    np.dtype(np.int64): "I64", np.dtype(np.int32): "I32", np.dtype(np.int16): "I16",
    np.dtype(np.int8): "I8", np.dtype(np.uint64): "U64", np.dtype(np.uint32): "U32",
    np.dtype(np.uint16): "U16", np.dtype(np.uint8): "U8", np.dtype(np.bool_): "BOOL",
}  # fmt: skip


_HEADER_CRC = _RESERVED + "header_crc32"


def _meta_crc(meta: dict[str, str]) -> int:
    items = sorted((k, v) for k, v in meta.items() if k != _HEADER_CRC)
    return zlib.crc32(json.dumps(items).encode())


def _tmp_name(base: str) -> str:
    return f".{base}.{os.getpid()}-{threading.get_ident()}.tmp"


def _remove_stale_tmp(folder: str, base: str) -> None:
    """Deletes ``.BASE.<pid>-<tid>.tmp`` files of processes that no longer run
    (a save killed with ``kill -9``). POSIX only: elsewhere there is no cheap
    way to ask whether a pid is alive."""
    if os.name != "posix":
        return
    pattern = re.compile(r"\." + re.escape(base) + r"\.(\d+)-\d+\.tmp\Z")
    try:
        names = os.listdir(folder)
    except OSError:
        return
    for name in names:
        m = pattern.match(name)
        if not m or int(m.group(1)) == os.getpid():
            continue
        try:
            os.kill(int(m.group(1)), 0)
            continue  # that process is alive: perhaps still saving
        except ProcessLookupError:
            pass
        except (PermissionError, OverflowError, OSError):
            continue
        try:
            os.unlink(os.path.join(folder, name))
        except OSError:
            pass


def _write(path: str, arrays: OrderedDict[str, np.ndarray], meta: dict[str, str]) -> None:
    meta = dict(meta)
    le = OrderedDict()
    for k, a in arrays.items():
        if a.dtype.byteorder == ">":
            a = a.astype(a.dtype.newbyteorder("<"))
        if a.dtype not in _ST_DTYPE:
            raise DTypeError(f"save: value of {k!r} has unsupported dtype {a.dtype}")
        le[k] = _contig(a)
    meta[_RESERVED + "keys"] = json.dumps(list(le))
    meta[_RESERVED + "crc32"] = json.dumps(
        {k: zlib.crc32(a.data if a.size else b"") for k, a in le.items()}
    )
    # The checksums cover the bytes; this covers what they mean (a relabelled
    # dtype or a reshaped array keeps its bytes).
    meta[_RESERVED + "layout"] = json.dumps(
        {k: [_ST_DTYPE[a.dtype], list(a.shape)] for k, a in le.items()}
    )
    # Last: a checksum of every other header entry (optimizer scalars, config, ...).
    meta[_HEADER_CRC] = str(_meta_crc(meta))
    header: dict[str, Any] = {"__metadata__": meta}
    offset = 0
    for k, a in le.items():
        header[k] = {"dtype": _ST_DTYPE[a.dtype], "shape": list(a.shape),
                     "data_offsets": [offset, offset + a.nbytes]}  # fmt: skip
        offset += a.nbytes
    head = json.dumps(header, separators=(",", ":")).encode()
    head += b" " * (-len(head) % 8)  # the data starts 8-byte aligned
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    base = os.path.basename(path)
    _remove_stale_tmp(folder, base)
    try:
        mode: int | None = stat.S_IMODE(os.stat(path).st_mode)
    except OSError:
        mode = None  # a new file: 0o666 minus the umask, as open() gives
    tmp = os.path.join(folder, _tmp_name(base))
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | getattr(os, "O_CLOEXEC", 0), 0o666)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(struct.pack("<Q", len(head)))
            f.write(head)
            for a in le.values():
                if a.size:
                    f.write(a.data.cast("B") if a.ndim else a.tobytes())
            f.flush()
            os.fsync(f.fileno())
        if mode is not None:
            os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    _fsync_dir(folder)


def _fsync_dir(folder: str) -> None:
    """Makes the rename durable (POSIX; a no-op where directories cannot be opened)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _json(meta: dict[str, str], key: str, path: str, op: str, default: Any = None) -> Any:
    """The JSON value of header entry ``key`` (``default`` when absent); ValueError if malformed."""
    raw = meta.get(key)
    if raw is None:
        return default
    try:
        return json.loads(raw)
    except (ValueError, RecursionError):  # RecursionError: absurdly deep nesting
        raise ValueError(f"{op}: {path} has a malformed header entry {key!r} (not valid JSON)") from None


def _read(
    path: str, op: str, verify: bool = True
) -> tuple[OrderedDict[str, np.ndarray], dict[str, str]]:
    """All arrays (saved order) and the raw header metadata; ValueError for bad files."""
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"{op}: no such file: {path}")
    try:
        with safetensors.safe_open(path, framework="numpy") as f:
            meta = dict(f.metadata() or {})
            names = list(f.keys())
            arrays = {k: f.get_tensor(k) for k in names}
    except MemoryError:
        raise
    except Exception as e:  # SafetensorError, bad UTF-8/JSON, a dtype NumPy lacks (F8_E4M3), ...
        raise ValueError(
            f"{op}: {path} is not a valid safetensors file (truncated, corrupt or foreign): "
            f"{type(e).__name__}: {e}"
        ) from None
    order = _json(meta, _RESERVED + "keys", path, op)
    crcs = _json(meta, _RESERVED + "crc32", path, op)
    if not isinstance(order, list) or set(order) != set(names):
        order = names
    if crcs is not None and not (
        isinstance(crcs, dict)
        and all(isinstance(v, int) and not isinstance(v, bool) for v in crcs.values())
    ):
        raise ValueError(f"{op}: {path} has a malformed {_RESERVED}crc32 header entry")
    if verify and any(k.startswith(_RESERVED) for k in meta):
        if crcs is None:
            raise ValueError(
                f"{op}: {path} was written by attnrs but has no {_RESERVED}crc32 checksums "
                "(altered by another program?); pass verify=False to load it unchecked"
            )
        want_crc = meta.get(_HEADER_CRC)  # absent in files of older versions
        if want_crc is not None and want_crc != str(_meta_crc(meta)):
            raise ValueError(f"{op}: {path} is corrupt: its header fails its checksum")
        unchecked = [k for k in names if k not in crcs]
        if unchecked:
            raise ValueError(
                f"{op}: {path} has no checksum for array(s) {unchecked[:5]}; "
                "pass verify=False to load it unchecked"
            )
        for k, crc in crcs.items():
            a = arrays.get(k)
            if a is None or zlib.crc32(np.ascontiguousarray(a).data if a.size else b"") != crc:
                raise ValueError(f"{op}: {path} is corrupt: array {k!r} fails its checksum")
        layout = _json(meta, _RESERVED + "layout", path, op)  # absent in files of older versions
        if layout is not None:
            if not isinstance(layout, dict) or set(layout) != set(names):
                raise ValueError(f"{op}: {path} has a malformed {_RESERVED}layout header entry")
            for k, a in arrays.items():
                want = layout[k]
                if want != [_ST_DTYPE.get(a.dtype), list(a.shape)]:
                    raise ValueError(
                        f"{op}: {path} is corrupt: array {k!r} is {a.dtype} {list(a.shape)}, "
                        f"it was saved as {want}"
                    )
    return OrderedDict((k, arrays[k]) for k in order), meta


def _user_metadata(meta: dict[str, str], path: str = "", op: str = "load_metadata") -> dict[str, Any]:
    json_keys = _json(meta, _RESERVED + "json", path, op, [])
    if not isinstance(json_keys, list) or not all(isinstance(k, str) for k in json_keys):
        raise ValueError(f"{op}: {path} has a malformed {_RESERVED}json header entry")
    return {
        k: (_json(meta, k, path, op) if k in json_keys else v)
        for k, v in meta.items()
        if not k.startswith(_RESERVED)
    }


# --- weights -----------------------------------------------------------------------------


def _is_flat(obj: Any) -> bool:
    from .nn.module import Module

    return isinstance(obj, Module) or (
        isinstance(obj, Mapping) and all(isinstance(v, (np.ndarray, Tensor)) for v in obj.values())
    )


def _flatten(obj: Any, arrays: OrderedDict[str, np.ndarray], op: str) -> Any:
    """``obj`` as a JSON skeleton; each array/Tensor becomes a reference into ``arrays``."""
    if isinstance(obj, (Tensor, np.ndarray)):
        arr = obj._array if isinstance(obj, Tensor) else obj
        if arr.dtype.kind not in "fiub":
            raise DTypeError(f"{op}: unsupported array dtype {arr.dtype}")
        name = f"t{len(arrays)}"
        arrays[name] = np.ascontiguousarray(arr)
        return {"__array__": name, "tensor": isinstance(obj, Tensor)}
    if isinstance(obj, Mapping):
        pairs = []
        for k, v in obj.items():
            if not isinstance(k, (str, int, float, bool)) and k is not None:
                raise TypeError(f"{op}: dict keys must be str, int, float, bool or None; got {type(k).__name__}")
            pairs.append([k, _flatten(v, arrays, op)])
        return {"__dict__": pairs}
    if isinstance(obj, tuple):
        return {"__tuple__": [_flatten(v, arrays, op) for v in obj]}
    if isinstance(obj, list):
        return [_flatten(v, arrays, op) for v in obj]
    if isinstance(obj, np.generic):
        return obj.item()
    if obj is None or isinstance(obj, (str, int, float, bool)):
        return obj
    raise TypeError(
        f"{op}: cannot save a {type(obj).__name__} (only tensors, arrays, dicts, lists, tuples, "
        "numbers, strings and None; attnrs never pickles)"
    )


def _unflatten(node: Any, arrays: Mapping[str, np.ndarray]) -> Any:
    if isinstance(node, list):
        return [_unflatten(v, arrays) for v in node]
    if isinstance(node, dict):
        if "__array__" in node:
            arr = arrays[node["__array__"]]
            return Tensor(arr) if node.get("tensor") else arr
        if "__tuple__" in node:
            return tuple(_unflatten(v, arrays) for v in node["__tuple__"])
        return {k: _unflatten(v, arrays) for k, v in node["__dict__"]}
    return node


def save(obj: Any, f: Any, *, metadata: Mapping[str, Any] | None = None) -> None:
    """Writes ``obj`` to ``f`` (a path, atomically, or a binary file object) as safetensors.

    ``obj`` is a Module (its ``state_dict()``), a dict of arrays/Tensors, or any nesting of
    dicts, lists and tuples of tensors and plain values (``{"model": sd, "optimizer":
    opt.state_dict(), "iter_num": 5}``): the arrays go in the safetensors body, the
    structure in a JSON header entry. Never pickle. ``metadata`` values are strings or JSON-able.
    """
    meta = _header(metadata, "save")
    if _is_flat(obj):
        arrays = _arrays(obj, "save")
    else:
        arrays = OrderedDict()
        meta[_RESERVED + "tree"] = json.dumps(_flatten(obj, arrays, "save"))
    if hasattr(f, "write"):
        with tempfile.TemporaryDirectory() as d:
            tmp = os.path.join(d, "obj.safetensors")
            _write(tmp, arrays, meta)
            with open(tmp, "rb") as src:
                f.write(src.read())
        return
    _write(f, arrays, meta)


def load(f: Any, map_location: Any = None, weights_only: Any = None, *, verify: bool = True) -> Any:
    """What ``save`` wrote to ``f`` (a path or a binary file object).

    A flat dict of arrays comes back as the named arrays in saved order (pass it to
    ``module.load_state_dict``); a nested object comes back with its structure, its
    Tensors as Tensors. ``map_location`` and ``weights_only`` are accepted for PyTorch
    programs (attnrs is CPU-only and never unpickles). Raises ``ValueError`` naming the
    file when it is truncated, corrupt, malformed or not safetensors, or (unless
    ``verify=False``) written by attnrs but failing or lacking checksums.
    """
    if hasattr(f, "read"):
        with tempfile.TemporaryDirectory() as d:
            tmp = os.path.join(d, "obj.safetensors")
            with open(tmp, "wb") as dst:
                dst.write(f.read())
            arrays, meta = _read(tmp, "load", verify)
    else:
        arrays, meta = _read(os.fspath(f), "load", verify)
    tree = meta.get(_RESERVED + "tree")
    if tree is None:
        return arrays
    try:
        return _unflatten(json.loads(tree), arrays)
    except (json.JSONDecodeError, KeyError, TypeError) as e:
        raise ValueError(f"load: the file's structure header is corrupt ({e})") from None


def load_metadata(path: str, *, verify: bool = True) -> dict[str, Any]:
    """The user metadata of a file written by ``save`` (JSON values decoded)."""
    path = os.fspath(path)
    return _user_metadata(_read(path, "load_metadata", verify)[1], path)


# --- checkpoints -------------------------------------------------------------------------


def _split_optim_state(sd: dict[str, Any]) -> tuple[OrderedDict[str, np.ndarray], dict[str, Any]]:
    arrays: OrderedDict[str, np.ndarray] = OrderedDict()
    scalars: dict[str, dict[str, Any]] = {}
    for i, s in sd["state"].items():
        for name, v in s.items():
            if isinstance(v, np.ndarray):
                arrays[f"{_OPTIM}state.{i}.{name}"] = v
            else:
                scalars.setdefault(str(i), {})[name] = v.item() if isinstance(v, np.generic) else v
    return arrays, {"param_groups": sd["param_groups"], "scalars": scalars}


def _join_optim_state(
    arrays: dict[str, np.ndarray], info: dict[str, Any], path: str
) -> dict[str, Any]:
    state: dict[int, dict[str, Any]] = {}
    for k, v in arrays.items():
        parts = k[len(_OPTIM) :].split(".", 2)
        if len(parts) != 3 or parts[0] != "state" or not parts[1].isdigit():
            raise ValueError(f"load_checkpoint: {path} has an unexpected optimizer array {k!r}")
        if v.dtype != np.float32:
            raise ValueError(
                f"load_checkpoint: {path}: optimizer array {k!r} is {v.dtype}, expected float32"
            )
        state.setdefault(int(parts[1]), {})[parts[2]] = v
    for i, s in info.get("scalars", {}).items():
        state.setdefault(int(i), {}).update(s)
    # Every parameter's state has the same entries (an optimizer creates them
    # all at once): a renamed or missing one would only fail at the next step.
    kinds = {tuple(sorted(s)) for s in state.values()}
    if len(kinds) > 1:
        raise ValueError(
            f"load_checkpoint: {path}: the optimizer state differs between parameters "
            f"(entries {sorted(kinds)})"
        )
    return {"state": state, "param_groups": info["param_groups"]}


def _is_number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def _check_optim_info(info: Any, path: str) -> None:
    """The JSON optimizer header has the structure ``save_checkpoint`` writes."""

    def bad(what: str) -> ValueError:
        return ValueError(f"load_checkpoint: {path} has a malformed optimizer header: {what}")

    if not isinstance(info, dict):
        raise bad(f"expected an object, got {type(info).__name__}")
    groups = info.get("param_groups")
    if not isinstance(groups, list) or not all(isinstance(g, dict) for g in groups):
        raise bad("param_groups must be a list of objects")
    for i, g in enumerate(groups):
        params = g.get("params")
        if not isinstance(params, list) or not all(
            isinstance(x, int) and not isinstance(x, bool) and x >= 0 for x in params
        ):
            raise bad(f"param_groups[{i}].params must be a list of parameter indices")
        for k, v in g.items():
            ok = k == "params" or v is None or isinstance(v, bool) or _is_number(v) or (
                isinstance(v, list) and all(_is_number(x) for x in v)
            )
            if not ok:
                raise bad(f"param_groups[{i}].{k} = {v!r} is not a number")
    scalars = info.get("scalars", {})
    if not isinstance(scalars, dict):
        raise bad("scalars must be an object")
    for i, sc in scalars.items():
        if not (isinstance(i, str) and i.isdigit()) or not isinstance(sc, dict):
            raise bad(f"scalars[{i!r}] must be an object under a parameter index")
        for k, v in sc.items():
            if not _is_number(v):
                raise bad(f"scalars[{i!r}].{k} = {v!r} is not a finite number")
            if k == "step" and (not isinstance(v, int) or v < 0):
                raise bad(f"scalars[{i!r}].step = {v!r} is not an integer >= 0")


def _check_like(saved: Any, own: dict[str, Any], what: str, path: str) -> None:
    """``saved`` has the keys of ``own`` and values of the same kind (numbers,
    lists of numbers of the same length, strings)."""
    if not isinstance(saved, dict) or set(saved) != set(own):
        got = sorted(saved) if isinstance(saved, dict) else type(saved).__name__
        raise ValueError(f"load_checkpoint: {path}: {what} state has keys {got}, expected {sorted(own)}")
    def like(x: Any, ref: Any) -> bool:  # a number where ``ref`` is one; >= 0 where it is
        ok = isinstance(x, int) and not isinstance(x, bool) if isinstance(ref, int) else _is_number(x)
        return ok and (x >= 0 or ref < 0)

    for k, v in own.items():
        sv = saved[k]
        if isinstance(v, (list, tuple)):
            ok = isinstance(sv, list) and len(sv) == len(v) and all(
                like(x, r) for x, r in zip(sv, v))
        elif isinstance(v, bool) or v is None or isinstance(v, str):
            ok = type(sv) is type(v)
        else:
            ok = like(sv, v)
        if not ok:
            raise ValueError(f"load_checkpoint: {path}: {what} state {k} = {sv!r} does not fit (this one has {v!r})")


def save_checkpoint(
    path: str,
    model: Any,
    optimizer: Any = None,
    config: Any = None,
    extra: Any = None,
    *,
    scheduler: Any = None,
) -> None:
    """Model weights + optimizer/schedule state + config + extras in one safetensors file.

    ``config`` and ``extra`` must be JSON-able (a dataclass config is stored via
    ``dataclasses.asdict``).
    """
    import dataclasses

    arrays = _arrays(model, "save_checkpoint")
    clash = [k for k in arrays if k.startswith(_OPTIM)]
    if clash:
        raise ValueError(f"save_checkpoint: model keys may not start with {_OPTIM!r}: {clash}")
    if dataclasses.is_dataclass(config) and not isinstance(config, type):
        config = dataclasses.asdict(config)
    meta = _header({"config": config, "extra": extra}, "save_checkpoint")
    meta[_FORMAT] = "checkpoint-v1"
    meta[_RESERVED + "model_keys"] = json.dumps(list(arrays))
    if optimizer is not None:
        opt_arrays, info = _split_optim_state(optimizer.state_dict())
        info["type"] = type(optimizer).__name__
        arrays.update((k, _contig(np.asarray(v))) for k, v in opt_arrays.items())
        meta[_RESERVED + "optim"] = json.dumps(info, allow_nan=False)
    if scheduler is not None:
        meta[_RESERVED + "scheduler"] = json.dumps(
            {"type": type(scheduler).__name__, **scheduler.state_dict()}, allow_nan=False
        )
    _write(path, arrays, meta)


def load_checkpoint(
    path: str, model: Any, optimizer: Any = None, *, scheduler: Any = None, verify: bool = True
) -> dict[str, Any]:
    """Restores a ``save_checkpoint`` file into ``model`` (and ``optimizer``, ``scheduler``).

    The whole file is validated first — checksums (unless ``verify=False``),
    every name, shape and dtype, the optimizer and schedule state and the JSON
    metadata — and only then is anything changed; a bad file raises
    ``ValueError`` (``ShapeError`` for names and shapes) and leaves all three
    as they were. Returns ``{"config": …, "extra": …, "metadata": {…}}``.
    """
    path = os.fspath(path)
    op = "load_checkpoint"
    arrays, meta = _read(path, op, verify)
    if meta.get(_FORMAT) != "checkpoint-v1":
        raise ValueError(f"{op}: {path} is not an attnrs checkpoint (no {_FORMAT} header)")
    user = _user_metadata(meta, path, op)
    model_state = OrderedDict((k, v) for k, v in arrays.items() if not k.startswith(_OPTIM))
    try:
        model.check_state_dict(model_state)
    except ShapeError as e:
        raise ShapeError(f"{op}: {path} does not match the model: {e}") from None
    own = {k: p._array.dtype for k, p in model.named_parameters()}
    own.update({k: np.asarray(b).dtype for k, b in model.named_buffers()})
    wrong = [f"{k}: {v.dtype} (the model holds {own[k]})" for k, v in model_state.items()
             if k in own and v.dtype != own[k]]  # fmt: skip
    if wrong:
        raise ValueError(f"{op}: {path} stores arrays of another dtype, not cast: {wrong[:5]}")
    prepared = None
    if optimizer is not None:
        if _RESERVED + "optim" not in meta:
            raise ValueError(f"{op}: {path} holds no optimizer state")
        info = _json(meta, _RESERVED + "optim", path, op)
        _check_optim_info(info, path)
        if info.get("type") != type(optimizer).__name__:
            raise ValueError(
                f"{op}: {path} holds {info.get('type')} state, not {type(optimizer).__name__}"
            )
        opt_arrays = {k: v for k, v in arrays.items() if k.startswith(_OPTIM)}
        try:
            prepared = optimizer.check_state_dict(_join_optim_state(opt_arrays, info, path))
        except (TypeError, KeyError, AttributeError, IndexError) as e:
            raise ValueError(f"{op}: {path}: the optimizer state does not fit: {e!r}") from None
    sched = None
    if scheduler is not None:
        if _RESERVED + "scheduler" not in meta:
            raise ValueError(f"{op}: {path} holds no scheduler state")
        sched = _json(meta, _RESERVED + "scheduler", path, op)
        if not isinstance(sched, dict) or sched.pop("type", None) != type(scheduler).__name__:
            raise ValueError(f"{op}: {path} holds state of another scheduler type")
        _check_like(sched, scheduler.state_dict(), "scheduler", path)
    # Everything is checked: now change state.
    model.load_state_dict(model_state)
    if prepared is not None:
        optimizer.param_groups[:], optimizer.state = prepared
    if sched is not None:
        scheduler.load_state_dict(sched)
    return {"config": user.pop("config", None), "extra": user.pop("extra", None), "metadata": user}
