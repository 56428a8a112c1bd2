#!/bin/bash
# The ten Copy runs of benchmarks/results/supervised-copy-rerun/ (seeds 0-4, with and without
# --clip-norm 1), one after another. Run from anywhere; OUT defaults to this folder (these
# files were written to /work/runs/s15/copy-xeon and copied here).
set -e
cd "$(dirname "$0")/../../../.."
OUT=${OUT:-benchmarks/results/supervised-copy-rerun/xeon}
for s in 0 1 2 3 4; do
  for clip in "" "--clip-norm 1"; do
    tag=ntm-copy-seed$s; [ -n "$clip" ] && tag=ntm-copy-clipnorm1-seed$s
    python scripts/probe_supervised_copy.py --task copy --agent ntm --sequences 50000 --batch 16 --lr 1e-3 --solved-lr 1e-4 $clip --eval-every 4000 --eval-sizes 10 20 30 50 80 100 120 200 500 --eval-slots 512 --seed $s --out $OUT/$tag.md --json $OUT/$tag.json
  done
done
