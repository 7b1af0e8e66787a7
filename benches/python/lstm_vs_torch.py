"""LSTM (I=128, H=256, T=128, B=32) forward against PyTorch in one process,
alternating call by call, 2 threads each: the median of each and their ratio.
Run in a venv with torch, under ``attnrs bench --isa``'s switches when wanted:

    PYTHONPATH=python ATTNRS_SIMD=avx2 ATEN_CPU_CAPABILITY=avx2 ONEDNN_MAX_CPU_ISA=AVX2 \\
        MKL_ENABLE_INSTRUCTIONS=AVX2 /work/torchenv/bin/python benches/python/lstm_vs_torch.py [rounds] [mode] [threads]

On a shared, oversubscribed machine PyTorch's OpenMP barriers suffer far more
than attnrs's pool (a preempted OpenMP thread stalls every step), so 2-thread
ratios then flatter attnrs; ``threads`` = 1 gives the load-robust comparison.
"""

import sys
import time

import numpy as np
import torch

import attnrs as ar
from attnrs.bench.fused import steady_state_malloc

steady_state_malloc()  # as `attnrs bench rnn` and the Trainer: reused pages, no page-fault storm

rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 30
mode = sys.argv[2] if len(sys.argv) > 2 else "lstm"
threads = int(sys.argv[3]) if len(sys.argv) > 3 else 2
ar.set_num_threads(threads)
torch.set_num_threads(threads)
x = np.random.default_rng(0).standard_normal((32, 128, 128)).astype(np.float32)
cls = {"lstm": (ar.nn.LSTM, torch.nn.LSTM), "gru": (ar.nn.GRU, torch.nn.GRU), "rnn": (ar.nn.RNN, torch.nn.RNN)}[mode]
la, lt = cls[0](128, 256, batch_first=True), cls[1](128, 256, batch_first=True)
xt = torch.from_numpy(x)


def f_ar():
    with ar.no_grad():
        la(x)


def f_t():
    with torch.no_grad():
        lt(xt)


ta, tt = [], []
for f in (f_ar, f_t, f_ar, f_t):
    f()
for _ in range(rounds):
    for f, acc in ((f_ar, ta), (f_t, tt)):
        s = time.perf_counter()
        f()
        acc.append(time.perf_counter() - s)
ma, mt = np.median(ta) * 1e3, np.median(tt) * 1e3
print(f"{mode} fwd {threads}t isa={ar.info()['isa']} torch={torch.backends.cpu.get_cpu_capability()}: "
      f"attnrs {ma:.2f} ms (min {min(ta)*1e3:.2f}), torch {mt:.2f} ms (min {min(tt)*1e3:.2f}), "
      f"torch/attnrs {mt/ma:.2f} (of mins {min(tt)/min(ta):.2f})")
