"""KeyToDoor and PassiveVisualMatch: hand-computed episodes over the three rooms."""

from __future__ import annotations

import numpy as np
import pytest
from montecarlo import random_returns

from memenvs.envs.key_to_door import KeyToDoor, KeyToDoorEnv, KeyToDoorVectorEnv
from memenvs.envs.passive_visual_match import PassiveVisualMatchEnv, PassiveVisualMatchVectorEnv
from memenvs.envs.rooms import (
    AGENT,
    FLOORS,
    PALETTE,
    WALL,
    hit_probability,
    square_columns,
)

UP, DOWN, LEFT, RIGHT = 0, 1, 2, 3


def pixel(obs: np.ndarray, x: int, y: int) -> tuple[int, ...]:
    """The colour of floor cell (x, y) in a channel-first room image."""
    return tuple(int(v) for v in obs[:, y + 1, x + 1])


def walk_to_square(env, column: int) -> tuple:
    """From the start cell (2, 4) of the last room: along the bottom row, then up."""
    steps = [RIGHT if column > 2 else LEFT] * abs(column - 2) + [UP] * 4
    out = None
    for i, action in enumerate(steps):
        out = env.step(action)
        assert out[2] == (i == len(steps) - 1)  # terminated only on the square
    return out


def test_passive_visual_match_by_hand():
    env = PassiveVisualMatchEnv(delay=3, num_colors=3)
    obs, _ = env.reset(seed=0)
    cue = int(env.task.cue[0])
    assert obs.shape == (3, 7, 7) and obs.dtype == np.uint8
    assert pixel(obs, 2, 0) == tuple(PALETTE[cue]) and pixel(obs, 2, 4) == AGENT
    assert tuple(obs[:, 0, 0]) == WALL and pixel(obs, 0, 0) == FLOORS[0]
    for action in [LEFT, LEFT, UP, UP]:  # the first phase: actions do not matter
        obs, reward, terminated, truncated, info = env.step(action)
        assert (reward, terminated, truncated) == (0.0, False, False)
    # the distractor room: brown floor, nothing else, the agent back at the start
    assert pixel(obs, 2, 4) == AGENT and pixel(obs, 2, 0) == FLOORS[1]
    for _ in range(3):
        obs, *_ = env.step(UP)
    columns = square_columns(3)
    order = env.task.order[0]
    for j, col in enumerate(columns):
        assert pixel(obs, int(col), 0) == tuple(PALETTE[order[j]])
    right = int(columns[list(order).index(cue)])
    obs, reward, terminated, truncated, info = walk_to_square(env, right)
    assert (reward, terminated, truncated, info) == (1.0, True, False, {"success": True})
    assert env.task.t[0] == 4 + 3 + abs(right - 2) + 4


def test_wrong_square_and_time_limit():
    env = PassiveVisualMatchEnv(delay=0, num_colors=2)
    env.reset(seed=1)
    for _ in range(4):
        env.step(DOWN)
    cue, order = int(env.task.cue[0]), env.task.order[0]
    wrong = int(square_columns(2)[list(order).index(1 - cue)])
    *_, reward, terminated, truncated, info = walk_to_square(env, wrong)
    assert (reward, terminated, info) == (0.0, True, {"success": False})
    env.reset(seed=2)
    for step in range(1, 4 + 8 + 1):
        *_, reward, terminated, truncated, info = env.step(DOWN)  # never reaches a square
        assert not terminated and truncated == (step == 12)
    assert info == {"success": False}


def test_key_to_door_needs_the_key():
    env = KeyToDoorEnv(delay=2, num_colors=3)
    for pick in [False, True]:
        obs, _ = env.reset(seed=3)
        task = env.task
        kx, ky, cue = int(task.key_x[0]), int(task.key_y[0]), int(task.cue[0])
        assert pixel(obs, kx, ky) == tuple(PALETTE[cue])
        actions = []
        if pick:
            while len(actions) < 6 and not task.has_key[0]:
                obs, *_ = env.step(int(env.oracle_action()))
                actions.append(0)
            assert task.has_key[0] and tuple(task.rooms[0, 0, :, ky + 1, kx + 1]) == FLOORS[0]
        while task.t[0] < 6 + 2:
            env.step(DOWN if not pick else UP)
        assert task.has_key[0] == pick
        door = int(square_columns(3)[list(task.order[0]).index(cue)])
        *_, reward, terminated, truncated, info = walk_to_square(env, door)
        assert terminated and reward == float(pick) and info == {"success": pick}


def test_key_oracle_reaches_every_key_cell():
    venv = KeyToDoorVectorEnv(num_envs=400, delay=0)
    venv.reset(seed=4)
    cells = set(zip(venv.task.key_x.tolist(), venv.task.key_y.tolist(), strict=True))
    assert len(cells) == 24
    for _ in range(8):
        venv.step(venv.oracle_action())
    assert venv.task.has_key.all()


def test_flat_observations_and_render():
    env = KeyToDoorEnv(flat=True, render_mode="rgb_array")
    obs, _ = env.reset(seed=5)
    assert obs.shape == (147,) and obs.dtype == np.float32
    np.testing.assert_allclose(obs, env.task.image()[0].reshape(-1) / 255.0)
    img = env.render()
    assert img.shape == (7 * 24, 7 * 24, 3) and img.dtype == np.uint8
    env = PassiveVisualMatchEnv(render_mode="ansi")
    env.reset(seed=6)
    text = env.render()
    assert text.splitlines()[0] == "PassiveVisualMatch t=0/20  first phase"
    assert text.splitlines()[5].strip() == ". . @ . ."


def test_random_returns_by_monte_carlo():
    # hitting the top row within 4 steps from (2, 4): only UP x 4, probability 4**-4
    assert hit_probability(((0, 0), (1, 0), (2, 0), (3, 0), (4, 0)), 4) == pytest.approx(4**-4)
    n = 20_000
    for cls in [KeyToDoorVectorEnv, PassiveVisualMatchVectorEnv]:
        venv = cls(num_envs=n, delay=1, num_colors=2)
        returns = random_returns(venv, seed=7)
        stderr = max(returns.std() / np.sqrt(n), 1e-3)
        assert abs(returns.mean() - venv.task.random_return) < 4 * stderr


@pytest.mark.parametrize(
    ("knobs", "message"),
    [
        ({"delay": -1}, r"delay must be in \[0, 100000000\], got -1"),
        ({"num_colors": 1}, r"num_colors must be in \[2, 5\], got 1"),
        ({"num_colors": 6}, r"num_colors must be in \[2, 5\], got 6"),
        ({"flat": 1}, r"flat must be a bool"),
    ],
)
def test_bad_knobs(knobs, message):
    with pytest.raises(ValueError, match=message):
        KeyToDoor(1, **knobs)
