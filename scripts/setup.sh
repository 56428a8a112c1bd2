#!/usr/bin/env bash
# Create .venv and install the toolkit with its test and benchmark extras.
# torch is installed first from the pinned CPU build; a torch already present in the
# interpreter you point PYTHON at (for example your own CUDA build) is kept when you pass
# --system-site-packages through VENV_ARGS, e.g. VENV_ARGS=--system-site-packages.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$PYTHON" -m venv ${VENV_ARGS:-} .venv
if ! .venv/bin/python -c "import torch" 2>/dev/null; then
  .venv/bin/pip install -q "torch==${TORCH_VERSION:-2.13.0}"
fi
.venv/bin/pip install -q -e ".[dev,bench,sweep]"
