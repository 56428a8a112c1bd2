"""make + reset cost O(size) at large knobs (issue 14 item 3), single and vector env.

At issue 14's sizes it used to take: CountRecall ``length=30000`` 29 s, Concentration
``num_pairs=3000`` over 120 s, TMaze ``length=100000`` over 120 s. Here each runs at 10x those
sizes (a quadratic cost would be 100x worse still) and must finish within 2 s, far above the
milliseconds it takes now, so a busy machine does not fail it. The full table at every task's
largest knobs is ``python scripts/bench_envs.py --max-knobs DIR``.
"""

from __future__ import annotations

import time

import gymnasium as gym
import pytest

import memenvs  # noqa: F401

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
