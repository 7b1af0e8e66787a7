"""Issue 14, items 4–6: saves never leave temp files behind and keep the usual
file mode; a malformed checkpoint is refused with ValueError before anything
changes; attnrs files must verify; a dtype the model does not hold is refused."""

from __future__ import annotations

import json
import os
import signal
import struct
import subprocess
import sys
import time
import zlib

import numpy as np
import pytest

import attnrs as ar
from attnrs import nn, optim

# --- helpers: raw safetensors surgery ---------------------------------------------------


def read_raw(path):
    blob = open(path, "rb").read()
    (n,) = struct.unpack("<Q", blob[:8])
    return json.loads(blob[8 : 8 + n]), blob[8 + n :]


def write_raw(path, header, data):
    head = json.dumps(header).encode()
    head += b" " * (-len(head) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(head)) + head + data)


def edit_meta(path, *, keep_header_crc=False, **changes):
    """Rewrites header metadata entries (None deletes one); data unchanged.

    The header checksum is recomputed, as a writer that means it would do, so
    that the checks behind it are what is tested (``keep_header_crc`` leaves
    the old one, as accidental damage would)."""
    header, data = read_raw(path)
    meta = header.setdefault("__metadata__", {})
    for k, v in changes.items():
        k = k.replace("__", ".")
        if v is None:
            meta.pop(k, None)
        else:
            meta[k] = v
    if "attnrs.header_crc32" in meta and not keep_header_crc:
        meta["attnrs.header_crc32"] = str(ar.io._meta_crc(meta))
    write_raw(path, header, data)


def make(seed=0):
    ar.manual_seed(seed)
    m = nn.Sequential(nn.Embedding(7, 4), nn.Linear(4, 7))
    opt = optim.AdamW(m.parameters(), lr=1e-2)
    sched = optim.CosineWarmup(opt, warmup_steps=2, total_steps=10)
    ids = np.arange(6).reshape(2, 3)
    loss = ar.nn.functional.cross_entropy(m(ids).reshape(-1, 7), ids.reshape(-1))
    loss.backward()
    opt.step()
    sched.step()
    return m, opt, sched


def snapshot(m, opt, sched):
    return (
        {k: v.copy() for k, v in m.state_dict().items()},
        json.dumps(opt.state_dict()["param_groups"]),
        opt.state_dict()["state"],
        json.dumps(sched.state_dict()),
    )  # fmt: skip


def same(a, b):
    sd_a, g_a, st_a, s_a = a
    sd_b, g_b, st_b, s_b = b
    assert sd_a.keys() == sd_b.keys() and all(np.array_equal(sd_a[k], sd_b[k]) for k in sd_a)
    assert g_a == g_b and s_a == s_b
    assert st_a.keys() == st_b.keys()
    for k in st_a:
        for n in st_a[k]:
            assert np.array_equal(st_a[k][n], st_b[k][n])


@pytest.fixture
def ckpt(tmp_path):
    m, opt, sched = make(0)
    path = tmp_path / "c.safetensors"
    ar.save_checkpoint(path, m, opt, config={"dim": 4}, extra={"note": [1, 2]}, scheduler=sched)
    return path


# --- item 5: validate the whole file, then change state ---------------------------------

MALFORMED = {
    "json_not_a_list": {"attnrs__json": "5"},
    "json_not_json": {"attnrs__json": "[oops"},
    "deep_extra": {"extra": "[" * 100_000 + "]" * 100_000},
    "crc32_list": {"attnrs__crc32": "[1, 2]"},
    "crc32_not_json": {"attnrs__crc32": "{"},
    "optim_list": {"attnrs__optim": "[]"},
    "optim_no_groups": {"attnrs__optim": '{"type": "AdamW", "scalars": {}}'},
    "optim_groups_not_list": {"attnrs__optim": '{"type": "AdamW", "param_groups": 3}'},
    "optim_params_strings": {"attnrs__optim": '{"type": "AdamW", "param_groups": [{"params": ["a"]}]}'},
    "optim_step_string": None,  # filled below from the real header
    "optim_lr_string": None,
    "optim_deep": {"attnrs__optim": "[" * 100_000 + "]" * 100_000},
    "scheduler_not_dict": {"attnrs__scheduler": "7"},
    "scheduler_bad_step": None,
    "scheduler_missing_key": None,
    "scheduler_negative_step": None,
    "keys_not_list": {"attnrs__keys": "{"},
}


def _optim_variant(path, name):
    header, _ = read_raw(path)
    info = json.loads(header["__metadata__"]["attnrs.optim"])
    if name == "optim_step_string":
        info["scalars"]["0"]["step"] = "abc"
    elif name == "optim_lr_string":
        info["param_groups"][0]["lr"] = "fast"
    return {"attnrs__optim": json.dumps(info)}


