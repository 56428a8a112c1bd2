"""The tape tasks: hand-computed episodes, layouts and targets, the time limit, the bounds."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from montecarlo import random_returns

from memenvs.envs.tape import random_tape_outcome, time_limit
from memenvs.envs.tape_copy import TapeCopy, TapeCopyEnv, TapeCopyVectorEnv
from memenvs.envs.tape_duplicated_input import TapeDuplicatedInput, TapeDuplicatedInputEnv
from memenvs.envs.tape_repeat_copy import TapeRepeatCopy
from memenvs.envs.tape_reverse import TapeReverse, TapeReverseEnv, TapeReverseVectorEnv
from memenvs.envs.tape_reversed_addition import (
    TapeReversedAddition,
    TapeReversedAdditionEnv,
    TapeReversedAdditionVectorEnv,
    add_columns,
    final_carry_probability,
)

LEFT, RIGHT, UP, DOWN = 0, 1, 2, 3


def one_hot(base: int, symbol: int | None) -> np.ndarray:
    """The observation of a cell: one-hot symbol, or the blank (index ``base``)."""
    v = np.zeros(base + 1, dtype=np.float32)
    v[base if symbol is None else symbol] = 1.0
    return v


def set_tape(task, symbols) -> None:
    """Overwrite row 0's episode with a known input (the target follows from it)."""
    symbols = np.asarray(symbols).reshape(1, task.rows, -1)
    length = symbols.shape[2]
    task.set_length_range(length, length)
    task.rng = np.random.default_rng(0)
    task.reset_rows(np.zeros(1, dtype=np.int64))
    cells = task.make_input(symbols, np.array([length]))
    target, tlen = task.make_target(symbols, np.array([length]))
    task.tape[0] = task.base
    task.tape[0, :, : cells.shape[2]] = cells
    task.target[0, : target.shape[1]] = target
    task.target_len[0] = tlen[0]
    task.limit[0] = time_limit(task.rows, cells.shape[2], int(tlen[0]))
    task.inv_t[0] = 1.0 / tlen[0]


def test_copy_episode_by_hand():
    env = TapeCopyEnv(base=3)
    env.reset(seed=0)
    set_tape(env.task, [2, 0, 1])
    np.testing.assert_array_equal(env.task.observe()[0], one_hot(3, 2))
    # reading: writes on the input are ignored (even right ones), no reward, no end
    for nxt in [0, 1, None]:
        obs, reward, terminated, truncated, info = env.step([RIGHT, 1, 2])
        np.testing.assert_array_equal(obs, one_hot(3, nxt))
        assert (reward, terminated, truncated, info) == (0.0, False, False, {})
    assert env.task.k[0] == 0
    # off the tape: every write counts, +1/3 each; moving (either way) is free
    blank = one_hot(3, None)
    for j, (move, symbol) in enumerate([(RIGHT, 2), (RIGHT, 0), (LEFT, 1)]):
        obs, reward, terminated, truncated, info = env.step([move, 1, symbol])
        assert reward == pytest.approx(1 / 3)
        assert terminated == (j == 2) and not truncated
    np.testing.assert_array_equal(obs, blank)  # at x = 4, a blank cell
    assert info == {"success": True}
    assert env.task.t[0] == 6 and env.task.limit[0] == 10  # 2 L + 4


def test_wrong_write_ends_with_half_penalty():
    env = TapeCopyEnv(base=4)
    env.reset(seed=1)
    set_tape(env.task, [3, 1])
    env.step([LEFT, 0, 0])  # to x = -1: the blank left of the tape counts too
    assert env.step([RIGHT, 1, 3])[1] == pytest.approx(0.5)
    obs, reward, terminated, truncated, info = env.step([RIGHT, 1, 2])  # at x = 0: ignored
    assert (reward, terminated) == (0.0, False)
    env.step([RIGHT, 0, 0])  # x = 1 -> 2
    obs, reward, terminated, truncated, info = env.step([RIGHT, 1, 0])  # wants 1
    assert reward == pytest.approx(-0.25) and terminated and not truncated
    assert info == {"success": False}


