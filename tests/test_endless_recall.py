"""EndlessRecall: a hand-computed stream, growing delays, the first mistake ends it."""

from __future__ import annotations

import numpy as np
import pytest
from montecarlo import random_returns

from memenvs.envs.endless_recall import (
    EndlessRecall,
    EndlessRecallEnv,
    EndlessRecallVectorEnv,
    stream_return,
)

BLANK = [0, 0, 0, 0, 0]


def cue_obs(symbol: int) -> list[float]:
    v = [0.0] * 5
    v[symbol], v[3] = 1.0, 1.0
    return v


def test_stream_by_hand():
    env = EndlessRecallEnv(num_symbols=3, num_queries=3, start_delay=0, delay_growth=2)
    obs, _ = env.reset(seed=0)
    env.task.cues[0] = [2, 0, 1]
    np.testing.assert_array_equal(env.task.observe()[0], cue_obs(2))
    # trial 0: cue, query (delay 0)
    obs, reward, terminated, _, _ = env.step(0)
    np.testing.assert_array_equal(obs, [0, 0, 0, 0, 1])
    obs, reward, terminated, _, _ = env.step(2)
    assert reward == pytest.approx(1 / 3) and not terminated
    np.testing.assert_array_equal(obs, cue_obs(0))  # trial 1 starts at once
    # trial 1: cue, 2 blanks, query
    for _ in range(3):
        obs, reward, *_ = env.step(1)
        assert reward == 0.0
    assert obs.tolist() == [0, 0, 0, 0, 1]
    assert env.task.describe(0) == (
        "EndlessRecall trial 2/3 (delay 2) step 3/3  query: which symbol was the cue?"
    )
    obs, reward, terminated, _, _ = env.step(0)
    assert reward == pytest.approx(1 / 3) and not terminated
    # trial 2: delay 4; a wrong answer ends the stream
    for _ in range(5):
        env.step(0)
    obs, reward, terminated, truncated, info = env.step(2)
    assert (reward, terminated, truncated, info) == (0.0, True, False, {"success": False})
    np.testing.assert_array_equal(obs, BLANK)
    assert env.task.num_correct[0] == 2


def test_full_stream_length_and_ended_rows():
    venv = EndlessRecallVectorEnv(num_envs=4, num_queries=4, start_delay=3, delay_growth=5)
    venv.reset(seed=1)
    np.testing.assert_array_equal(venv.task.delays(), [3, 8, 13, 18])
    steps = 0
    while True:
        _, reward, terminated, _, info = venv.step(venv.oracle_action())
        steps += 1
        if terminated.any():
            break
    assert terminated.all() and info["success"].all()
    assert steps == sum(d + 2 for d in [3, 8, 13, 18])
    task = venv.task
    reward, terminated, _ = task.step(task.oracle())  # after the end: nothing changes
    assert not reward.any() and not terminated.any() and task.success().all()


def test_random_return_formula():
    assert stream_return(2, 1) == 0.5
    assert stream_return(2, 2) == pytest.approx((1 / 2 + 1 / 4) / 2)
    n = 20_000
    venv = EndlessRecallVectorEnv(num_envs=n, num_symbols=2, num_queries=3, start_delay=0)
    returns = random_returns(venv, seed=2)
    assert abs(returns.mean() - stream_return(2, 3)) < 4 * returns.std() / np.sqrt(n)


@pytest.mark.parametrize(
    ("knobs", "message"),
    [
        ({"num_symbols": 1}, r"num_symbols must be in \[2, 100000000\], got 1"),
        ({"num_queries": 0}, r"num_queries must be in \[1, 100000000\], got 0"),
        ({"start_delay": -1}, r"start_delay must be in \[0, 100000000\], got -1"),
        ({"delay_growth": -2}, r"delay_growth must be in \[0, 100000000\], got -2"),
    ],
)
def test_bad_knobs(knobs, message):
    with pytest.raises(ValueError, match=message):
        EndlessRecall(1, **knobs)