def _sched_variant(path, name):
    header, _ = read_raw(path)
    s = json.loads(header["__metadata__"]["attnrs.scheduler"])
    if name == "scheduler_bad_step":
        s["last_step"] = "abc"
    elif name == "scheduler_negative_step":
        s["last_step"] = -3
    else:
        s.pop("base_lrs")
    return {"attnrs__scheduler": json.dumps(s)}


@pytest.mark.parametrize("case", sorted(MALFORMED))
def test_malformed_header_is_value_error_and_changes_nothing(ckpt, case):
    changes = MALFORMED[case]
    if changes is None:
        changes = (_optim_variant if case.startswith("optim") else _sched_variant)(ckpt, case)
    edit_meta(ckpt, **changes)
    m, opt, sched = make(1)
    before = snapshot(m, opt, sched)
    with pytest.raises(ValueError, match="load_checkpoint") as e:
        ar.load_checkpoint(ckpt, m, opt, scheduler=sched, verify=case != "crc32_list")
    assert str(ckpt) in str(e.value) or "load_checkpoint" in str(e.value)
    same(before, snapshot(m, opt, sched))


def test_unknown_dtype_in_file_is_value_error(tmp_path):
    path = tmp_path / "f8.safetensors"
    write_raw(path, {"w": {"dtype": "F8_E4M3", "shape": [2], "data_offsets": [0, 2]}}, b"\x01\x02")
    with pytest.raises(ValueError, match="not a valid safetensors file"):
        ar.load(path)


def test_good_checkpoint_still_round_trips(ckpt):
    m, opt, sched = make(1)
    r = ar.load_checkpoint(ckpt, m, opt, scheduler=sched)
    assert r["config"] == {"dim": 4} and r["extra"] == {"note": [1, 2]}
    m0, opt0, sched0 = make(0)
    same(snapshot(m0, opt0, sched0), snapshot(m, opt, sched))


# --- item 6: checksums required, dtypes not cast -----------------------------------------


def flip_data_byte(path, offset=3):
    blob = bytearray(open(path, "rb").read())
    blob[-offset] ^= 0x40
    open(path, "wb").write(bytes(blob))


def test_missing_checksums_are_refused_unless_opted_out(ckpt):
    edit_meta(ckpt, attnrs__crc32=None)
    flip_data_byte(ckpt)
    m, opt, sched = make(1)
    before = snapshot(m, opt, sched)
    with pytest.raises(ValueError, match="no attnrs.crc32 checksums"):
        ar.load_checkpoint(ckpt, m, opt, scheduler=sched)
    with pytest.raises(ValueError, match="no attnrs.crc32 checksums"):
        ar.load(ckpt)
    same(before, snapshot(m, opt, sched))
    ar.load_checkpoint(ckpt, m, opt, scheduler=sched, verify=False)  # the caller's choice


def test_partial_checksums_are_refused(ckpt):
    header, _ = read_raw(ckpt)
    crcs = json.loads(header["__metadata__"]["attnrs.crc32"])
    crcs.pop("1.weight")
    edit_meta(ckpt, attnrs__crc32=json.dumps(crcs))
    with pytest.raises(ValueError, match="no checksum for array"):
        ar.load(ckpt)


def test_flipped_byte_fails_its_checksum(ckpt):
    flip_data_byte(ckpt)
    with pytest.raises(ValueError, match="fails its checksum"):
        ar.load(ckpt)


def test_edited_header_fails_its_checksum(ckpt):
    header, _ = read_raw(ckpt)
    info = header["__metadata__"]["attnrs.optim"].replace('"step"', '"rtep"', 1)
    edit_meta(ckpt, keep_header_crc=True, attnrs__optim=info)
    with pytest.raises(ValueError, match="header fails its checksum"):
        ar.load(ckpt)
    m, opt, _ = make(1)
    with pytest.raises(ValueError, match="header fails its checksum"):
        ar.load_checkpoint(ckpt, m, opt)
    edit_meta(ckpt, attnrs__optim=info)  # a consistent header: the scalar check refuses it
    with pytest.raises(ValueError, match="optimizer"):
        ar.load_checkpoint(ckpt, m, opt)


def test_relabelled_dtype_is_refused_by_load_too(tmp_path):
    path = tmp_path / "w.safetensors"
    ar.save({"w": np.ones(3, np.float32)}, path)
    header, data = read_raw(path)
    header["w"]["dtype"] = "I32"
    write_raw(path, header, data)
    with pytest.raises(ValueError, match="it was saved as"):
        ar.load(path)


