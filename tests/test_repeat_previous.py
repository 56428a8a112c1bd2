"""Task-specific tests for RepeatPrevious: k-back scoring on known symbol sequences."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest

import memenvs  # noqa: F401  (registers the ids)
from memenvs.envs.repeat_previous import RepeatPrevious, RepeatPreviousEnv


def one_hot(symbol: int, num_symbols: int, scored: bool) -> list[float]:
    obs = [0.0] * (num_symbols + 1)
    obs[symbol] = 1.0
    obs[num_symbols] = float(scored)
    return obs


def test_known_sequence_by_hand():
    """k=2, K=3, length=5, symbols 2 0 1 1 0: scored steps 2, 3, 4, each worth 1/3."""
    env = RepeatPreviousEnv(k=2, num_symbols=3, length=5)
    env.reset(seed=0)
    env.task.symbols[0] = [2, 0, 1, 1, 0]
    np.testing.assert_array_equal(env.task.observe()[0], one_hot(2, 3, False))
    # (action, next observation, reward): t=0,1 unscored; t=2 wants 2; t=3 wants 0; t=4 wants 1
    script = [
        (1, one_hot(0, 3, False), 0.0),
        (1, one_hot(1, 3, True), 0.0),
        (2, one_hot(1, 3, True), 1 / 3),  # right
        (1, one_hot(0, 3, True), 0.0),  # wrong: wanted 0
    ]
    total = 0.0
    for action, want_obs, want_reward in script:
        obs, reward, terminated, truncated, info = env.step(action)
        np.testing.assert_array_equal(obs, want_obs)
        assert reward == pytest.approx(want_reward)
        assert (terminated, truncated, info) == (False, False, {})
        total += reward
    obs, reward, terminated, truncated, info = env.step(1)  # right: wanted 1
    total += reward
    np.testing.assert_array_equal(obs, [0.0, 0.0, 0.0, 0.0])
    assert reward == pytest.approx(1 / 3)
    assert (terminated, truncated, info) == (True, False, {"success": False})
    assert total == pytest.approx(2 / 3)


def test_all_correct_is_success_and_return_one():
    env = RepeatPreviousEnv(k=3, num_symbols=5, length=10)
    env.reset(seed=4)
    symbols = env.task.symbols[0].copy()
    total = 0.0
    for t in range(10):
        action = int(symbols[t - 3]) if t >= 3 else 4
        assert env.oracle_action() == action or t < 3
        obs, reward, terminated, truncated, info = env.step(action)
        total += reward
        assert reward == (pytest.approx(1 / 7) if t >= 3 else 0.0)
        assert terminated == (t == 9)
    assert info["success"] is True
    assert total == pytest.approx(1.0, abs=1e-6)


@pytest.mark.parametrize("knobs", [{}, {"k": 3, "length": 10}, {"k": 7, "length": 1000}])
def test_oracle_return_is_one_in_float64(knobs):
    """Rewards are float64 shares of ``1 / (length - k)`` that sum to exactly 1.0: a float32
    ``1 / (length - k)`` summed to 1.0000000521540642, a float64 one to 1.0000000000000013."""
    env = gym.make("memenvs/RepeatPrevious-v0", **knobs)
    env.reset(seed=0)
    scale, total, terminated = 1.0 / (env.unwrapped.task.length - env.unwrapped.task.k), 0.0, False
    while not terminated:
        _, reward, terminated, _, _ = env.step(env.unwrapped.oracle_action())
        assert reward == 0.0 or np.float32(reward) == np.float32(scale)
        total += reward
    assert total == 1.0
    task = RepeatPrevious(2, k=1, length=4)
    task.rng = np.random.default_rng(0)
    task.reset_rows(np.arange(2))
    reward, *_ = task.step(task.oracle())
    assert reward.dtype == np.float64


def test_observations_show_the_hidden_sequence_and_flag():
    env = RepeatPreviousEnv(k=4, num_symbols=4, length=12)
    obs, _ = env.reset(seed=1)
    symbols = env.task.symbols[0].copy()
    seen = [obs]
    for _ in range(11):
        seen.append(env.step(0)[0])
    seen = np.array(seen)
    np.testing.assert_array_equal(seen[:, :4].argmax(axis=1), symbols)
    np.testing.assert_array_equal(seen[:, :4].sum(axis=1), np.ones(12))
    np.testing.assert_array_equal(seen[:, 4], [0, 0, 0, 0] + [1] * 8)


def test_sequence_is_deterministic_under_seed_and_varies_across_seeds():
    env = RepeatPreviousEnv()
    env.reset(seed=3)
    a = env.task.symbols[0].copy()
    env.reset(seed=3)
    np.testing.assert_array_equal(env.task.symbols[0], a)
    env.reset(seed=4)
    assert not np.array_equal(env.task.symbols[0], a)


def test_rows_in_different_phases():
    task = RepeatPrevious(3, k=1, num_symbols=2, length=4)
    task.rng = np.random.default_rng(0)
    task.reset_rows(np.arange(3))
    task.symbols[:] = [[0, 1, 1, 0], [1, 1, 0, 0], [0, 0, 0, 1]]
    task.step(task.oracle())
    task.step(task.oracle())
    task.reset_rows(np.array([1]))  # row 1 restarts while rows 0 and 2 are at t=2
    task.symbols[1] = [1, 0, 1, 0]
    np.testing.assert_array_equal(task.t, [2, 0, 2])
    np.testing.assert_array_equal(task.oracle(), [1, 0, 0])  # row 1 unscored: any action
    obs = task.observe()
    np.testing.assert_array_equal(obs, [[0, 1, 1], [0, 1, 0], [1, 0, 1]])
    # a wrong answer in row 0 (wants 1), a right one in row 2 (wants 0)
    reward, terminated, truncated = task.step(np.array([0, 1, 0]))
    np.testing.assert_allclose(reward, [0.0, 0.0, 1 / 3])
    assert not terminated.any() and not truncated.any()


def test_stepping_finished_rows_is_safe():
    task = RepeatPrevious(2, k=2, num_symbols=3, length=3)
    task.rng = np.random.default_rng(0)
    task.reset_rows(np.arange(2))
    for _ in range(3):
        _, terminated, _ = task.step(task.oracle())
    assert terminated.all() and task.success().all()
    for _ in range(10):  # past the end: no IndexError, t stays at the end
        task.step(np.zeros(2, dtype=np.int64))
        obs = task.observe()
    np.testing.assert_array_equal(task.t, [3, 3])
    np.testing.assert_array_equal(obs, np.zeros((2, 4)))
    assert "episode over" in task.describe(0)


def test_random_return_small_config_monte_carlo():
    n = 4000
    task = RepeatPrevious(n, k=1, num_symbols=2, length=3)
    task.rng = np.random.default_rng(1)
    task.reset_rows(np.arange(n))
    rng = np.random.default_rng(2)
    returns = np.zeros(n)
    for _ in range(3):
        returns += task.step(rng.integers(0, 2, size=n))[0]
    assert task.random_return == 0.5
    assert abs(returns.mean() - 0.5) < 4 * returns.std() / np.sqrt(n)


def test_render_text():
    env = RepeatPreviousEnv(k=2, length=4, render_mode="ansi")
    env.reset(seed=0)
    env.task.symbols[0] = [3, 1, 0, 2]
    assert "symbol 3" in env.render() and "not scored" in env.render()
    env.step(0)
    env.step(0)
    assert "symbol 0" in env.render() and "t=0" in env.render()


def test_bad_knobs():
    with pytest.raises(ValueError, match=r"length must be > k, got length=4 <= k=4"):
        RepeatPreviousEnv(k=4, length=4)
    with pytest.raises(ValueError, match=r"k must be in \[1, 100000000\], got 0"):
        RepeatPreviousEnv(k=0)
    with pytest.raises(ValueError, match=r"num_symbols must be in \[2, 100000000\], got 1"):
        RepeatPreviousEnv(num_symbols=1)
    with pytest.raises(ValueError, match="length must be an integer"):
        gym.make("memenvs/RepeatPrevious-v0", length=64.0)


def test_spaces():
    env = RepeatPreviousEnv(num_symbols=6)
    assert env.action_space == gym.spaces.Discrete(6)
    assert env.observation_space.shape == (7,)
