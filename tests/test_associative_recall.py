"""AssociativeRecall: hand-computed episodes, distinct keys, per-row sizes, knob errors."""

from __future__ import annotations

import numpy as np
import pytest

from memenvs.envs.associative_recall import (
    AssociativeRecall,
    AssociativeRecallEnv,
    AssociativeRecallVectorEnv,
)


def obs_vector(k: int, symbol: int, flag: int) -> np.ndarray:
    """[one-hot symbol (K), key flag, value flag, query flag]; ``flag`` 0, 1 or 2."""
    v = np.zeros(k + 3, dtype=np.float32)
    v[symbol] = 1.0
    v[k + flag] = 1.0
    return v


def test_short_episode_observations_and_reward():
    env = AssociativeRecallEnv(num_symbols=5, min_items=3, max_items=3)
    obs, _ = env.reset(seed=0)
    keys, values = env.task.items(0)
    assert len(set(keys.tolist())) == 3
    for i in range(3):
        np.testing.assert_array_equal(obs, obs_vector(5, keys[i], 0))
        obs, reward, terminated, _, _ = env.step(int(values[i]))  # ignored before the query
        assert reward == 0.0 and not terminated
        np.testing.assert_array_equal(obs, obs_vector(5, values[i], 1))
        obs, reward, terminated, _, _ = env.step(int(values[i]))
        assert reward == 0.0 and not terminated
    # the query shows one of the keys; the answer is the value shown right after that key
    query = int(np.argmax(obs[:5]))
    np.testing.assert_array_equal(obs, obs_vector(5, query, 2))
    assert query in keys
    answer = int(values[list(keys).index(query)])
    obs, reward, terminated, truncated, info = env.step(answer)
    assert (reward, terminated, truncated, info) == (1.0, True, False, {"success": True})
    np.testing.assert_array_equal(obs, np.zeros(8, dtype=np.float32))


def test_wrong_answer_scores_zero():
    env = AssociativeRecallEnv(num_symbols=4, min_items=2, max_items=2)
    env.reset(seed=1)
    for _ in range(4):
        env.step(0)
    wrong = (int(env.task.answer[0]) + 1) % 4
    _, reward, terminated, _, info = env.step(wrong)
    assert reward == 0.0 and terminated and info == {"success": False}


def test_keys_distinct_and_query_uniform_over_items():
    task = AssociativeRecall(20_000, num_symbols=6, min_items=1, max_items=6)
    task.rng = np.random.default_rng(2)
    task.reset_rows(np.arange(20_000))
    np.testing.assert_allclose(np.bincount(task.num_items)[1:] / 20_000, 1 / 6, atol=0.015)
    position = np.zeros(20_000, dtype=np.int64)  # which shown item is queried
    for row in range(20_000):
        keys, values = task.items(row)
        assert len(np.unique(keys)) == len(keys) == task.num_items[row]
        (i,) = np.flatnonzero(keys == task.query[row])
        assert values[i] == task.answer[row]
        position[row] = i
    six = task.num_items == 6
    np.testing.assert_allclose(
        np.bincount(position[six], minlength=6) / six.sum(), 1 / 6, atol=0.03
    )
    np.testing.assert_allclose(np.bincount(task.answer, minlength=6) / 20_000, 1 / 6, atol=0.015)


def test_keys_can_use_the_whole_alphabet():
    task = AssociativeRecall(500, num_symbols=4, min_items=4, max_items=4)
    task.rng = np.random.default_rng(3)
    task.reset_rows(np.arange(500))
    for row in range(500):
        assert sorted(task.items(row)[0].tolist()) == [0, 1, 2, 3]


def test_episode_length_is_2n_plus_1_per_row():
    venv = AssociativeRecallVectorEnv(num_envs=64, num_symbols=16, min_items=1, max_items=8)
    venv.reset(seed=4)
    n = venv.task.num_items.copy()
    assert len(np.unique(n)) >= 5, "rows should draw different item counts"
    end_step = np.full(64, -1)
    returns = np.zeros(64)
    for step in range(1, 18):
        obs, reward, terminated, _, _ = venv.step(venv.oracle_action())
        live = end_step < 0
        returns[live] += reward[live]
        end_step[live & terminated] = step
        # after `step` steps a live row shows a key (even step < 2n), a value, or the query
        items = step < 2 * n
        np.testing.assert_array_equal(obs[live, 16], (items & (step % 2 == 0))[live])
        np.testing.assert_array_equal(obs[live, 17], (items & (step % 2 == 1))[live])
        np.testing.assert_array_equal(obs[live, 18], (step == 2 * n)[live])
    np.testing.assert_array_equal(end_step, 2 * n + 1)
    np.testing.assert_allclose(returns, 1.0)


def test_rows_stepped_after_their_end_stay_in_bounds():
    task = AssociativeRecall(3, num_symbols=8, min_items=1, max_items=4)
    task.rng = np.random.default_rng(5)
    task.reset_rows(np.arange(3))
    for _ in range(30):
        reward, terminated, _ = task.step(task.oracle())
    assert np.all(reward == 0) and not terminated.any()
    np.testing.assert_array_equal(task.observe(), np.zeros((3, 11), dtype=np.float32))
    assert np.all(task.success())


def test_describe_does_not_leak_the_answer_at_the_query():
    env = AssociativeRecallEnv(render_mode="ansi", num_symbols=8, min_items=1, max_items=1)
    env.reset(seed=6)
    keys, values = env.task.items(0)
    assert env.render() == f"AssociativeRecall t=0/3  item 1/1 key {keys[0]}"
    env.step(0)
    assert env.render() == f"AssociativeRecall t=1/3  item 1/1 value {values[0]}"
    env.step(0)
    assert env.render() == f"AssociativeRecall t=2/3  query: the value of key {keys[0]}?"


@pytest.mark.parametrize(
    ("knobs", "message"),
    [
        ({"num_symbols": 1}, r"num_symbols must be in \[2, 100000000\], got 1"),
        ({"min_items": 0}, r"min_items must be in \[1, 100000000\], got 0"),
        ({"min_items": 5, "max_items": 4}, r"min_items must be <= max_items"),
        (
            {"num_symbols": 4, "max_items": 5},
            r"max_items must be <= num_symbols .*max_items=5 > num_symbols=4",
        ),
        ({"max_items": None}, r"max_items must be an integer"),
    ],
)
def test_bad_knobs(knobs, message):
    with pytest.raises(ValueError, match=message):
        AssociativeRecallEnv(**knobs)