def test_time_limit_truncates_with_penalty():
    env = TapeReverseEnv(base=2, min_length=3, max_length=3)
    env.reset(seed=2)
    limit = time_limit(1, 3, 3)
    assert limit == 10
    for _ in range(limit):
        *_, reward, terminated, truncated, _ = env.step([RIGHT, 0, 0])
        assert (reward, terminated, truncated) == (0.0, False, False)
    obs, reward, terminated, truncated, info = env.step([RIGHT, 1, int(env.task.target[0, 0])])
    # the step past the limit pays -1/T instead of its (right) write
    assert reward == pytest.approx(-1 / 3) and truncated and not terminated
    assert info == {"success": False}


def test_interleaved_copy_needs_no_memory():
    """Under gym's rule, "write the symbol under the head, move right" solves TapeCopy."""
    venv = TapeCopyVectorEnv(num_envs=64, interleaved=True, min_length=1, max_length=9)
    obs, _ = venv.reset(seed=3)
    returns, done = np.zeros(64), np.zeros(64, dtype=bool)
    while not done.all():
        symbol = obs[:, :-1].argmax(axis=1)
        actions = np.stack([np.full(64, RIGHT), np.ones(64, dtype=np.int64), symbol], axis=1)
        obs, reward, terminated, truncated, _ = venv.step(actions)
        returns += reward * ~done
        done |= terminated | truncated
    np.testing.assert_allclose(returns, 1.0)
    assert venv.task.memoryless_return == 1.0


@pytest.mark.parametrize(
    ("task_cls", "knobs", "symbols", "cells", "target"),
    [
        (TapeCopy, {}, [4, 0, 3], [4, 0, 3], [4, 0, 3]),
        (TapeReverse, {"base": 5}, [4, 0, 3], [4, 0, 3], [3, 0, 4]),
        (TapeDuplicatedInput, {}, [4, 0, 3], [4, 4, 0, 0, 3, 3], [4, 0, 3]),
        (TapeDuplicatedInput, {"duplication": 3}, [1, 2], [1, 1, 1, 2, 2, 2], [1, 2]),
        (TapeRepeatCopy, {}, [4, 0, 3], [4, 0, 3], [4, 0, 3, 3, 0, 4, 4, 0, 3]),
    ],
)
def test_layouts_and_targets(task_cls, knobs, symbols, cells, target):
    task = task_cls(1, **knobs)
    set_tape(task, symbols)
    np.testing.assert_array_equal(task.input_rows(0), [cells])
    np.testing.assert_array_equal(task.target_of(0), target)
    # the oracle reads left to right and writes after the input, in 2 L + ... steps
    reward_sum, steps = 0.0, 0
    while not task.done[0]:
        reward, *_ = task.step(task.oracle())
        reward_sum += reward[0]
        steps += 1
    assert reward_sum == pytest.approx(1.0) and task.success()[0]
    assert steps == len(cells) + len(target)


def test_variable_lengths_per_row():
    task = TapeRepeatCopy(200, min_length=1, max_length=6)
    task.rng = np.random.default_rng(4)
    task.reset_rows(np.arange(200))
    assert set(task.length) == set(range(1, 7))
    for row in range(0, 200, 7):
        x = task.input_rows(row)[0]
        assert len(x) == task.length[row]
        np.testing.assert_array_equal(task.target_of(row), np.concatenate([x, x[::-1], x]))
        assert np.all(task.tape[row, 0, len(x) :] == task.base)  # blank beyond the input


def test_addition_by_hand():
    # 5 + 8 = 13 in base 3, least significant digit first: 21 + 22 = 111
    env = TapeReversedAdditionEnv(base=3)
    env.reset(seed=5)
    set_tape(env.task, [[2, 1], [2, 2]])
    np.testing.assert_array_equal(env.task.target_of(0), [1, 1, 1])
    assert env.task.limit[0] == 2 * 2 + 3 + 4
    # the head moves on the grid: down reads the second number, up off the grid is blank
    obs = [env.step([DOWN, 0, 0])[0], env.step([RIGHT, 0, 0])[0], env.step([UP, 0, 0])[0]]
    np.testing.assert_array_equal(obs, [one_hot(3, 2), one_hot(3, 2), one_hot(3, 1)])
    obs, *_ = env.step([UP, 1, 0])  # a write on the grid: ignored
    np.testing.assert_array_equal(obs, one_hot(3, None))  # (1, -1): above the grid
    assert env.task.k[0] == 0
    rewards = [env.step([RIGHT, 1, 1])[1] for _ in range(3)]
    assert rewards == pytest.approx([1 / 3] * 3)
    assert env.task.success()[0]


