#!/bin/bash
cd "$(git rev-parse --show-toplevel)"
OUT=${OUT:-/tmp/repeat-copy-zen4}; mkdir -p "$OUT"
for s in 0 1 2; do
python scripts/probe_supervised_copy.py --task repeat-copy --agent ntm --sequences 200000 --seconds 2400 --batch 16 --lr 1e-3 --solved-lr 1e-4 --clip-norm 1 --eval-every 8000 --seed $s --out "$OUT"/ntm-repeat-copy-clipnorm1-seed$s.md --json "$OUT"/ntm-repeat-copy-clipnorm1-seed$s.json > "$OUT/seed$s.log" 2>&1
done
