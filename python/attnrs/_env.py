"""Warnings, once per process, for ``ATTNRS_*`` environment variables set to
values that cannot be used (the value used instead is named)."""

from __future__ import annotations

import os
import warnings

from . import _core

_SIMD_NAMES = {"scalar": "scalar", "none": "scalar", "neon": "neon", "avx2": "avx2",
               "avx512": "avx512", "avx512f": "avx512"}  # fmt: skip


def env_warnings() -> list[str]:
    """One message per unusable ``ATTNRS_NUM_THREADS``/``ATTNRS_SPIN_US``/``ATTNRS_SIMD``."""
    out = list(_core.env_warnings())
    simd = os.environ.get("ATTNRS_SIMD")
    if simd is not None:
        info = _core.info()
        want = _SIMD_NAMES.get(simd.strip().lower())
        if want is None:
            out.append(
                f"ATTNRS_SIMD={simd!r} is not one of scalar, avx2, avx512, neon; "
                f"using {info['isa']} (the best this CPU has)"
            )
        elif want != info["isa"]:
            out.append(
                f"ATTNRS_SIMD={simd!r}: this CPU has no {want} (it has "
                f"{', '.join(info['isa_available'])}); using {info['isa']}"
            )
    return out


def warn_env() -> None:
    for msg in env_warnings():
        warnings.warn(msg, RuntimeWarning, stacklevel=3)
