"""Issue 14: property-based fuzzing of ``load`` and ``load_checkpoint`` with
damaged files: truncation, flipped bytes, a rewritten header length, and
header edits (dtypes, shapes, data offsets, missing/extra entries, garbage
metadata values).

Each load must either return exactly what was saved, or raise ``ValueError``
naming the file — and a failed ``load_checkpoint`` must leave the model and
optimizer untouched. Another exception, or different arrays returned without
an error, fails the test. ``ATTNRS_FUZZ_COUNTS=path`` appends the counts."""

from __future__ import annotations

import collections
import json
import struct

import numpy as np
import pytest
from _helpers import FUZZ, fuzz_counts_report
from hypothesis import given
from hypothesis import strategies as st

import attnrs as ar
from attnrs import nn, optim

COUNTS: collections.Counter = collections.Counter()
report_counts = fuzz_counts_report("io", COUNTS)


def model(seed):
    ar.manual_seed(seed)
    m = nn.Sequential(nn.Embedding(5, 3), nn.LayerNorm(3), nn.Linear(3, 5))
    m.register_buffer("count", np.array([seed], np.int64))
    opt = optim.AdamW(m.parameters())
    if seed == 0:
        ids = np.arange(4).reshape(1, 4)
        ar.nn.functional.cross_entropy(m(ids).reshape(-1, 5), ids.reshape(-1)).backward()
        opt.step()
    return m, opt


@pytest.fixture(scope="module")
def original(tmp_path_factory):
    d = tmp_path_factory.mktemp("fuzz_io")
    m, opt = model(0)
    path = d / "c.safetensors"
    ar.save_checkpoint(path, m, opt, config={"n": 3}, extra={"e": [1, 2.5, "x"]})
    sd = {k: v.copy() for k, v in m.state_dict().items()}
    return path.read_bytes(), sd, opt.state_dict(), d


DTYPES = ["F32", "F64", "F16", "BF16", "I32", "I64", "U8", "BOOL", "F8_E4M3", "C64", "X", 7, None]
GARBAGE = st.one_of(st.integers(-(2**70), 2**70), st.text(max_size=8), st.none(), st.booleans(),
                    st.lists(st.integers(-3, 2**66), max_size=3), st.floats(allow_nan=True))  # fmt: skip


@st.composite
def damage(draw, blob: bytes) -> bytes:
    (n,) = struct.unpack("<Q", blob[:8])
    kind = draw(st.sampled_from(["truncate", "flip", "length", "header", "header", "header", "meta"]))
    if kind == "truncate":
        return blob[: draw(st.integers(0, len(blob) - 1))]
    if kind == "flip":
        out = bytearray(blob)
        for _ in range(draw(st.integers(1, 3))):
            i = draw(st.integers(0, len(out) - 1))
            out[i] ^= 1 << draw(st.integers(0, 7))
        return bytes(out)
    if kind == "length":
        v = draw(st.sampled_from([0, 1, n - 1, n + 1, n + 8, len(blob), 2**63, 2**64 - 1]))
        return struct.pack("<Q", v) + blob[8:]
    header = json.loads(blob[8 : 8 + n])
    data = blob[8 + n :]
    names = [k for k in header if k != "__metadata__"]
    if kind == "header":
        k = draw(st.sampled_from(names))
        field = draw(st.sampled_from(["dtype", "shape", "data_offsets", "drop", "add", "swap"]))
        if field == "dtype":
            header[k]["dtype"] = draw(st.sampled_from(DTYPES))
        elif field == "shape":
            header[k]["shape"] = draw(st.one_of(st.lists(st.integers(-2, 2**40), max_size=4), GARBAGE))
        elif field == "data_offsets":
            a, b = header[k]["data_offsets"]
            header[k]["data_offsets"] = draw(st.one_of(
                st.tuples(st.integers(-5, len(data) + 64), st.integers(-5, len(data) + 64)).map(list),
                st.just([a, b + 4]), st.just([b, a]), st.just([0, 2**64]), GARBAGE))  # fmt: skip
        elif field == "drop":
            del header[k]
        elif field == "add":
            header["extra_tensor"] = {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]}
        else:  # two arrays trade headers (same-size ones look valid to safetensors)
            j = draw(st.sampled_from(names))
            header[k], header[j] = header[j], header[k]
    else:
        meta = header.setdefault("__metadata__", {})
        key = draw(st.sampled_from(sorted(meta) + ["attnrs.new"]))
        if draw(st.booleans()):
            meta.pop(key, None)
        else:
            meta[key] = draw(st.one_of(st.text(max_size=12), GARBAGE.map(json.dumps),
                                       st.sampled_from(["[" * 50_000 + "]" * 50_000, "{}", "[]", "5"])))  # fmt: skip
    head = json.dumps(header).encode()
    head += b" " * (-len(head) % 8)
    return struct.pack("<Q", len(head)) + head + data


