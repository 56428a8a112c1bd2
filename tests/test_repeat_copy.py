"""RepeatCopy: hand-computed episodes, the end marker, the memoryless bound, knob errors."""

from __future__ import annotations

import tracemalloc
from fractions import Fraction

import numpy as np
import pytest

from memenvs.envs.repeat_copy import (
    RepeatCopy,
    RepeatCopyEnv,
    RepeatCopyVectorEnv,
    memoryless_repeat_copy,
)


def obs_vector(k: int, symbol=None, delimiter=0.0, output=0.0, repeats=0.0) -> np.ndarray:
    """[one-hot symbol (K), delimiter flag, output-phase flag, R / max_repeats]."""
    v = np.zeros(k + 3, dtype=np.float32)
    if symbol is not None:
        v[symbol] = 1.0
    v[k], v[k + 1], v[k + 2] = delimiter, output, repeats
    return v


def test_short_episode_observations_and_rewards():
    env = RepeatCopyEnv(num_symbols=3, min_length=2, max_length=2, min_repeats=1, max_repeats=4)
    obs, _ = env.reset(seed=0)
    seq, r = env.task.sequence(0), int(env.task.repeats[0])
    assert seq.shape == (2,) and 1 <= r <= 4
    for t in range(2):
        np.testing.assert_array_equal(obs, obs_vector(3, seq[t]))
        obs, reward, terminated, _, _ = env.step(3)  # the end marker: ignored here
        assert reward == 0.0 and not terminated
    np.testing.assert_array_equal(obs, obs_vector(3, delimiter=1.0, repeats=r / 4))
    obs, reward, _, _, _ = env.step(3)
    assert reward == 0.0
    wanted = [*np.tile(seq, r), 3]  # the sequence R times, then the end marker K = 3
    for j, action in enumerate(wanted):
        np.testing.assert_array_equal(obs, obs_vector(3, output=1.0))
        obs, reward, terminated, truncated, info = env.step(int(action))
        assert reward == pytest.approx(1 / (2 * r + 1))
        assert terminated == (j == len(wanted) - 1) and not truncated
    assert info == {"success": True}
    np.testing.assert_array_equal(obs, np.zeros(6, dtype=np.float32))


def play(env: RepeatCopyEnv, outputs) -> tuple[list[float], dict]:
    """Skip the input and delimiter steps, then write ``outputs``; return rewards, last info."""
    for _ in range(int(env.task.length[0]) + 1):
        env.step(0)
    rewards, info = [], {}
    for a in outputs:
        _, reward, terminated, _, info = env.step(int(a))
        rewards.append(reward)
    assert terminated
    return rewards, info


def test_partial_credit():
    env = RepeatCopyEnv(num_symbols=4, min_length=3, max_length=3, min_repeats=2, max_repeats=2)
    env.reset(seed=1)
    seq = env.task.sequence(0)
    wrong = (seq + 1) % 4
    # right first copy, wrong second copy, right end marker: 4 of 7 scored steps
    rewards, info = play(env, [*seq, *wrong, 4])
    assert rewards == pytest.approx([1 / 7] * 3 + [0.0] * 3 + [1 / 7])
    assert sum(rewards) == pytest.approx(4 / 7)
    assert info == {"success": False}


def test_end_marker_is_required_and_only_at_the_end():
    env = RepeatCopyEnv(num_symbols=2, min_length=1, max_length=1, min_repeats=3, max_repeats=3)
    env.reset(seed=2)
    seq = env.task.sequence(0)
    rewards, info = play(env, [2, seq[0], seq[0], seq[0]])  # marker too early, no marker
    assert rewards == pytest.approx([0.0, 0.25, 0.25, 0.0])
    assert info == {"success": False}


def test_episode_length_per_row():
    venv = RepeatCopyVectorEnv(
        num_envs=64, num_symbols=3, min_length=1, max_length=4, min_repeats=1, max_repeats=3
    )
    venv.reset(seed=3)
    length, repeats = venv.task.length.copy(), venv.task.repeats.copy()
    assert len(np.unique(length * repeats)) >= 5, "rows should draw different L R"
    expected_end = length + length * repeats + 2
    end_step = np.full(64, -1)
    returns = np.zeros(64)
    for step in range(1, expected_end.max() + 1):
        obs, reward, terminated, _, _ = venv.step(venv.oracle_action())
        live = end_step < 0
        returns[live] += reward[live]
        end_step[live & terminated] = step
        # the repeat channel is set only at the delimiter step (t = L, shown after L steps)
        at_delimiter = step == length
        np.testing.assert_allclose(obs[live, 5], np.where(at_delimiter, repeats / 3, 0)[live])
    np.testing.assert_array_equal(end_step, expected_end)
    np.testing.assert_allclose(returns, 1.0)


