"""Save and load weights and checkpoints as safetensors files (never pickle).

- ``save(module_or_state_dict, path, metadata=None)`` / ``load(path)``: named
  arrays, in their original order, with optional metadata (strings, or
  JSON-able values) in the safetensors header.
- ``save_checkpoint`` / ``load_checkpoint``: model weights under their own
  names, optimizer (and schedule) state beside them — arrays as
  ``optim.state.<i>.<name>``, scalars and hyper-parameters as JSON in the
  header — plus a model config and any JSON-able extras.

Writes are atomic: a temporary file in the target directory, fsync, then
``os.replace``. Every array carries a CRC-32 in the header, so a truncated,
corrupted or foreign file raises ``ValueError`` naming the file instead of
yielding garbage. Loading a checkpoint checks every name and shape before
touching the model or the optimizer.
"""

from __future__ import annotations

import json
import os
import tempfile
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
        arr = v.data if isinstance(v, Tensor) else v
        if not isinstance(arr, np.ndarray):
            raise TypeError(
                f"{op}: value of {k!r} must be an ndarray or Tensor; got {type(v).__name__}"
            )
        if arr.dtype.kind not in "fiub":
            raise DTypeError(f"{op}: value of {k!r} has unsupported dtype {arr.dtype}")
        out[k] = np.ascontiguousarray(arr)
    return out


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


def _write(path: str, arrays: OrderedDict[str, np.ndarray], meta: dict[str, str]) -> None:
    meta = dict(meta)
    meta[_RESERVED + "keys"] = json.dumps(list(arrays))
    meta[_RESERVED + "crc32"] = json.dumps(
        {k: zlib.crc32(a.data if a.size else b"") for k, a in arrays.items()}
    )
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix=f".{os.path.basename(path)}.", suffix=".tmp", dir=folder)
    os.close(fd)
    try:
        safetensors.numpy.save_file(dict(arrays), tmp, metadata=meta)
        with open(tmp, "rb+") as f:
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def _read(path: str, op: str) -> tuple[OrderedDict[str, np.ndarray], dict[str, str]]:
    """All arrays (saved order) and the raw header metadata; ValueError for bad files."""
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"{op}: no such file: {path}")
    try:
        with safetensors.safe_open(path, framework="numpy") as f:
            meta = dict(f.metadata() or {})
            names = list(f.keys())
            arrays = {k: f.get_tensor(k) for k in names}
    except (safetensors.SafetensorError, ValueError, OSError) as e:  # ValueError: bad UTF-8/JSON
        raise ValueError(
            f"{op}: {path} is not a valid safetensors file (truncated, corrupt or foreign): {e}"
        ) from None
    try:
        order = json.loads(meta.get(_RESERVED + "keys", "null"))
        crcs = json.loads(meta.get(_RESERVED + "crc32", "{}"))
    except json.JSONDecodeError:
        raise ValueError(f"{op}: {path} has a corrupt attnrs header") from None
    if not isinstance(order, list) or set(order) != set(names):
        order = names
    for k, crc in crcs.items():
        a = arrays.get(k)
        if a is None or zlib.crc32(np.ascontiguousarray(a).data if a.size else b"") != crc:
            raise ValueError(f"{op}: {path} is corrupt: array {k!r} fails its checksum")
    return OrderedDict((k, arrays[k]) for k in order), meta


