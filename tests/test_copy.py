"""Copy: hand-computed episodes, partial credit, per-row lengths, knob errors."""

from __future__ import annotations

import numpy as np
import pytest

from memenvs.envs.copy import Copy, CopyEnv, CopyVectorEnv


def obs_vector(k: int, symbol: int | None = None, delimiter=0.0, output=0.0) -> np.ndarray:
    """The expected observation: [one-hot symbol (K), delimiter flag, output-phase flag]."""
    v = np.zeros(k + 2, dtype=np.float32)
    if symbol is not None:
        v[symbol] = 1.0
    v[k], v[k + 1] = delimiter, output
    return v


def test_short_episode_observations_and_rewards():
    env = CopyEnv(num_symbols=4, min_length=3, max_length=3)
    obs, _ = env.reset(seed=0)
    seq = env.task.sequence(0)
    assert seq.shape == (3,) and np.all((seq >= 0) & (seq < 4))
    # input: one symbol per step, no flags; actions are ignored (even "right" ones)
    for t in range(3):
        np.testing.assert_array_equal(obs, obs_vector(4, seq[t]))
        obs, reward, terminated, truncated, info = env.step(int(seq[t]))
        assert (reward, terminated, truncated, info) == (0.0, False, False, {})
    np.testing.assert_array_equal(obs, obs_vector(4, delimiter=1.0))
    obs, reward, terminated, _, _ = env.step(int(seq[0]))
    assert reward == 0.0 and not terminated
    # output: the same observation at every step, +1/3 per right symbol
    for j in range(3):
        np.testing.assert_array_equal(obs, obs_vector(4, output=1.0))
        obs, reward, terminated, truncated, info = env.step(int(seq[j]))
        assert reward == pytest.approx(1 / 3)
        assert terminated == (j == 2) and not truncated
    assert info == {"success": True}
    np.testing.assert_array_equal(obs, np.zeros(6, dtype=np.float32))


def test_partial_credit_and_failure():
    env = CopyEnv(num_symbols=5, min_length=4, max_length=4)
    env.reset(seed=1)
    seq = env.task.sequence(0)
    for _ in range(5):  # 4 inputs and the delimiter
        env.step(0)
    wrong = (seq + 1) % 5
    writes = [seq[0], wrong[1], seq[2], wrong[3]]
    steps = [env.step(int(a)) for a in writes]
    assert [s[1] for s in steps] == pytest.approx([0.25, 0.0, 0.25, 0.0])
    assert [s[2] for s in steps] == [False, False, False, True]
    assert steps[-1][4] == {"success": False}
    assert env.task.n_correct[0] == 2


def test_last_output_step_reports_failure():
    env = CopyEnv(num_symbols=3, min_length=2, max_length=2)
    env.reset(seed=2)
    seq = env.task.sequence(0)
    for a in [0, 0, 0, seq[0]]:
        env.step(int(a))
    *_, terminated, _, info = env.step(int((seq[1] + 1) % 3))
    assert terminated and info == {"success": False}


def test_episode_length_is_2l_plus_1_per_row():
    venv = CopyVectorEnv(num_envs=64, num_symbols=3, min_length=1, max_length=10)
    venv.reset(seed=3)
    lengths = venv.task.length.copy()
    assert len(np.unique(lengths)) >= 5, "rows should draw different lengths"
    assert lengths.min() >= 1 and lengths.max() <= 10
    end_step = np.full(64, -1)
    returns = np.zeros(64)
    for step in range(1, 22):
        obs, reward, terminated, _, _ = venv.step(venv.oracle_action())
        live = end_step < 0
        returns[live] += reward[live]
        end_step[live & terminated] = step
        # a row shows the output flag exactly at steps L+1..2L of its first episode
        in_output = (step > lengths) & (step <= 2 * lengths)
        np.testing.assert_array_equal(obs[live, 4] == 1.0, in_output[live])  # flag at K + 1
    np.testing.assert_array_equal(end_step, 2 * lengths + 1)
    np.testing.assert_allclose(returns, 1.0)


def test_rows_stepped_after_their_end_stay_in_bounds():
    task = Copy(3, num_symbols=4, min_length=1, max_length=6)
    task.rng = np.random.default_rng(4)
    task.reset_rows(np.arange(3))
    for _ in range(40):  # far past every row's end, with actions that would score
        reward, terminated, _ = task.step(task.oracle())
    assert np.all(reward == 0) and not terminated.any()
    np.testing.assert_array_equal(task.observe(), np.zeros((3, 6), dtype=np.float32))
    assert np.all(task.success())
    assert np.all((task.oracle() >= 0) & (task.oracle() < 4))


def test_sequences_and_lengths_are_uniform():
    task = Copy(20_000, num_symbols=4, min_length=2, max_length=5)
    task.rng = np.random.default_rng(5)
    task.reset_rows(np.arange(20_000))
    np.testing.assert_allclose(np.bincount(task.length)[2:] / 20_000, 0.25, atol=0.02)
    symbols = np.concatenate([task.sequence(i) for i in range(2000)])
    np.testing.assert_allclose(np.bincount(symbols, minlength=4) / symbols.size, 0.25, atol=0.02)


def test_describe_follows_the_phases():
    env = CopyEnv(render_mode="ansi", num_symbols=4, min_length=2, max_length=2)
    env.reset(seed=6)
    seq = env.task.sequence(0)
    assert env.render() == f"Copy t=0/5  input 1/2: symbol {seq[0]}"
    env.step(0)
    env.step(0)
    assert "delimiter" in env.render()
    env.step(0)
    assert env.render() == "Copy t=3/5  output 1/2: write back input 1"
    env.step(int(seq[0]))
    env.step(0 if seq[1] != 0 else 1)
    assert env.render() == "Copy t=5/5  episode over (1/2 correct)"


@pytest.mark.parametrize(
    ("knobs", "message"),
    [
        ({"num_symbols": 1}, r"num_symbols must be in \[2, 100000000\], got 1"),
        ({"min_length": 0}, r"min_length must be in \[1, 100000000\], got 0"),
        ({"max_length": 0}, r"max_length must be in \[1, 100000000\], got 0"),
        ({"min_length": 6, "max_length": 5}, r"min_length must be <= max_length"),
        ({"max_length": 2.5}, r"max_length must be an integer"),
    ],
)
def test_bad_knobs(knobs, message):
    with pytest.raises(ValueError, match=message):
        CopyEnv(**knobs)