def test_rows_stepped_after_their_end_stay_in_bounds():
    task = RepeatCopy(3, num_symbols=4, min_length=1, max_length=3, max_repeats=3)
    task.rng = np.random.default_rng(4)
    task.reset_rows(np.arange(3))
    for _ in range(40):
        reward, terminated, _ = task.step(task.oracle())
    assert np.all(reward == 0) and not terminated.any()
    np.testing.assert_array_equal(task.observe(), np.zeros((3, 7), dtype=np.float32))
    assert np.all(task.success())  # late steps did not add to the score


def brute_force_memoryless(k, lengths, repeats) -> Fraction:
    """The best fixed action over the output phase, by exact enumeration of (L, R)."""
    pairs = [(n, r) for n in lengths for r in repeats]
    marker = sum(Fraction(1, n * r + 1) for n, r in pairs) / len(pairs)
    symbol = sum(Fraction(n * r, n * r + 1) for n, r in pairs) / len(pairs) / k
    return max(marker, symbol)


@pytest.mark.parametrize(
    ("k", "lengths", "repeats"),
    [(8, (1, 5), (1, 5)), (2, (3, 3), (2, 2)), (4, (1, 1), (1, 1)), (32, (2, 10), (1, 10))],
)
def test_memoryless_return_is_exact(k, lengths, repeats):
    exact = brute_force_memoryless(
        k, range(lengths[0], lengths[1] + 1), range(repeats[0], repeats[1] + 1)
    )
    assert memoryless_repeat_copy(k, lengths, repeats) == pytest.approx(float(exact), abs=1e-12)


def test_memoryless_return_defaults_and_huge_grids():
    task = RepeatCopy(1)
    assert task.memoryless_return == pytest.approx(0.15444, abs=1e-5)  # the end marker
    assert task.random_return == pytest.approx(1 / 9)
    # past the enumeration limit: the bound 1 / (min L * min R + 1) (>= every episode's)
    assert memoryless_repeat_copy(8, (2, 3000), (3, 1000)) == pytest.approx(1 / 7)


def test_huge_repeat_range_builds_no_grid():
    """The bound is taken before any arange of the ranges (800 MB at max_repeats=10**8)."""
    tracemalloc.start()
    try:
        task = RepeatCopy(1, max_length=5, max_repeats=10**8)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 2**20
    assert task.memoryless_return == 0.5  # the bound max(1 / (1 * 1 + 1), 1 / K)


def test_constant_end_marker_policy_scores_the_memoryless_return():
    """The best memoryless policy (always the end marker), first episode of 4000 rows."""
    venv = RepeatCopyVectorEnv(num_envs=4000)
    venv.reset(seed=5)
    returns, live = np.zeros(4000), np.ones(4000, dtype=bool)
    while live.any():
        _, reward, terminated, _, _ = venv.step(np.full(4000, 8))
        returns[live] += reward[live]
        live &= ~terminated
    stderr = returns.std() / np.sqrt(4000)
    assert abs(returns.mean() - venv.task.memoryless_return) < 4 * stderr


@pytest.mark.parametrize(
    ("knobs", "message"),
    [
        ({"num_symbols": 1}, r"num_symbols must be in \[2, 100000000\], got 1"),
        ({"min_length": 0}, r"min_length must be in \[1, 100000000\], got 0"),
        ({"min_length": 4, "max_length": 3}, r"min_length must be <= max_length"),
        ({"min_repeats": 0}, r"min_repeats must be in \[1, 100000000\], got 0"),
        ({"max_repeats": 0}, r"max_repeats must be in \[1, 100000000\], got 0"),
        ({"min_repeats": 3, "max_repeats": 2}, r"min_repeats must be <= max_repeats"),
        ({"min_repeats": "2"}, r"min_repeats must be an integer"),
    ],
)
def test_bad_knobs(knobs, message):
    with pytest.raises(ValueError, match=message):
        RepeatCopyEnv(**knobs)
