"""Shared helpers of the acceptance scripts: paths, argument parsing, timing."""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import attnrs as ar

ROOT = Path(__file__).resolve().parents[2]
SHAKESPEARE = ROOT.parent / "shared" / "data" / "tinyshakespeare.txt"


def parser(doc: str, steps: int) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=doc)
    p.add_argument("--steps", type=int, default=steps)
    p.add_argument("--seed", type=int, default=1337)
    p.add_argument("--threads", type=int, help="attnrs thread count (default: all cores)")
    p.add_argument("--out", help="run directory (log.jsonl, checkpoint)")
    p.add_argument("--json", help="append the result as one JSON line to this file")
    p.add_argument("--no-progress", action="store_true")
    return p


def setup(args: argparse.Namespace) -> None:
    if args.threads:
        ar.set_num_threads(args.threads)
    ar.manual_seed(args.seed)


def report(args: argparse.Namespace, name: str, result: dict) -> None:
    info = ar.info()
    result = {"name": name, **result, "simd": info.get("isa"), "threads": info.get("threads")}
    print(json.dumps(result, indent=2))
    if args.json:
        with open(args.json, "a", encoding="utf-8") as f:
            f.write(json.dumps(result) + "\n")


class Timer:
    def __enter__(self) -> Timer:  # noqa: PYI034
        self.t0 = time.perf_counter()
        return self

    def __exit__(self, *exc: object) -> None:
        self.s = time.perf_counter() - self.t0
