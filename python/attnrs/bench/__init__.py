"""Benchmarks behind ``attnrs bench``: kernels against NumPy (and PyTorch where
installed), autograd overhead and training throughput; one module per area.

A benchmark module exposes ``run(quick: bool = False) -> list[dict]`` (the
``quick`` argument is optional); each dict is one table row (for example
``{"shape": ..., "attnrs_ms": ..., "numpy_ms": ..., "ratio": ...}``).
Benchmarks are not tests: they measure and print, they assert nothing.
"""

from __future__ import annotations

import importlib
import inspect
import pkgutil
from typing import Any

__all__ = ["available", "format_table", "run"]


def available() -> list[str]:
    """Names of the benchmark modules in this package."""
    return sorted(m.name for m in pkgutil.iter_modules(__path__) if not m.name.startswith("_"))


def run(name: str, quick: bool = False) -> list[dict]:
    """Runs benchmark ``name`` and returns its rows."""
    mod = importlib.import_module(f"{__name__}.{name}")
    fn = mod.run
    rows = fn(quick=quick) if "quick" in inspect.signature(fn).parameters else fn()
    return list(rows or [])


def _cell(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:.4g}" if abs(v) < 1e5 else f"{v:,.0f}"
    return str(v)


def format_table(rows: list[dict]) -> str:
    """A plain-text table with the union of the rows' keys as columns."""
    if not rows:
        return "(no rows)"
    cols: list[str] = []
    for r in rows:
        cols += [k for k in r if k not in cols]
    cells = [[_cell(r.get(c, "")) for c in cols] for r in rows]
    widths = [max(len(c), *(len(row[i]) for row in cells)) for i, c in enumerate(cols)]
    line = "  ".join(c.ljust(w) for c, w in zip(cols, widths))
    sep = "  ".join("-" * w for w in widths)
    body = ["  ".join(v.rjust(w) for v, w in zip(row, widths)) for row in cells]
    return "\n".join([line, sep, *body])
