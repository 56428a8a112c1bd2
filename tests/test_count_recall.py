"""CountRecall: a hand-computed episode, the memoryless bound, ended rows, knob errors."""

from __future__ import annotations

import numpy as np
import pytest

from memenvs.envs.count_recall import (
    CountRecall,
    CountRecallEnv,
    CountRecallVectorEnv,
    memoryless_count_recall,
)


def test_episode_by_hand():
    env = CountRecallEnv(num_symbols=3, length=6)
    env.reset(seed=0)
    env.task.seq[0, :6] = [2, 0, 2, 2, 1, 0]
    counts = [0, 0, 1, 2, 0, 1]
    answers = [0, 0, 1, 0, 0, 1]  # wrong at step 3 only
    total = 0.0
    for t in range(6):
        np.testing.assert_array_equal(env.task.observe()[0], np.eye(3)[env.task.seq[0, t]])
        assert env.oracle_action() == counts[t]
        obs, reward, terminated, truncated, info = env.step(answers[t])
        assert reward == pytest.approx((answers[t] == counts[t]) / 6)
        assert terminated == (t == 5) and not truncated
        total += reward
    assert total == pytest.approx(5 / 6) and info == {"success": False}
    np.testing.assert_array_equal(obs, np.zeros(3))


def test_memoryless_bound_by_brute_force():
    # length 3, K = 2: counts at t = 0, 1, 2 are 0; Bin(1, 1/2); Bin(2, 1/2)
    # always answering 0 scores (1 + 1/2 + 1/4) / 3 = 7/12; answering 1: (1/2 + 1/2) / 3
    assert memoryless_count_recall(2, 3) == pytest.approx(7 / 12)
    venv = CountRecallVectorEnv(num_envs=20_000, num_symbols=2, length=3)
    venv.reset(seed=1)
    for answer in range(3):  # every constant answer (the only memoryless policies here)
        venv.reset(seed=answer)
        total = np.zeros(20_000)
        for _ in range(3):
            total += venv.step(np.full(20_000, answer))[1]
        assert total.mean() <= 7 / 12 + 0.01


def test_rows_stepped_after_their_end():
    task = CountRecall(2, num_symbols=2, length=2)
    task.rng = np.random.default_rng(2)
    task.reset_rows(np.arange(2))
    for _ in range(2):
        task.step(task.oracle())
    assert task.success().all()
    for _ in range(3):
        reward, terminated, _ = task.step(np.ones(2, dtype=np.int64))
        assert not reward.any() and not terminated.any()
    assert task.success().all() and (task.t == 2).all()
    assert "episode over (2/2 correct)" in task.describe(0)


@pytest.mark.parametrize(
    ("knobs", "message"),
    [
        ({"num_symbols": 1}, r"num_symbols must be in \[2, 100000000\], got 1"),
        ({"length": 0}, r"length must be in \[1, 100000000\], got 0"),
    ],
)
def test_bad_knobs(knobs, message):
    with pytest.raises(ValueError, match=message):
        CountRecallEnv(**knobs)


def _memoryless_by_dynamic_programming(num_symbols: int, length: int) -> float:
    """``max_a sum_t P(Binomial(t, 1/K) = a) / length`` over the whole pmf (O(length**2))."""
    p = 1.0 / num_symbols
    pmf = np.zeros(length + 1)
    pmf[0] = 1.0
    total = np.zeros(length + 1)
    for _ in range(length):
        total += pmf
        pmf[1:] = pmf[1:] * (1.0 - p) + pmf[:-1] * p
        pmf[0] *= 1.0 - p
    return float(total.max() / length)


@pytest.mark.parametrize("num_symbols, length", [(2, 1), (2, 8), (4, 16), (3, 100), (8, 512)])
def test_closed_form_memoryless_return_matches_the_full_programme(num_symbols, length):
    expected = _memoryless_by_dynamic_programming(num_symbols, length)
    assert memoryless_count_recall(num_symbols, length) == pytest.approx(expected, rel=1e-12)
