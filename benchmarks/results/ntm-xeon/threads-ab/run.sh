#!/usr/bin/env bash
# The A/B of README.md ("Eleventh session"): the code before -fopenmp (7758f16, a worktree at
# $OLD) and this checkout, 1 and 2 threads, 1 and 2 blocks, alternating, 3 rounds per size.
# Usage, from the repository root: OLD=/path/to/worktree-at-7758f16 bash benchmarks/results/ntm-xeon/threads-ab/run.sh
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
NEW="$PWD"
for core in ntm lstm; do
  for B in 64 256; do
    for round in 1 2 3; do
      (cd "$OLD" && PYTHONPATH="$OLD" TORCH_EXTENSIONS_DIR="$OLD/.torch_extensions" \
        "$NEW/.venv/bin/python" "$HERE/time_sequence.py" "$core" "$B" old-1thr 1)
      (cd "$OLD" && PYTHONPATH="$OLD" TORCH_EXTENSIONS_DIR="$OLD/.torch_extensions" \
        "$NEW/.venv/bin/python" "$HERE/time_sequence.py" "$core" "$B" old-2thr 2)
      PYTHONPATH="$NEW" .venv/bin/python "$HERE/time_sequence.py" "$core" "$B" new-1thr 1
      PYTHONPATH="$NEW" .venv/bin/python "$HERE/time_sequence.py" "$core" "$B" new-2thr-1block 2 1
      PYTHONPATH="$NEW" .venv/bin/python "$HERE/time_sequence.py" "$core" "$B" new-2thr-2blocks 2 2
    done
  done
done 2>&1 | grep -v Warning
