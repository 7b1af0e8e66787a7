"""io: safetensors save/load, checkpoints with optimizer state, bad files."""

from __future__ import annotations

import os
from collections import OrderedDict

import numpy as np
import pytest
import safetensors.numpy

import attnrs as ar
from attnrs import nn, optim
from attnrs.nn import functional as F


def make_model(seed=0):
    ar.manual_seed(seed)
    m = nn.Sequential(nn.Embedding(11, 6), nn.LayerNorm(6), nn.Linear(6, 11))
    m.register_buffer("step", np.array([7], dtype=np.int64))
    return m


def train(model, opt, steps, seed=0, sched=None):
    rng = np.random.default_rng(seed)
    for _ in range(steps):
        ids = rng.integers(0, 11, (4, 5))
        loss = F.cross_entropy(model(ids).reshape(-1, 11), np.roll(ids, 1, 1).reshape(-1))
        opt.zero_grad()
        loss.backward()
        opt.step()
        if sched is not None:
            sched.step()
    return loss.item()


def test_save_load_round_trip_is_bitwise(tmp_path):
    m = make_model()
    path = tmp_path / "w.safetensors"
    ar.save(m, path, metadata={"config": {"dim": 6, "vocab": 11}, "note": "hello"})
    sd = ar.load(path)
    assert isinstance(sd, OrderedDict)
    assert list(sd) == list(m.state_dict())  # original order, not alphabetical
    for k, v in m.state_dict().items():
        assert sd[k].dtype == v.dtype and sd[k].shape == v.shape
        assert sd[k].tobytes() == v.tobytes()
    assert ar.io.load_metadata(path) == {"config": {"dim": 6, "vocab": 11}, "note": "hello"}
    m2 = make_model(1)
    m2.load_state_dict(sd)
    for k, v in m.state_dict().items():
        assert np.array_equal(m2.state_dict()[k], v)
    assert os.listdir(tmp_path) == ["w.safetensors"]  # no temporary file left


def test_save_dict_of_arrays_and_tensors(tmp_path):
    sd = {
        "a": np.arange(6, dtype=np.float32).reshape(2, 3)[:, ::2],
        "b": ar.ones(2),
        "i": np.arange(3),
    }
    ar.save(sd, str(tmp_path / "d.st"))
    back = ar.load(str(tmp_path / "d.st"))
    np.testing.assert_array_equal(back["a"], [[0, 2], [3, 5]])
    assert back["i"].dtype == np.int64 and back["b"].dtype == np.float32


def test_overwrite_is_atomic_when_save_fails(tmp_path):
    path = tmp_path / "w.st"
    ar.save({"a": np.ones(2, np.float32)}, path)
    with pytest.raises(TypeError):  # nested objects are saved (issue 17); an object() is not
        ar.save({"a": np.ones(2, np.float32), "b": object()}, path)
    with pytest.raises(ar.DTypeError):
        ar.save({"c": np.ones(2, np.complex64)}, path)
    np.testing.assert_array_equal(ar.load(path)["a"], np.ones(2))
    assert sorted(os.listdir(tmp_path)) == ["w.st"]


def test_foreign_safetensors_file_loads(tmp_path):
    path = tmp_path / "foreign.safetensors"
    safetensors.numpy.save_file(
        {"z": np.ones(2, np.float32), "a": np.zeros((1, 2), np.float32)},
        str(path),
        metadata={"format": "pt"},
    )
    sd = ar.load(path)
    assert set(sd) == {"a", "z"}
    assert ar.io.load_metadata(path) == {"format": "pt"}
    with pytest.raises(ValueError, match="not an attnrs checkpoint"):
        ar.load_checkpoint(path, make_model())


@pytest.mark.parametrize("damage", ["truncate", "empty", "garbage", "flip_data", "flip_header"])
def test_corrupt_files_raise_clear_errors(tmp_path, damage):
    path = tmp_path / "w.st"
    ar.save(make_model(), path)
    raw = bytearray(path.read_bytes())
    if damage == "truncate":
        raw = raw[: len(raw) - 10]
    elif damage == "empty":
        raw = bytearray()
    elif damage == "garbage":
        raw = bytearray(b"PK\x03\x04 this is a zip file, not safetensors" * 3)
    elif damage == "flip_data":
        raw[-3] ^= 0xFF
    elif damage == "flip_header":
        raw[12] ^= 0xFF
    path.write_bytes(bytes(raw))
    with pytest.raises(ValueError, match="w.st"):
        ar.load(path)
    with pytest.raises(ValueError, match="w.st"):
        ar.load_checkpoint(path, make_model())


def test_missing_file():
    with pytest.raises(FileNotFoundError, match="nope.st"):
        ar.load("/nonexistent/dir/nope.st")


