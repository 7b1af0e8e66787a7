"""Smoke test of a built wheel on another machine (aarch64 under qemu): a
matmul, causal attention forward/backward, and a few GPT training steps,
saved to an .npz on one machine and compared on the other.

    python benches/python/arm_smoke.py --save x86.npz          # on x86
    python benches/python/arm_smoke.py --compare x86.npz       # on aarch64 (qemu)

An aarch64 Python on an x86 Debian 12 host without touching the system's
packages (apt with a private state dir, .debs unpacked into a root):

    mkdir -p /tmp/aptarm/state/lists/partial /tmp/aptarm/cache/archives/partial
    touch /tmp/aptarm/status
    printf '%s\n' 'APT::Architecture "arm64";' 'APT::Architectures { "arm64"; };' \
      'Dir::State "/tmp/aptarm/state";' 'Dir::State::status "/tmp/aptarm/status";' \
      'Dir::Cache "/tmp/aptarm/cache";' > /tmp/aptarm/apt.conf
    export APT_CONFIG=/tmp/aptarm/apt.conf
    apt-get update && apt-get install -y --download-only python3.11-minimal libpython3.11-stdlib
    for d in /tmp/aptarm/cache/archives/*.deb; do dpkg -x $d /tmp/armroot; done
    pip download --only-binary=:all: --platform manylinux2014_aarch64 \
      --python-version 3.11 numpy safetensors -d wheels   # + the attnrs wheel
    (unzip each wheel into /tmp/armsite)
    PYTHONPATH=/tmp/armsite qemu-aarch64 -L /tmp/armroot \
      /tmp/armroot/usr/bin/python3.11 benches/python/arm_smoke.py --compare x86.npz
"""

from __future__ import annotations

import argparse
import platform

import numpy as np

import attnrs as ar
from attnrs.models.gpt import GPT, GPTConfig


def results() -> dict[str, np.ndarray]:
    rng = np.random.default_rng(0)
    out: dict[str, np.ndarray] = {}
    a = rng.standard_normal((67, 129)).astype(np.float32)
    b = rng.standard_normal((129, 45)).astype(np.float32)
    out["matmul"] = ar.ops.matmul(a, b)

    q, k, v = (rng.standard_normal((2, 3, 37, 16)).astype(np.float32) for _ in range(3))
    tq, tk, tv = (ar.tensor(x, requires_grad=True) for x in (q, k, v))
    o = ar.nn.functional.scaled_dot_product_attention(tq, tk, tv, is_causal=True)
    (
        o * ar.tensor(np.cos(np.arange(o.numpy().size, dtype=np.float32)).reshape(o.shape))
    ).sum().backward()
    out["attn_o"] = o.numpy()
    out["attn_dq"], out["attn_dk"], out["attn_dv"] = (
        tq.grad.numpy(),
        tk.grad.numpy(),
        tv.grad.numpy(),
    )

    ar.manual_seed(0)
    cfg = GPTConfig(vocab_size=32, block_size=16, n_layer=2, n_head=2, n_embd=32)
    model = GPT(cfg)
    opt = ar.optim.AdamW(model.parameters(), lr=3e-3)
    ids = rng.integers(0, cfg.vocab_size, size=(4, cfg.block_size + 1))
    losses = []
    for _ in range(5):
        _, loss = model(ids[:, :-1], ids[:, 1:])
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(float(loss.numpy()))
    out["gpt_losses"] = np.array(losses, dtype=np.float32)
    return out


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--save")
    p.add_argument("--compare")
    args = p.parse_args()
    info = ar.info()
    print(f"arch {platform.machine()} isa {info['isa']} available {info['isa_available']}")
    got = results()
    if args.save:
        np.savez(args.save, **got)
    if args.compare:
        ref = np.load(args.compare)
        worst = 0.0
        for name, x in got.items():
            # Normwise: the largest difference relative to the largest value.
            err = float(np.max(np.abs(x - ref[name])) / np.max(np.abs(ref[name])))
            worst = max(worst, err)
            print(f"{name:12s} shape {x.shape} max |diff| / max |ref| {err:.2e}")
        assert worst < 1e-4, f"results differ from {args.compare}: {worst:.2e}"
        print("OK: matches within 1e-4 (normwise)")
    print("gpt losses", " ".join(f"{x:.4f}" for x in got["gpt_losses"]))


if __name__ == "__main__":
    main()