def test_addition_matches_python_integers():
    for rows, base in [(2, 2), (2, 10), (3, 3), (5, 7)]:
        task = TapeReversedAddition(300, rows=rows, base=base, min_length=1, max_length=12)
        task.rng = np.random.default_rng(rows * base)
        task.reset_rows(np.arange(300))
        for row in range(300):
            grid = task.input_rows(row)
            total = sum(int(sum(int(d) * base**i for i, d in enumerate(number))) for number in grid)
            digits = task.target_of(row)
            assert sum(int(d) * base**i for i, d in enumerate(digits)) == total
            assert len(digits) == grid.shape[1] or digits[-1] > 0
        final = task.target_len > task.width
        p = np.mean([final_carry_probability(base, rows, int(w)) for w in task.width])
        assert abs(final.mean() - p) < 0.1


def test_add_columns_long_carry_chain():
    # 2222...2 + 0000...1 in base 3: the carry ripples through every column
    sums = np.array([[3] + [2] * 20 + [0]])
    digits = add_columns(sums, base=3, rows=2)
    np.testing.assert_array_equal(digits, [[0] * 21 + [1]])


def test_addition_oracle_zigzags_over_three_rows():
    venv = TapeReversedAdditionVectorEnv(num_envs=1, rows=3, min_length=3, max_length=3)
    venv.reset(seed=6)
    path = []
    while True:
        path.append((int(venv.task.x[0]), int(venv.task.y[0])))
        *_, terminated, truncated, _ = venv.step(venv.oracle_action())
        if terminated[0] or truncated[0]:
            break
    reading = [(0, 0), (0, 1), (0, 2), (1, 2), (1, 1), (1, 0), (2, 0), (2, 1), (2, 2)]
    assert path[:9] == reading and path[9] == (3, 2)
    assert venv.task.success()[0]


def test_rows_stepped_after_their_end_stay_put():
    task = TapeCopy(4, min_length=1, max_length=3)
    task.rng = np.random.default_rng(7)
    task.reset_rows(np.arange(4))
    for _ in range(12):
        task.step(task.oracle())
    assert task.done.all() and task.success().all()
    state = (task.x.copy(), task.k.copy(), task.t.copy())
    for _ in range(5):
        reward, terminated, truncated = task.step(np.tile([LEFT, 1, 0], (4, 1)))
        assert not reward.any() and not terminated.any() and not truncated.any()
    for before, after in zip(state, (task.x, task.k, task.t), strict=True):
        np.testing.assert_array_equal(before, after)
    assert task.success().all()


def test_set_length_range_grows_and_keeps_running_episodes():
    venv = TapeReverseVectorEnv(num_envs=3, min_length=2, max_length=2)
    venv.reset(seed=8)
    venv.step(venv.oracle_action())
    before = venv.task.tape[:, :, :2].copy()
    venv.task.set_length_range(5, 30)
    np.testing.assert_array_equal(venv.task.tape[:, :, :2], before)
    assert venv.task.tape.shape[2] >= 30
    returns = np.zeros(3)
    for _ in range(3):
        _, reward, *_ = venv.step(venv.oracle_action())
        returns += reward
    np.testing.assert_allclose(returns, 1.0)  # the running episodes finished as drawn
    venv.step(venv.oracle_action())  # NEXT_STEP autoreset: new episodes, new range
    assert np.all((venv.task.length >= 5) & (venv.task.length <= 30))
    with pytest.raises(ValueError, match="min_length must be <= max_length"):
        venv.task.set_length_range(4, 3)


