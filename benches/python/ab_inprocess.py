"""In-process interleaved A/B of a Python-side change: a baseline copy of the
package, imported as ``attnrs_base``, against the working tree's ``attnrs``,
the same workloads alternating in one process, so both see the same machine
phase (on a loaded VM, separate processes differ by ±30 %). Rows: GPT
training step (nanoGPT CPU config), 100 KV-cache tokens, causal SDPA fwd+bwd
(B=4 H=8 T=512 D=64), a 10-layer dilated Conv1d stack fwd+bwd, LSTM fwd+bwd.

    mkdir -p /tmp/base && git archive main python/attnrs | tar -x -C /tmp/base
    mv /tmp/base/python/attnrs /tmp/base/attnrs_base
    cp <main's build of _core.abi3.so> /tmp/base/attnrs_base/
    [ROWS=train_ms,sdpa_ms] .venv/bin/python benches/python/ab_inprocess.py /tmp/base [rounds]

Each copy of the extension has its own thread pool; ATTNRS_SPIN_US=0 keeps
the idle one from spinning.
"""

import os
import statistics
import sys
import timeit

import numpy as np


def gpt_train(ar, GPT, Cfg, clip):
    """One AdamW training step of the nanoGPT CPU config as a closure, and the model's
    parameters (seeded: two copies of the package start from the same weights and batches)."""
    rng = np.random.default_rng(0)
    ar.manual_seed(0)
    model = GPT(Cfg(vocab_size=65, block_size=64, n_layer=4, n_head=4, n_embd=128))
    params = list(model.parameters())
    opt = ar.optim.AdamW(params, lr=1e-3, betas=(0.9, 0.99))
    batches = [rng.integers(0, 65, size=(12, 65)) for _ in range(4)]
    it = [0]

    def train():
        b = batches[it[0] % 4]
        it[0] += 1
        _, loss = model(b[:, :-1], targets=b[:, 1:])
        opt.zero_grad()
        loss.backward()
        clip(params, 1.0)
        opt.step()
        return loss

    return train, params


def workloads(ar, GPT, Cfg, clip):
    rng = np.random.default_rng(0)
    train, _ = gpt_train(ar, GPT, Cfg, clip)

    gm = GPT(Cfg(vocab_size=65, block_size=64, n_layer=4, n_head=4, n_embd=128))
    gm.eval()
    prompt = np.zeros((1, 1), np.int64)

    def gen():
        gm.generate(prompt, 100, rng=np.random.default_rng(2))
    F = ar.nn.functional
    q, k, v = (ar.tensor(rng.standard_normal((4, 8, 512, 64), np.float32), requires_grad=True) for _ in range(3))
    def sdpa():
        F.scaled_dot_product_attention(q, k, v, is_causal=True).sum().backward()
    convs = [ar.nn.Conv1d(64, 64, 2, dilation=2**i) for i in range(10)]
    x = ar.tensor(rng.standard_normal((8, 64, 1024), np.float32), requires_grad=True)
    def conv():
        h = x
        for c in convs:
            h = c(h).tanh()
        h.sum().backward()
    lstm = ar.nn.LSTM(128, 256, batch_first=True)
    xs = ar.tensor(rng.standard_normal((32, 128, 128), np.float32), requires_grad=True)
    def rnn():
        lstm(xs)[0].sum().backward()
    return {"train_ms": train, "generate_100tok_ms": gen, "sdpa_ms": sdpa, "conv_ms": conv, "lstm_ms": rnn}

def main():
    os.environ["ATTNRS_SPIN_US"] = "0"
    sys.path.insert(0, sys.argv[1])
    import attnrs_base as A
    from attnrs_base.models import GPT as GPT_A
    from attnrs_base.models import GPTConfig as Cfg_A
    from attnrs_base.nn.utils import clip_grad_norm_ as clip_A

    import attnrs as B
    from attnrs.models import GPT as GPT_B
    from attnrs.models import GPTConfig as Cfg_B
    from attnrs.nn.utils import clip_grad_norm_ as clip_B

    wa = workloads(A, GPT_A, Cfg_A, clip_A)
    wb = workloads(B, GPT_B, Cfg_B, clip_B)
    rounds = int(sys.argv[2]) if len(sys.argv) > 2 else 10
    reps = {"train_ms": 3, "generate_100tok_ms": 1, "sdpa_ms": 1, "conv_ms": 1, "lstm_ms": 1}
    only = os.environ.get("ROWS")  # e.g. ROWS=train_ms,sdpa_ms: just those rows
    for name in wa:
        if only and name not in only.split(","):
            continue
        wa[name]()
        wb[name]()
        ta, tb = [], []
        for r in range(rounds):
            pair = [(wa, ta), (wb, tb)] if r % 2 == 0 else [(wb, tb), (wa, ta)]
            for w, acc in pair:
                acc.append(1e3 * min(timeit.repeat(w[name], number=1, repeat=reps[name])))
        ratios = sorted(b / a for a, b in zip(ta, tb))
        print(f"{name:20s} main {statistics.median(ta):8.2f}  branch {statistics.median(tb):8.2f}  "
              f"branch/main median {statistics.median(ratios):.3f}  IQR {ratios[len(ratios)//4]:.3f}..{ratios[(3*len(ratios))//4]:.3f}", flush=True)


if __name__ == "__main__":
    main()
