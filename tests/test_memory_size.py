"""MemorySize: a hand-computed episode, observation layout, knob errors."""

from __future__ import annotations

import numpy as np
import pytest

from memenvs.envs.memory_size import MemorySize, MemorySizeEnv


def test_episode_by_hand():
    env = MemorySizeEnv(num_bits=4, delay=2, render_mode="ansi")
    env.reset(seed=0)
    env.task.bits[0] = [1, 0, 1, 1]
    env.task.query[0] = 1
    np.testing.assert_array_equal(env.task.observe()[0], [1, 0, 1, 1, 0, 0, 0, 0, 1, 0])
    assert env.render() == "MemorySize t=0/3  context bits 1011"
    for _ in range(2):
        obs, reward, terminated, truncated, info = env.step(1)
        np.testing.assert_array_equal(obs, np.zeros(10))
        assert (reward, terminated, truncated, info) == (0.0, False, False, {})
    obs, reward, terminated, truncated, info = env.step(0)  # a step before the query
    np.testing.assert_array_equal(obs, [0, 0, 0, 0, 0, 1, 0, 0, 0, 1])
    assert env.render() == "MemorySize t=3/3  query: what was bit 1?"
    obs, reward, terminated, truncated, info = env.step(0)  # bit 1 is 0
    assert (reward, terminated, truncated, info) == (1.0, True, False, {"success": True})


def test_wrong_answer_and_ended_rows():
    task = MemorySize(3, num_bits=2, delay=0)
    task.rng = np.random.default_rng(1)
    task.reset_rows(np.arange(3))
    task.step(np.zeros(3, dtype=np.int64))  # the context step
    wrong = 1 - task.oracle()
    reward, terminated, _ = task.step(wrong)
    assert not reward.any() and terminated.all() and not task.success().any()
    reward, terminated, _ = task.step(task.oracle())  # after the end: nothing changes
    assert not reward.any() and not terminated.any() and not task.success().any()
    np.testing.assert_array_equal(task.observe(), np.zeros((3, 6)))


def test_bits_and_queries_are_uniform():
    task = MemorySize(20_000, num_bits=5)
    task.rng = np.random.default_rng(2)
    task.reset_rows(np.arange(20_000))
    assert abs(task.bits.mean() - 0.5) < 0.01
    np.testing.assert_allclose(np.bincount(task.query) / 20_000, 0.2, atol=0.01)


@pytest.mark.parametrize(
    ("knobs", "message"),
    [
        ({"num_bits": 0}, r"num_bits must be in \[1, 100000000\], got 0"),
        ({"delay": -1}, r"delay must be in \[0, 100000000\], got -1"),
    ],
)
def test_bad_knobs(knobs, message):
    with pytest.raises(ValueError, match=message):
        MemorySizeEnv(**knobs)
