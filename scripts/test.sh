#!/usr/bin/env bash
# Set up (scripts/setup.sh) and run the test suite: the fast tests plus the few slow
# learning tests marked `ci`. Pass `-m slow` etc. to choose others. Exit 5 from pytest
# (no tests collected) is a failure here: an empty suite must not pass silently.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
if [ $# -eq 0 ]; then set -- -m "not slow or ci"; fi
.venv/bin/python -m pytest -q -p no:cacheprovider "$@"
