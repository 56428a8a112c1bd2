#!/usr/bin/env bash
# The fast test suite (plus the few slow learning tests marked for CI). Exit 5 (no tests
# collected) is an error here: an empty suite must not pass silently.
set -euo pipefail
cd "$(dirname "$0")/.."
.venv/bin/python -m pytest -q -m "not slow or ci" -p no:cacheprovider "$@"
