#!/usr/bin/env bash
# Set up (scripts/setup.sh) and run the first-run demo: tasks, random vs oracle scores,
# then a short training run of a memory agent against a memoryless one.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
.venv/bin/python scripts/demo.py "$@"
