"""Helpers shared by several test files: the fuzz suites' settings and counts
report, and running a script under one forced SIMD level."""

from __future__ import annotations

import collections
import json
import os
import subprocess
import sys

import pytest
from hypothesis import HealthCheck, settings

import attnrs as ar

FUZZ_EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "150"))
FUZZ = settings(max_examples=FUZZ_EXAMPLES, deadline=None, derandomize=bool(os.environ.get("CI")),
                suppress_health_check=list(HealthCheck))  # fmt: skip


def fuzz_counts_report(suite: str, counts: collections.Counter):
    """A module-scoped autouse fixture that appends ``counts`` (what the fuzz tests
    drew) as one JSON line to ``$ATTNRS_FUZZ_COUNTS`` when that is set. Use as
    ``report_counts = fuzz_counts_report("ops", COUNTS)`` in the test module."""

    @pytest.fixture(scope="module", autouse=True)
    def report_counts():
        yield
        path = os.environ.get("ATTNRS_FUZZ_COUNTS")
        if path:
            with open(path, "a") as f:
                f.write(json.dumps({"suite": suite, **counts}) + "\n")

    return report_counts


def run_under_isa(isa: str, script: str, timeout: float = 120, **env: str) -> dict:
    """Runs ``script`` in a fresh interpreter with ``ATTNRS_SIMD=isa`` (skipping when
    this CPU lacks ``isa``) and returns the JSON object on its last output line,
    after checking that the script exited 0 and ran at that level (``"isa"``).
    ``env`` adds environment variables (``ATTNRS_NUM_THREADS="2"``)."""
    if isa not in ar.info()["isa_available"]:
        pytest.skip(f"this CPU has no {isa}")
    res = subprocess.run([sys.executable, "-c", script], check=False, env=dict(os.environ, ATTNRS_SIMD=isa, **env),
                         capture_output=True, text=True, timeout=timeout)  # fmt: skip
    assert res.returncode == 0, res.stderr
    out = json.loads(res.stdout.strip().splitlines()[-1])
    assert out["isa"] == isa
    return out


def pytest_under_isa(isa: str, test_file: str, *args: str, timeout: float = 600) -> None:
    """Runs the tests of ``test_file`` (narrowed by pytest ``args`` such as ``-k``)
    in a fresh pytest with ``ATTNRS_SIMD=isa`` and asserts that they passed."""
    res = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", test_file, *args],
                         env=dict(os.environ, ATTNRS_SIMD=isa), capture_output=True, text=True, timeout=timeout,
                         check=False)  # fmt: skip
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-2000:]
    assert " passed" in res.stdout