@pytest.mark.parametrize(
    ("env_cls", "knobs"),
    [
        (TapeReverseVectorEnv, {"min_length": 1, "max_length": 3, "interleaved": True}),
        (TapeReversedAdditionVectorEnv, {"rows": 3, "min_length": 1, "max_length": 2}),
    ],
)
def test_random_return_by_monte_carlo(env_cls, knobs):
    n = 20_000
    venv = env_cls(num_envs=n, **knobs)
    returns = random_returns(venv, seed=9)
    stderr = returns.std() / np.sqrt(n)
    assert abs(returns.mean() - venv.task.random_return) < 4 * stderr


def test_random_outcome_of_a_one_step_limit():
    # W = 1, T = 1, limit 1 + 1 + 4 = 6 ... shrink the limit to 1 by hand: step 1 on the
    # input (writes ignored), step 2 is past the limit
    right, wrong, late = random_tape_outcome(3, 1, 1, 1, 1, False)
    assert (right, wrong, late) == (0.0, 0.0, 1.0)
    # interleaved: step 1 writes with probability 1/2, right with probability 1/3
    right, wrong, late = random_tape_outcome(3, 1, 1, 1, 1, True)
    assert right == pytest.approx(1 / 6) and wrong == pytest.approx(1 / 3)
    assert late == pytest.approx(1 / 2)


def test_no_memoryless_map_beats_the_bound():
    """Every deterministic observation -> action map on tiny TapeReverse episodes."""
    base, length = 2, 2
    actions = [np.array(a) for a in itertools.product(range(2), range(2), range(base))]
    maps = list(itertools.product(range(len(actions)), repeat=base + 1))  # 8**3 maps
    tapes = list(itertools.product(range(base), repeat=length))
    n = len(maps) * len(tapes)
    task = TapeReverse(n, base=base, min_length=length, max_length=length)
    task.rng = np.random.default_rng(10)
    task.reset_rows(np.arange(n))
    symbols = np.array([t for _ in maps for t in tapes]).reshape(n, 1, length)
    task.tape[:, :, :length] = symbols
    task.target[:, :length] = symbols[:, 0, ::-1]
    table = np.array([[actions[i] for i in m] for m in maps])  # [maps, obs, 3]
    table = np.repeat(table, len(tapes), axis=0)
    returns = np.zeros(n)
    for _ in range(time_limit(1, length, length) + 1):
        obs = task.observe().argmax(axis=1)
        reward, *_ = task.step(table[np.arange(n), obs])
        returns += reward
    assert task.done.all()
    best = returns.reshape(len(maps), len(tapes)).mean(axis=1).max()
    assert best <= task.memoryless_return + 1e-12
    assert best == pytest.approx(0.1875)  # (the bound, 0.375, also covers stochastic maps)


def test_describe_and_render():
    env = TapeReversedAdditionEnv(render_mode="ansi")
    env.reset(seed=11)
    set_tape(env.task, [[1, 2], [0, 2]])
    text = env.render()
    assert text.splitlines()[0] == "TapeReversedAddition t=0/11  head=(0,0)"
    assert "input 0: [1]  2" in text and "input 1:  0   2" in text
    assert text.splitlines()[-1] == "  written 0/3: "
    env.render_mode = "rgb_array"
    img = env.render()
    assert img.dtype == np.uint8 and img.shape == (5 * 16, 4 * 16, 3)


@pytest.mark.parametrize(
    ("cls", "knobs", "message"),
    [
        (TapeCopyEnv, {"base": 1}, r"base must be in \[2, 100000000\], got 1"),
        (TapeCopyEnv, {"min_length": 0}, r"min_length must be in \[1, 100000000\], got 0"),
        (TapeCopyEnv, {"min_length": 5, "max_length": 4}, r"min_length must be <= max_length"),
        (TapeCopyEnv, {"interleaved": 1}, r"interleaved must be a bool"),
        (
            TapeDuplicatedInputEnv,
            {"duplication": 1},
            r"duplication must be in \[2, 100000000\], got 1",
        ),
        (TapeReversedAdditionEnv, {"rows": 1}, r"rows must be in \[2, 100000000\], got 1"),
        (TapeReversedAdditionEnv, {"rows": 3, "base": 2}, r"rows must be <= base"),
    ],
)
def test_bad_knobs(cls, knobs, message):
    with pytest.raises(ValueError, match=message):
        cls(**knobs)
