"""make + reset cost O(size) at large knobs (issue 14 item 3), single and vector env.

At issue 14's sizes it used to take: CountRecall ``length=30000`` 29 s, Concentration
``num_pairs=3000`` over 120 s, TMaze ``length=100000`` over 120 s. Here each runs at 10x those
sizes (a quadratic cost would be 100x worse still) and must finish within 2 s, far above the
milliseconds it takes now, so a busy machine does not fail it. The full table at every task's
largest knobs is ``python scripts/bench_envs.py --max-knobs DIR``.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import gymnasium as gym
import pytest

import memenvs  # noqa: F401
from memenvs.registry import TASKS

ROOT = Path(__file__).resolve().parents[1]

SECONDS = 2.0
LARGE = [
    ("memenvs/TMaze-v0", {"length": 10**6, "active": True}),
    ("memenvs/CountRecall-v0", {"length": 300_000}),
    ("memenvs/Concentration-v0", {"num_pairs": 30_000}),
    ("memenvs/RepeatPrevious-v0", {"k": 299_999, "length": 300_000}),
    ("memenvs/EndlessRecall-v0", {"num_queries": 300_000}),
]


@pytest.mark.parametrize("num_envs", [None, 4], ids=["single", "vector"])
@pytest.mark.parametrize("env_id, knobs", LARGE, ids=[e for e, _ in LARGE])
def test_make_and_reset_at_ten_times_the_issue_sizes_is_quick(env_id, knobs, num_envs):
    t0 = time.perf_counter()
    if num_envs is None:
        env = gym.make(env_id, **knobs)
    else:
        env = gym.make_vec(env_id, num_envs=num_envs, **knobs)
    obs, _ = env.reset(seed=0)
    elapsed = time.perf_counter() - t0
    assert env.observation_space.contains(obs)
    assert elapsed < SECONDS, f"{env_id} {knobs}: make + reset took {elapsed:.1f} s"


# ------------------------------------------------------------- the benchmark's knob search
@pytest.mark.parametrize(
    "task, knob, rows",
    [("CountRecall", "num_symbols", 1), ("Copy", "max_length", 4), ("RepeatPrevious", "k", 1)],
)
def test_largest_knob_is_the_last_value_that_passes_validation(task, knob, rows, load_script):
    """The search builds nothing big: the next value up must be refused by the task itself."""
    bench = load_script("bench_envs")
    entry = next(e for e in TASKS if e.name == task)
    knobs = bench.largest_knobs(entry, knob, rows)
    task_cls = entry.env_class().task_cls
    assert bench.fits(task_cls, rows, knobs)
    above = {k: v + 1 for k, v in knobs.items()}
    with pytest.raises(ValueError, match="|".join(above)):  # the knob or its companion
        task_cls(rows, **above)
    assert bench.largest_knobs(entry, knob, rows, cap=1000)[knob] == 1000


def test_max_knobs_mode_writes_the_table_and_json(tmp_path):
    cmd = [sys.executable, "scripts/bench_envs.py", "--max-knobs", str(tmp_path), "--ids"]
    cmd += ["memenvs/TMaze-v0", "--knob-cap", "1000", "--timeout", "60"]
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    readme = (tmp_path / "README.md").read_text()
    assert "- command: `" in readme and "| TMaze | `length=1,000` | single |" in readme
    data = json.loads((tmp_path / "results.json").read_text())
    assert data["knob_cap"] == 1000 and data["date"] and data["cpu"]
    assert [(r["rows"], r["verdict"]) for r in data["results"]] == [(0, "ok"), (4, "ok")]
    assert all(r["seconds"] < SECONDS and r["rss_mib"] > 0 for r in data["results"])
