"""Task-specific tests for TMaze: hand-computed episodes, the active penalty, the time limit."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest

import memenvs  # noqa: F401  (registers the ids)
from memenvs.envs.tmaze import TMaze, TMazeEnv, active_random_return

FWD, BACK, UP, DOWN = 0, 1, 2, 3
CORRIDOR = [0.0, 0.0, 1.0, 0.0]
JUNCTION = [0.0, 0.0, 0.0, 1.0]
OVER = [0.0, 0.0, 0.0, 0.0]


def start(env: TMazeEnv, cue: int, seed: int = 0) -> np.ndarray:
    """Reset, then overwrite the hidden cue so the episode is known in advance."""
    env.reset(seed=seed)
    env.task.cue[0] = cue
    return env.task.observe()[0]


def cue_obs(cue: int) -> list[float]:
    return [1.0 - cue, float(cue), 1.0, 0.0]


@pytest.mark.parametrize("cue", [0, 1])
def test_passive_episode_by_hand(cue):
    env = TMazeEnv(length=3)
    np.testing.assert_array_equal(start(env, cue), cue_obs(cue))
    wrong = 1 - cue
    # actions before the junction are ignored: even the wrong arm is harmless there
    expected = [CORRIDOR, CORRIDOR, JUNCTION]
    for want in expected:
        obs, reward, terminated, truncated, info = env.step(wrong)
        np.testing.assert_array_equal(obs, want)
        assert (reward, terminated, truncated, info) == (0.0, False, False, {})
    obs, reward, terminated, truncated, info = env.step(cue)
    np.testing.assert_array_equal(obs, OVER)
    assert (reward, terminated, truncated, info) == (1.0, True, False, {"success": True})


def test_passive_wrong_arm_pays_nothing():
    env = TMazeEnv(length=1)
    start(env, cue=1)
    assert env.step(0)[1:4] == (0.0, False, False)  # corridor cell 0 -> junction
    obs, reward, terminated, truncated, info = env.step(0)  # up arm, cue said down
    assert (reward, terminated, truncated, info["success"]) == (0.0, True, False, False)


def test_passive_episode_has_length_plus_one_steps():
    env = TMazeEnv(length=16)
    for seed in range(5):
        env.reset(seed=seed)
        steps, done = 0, False
        while not done:
            *_, terminated, truncated, _ = env.step(env.action_space.sample())
            steps += 1
            done = terminated or truncated
            assert not truncated
        assert steps == 17


def test_spaces():
    assert TMazeEnv().action_space == gym.spaces.Discrete(2)
    assert TMazeEnv(active=True).action_space == gym.spaces.Discrete(4)
    for active in (False, True):
        assert TMazeEnv(active=active).observation_space.shape == (4,)


def test_active_penalty_by_hand():
    """L = 2, time limit 6, penalty 1/6: back, arm early, fwd, fwd, fwd at junction, arm."""
    env = TMazeEnv(length=2, active=True)
    assert env.task.penalty == pytest.approx(1 / 6)
    start(env, cue=0)
    p = np.float32(1 / 6)
    script = [
        (BACK, CORRIDOR, -p),  # back at the start: stays, cue is gone
        (DOWN, CORRIDOR, -p),  # an arm before the junction: wasted
        (FWD, CORRIDOR, 0.0),  # cell 1
        (FWD, JUNCTION, 0.0),
        (FWD, JUNCTION, -p),  # forward at the junction: wasted
    ]
    total = 0.0
    for action, want, want_reward in script:
        obs, reward, terminated, truncated, _ = env.step(action)
        np.testing.assert_array_equal(obs, want)
        assert reward == pytest.approx(want_reward)
        assert not terminated and not truncated
        total += reward
    obs, reward, terminated, truncated, info = env.step(UP)
    total += reward
    np.testing.assert_array_equal(obs, OVER)
    assert (reward, terminated, truncated, info["success"]) == (1.0, True, False, True)
    assert total == pytest.approx(1.0 - 3 / 6, abs=1e-6)


def test_active_back_moves_the_agent():
    env = TMazeEnv(length=3, active=True)
    start(env, cue=1)
    for action in (FWD, FWD, BACK, FWD):  # cells 1, 2, 1, 2
        obs, reward, *_ = env.step(action)
        np.testing.assert_array_equal(obs, CORRIDOR)
    assert reward == 0.0
    assert int(env.task.pos[0]) == 2
    obs, *_ = env.step(FWD)
    np.testing.assert_array_equal(obs, JUNCTION)
    # back from the junction costs and returns to the corridor
    obs, reward, *_ = env.step(BACK)
    np.testing.assert_array_equal(obs, CORRIDOR)
    assert reward == pytest.approx(-1 / 8)


def test_active_truncation_at_time_limit():
    env = TMazeEnv(length=2, active=True)  # time limit 2 * 2 + 2 = 6
    start(env, cue=1)
    total = 0.0
    for step in range(1, 7):
        obs, reward, terminated, truncated, info = env.step(BACK)
        total += reward
        assert not terminated
        assert truncated == (step == 6)
    assert info == {"success": False}
    assert total == pytest.approx(-1.0, abs=1e-6)  # a whole episode of wasted moves costs 1


def test_active_arm_at_the_last_step_terminates_not_truncates():
    env = TMazeEnv(length=2, active=True)
    start(env, cue=1)
    for action in (BACK, BACK, BACK, FWD, FWD):
        env.step(action)
    obs, reward, terminated, truncated, info = env.step(DOWN)  # step 6 = the time limit
    assert (terminated, truncated, info["success"]) == (True, False, True)
    assert reward == 1.0


def test_active_wrong_arm():
    env = TMazeEnv(length=1, active=True)
    start(env, cue=0)
    env.step(FWD)
    obs, reward, terminated, truncated, info = env.step(DOWN)
    assert (reward, terminated, info["success"]) == (0.0, True, False)


def test_active_oracle_is_optimal_and_takes_length_plus_one_steps():
    env = TMazeEnv(length=5, active=True)
    for seed in range(4):
        env.reset(seed=seed)
        total, steps = 0.0, 0
        while True:
            *_, reward, terminated, truncated, _ = env.step(env.oracle_action())
            total += reward
            steps += 1
            if terminated or truncated:
                break
        assert (total, steps) == (1.0, 6)


def test_active_random_return_dp_small_case():
    # L = 1, time limit 4, penalty 1/4. Step 1 from the start: fwd (1/4) reaches the
    # junction; anything else (3/4) is wasted. So the first step alone contributes -3/16.
    assert active_random_return(1) < -3 / 16 + 1e-12
    assert TMaze(1, length=1, active=True).random_return == active_random_return(1)


@pytest.mark.parametrize("length", [1, 4, 16])
def test_active_random_return_matches_monte_carlo(length):
    n = 4000
    task = TMaze(n, length=length, active=True)
    task.rng = np.random.default_rng(123)
    task.reset_rows(np.arange(n))
    rng = np.random.default_rng(7)
    returns = np.zeros(n)
    live = np.ones(n, dtype=bool)
    while live.any():
        reward, terminated, truncated = task.step(rng.integers(0, 4, size=n))
        returns += np.where(live, reward, 0.0)
        live &= ~(terminated | truncated)
    stderr = returns.std() / np.sqrt(n)
    assert abs(returns.mean() - task.random_return) < 4 * stderr + 1e-3
    assert f"{task.random_return:.3g}" in TMazeEnv.__doc__


def test_documented_active_random_returns():
    doc = TMazeEnv.__doc__
    for length in (1, 4, 16, 512):
        assert f"{active_random_return(length):.3g}" in doc
    assert TMazeEnv(length=512, active=True).task.random_return == pytest.approx(-0.75, abs=1e-3)


# from the former dynamic programme, run at every length (O(L**2): 2.6 s at L = 20000)
FORMER_ACTIVE_RETURNS = {
    2: -0.6123046874999999,
    5: -0.7309203843275707,
    16: -0.7499667781882319,
    200: -0.7500000000000019,
    201: -0.7499999999999931,
    512: -0.7500000000000124,
    20000: -0.749999999999868,
}


@pytest.mark.parametrize("length", sorted(FORMER_ACTIVE_RETURNS))
def test_active_random_return_matches_the_former_programme(length):
    """Up to the former programme's own rounding (about L * 1e-17)."""
    expected = FORMER_ACTIVE_RETURNS[length]
    assert active_random_return(length) == pytest.approx(expected, rel=0, abs=1e-12)


