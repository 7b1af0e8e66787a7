#!/usr/bin/env bash
# Interleaved A/B of two builds of the extension on one command, so that both
# see the same machine phase (this VM's speed drifts by ±20 % over minutes).
#
#   bash benches/python/ab_builds.sh OLD.so NEW.so ROUNDS -- COMMAND...
#
# Each round installs OLD then NEW as python/attnrs/_core.abi3.so and runs
# COMMAND; the current build is put back at the end. COMMAND's output is
# prefixed with A/B and the round number.
set -euo pipefail
old=$1 new=$2 rounds=$3
shift 3
[ "${1:-}" = "--" ] && shift
cd "$(dirname "$0")/../.."
so=python/attnrs/_core.abi3.so
keep=$(mktemp)
cp "$so" "$keep"
trap 'cp "$keep" "$so"; rm -f "$keep"' EXIT
for r in $(seq "$rounds"); do
  for side in A B; do
    if [ $side = A ]; then cp "$old" "$so"; else cp "$new" "$so"; fi
    "$@" 2>&1 | sed "s/^/$side$r /"
  done
done