def test_save_argument_errors(tmp_path):
    p = tmp_path / "x.st"
    with pytest.raises(TypeError):
        ar.save(object(), p)
    with pytest.raises(TypeError):
        ar.save({1: np.ones(2)}, p)
    with pytest.raises(ValueError, match="attnrs."):
        ar.save({"a": np.ones(2)}, p, metadata={"attnrs.keys": "x"})
    with pytest.raises(ValueError, match="JSON"):
        ar.save({"a": np.ones(2)}, p, metadata={"cfg": {"x": float("nan")}})
    with pytest.raises(ValueError, match="JSON"):
        ar.save({"a": np.ones(2)}, p, metadata={"cfg": object()})
    assert not p.exists()


@pytest.mark.parametrize(
    "opt_cls, kw", [(optim.AdamW, {"lr": 1e-2}), (optim.SGD, {"lr": 0.1, "momentum": 0.9})]
)
def test_checkpoint_round_trip_resumes_exactly(tmp_path, opt_cls, kw):
    path = tmp_path / "ck.st"
    m = make_model()
    opt = opt_cls(m.parameters(), **kw)
    sched = optim.CosineWarmup(opt, 2, 20)
    train(m, opt, 3, seed=1, sched=sched)
    ar.save_checkpoint(path, m, opt, config={"dim": 6}, extra={"epoch": 3}, scheduler=sched)

    m2 = make_model(5)
    opt2 = opt_cls(m2.parameters(), lr=0.5)
    sched2 = optim.CosineWarmup(opt2, 2, 20)
    info = ar.load_checkpoint(path, m2, opt2, scheduler=sched2)
    assert info == {"config": {"dim": 6}, "extra": {"epoch": 3}, "metadata": {}}
    for k, v in m.state_dict().items():
        assert m2.state_dict()[k].tobytes() == v.tobytes()
    s1, s2 = opt.state_dict(), opt2.state_dict()
    assert s1["param_groups"] == s2["param_groups"]
    for i in s1["state"]:
        for k, v in s1["state"][i].items():
            if isinstance(v, np.ndarray):
                assert s2["state"][i][k].tobytes() == v.tobytes()
            else:
                assert s2["state"][i][k] == v
    assert sched2.last_step == sched.last_step
    # training on from both gives identical weights
    train(m, opt, 2, seed=9, sched=sched)
    train(m2, opt2, 2, seed=9, sched=sched2)
    for k, v in m.state_dict().items():
        assert np.array_equal(m2.state_dict()[k], v)


def test_checkpoint_dataclass_config_and_model_only(tmp_path):
    from dataclasses import dataclass

    @dataclass
    class Config:
        dim: int = 6
        name: str = "tiny"

    path = tmp_path / "ck.st"
    ar.save_checkpoint(path, make_model(), config=Config())
    info = ar.load_checkpoint(path, make_model(3))
    assert info["config"] == {"dim": 6, "name": "tiny"} and info["extra"] is None
    with pytest.raises(ValueError, match="no optimizer state"):
        ar.load_checkpoint(path, make_model(), optim.SGD(make_model().parameters()))
    with pytest.raises(ValueError, match="no scheduler state"):
        opt = optim.SGD(make_model().parameters())
        ar.load_checkpoint(path, make_model(), scheduler=optim.StepLR(opt, 1))


def test_checkpoint_mismatch_leaves_model_and_optimizer_untouched(tmp_path):
    path = tmp_path / "ck.st"
    m = make_model()
    opt = optim.AdamW(m.parameters(), lr=1e-2)
    train(m, opt, 1)
    ar.save_checkpoint(path, m, opt)

    other = nn.Sequential(nn.Embedding(11, 6), nn.LayerNorm(6), nn.Linear(6, 12))
    other.register_buffer("step", np.array([0], dtype=np.int64))
    before = other.state_dict()
    with pytest.raises(ar.ShapeError, match=r"2.weight: expected \(12, 6\)"):
        ar.load_checkpoint(path, other)
    renamed = nn.Sequential(nn.Embedding(11, 6), nn.Linear(6, 11))
    with pytest.raises(ar.ShapeError, match="unexpected keys"):
        ar.load_checkpoint(path, renamed)
    for k, v in other.state_dict().items():
        assert np.array_equal(v, before[k])

    # right model, wrong optimizer: nothing changes either
    m2 = make_model(4)
    w_before = m2.state_dict()
    with pytest.raises(ValueError, match="AdamW"):
        ar.load_checkpoint(path, m2, optim.SGD(m2.parameters(), lr=0.1))
    small = optim.AdamW(list(m2.parameters())[:2], lr=1e-2)
    with pytest.raises(ValueError, match="parameters"):
        ar.load_checkpoint(path, m2, small)
    for k, v in m2.state_dict().items():
        assert np.array_equal(v, w_before[k])


def test_checkpoint_rejects_reserved_model_keys(tmp_path):
    with pytest.raises(ValueError, match="optim."):
        ar.save_checkpoint(tmp_path / "x.st", {"optim.state.0.exp_avg": np.ones(1, np.float32)})
