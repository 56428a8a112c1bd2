#!/usr/bin/env bash
# The `gpu` suite in one prepared call: training throughput of LSTM and NTM MemoryPPO at
# 64, 256 and 1,024 envs on CUDA (MLP PPO as the reference), then one short frontier run.
# Installs nothing: run it where the project and a CUDA torch are already importable
# (PYTHON=... to choose the interpreter). Sized for < 8 minutes on one H100.
# Results: benchmarks/results/gpu/. Fails at once, clearly, where there is no GPU.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-.venv/bin/python}
"$PY" -c "import torch, sys; sys.exit(0 if torch.cuda.is_available() else 'no CUDA GPU: the gpu suite needs one')"
OUT=benchmarks/results/gpu
mkdir -p "$OUT"
for n in 64 256 1024; do
  "$PY" scripts/bench_train.py --device cuda --agents ppo lstm ntm --threads 1 --n-envs "$n" \
    --n-steps 128 --batch-size $((n * 128 / 4)) --n-epochs 4 --steps $((n * 128 * 2)) \
    --out "$OUT/throughput_envs$n.md" --json "$OUT/throughput_envs$n.json" > "$OUT/throughput_envs$n.log" 2>&1
done
"$PY" scripts/benchmark.py --suite gpu --no-progress > "$OUT/frontier.log" 2>&1 || true
echo "== GPU throughput (env-steps/s) =="
for n in 64 256 1024; do echo "-- $n envs"; grep -E '^\| (ppo|lstm|ntm) ' "$OUT/throughput_envs$n.md" || true; done
echo "== short frontier =="
grep -E '^\| ' benchmarks/results/gpu/README.md 2>/dev/null | head -20 || tail -5 "$OUT/frontier.log"
