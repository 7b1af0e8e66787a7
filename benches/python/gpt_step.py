"""One line: median ms per GPT training step (nanoGPT CPU config) and KV-cache
generation tokens/s, as `attnrs bench --only training` measures them.

    .venv/bin/python benches/python/gpt_step.py [--quick]
"""

import sys

from attnrs.bench.training import run

row = run(quick="--quick" in sys.argv, with_torch=False)[0]
print(f"train_ms {row['train_ms']:.2f} generate_tok_s {row['generate_tokens_per_s']:.0f}")
