#!/bin/bash
# old (cc60ad8, before per-row seeding) against new (this tree), alternating, same machine
# usage: OLD=<worktree at cc60ad8> NEW=<this checkout> OUT=<folder> bash envs_ab.sh (each with .venv)
IDS="memenvs/DelayedRecall-v0 memenvs/Copy-v0 memenvs/AssociativeRecall-v0 memenvs/RepeatPrevious-v0"
for r in 1 2; do
  (cd $OLD && PYTHONPATH=$OLD .venv/bin/python scripts/bench_envs.py --ids $IDS --json $OUT/ab-old-$r.json > $OUT/ab-old-$r.md 2>&1)
  (cd $NEW && .venv/bin/python scripts/bench_envs.py --ids $IDS --json $OUT/ab-new-$r.json > $OUT/ab-new-$r.md 2>&1)
done