def test_active_random_return_is_quick_at_the_largest_length():
    """Beyond 200 cells the junction is out of reach but for a chance below 1e-40."""
    assert TMaze(1, length=10**8, active=True).random_return == -0.75


@pytest.mark.parametrize("active", [False, True])
def test_stepping_finished_rows_is_safe_and_rows_are_independent(active):
    task = TMaze(3, length=2, active=active)
    task.rng = np.random.default_rng(0)
    task.reset_rows(np.arange(3))
    for _ in range(3):  # all rows reach the end (3 oracle steps)
        task.step(task.oracle())
    assert task.success().all()
    for _ in range(10):  # finished rows may be stepped again; nothing breaks
        task.step(np.zeros(3, dtype=np.int64))
    task.reset_rows(np.array([1]))
    obs = task.observe()
    assert obs[1, 2] == 1.0 and obs[1, :2].sum() == 1.0  # row 1 restarted, cue visible
    assert not task.success()[1]
    assert task.describe(1).startswith("TMaze")


def test_describe_mentions_cue_only_first():
    env = TMazeEnv(length=2, render_mode="ansi")
    start(env, cue=1)
    assert "cue: down" in env.render()
    env.step(0)
    assert "cue" not in env.render()
    env.step(0)
    assert "junction" in env.render()
    env.step(1)
    assert "over (correct" in env.render()


def test_bad_knobs():
    with pytest.raises(ValueError, match=r"length must be in \[1, 100000000\], got 0"):
        TMazeEnv(length=0)
    with pytest.raises(ValueError, match="length must be an integer"):
        TMazeEnv(length=2.5)
    with pytest.raises(ValueError, match="active must be a bool"):
        TMazeEnv(active="yes")
    with pytest.raises(ValueError, match="outside the action space"):
        env = TMazeEnv()
        env.reset(seed=0)
        env.step(2)  # passive has only 2 actions
