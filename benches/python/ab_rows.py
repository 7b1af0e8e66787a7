"""One line of the rows a refactor must not slow down, through public names
only, so the same script times two trees in interleaved A/B runs:

    for r in 1 2 3; do for t in OLD NEW; do PYTHONPATH=$t/python .venv/bin/python \\
        benches/python/ab_rows.py; done; done

GPT training step (ms) and KV-cache generation (tok/s) as ``attnrs bench
--only training --quick``; causal SDPA fwd+bwd (B=4 H=8 T=512 D=64); a
10-layer dilated causal Conv1d stack fwd+bwd (B=8 C=64 T=1024); LSTM fwd+bwd
(I=128 H=256 T=128 B=32). Medians of short runs.
"""

from __future__ import annotations

import statistics
import timeit

import numpy as np

import attnrs as ar
from attnrs.bench.training import _attnrs_row


def _ms(fn, repeats: int = 7) -> float:
    """Median ms of ``repeats`` calls after one warm-up call."""
    fn()
    return 1e3 * statistics.median(timeit.repeat(fn, number=1, repeat=repeats))


def _fwd_bwd(make):
    def run():
        out = make()
        out.sum().backward()
    return run


def main() -> None:
    rng = np.random.default_rng(0)
    ar.manual_seed(0)
    F = ar.nn.functional
    q, k, v = (ar.tensor(rng.standard_normal((4, 8, 512, 64), np.float32), requires_grad=True) for _ in range(3))
    sdpa = _ms(_fwd_bwd(lambda: F.scaled_dot_product_attention(q, k, v, is_causal=True)))
    convs = [ar.nn.Conv1d(64, 64, 2, dilation=2**i) for i in range(10)]
    x = ar.tensor(rng.standard_normal((8, 64, 1024), np.float32), requires_grad=True)

    def conv_stack():
        h = x
        for c in convs:
            h = c(h).tanh()
        return h

    conv = _ms(_fwd_bwd(conv_stack))
    lstm = ar.nn.LSTM(128, 256)
    xs = ar.tensor(rng.standard_normal((32, 128, 128), np.float32), requires_grad=True)
    rnn = _ms(_fwd_bwd(lambda: lstm(xs)[0]))
    row = _attnrs_row(quick=True)
    print(f"train_ms {row['train_ms']:.2f} gen_tok_s {row['generate_tokens_per_s']:.0f} "
          f"sdpa_ms {sdpa:.2f} conv_ms {conv:.2f} lstm_ms {rnn:.2f}")


if __name__ == "__main__":
    main()
