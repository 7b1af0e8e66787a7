"""Reference run: nanoGPT itself (its model.py and train.py logic, in PyTorch) on
the configuration of ``gpt_shakespeare.py``, to see where *its* validation loss
lands seed by seed. Needs PyTorch (not an attnrs dependency); skips otherwise.

nanoGPT's README command for CPU: block 64, batch 12, 4 layers, 4 heads,
n_embd 128, dropout 0, lr 1e-3 with 100 warm-up iterations and cosine decay to
1e-4 over 2000 iterations, beta2 0.99, weight decay 0.1 on 2-D weights, clip
1.0, eval_iters 20; train.py's defaults: bias=False, lm_head tied to wte.

    /path/to/torch-venv/bin/python benches/acceptance/torch_nanogpt_shakespeare.py --seed 1337
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path

import numpy as np

DATA = Path(__file__).resolve().parents[3] / "shared" / "data" / "tinyshakespeare.txt"
BLOCK, BATCH, N_LAYER, N_HEAD, N_EMBD = 64, 12, 4, 4, 128
LR, MIN_LR, WARMUP, ITERS, BETA2, WD, CLIP, EVAL_ITERS = 1e-3, 1e-4, 100, 2000, 0.99, 0.1, 1.0, 20


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--seed", type=int, default=1337)
    p.add_argument("--data", default=str(DATA))
    p.add_argument("--json", help="append the result as one JSON line to this file")
    args = p.parse_args()
    try:
        import torch
        import torch.nn as nn
        from torch.nn import functional as F
    except ImportError:
        print("PyTorch is not installed; skipping the nanoGPT reference run")
        return
    if not Path(args.data).exists():
        print(f"{args.data} not found; skipping")
        return

    text = Path(args.data).read_text(encoding="utf-8")
    chars = sorted(set(text))
    stoi = {c: i for i, c in enumerate(chars)}
    ids = np.array([stoi[c] for c in text], dtype=np.int64)
    n = int(0.9 * len(ids))
    train_ids, val_ids = torch.from_numpy(ids[:n]), torch.from_numpy(ids[n:])
    torch.manual_seed(args.seed)

    def get_batch(split: str):
        d = train_ids if split == "train" else val_ids
        ix = torch.randint(len(d) - BLOCK, (BATCH,))
        return (torch.stack([d[i : i + BLOCK] for i in ix]),
                torch.stack([d[i + 1 : i + 1 + BLOCK] for i in ix]))  # fmt: skip

    # --- nanoGPT's model.py with bias=False --------------------------------------
    class LayerNorm(nn.Module):
        def __init__(self, ndim: int) -> None:
            super().__init__()
            self.weight = nn.Parameter(torch.ones(ndim))

        def forward(self, x):
            return F.layer_norm(x, self.weight.shape, self.weight, None, 1e-5)

    class Block(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.ln_1, self.ln_2 = LayerNorm(N_EMBD), LayerNorm(N_EMBD)
            self.c_attn = nn.Linear(N_EMBD, 3 * N_EMBD, bias=False)
            self.attn_proj = nn.Linear(N_EMBD, N_EMBD, bias=False)
            self.c_fc = nn.Linear(N_EMBD, 4 * N_EMBD, bias=False)
            self.mlp_proj = nn.Linear(4 * N_EMBD, N_EMBD, bias=False)

        def forward(self, x):
            B, T, C = x.shape
            q, k, v = self.c_attn(self.ln_1(x)).split(N_EMBD, dim=2)
            q, k, v = (t.view(B, T, N_HEAD, C // N_HEAD).transpose(1, 2) for t in (q, k, v))
            y = F.scaled_dot_product_attention(q, k, v, is_causal=True)  # (B, nh, T, hs)
            x = x + self.attn_proj(y.transpose(1, 2).contiguous().view(B, T, C))
            return x + self.mlp_proj(F.gelu(self.c_fc(self.ln_2(x))))

    class GPT(nn.Module):
        def __init__(self, vocab: int) -> None:
            super().__init__()
            self.wte, self.wpe = nn.Embedding(vocab, N_EMBD), nn.Embedding(BLOCK, N_EMBD)
            self.h = nn.ModuleList([Block() for _ in range(N_LAYER)])
            self.ln_f = LayerNorm(N_EMBD)
            self.lm_head = nn.Linear(N_EMBD, vocab, bias=False)
            self.wte.weight = self.lm_head.weight  # weight tying
            for m in self.modules():
                if isinstance(m, (nn.Linear, nn.Embedding)):
                    nn.init.normal_(m.weight, mean=0.0, std=0.02)
            for name, p in self.named_parameters():
                if name.endswith("proj.weight"):
                    nn.init.normal_(p, mean=0.0, std=0.02 / math.sqrt(2 * N_LAYER))

        def forward(self, idx, targets):
            x = self.wte(idx) + self.wpe(torch.arange(idx.shape[1]))
            for blk in self.h:
                x = blk(x)
            logits = self.lm_head(self.ln_f(x))
            return F.cross_entropy(logits.view(-1, logits.size(-1)), targets.view(-1))

    model = GPT(len(chars))
    params = [p for p in model.parameters() if p.requires_grad]
    groups = [{"params": [p for p in params if p.dim() >= 2], "weight_decay": WD},
              {"params": [p for p in params if p.dim() < 2], "weight_decay": 0.0}]  # fmt: skip
    opt = torch.optim.AdamW(groups, lr=LR, betas=(0.9, BETA2))

    def get_lr(it: int) -> float:  # nanoGPT's train.py
        if it < WARMUP:
            return LR * (it + 1) / (WARMUP + 1)
        ratio = (it - WARMUP) / (ITERS - WARMUP)
        return MIN_LR + 0.5 * (1.0 + math.cos(math.pi * ratio)) * (LR - MIN_LR)

    @torch.no_grad()
    def estimate_val(iters: int) -> float:
        model.eval()
        loss = sum(model(*get_batch("val")).item() for _ in range(iters)) / iters
        model.train()
        return loss

    t0 = time.perf_counter()
    for it in range(ITERS):
        for g in opt.param_groups:
            g["lr"] = get_lr(it)
        loss = model(*get_batch("train"))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), CLIP)
        opt.step()
    wall = time.perf_counter() - t0
    result = {"seed": args.seed, "torch": torch.__version__, "threads": torch.get_num_threads(),
              "val_loss_20_batches": estimate_val(EVAL_ITERS), "val_loss_200_batches": estimate_val(200),
              "train_wall_s": wall, "ms_per_iter": 1e3 * wall / ITERS}  # fmt: skip
    print(json.dumps(result))
    if args.json:
        with open(args.json, "a", encoding="utf-8") as f:
            f.write(json.dumps(result) + "\n")


if __name__ == "__main__":
    sys.exit(main())
