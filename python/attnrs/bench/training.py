"""Training and generation throughput of the nanoGPT CPU configuration.

GPT with vocab 65, block 64, batch 12, 4 layers, 4 heads, n_embd 128 on
random tokens: median ms per AdamW training iteration (forward, backward,
clipping, step) and KV-cache generation tokens/s (batch 1, 200 new tokens).
PyTorch eager is measured on the same shapes when it is installed, in
alternating rounds with attnrs (``_timing.versus``); the speedups are medians
of the per-round ratios.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ._timing import median_s, versus

VOCAB, BLOCK, BATCH, N_LAYER, N_HEAD, N_EMBD = 65, 64, 12, 4, 4, 128
GEN_TOKENS = 200


def _attnrs_step() -> tuple[Any, Any]:
    """The attnrs model and one AdamW training step (forward, backward, clipping, step)."""
    import attnrs as ar
    from attnrs.memory import retain_freed_memory
    from attnrs.models import GPT, GPTConfig
    from attnrs.nn.utils import clip_grad_norm_

    retain_freed_memory()  # as the Trainer does: steady-state pages, no per-step page faults
    ar.manual_seed(0)
    model = GPT(GPTConfig(vocab_size=VOCAB, block_size=BLOCK, n_layer=N_LAYER, n_head=N_HEAD, n_embd=N_EMBD))
    params = list(model.parameters())
    opt = ar.optim.AdamW(params, lr=1e-3, betas=(0.9, 0.99))
    rng = np.random.default_rng(1)
    batches = [rng.integers(0, VOCAB, size=(BATCH, BLOCK + 1)) for _ in range(8)]
    it = [0]

    def step() -> None:
        b = batches[it[0] % len(batches)]
        it[0] += 1
        _, loss = model(b[:, :-1], targets=b[:, 1:])
        opt.zero_grad()
        loss.backward()
        clip_grad_norm_(params, 1.0)
        opt.step()

    return model, step


def _attnrs_generate(model: Any) -> Any:
    """KV-cache generation of ``GEN_TOKENS`` tokens from one token (batch 1)."""
    model.eval()
    prompt = np.zeros((1, 1), dtype=np.int64)
    return lambda: model.generate(prompt, GEN_TOKENS, rng=np.random.default_rng(2))


def _row(impl: str, step_s: float, gen_s: float, generate: str) -> dict:
    return {"impl": impl, "train_ms": 1e3 * step_s, "iters_per_s": 1 / step_s,
            "train_tokens_per_s": BATCH * BLOCK / step_s, "generate_tokens_per_s": GEN_TOKENS / gen_s,
            "generate": generate}  # fmt: skip


def _torch_step() -> tuple[Any, Any]:
    """The PyTorch eager model on the same shapes and its training step (needs torch)."""
    import torch
    import torch.nn.functional as F

    torch.manual_seed(0)
    layer = torch.nn.TransformerEncoderLayer(N_EMBD, N_HEAD, 4 * N_EMBD, dropout=0.0, activation="gelu",
                                             batch_first=True, norm_first=True)  # fmt: skip

    class TorchGPT(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.wte = torch.nn.Embedding(VOCAB, N_EMBD)
            self.wpe = torch.nn.Embedding(BLOCK, N_EMBD)
            self.blocks = torch.nn.TransformerEncoder(layer, N_LAYER, enable_nested_tensor=False)
            self.ln_f = torch.nn.LayerNorm(N_EMBD)
            self.head = torch.nn.Linear(N_EMBD, VOCAB, bias=False)
            self.register_buffer("mask", torch.nn.Transformer.generate_square_subsequent_mask(BLOCK))

        def forward(self, idx: Any) -> Any:
            T = idx.shape[1]
            x = self.wte(idx) + self.wpe(torch.arange(T))
            x = self.blocks(x, mask=self.mask[:T, :T], is_causal=True)
            return self.head(self.ln_f(x))

    model = TorchGPT()
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3, betas=(0.9, 0.99))
    data = torch.randint(0, VOCAB, (8, BATCH, BLOCK + 1))
    it = [0]

    def step() -> None:
        b = data[it[0] % 8]
        it[0] += 1
        loss = F.cross_entropy(model(b[:, :-1]).reshape(-1, VOCAB), b[:, 1:].reshape(-1))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()

    return model, step


def _torch_generate(model: Any) -> Any:
    """nanoGPT's generate: no cache, re-runs the window for every token."""
    import torch

    model.eval()

    @torch.no_grad()
    def generate() -> None:
        idx = torch.zeros((1, 1), dtype=torch.long)
        for _ in range(GEN_TOKENS):
            logits = model(idx[:, -BLOCK:])[:, -1, :]
            idx = torch.cat([idx, torch.multinomial(torch.softmax(logits, -1), 1)], dim=1)

    return generate


def run(quick: bool = False, with_torch: bool = True) -> list[dict]:
    """The attnrs row, then PyTorch's when it is installed (and ``with_torch``)."""
    rounds, warmup = (5, 2) if quick else (10, 5)  # 3 timed steps a round
    gen_rounds = 2 if quick else 5
    model, step = _attnrs_step()
    torch = None
    if with_torch:
        try:
            import torch
        except ImportError:
            pass
    if torch is None:
        gen = _attnrs_generate(model)
        return [_row("attnrs", median_s(step, 3 * rounds, warmup), median_s(gen, gen_rounds), "KV cache")]
    t_model, t_step = _torch_step()
    ours, theirs, train_speedup = versus(step, t_step, rounds, warmup, per_round=3)
    g_ours, g_theirs, gen_speedup = versus(_attnrs_generate(model), _torch_generate(t_model), gen_rounds)
    row = _row("attnrs", ours, g_ours, "KV cache")
    row["train_speedup_vs_torch"] = train_speedup
    row["generate_speedup_vs_torch"] = gen_speedup
    impl = f"torch {torch.__version__} ({torch.get_num_threads()} threads)"
    return [row, _row(impl, theirs, g_theirs, "no cache (nanoGPT)")]