def test_relabelled_dtype_is_refused_not_cast(tmp_path):
    m, opt, sched = make(0)
    path = tmp_path / "c.safetensors"
    ar.save_checkpoint(path, m)
    header, data = read_raw(path)
    header["0.weight"]["dtype"] = "I32"  # same size, other meaning
    write_raw(path, header, data)
    m1, _, _ = make(1)
    before = {k: v.copy() for k, v in m1.state_dict().items()}
    with pytest.raises(ValueError, match="it was saved as"):  # the layout entry
        ar.load_checkpoint(path, m1)
    header["__metadata__"].pop("attnrs.layout")  # a file without one: the model's dtype
    header["__metadata__"]["attnrs.header_crc32"] = str(ar.io._meta_crc(header["__metadata__"]))
    write_raw(path, header, data)
    with pytest.raises(ValueError, match="another dtype"):
        ar.load_checkpoint(path, m1)
    assert all(np.array_equal(before[k], v) for k, v in m1.state_dict().items())


def test_foreign_file_without_attnrs_entries_loads(tmp_path):
    import safetensors.numpy

    path = tmp_path / "foreign.safetensors"
    safetensors.numpy.save_file({"a": np.arange(3, dtype=np.float32)}, str(path))
    np.testing.assert_array_equal(ar.load(path)["a"], [0, 1, 2])


def test_written_files_are_plain_safetensors(tmp_path):
    import safetensors.numpy

    arrays = {"f": np.arange(6, dtype=np.float32).reshape(2, 3), "i": np.arange(4, dtype=">i8"),
              "b": np.array(True), "e": np.zeros((0, 3), np.float16), "u": np.arange(3, dtype=np.uint8)}  # fmt: skip
    path = tmp_path / "w.safetensors"
    ar.save(arrays, path, metadata={"k": "v"})
    back = safetensors.numpy.load_file(str(path))
    ours = ar.load(path)
    assert list(ours) == list(arrays)
    for k, v in arrays.items():
        assert back[k].shape == v.shape and ours[k].shape == v.shape
        np.testing.assert_array_equal(back[k], v)
        np.testing.assert_array_equal(ours[k], v)


# --- item 4: temp files and modes ----------------------------------------------------------

SAVER = """
import sys, numpy as np, attnrs as ar
path = sys.argv[1]
big = {"w%d" % i: np.full((1024, 1024), i, np.float32) for i in range(24)}
print("ready", flush=True)
while True:
    ar.save(big, path)
"""


@pytest.mark.skipif(os.name != "posix", reason="kill -9 and pid checks are POSIX")
def test_kill_9_during_saves_leaves_no_temp_files(tmp_path):
    path = tmp_path / "w.safetensors"
    ar.save({"w0": np.zeros(1, np.float32)}, path)
    rng = np.random.default_rng(0)
    for _ in range(6):
        p = subprocess.Popen([sys.executable, "-c", SAVER, str(path)], stdout=subprocess.PIPE, text=True)
        assert p.stdout.readline().strip() == "ready"
        time.sleep(float(rng.uniform(0.05, 0.4)))
        p.send_signal(signal.SIGKILL)
        p.wait()
        p.stdout.close()
        ar.load(path)  # never a broken file
    ar.save({"x": np.ones(2, np.float32)}, path)  # the next save cleans up
    assert sorted(os.listdir(tmp_path)) == ["w.safetensors"], os.listdir(tmp_path)


@pytest.mark.skipif(os.name != "posix", reason="POSIX modes")
def test_saved_files_follow_umask_and_keep_existing_mode(tmp_path):
    old = os.umask(0o022)
    try:
        path = tmp_path / "a.safetensors"
        ar.save({"a": np.ones(2, np.float32)}, path)
        assert os.stat(path).st_mode & 0o777 == 0o644
        os.chmod(path, 0o640)
        m, opt, _ = make(0)
        ar.save_checkpoint(path, m, opt)
        assert os.stat(path).st_mode & 0o777 == 0o640
        os.umask(0o077)
        p2 = tmp_path / "b.safetensors"
        ar.save({"a": np.ones(2, np.float32)}, p2)
        assert os.stat(p2).st_mode & 0o777 == 0o600
    finally:
        os.umask(old)


def test_live_process_temp_files_are_kept(tmp_path):
    """A temp file of a process that still runs (this one) is not removed."""
    path = tmp_path / "w.safetensors"
    mine = tmp_path / f".w.safetensors.{os.getpid()}-999.tmp"
    mine.write_bytes(b"x")
    ar.save({"a": np.ones(1, np.float32)}, path)
    assert mine.exists()


def test_crc_covers_exactly_the_written_bytes(tmp_path):
    path = tmp_path / "w.safetensors"
    a = np.arange(10, dtype=">f4")  # big-endian input is stored little-endian
    ar.save({"a": a}, path)
    header, data = read_raw(path)
    crcs = json.loads(header["__metadata__"]["attnrs.crc32"])
    assert crcs["a"] == zlib.crc32(data[:40]) == zlib.crc32(a.astype("<f4").tobytes())