def write_damaged(original, data, name: str):
    """A damaged copy of the saved checkpoint, written next to it as ``name``; its path."""
    path = original[3] / name
    path.write_bytes(data.draw(damage(original[0])))
    return path


def same_arrays(got, want):
    # The order comes from attnrs.keys; without it (a damaged entry) the
    # names are sorted, which is not a different answer.
    return sorted(got) == sorted(want) and all(
        got[k].dtype == want[k].dtype and got[k].shape == want[k].shape
        and got[k].tobytes() == want[k].tobytes() for k in want)  # fmt: skip


@FUZZ
@given(data=st.data())
def test_fuzz_load(original, data):
    d = original[3]
    path = write_damaged(original, data, "load.safetensors")
    want = ar.load(d / "c.safetensors")
    COUNTS["cases"] += 1
    try:
        got = ar.load(path)
    except ValueError as e:
        assert "load" in str(e) and str(path) in str(e), str(e)
        COUNTS["clear_errors"] += 1
        return
    except Exception as e:  # noqa: BLE001
        COUNTS["other_exceptions"] += 1
        raise AssertionError(f"load: unexpected {type(e).__name__}: {e}") from None
    if not same_arrays(got, want):
        COUNTS["wrong_answers"] += 1
        diff = [k for k in set(got) | set(want) if k not in got or k not in want
                or got[k].tobytes() != want[k].tobytes() or got[k].shape != want[k].shape]  # fmt: skip
        raise AssertionError(f"load returned arrays that differ from what was saved: {diff}")
    COUNTS["correct"] += 1


@FUZZ
@given(data=st.data())
def test_fuzz_load_checkpoint(original, data):
    _, sd, opt_sd, _ = original
    path = write_damaged(original, data, "ckpt.safetensors")
    m, opt = model(1)
    before = {k: v.copy() for k, v in m.state_dict().items()}
    before_opt = json.dumps(opt.state_dict(), default=lambda a: a.tolist(), sort_keys=True)
    COUNTS["cases"] += 1
    try:
        ar.load_checkpoint(path, m, opt)
    except ValueError as e:
        assert "load_checkpoint" in str(e), str(e)
        COUNTS["clear_errors"] += 1
        after = m.state_dict()
        assert all(np.array_equal(before[k], after[k]) for k in before), "model changed by a failed load"
        assert json.dumps(opt.state_dict(), default=lambda a: a.tolist(), sort_keys=True) == before_opt, "optimizer changed"
        return
    except Exception as e:  # noqa: BLE001
        COUNTS["other_exceptions"] += 1
        raise AssertionError(f"load_checkpoint: unexpected {type(e).__name__}: {e}") from None
    got = m.state_dict()
    ok = sorted(got) == sorted(sd) and all(
        got[k].dtype == sd[k].dtype and np.array_equal(got[k], sd[k]) for k in sd)  # fmt: skip
    ok = ok and json.dumps(opt.state_dict(), default=lambda a: a.tolist(), sort_keys=True) == json.dumps(
        opt_sd, default=lambda a: a.tolist(), sort_keys=True)
    if not ok:
        COUNTS["wrong_answers"] += 1
        raise AssertionError("load_checkpoint installed state that differs from what was saved")
    COUNTS["correct"] += 1