def _user_metadata(meta: dict[str, str]) -> dict[str, Any]:
    json_keys = set(json.loads(meta.get(_RESERVED + "json", "[]")))
    return {
        k: (json.loads(v) if k in json_keys else v)
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
        arr = obj.data if isinstance(obj, Tensor) else obj
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


def load(f: Any, map_location: Any = None, weights_only: Any = None) -> Any:
    """What ``save`` wrote to ``f`` (a path or a binary file object).

    A flat dict of arrays comes back as the named arrays in saved order (pass it to
    ``module.load_state_dict``); a nested object comes back with its structure, its
    Tensors as Tensors. ``map_location`` and ``weights_only`` are accepted for PyTorch
    programs (attnrs is CPU-only and never unpickles). Raises ``ValueError`` naming the
    file when it is truncated, corrupt or not safetensors.
    """
    if hasattr(f, "read"):
        with tempfile.TemporaryDirectory() as d:
            tmp = os.path.join(d, "obj.safetensors")
            with open(tmp, "wb") as dst:
                dst.write(f.read())
            arrays, meta = _read(tmp, "load")
    else:
        arrays, meta = _read(f, "load")
    tree = meta.get(_RESERVED + "tree")
    if tree is None:
        return arrays
    try:
        return _unflatten(json.loads(tree), arrays)
    except (json.JSONDecodeError, KeyError, TypeError) as e:
        raise ValueError(f"load: the file's structure header is corrupt ({e})") from None


def load_metadata(path: str) -> dict[str, Any]:
    """The user metadata of a file written by ``save`` (JSON values decoded)."""
    return _user_metadata(_read(path, "load_metadata")[1])


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
        state.setdefault(int(parts[1]), {})[parts[2]] = v
    for i, s in info.get("scalars", {}).items():
        state.setdefault(int(i), {}).update(s)
    return {"state": state, "param_groups": info["param_groups"]}


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
        arrays.update((k, np.ascontiguousarray(v)) for k, v in opt_arrays.items())
        meta[_RESERVED + "optim"] = json.dumps(info, allow_nan=False)
    if scheduler is not None:
        meta[_RESERVED + "scheduler"] = json.dumps(
            {"type": type(scheduler).__name__, **scheduler.state_dict()}, allow_nan=False
        )
    _write(path, arrays, meta)


def load_checkpoint(
    path: str, model: Any, optimizer: Any = None, *, scheduler: Any = None
) -> dict[str, Any]:
    """Restores a ``save_checkpoint`` file into ``model`` (and ``optimizer``, ``scheduler``).

    Every name and shape is checked before anything is changed. Returns
    ``{"config": …, "extra": …, "metadata": {…}}``.
    """
    arrays, meta = _read(path, "load_checkpoint")
    if meta.get(_FORMAT) != "checkpoint-v1":
        raise ValueError(
            f"load_checkpoint: {path} is not an attnrs checkpoint (no {_FORMAT} header)"
        )
    model_state = OrderedDict((k, v) for k, v in arrays.items() if not k.startswith(_OPTIM))
    try:
        model.check_state_dict(model_state)
    except ShapeError as e:
        raise ShapeError(f"load_checkpoint: {path} does not match the model: {e}") from None
    prepared = None
    if optimizer is not None:
        if _RESERVED + "optim" not in meta:
            raise ValueError(f"load_checkpoint: {path} holds no optimizer state")
        info = json.loads(meta[_RESERVED + "optim"])
        if info.get("type") != type(optimizer).__name__:
            raise ValueError(
                f"load_checkpoint: {path} holds {info.get('type')} state, "
                f"not {type(optimizer).__name__}"
            )
        opt_arrays = {k: v for k, v in arrays.items() if k.startswith(_OPTIM)}
        prepared = optimizer.check_state_dict(_join_optim_state(opt_arrays, info, path))
    sched = None
    if scheduler is not None:
        if _RESERVED + "scheduler" not in meta:
            raise ValueError(f"load_checkpoint: {path} holds no scheduler state")
        sched = json.loads(meta[_RESERVED + "scheduler"])
        if sched.pop("type", None) != type(scheduler).__name__:
            raise ValueError(f"load_checkpoint: {path} holds state of another scheduler type")
    model.load_state_dict(model_state)
    if prepared is not None:
        optimizer.param_groups[:], optimizer.state = prepared
    if sched is not None:
        scheduler.load_state_dict(sched)
    user = _user_metadata(meta)
    return {"config": user.pop("config", None), "extra": user.pop("extra", None), "metadata": user}
