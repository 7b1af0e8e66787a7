"""Keep freed memory in the process instead of returning it to the OS.

A training step allocates and frees the same megabyte-sized activation and
gradient arrays every iteration. With glibc's defaults, blocks above the
mmap threshold (128 KiB at first) are mapped fresh and unmapped on free, and
the heap top is trimmed, so every step can page-fault its arrays in again
(for 16 MiB softmax buffers this made a 3.9 ms loop take 17 ms, see the
fused section of `benches/RESULTS.md`; on the small GPT step the effect is
within this VM's run-to-run noise). PyTorch avoids the same cost with its
caching allocator. ``retain_freed_memory()`` raises glibc's trim threshold to 1 GiB
and its mmap threshold to 32 MiB (glibc's maximum), process-wide; NumPy and
attnrs arrays alike then reuse pages. The first ``backward()`` of the process
calls it, so every training loop gets it, not only the ``Trainer``
(``ATTNRS_RETAIN_FREED_MEMORY=0`` opts out); a no-op returning False off glibc.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import sys

__all__ = ["retain_freed_memory"]

_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3


def retain_freed_memory() -> bool:
    """Stops glibc from handing freed blocks back to the OS; True when applied."""
    if not sys.platform.startswith("linux"):
        return False
    name = ctypes.util.find_library("c")
    if not name:
        return False
    try:
        libc = ctypes.CDLL(name)
        ok = libc.mallopt(_M_TRIM_THRESHOLD, 1 << 30) == 1
        return ok and libc.mallopt(_M_MMAP_THRESHOLD, 32 << 20) == 1
    except (OSError, AttributeError):
        return False
