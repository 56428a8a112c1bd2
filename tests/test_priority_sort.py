"""PrioritySort: a hand-computed episode, sorting per row, curriculum hook, knob errors."""

from __future__ import annotations

import numpy as np
import pytest

from memenvs.envs.priority_sort import PrioritySort, PrioritySortEnv, PrioritySortVectorEnv


def test_episode_by_hand():
    env = PrioritySortEnv(num_symbols=4, min_length=3, max_length=3)
    env.reset(seed=0)
    task = env.task
    task.symbols[0, :3] = [2, 0, 3]
    task.priority[0, :3] = [-0.5, 0.75, 0.25]
    task.ranked[0, :3] = [0, 3, 2]  # what reset would compute for these priorities
    for t in range(3):
        obs = task.observe()[0]
        np.testing.assert_array_equal(obs[:4], np.eye(4)[task.symbols[0, t]])
        assert obs[4] == task.priority[0, t] and obs[5:].tolist() == [0, 0]
        assert env.step(0)[1:] == (0.0, False, False, {})
    np.testing.assert_array_equal(task.observe()[0], [0, 0, 0, 0, 0, 1, 0])
    env.step(0)
    rewards = []
    for a in [0, 2, 2]:
        np.testing.assert_array_equal(task.observe()[0], [0, 0, 0, 0, 0, 0, 1])
        obs, reward, terminated, truncated, info = env.step(a)
        rewards.append(reward)
    assert rewards == pytest.approx([1 / 3, 0, 1 / 3]) and terminated
    assert info == {"success": False}


def test_ranked_is_sorted_by_priority_per_row():
    task = PrioritySort(500, num_symbols=50, min_length=1, max_length=12)
    task.rng = np.random.default_rng(1)
    task.reset_rows(np.arange(500))
    for row in range(500):
        symbols, priority = task.items(row)
        order = np.argsort(-priority, kind="stable")
        np.testing.assert_array_equal(task.ranked[row, : len(symbols)], symbols[order])
        assert np.all((priority >= -1) & (priority <= 1))


def test_oracle_and_per_row_lengths():
    venv = PrioritySortVectorEnv(num_envs=32, min_length=1, max_length=7)
    venv.reset(seed=2)
    lengths = venv.task.length.copy()
    returns, end = np.zeros(32), np.full(32, -1)
    for step in range(1, 16):
        _, reward, terminated, _, _ = venv.step(venv.oracle_action())
        live = end < 0
        returns[live] += reward[live]
        end[live & terminated] = step
    np.testing.assert_array_equal(end, 2 * lengths + 1)
    np.testing.assert_allclose(returns, 1.0)


def test_set_length_range_grows():
    venv = PrioritySortVectorEnv(num_envs=4, min_length=2, max_length=2)
    venv.reset(seed=3)
    venv.task.set_length_range(10, 12)
    venv.reset(seed=4)
    assert np.all((venv.task.length >= 10) & (venv.task.length <= 12))
    returns = np.zeros(4)
    for _ in range(25):
        returns += venv.step(venv.oracle_action())[1]
    np.testing.assert_allclose(returns, 1.0)


@pytest.mark.parametrize(
    ("knobs", "message"),
    [
        ({"num_symbols": 1}, r"num_symbols must be in \[2, 100000000\], got 1"),
        ({"min_length": 0}, r"min_length must be in \[1, 100000000\], got 0"),
        ({"min_length": 4, "max_length": 3}, r"min_length must be <= max_length"),
    ],
)
def test_bad_knobs(knobs, message):
    with pytest.raises(ValueError, match=message):
        PrioritySortEnv(**knobs)
