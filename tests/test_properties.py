"""Property-based tests: any knobs, any actions -> a valid step or a clear error.

Never a crash, a hang, a NaN, or an observation outside the observation space.
"""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.error import ResetNeeded
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import memenvs  # noqa: F401
from memenvs.registry import TASKS

small_int = st.integers(min_value=-3, max_value=12)


def knob_values(default):
    """Values to try for a knob, valid and invalid, based on its default's type."""
    if isinstance(default, bool):
        return st.one_of(st.booleans(), st.just(3), st.just("yes"))
    if isinstance(default, int):
        return st.one_of(small_int, st.tuples(small_int, small_int), st.just(2.5), st.just(None))
    return st.just(default)


@st.composite
def configs(draw, entry):
    knobs = {}
    for name, default in entry.knobs().items():
        if draw(st.booleans()):
            knobs[name] = draw(knob_values(default))
    return knobs


@pytest.mark.parametrize("entry", TASKS, ids=lambda e: e.name)
def test_any_knobs_and_actions(entry):
    @settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(knobs=configs(entry), seed=st.integers(0, 2**31 - 1), data=st.data())
    def check(knobs, seed, data):
        try:
            env = gym.make(f"memenvs/{entry.name}-v0", **knobs).unwrapped
        except ValueError as err:
            # a clear error names one of the knobs it rejects
            assert any(name in str(err) for name in entry.knobs()), str(err)
            return
        obs, _ = env.reset(seed=seed)
        assert env.observation_space.contains(obs)
        env.action_space.seed(seed)
        episodes = 0
        for _ in range(150):
            if data.draw(st.integers(0, 9)) == 0:  # now and then, an action outside the space
                bad = np.asarray(env.action_space.sample()) + data.draw(
                    st.sampled_from([-100, 100])
                )
                with pytest.raises(ValueError):
                    env.step(bad)
            obs, reward, terminated, truncated, info = env.step(env.action_space.sample())
            assert env.observation_space.contains(obs)
            assert np.isfinite(reward) and -1.0 - 1e-9 <= reward <= 1.0 + 1e-9
            if terminated or truncated:
                assert isinstance(info["success"], bool)
                with pytest.raises(ResetNeeded):
                    env.step(env.action_space.sample())
                obs, _ = env.reset()
                episodes += 1

    check()


@pytest.mark.parametrize("entry", TASKS, ids=lambda e: e.name)
def test_vector_env_any_actions(entry):
    @settings(max_examples=15, deadline=None)
    @given(seed=st.integers(0, 2**31 - 1), num_envs=st.integers(1, 9))
    def check(seed, num_envs):
        venv = gym.make_vec(f"memenvs/{entry.name}-Easy-v0", num_envs=num_envs)
        venv.action_space.seed(seed)
        obs, _ = venv.reset(seed=seed)
        for _ in range(60):
            obs, reward, terminated, truncated, info = venv.step(venv.action_space.sample())
            assert venv.observation_space.contains(obs)
            assert np.all(np.isfinite(reward))
            if info:
                assert np.array_equal(info["_success"], terminated | truncated)

    check()
