"""LengthCurriculum: promotion rule, per-instance state, info, the vector wrapper."""

from __future__ import annotations

import pickle

import gymnasium as gym
import numpy as np
import pytest

import memenvs  # noqa: F401  (registers the ids)
from memenvs.curriculum import LengthCurriculum, VectorLengthCurriculum


def play(env, policy) -> tuple[float, dict]:
    """One episode from reset; returns its return and the last info."""
    env.reset()
    total = 0.0
    while True:
        *_, reward, terminated, truncated, info = env.step(policy(env))
        total += reward
        if terminated or truncated:
            return total, info


def oracle(env):
    return env.unwrapped.oracle_action()


def fail(env):
    return np.array([1, 0, 0])  # walk right and never write: runs out of time


def test_solved_windows_raise_the_level():
    env = LengthCurriculum(gym.make("memenvs/TapeCopy-v0", min_length=2, max_length=4), window=3)
    _, info = env.reset(seed=0)
    assert info["curriculum_length"] == 2
    task = env.unwrapped.task
    assert task.length_range == (2, 2)
    levels = []
    for _ in range(9):
        _, info = play(env, oracle)
        levels.append(info["curriculum_length"])
        assert task.length[0] <= 4
    # promoted after every 3rd solved episode, capped at the configured max_length
    assert levels == [2, 2, 3, 3, 3, 4, 4, 4, 4]
    assert task.length_range == (2, 4)
    assert env.schedule.state()["promotions"] == 2


def test_a_failure_restarts_the_record():
    env = LengthCurriculum(gym.make("memenvs/TapeReverse-v0", max_length=10), window=2)
    env.reset(seed=1)
    play(env, oracle)
    _, info = play(env, fail)
    assert info["success"] is False and info["curriculum_length"] == 2
    play(env, oracle)
    assert env.curriculum_length == 2
    _, info = play(env, oracle)
    assert info["curriculum_length"] == 3


def test_state_is_per_instance():
    a = LengthCurriculum(gym.make("memenvs/TapeCopy-v0", max_length=8), window=1)
    b = LengthCurriculum(gym.make("memenvs/TapeCopy-v0", max_length=8), window=1)
    a.reset(seed=2)
    b.reset(seed=2)
    for _ in range(4):
        play(a, oracle)
    play(b, fail)
    assert (a.curriculum_length, b.curriculum_length) == (6, 2)
    assert a.unwrapped.task.length_range == (2, 6)
    assert b.unwrapped.task.length_range == (2, 2)
    clone = pickle.loads(pickle.dumps(a))
    assert clone.curriculum_length == 6 and clone.unwrapped.task.length_range == (2, 6)


def test_sliding_range_and_start():
    env = LengthCurriculum(
        gym.make("memenvs/TapeRepeatCopy-v0", min_length=1, max_length=50),
        start=3,
        stop=6,
        spread=2,
        increment=2,
        window=1,
    )
    env.reset(seed=3)
    task = env.unwrapped.task
    assert task.length_range == (1, 3)
    play(env, oracle)
    assert task.length_range == (3, 5)
    play(env, oracle)
    assert task.length_range == (4, 6) and env.curriculum_length == 6
    play(env, oracle)
    assert env.curriculum_length == 6  # stop


def test_lengths_beyond_the_configured_max_grow_the_task():
    env = LengthCurriculum(gym.make("memenvs/TapeCopy-v0", max_length=3), stop=40, window=1)
    env.reset(seed=4)
    for _ in range(45):
        ret, info = play(env, oracle)
        assert ret == pytest.approx(1.0)
    assert info["curriculum_length"] == 40
    assert env.unwrapped.task.tape.shape[2] >= 40


def test_vector_curriculum():
    venv = VectorLengthCurriculum(
        gym.make_vec("memenvs/TapeDuplicatedInput-v0", num_envs=8, max_length=6), window=4
    )
    _, info = venv.reset(seed=5)
    np.testing.assert_array_equal(info["curriculum_length"], [2] * 8)
    task = venv.unwrapped.task
    seen = set()
    for _ in range(200):
        _, _, terminated, truncated, info = venv.step(venv.env.oracle_action())
        assert np.all(task.length <= info["curriculum_length"])
        seen.update(task.length.tolist())
    assert venv.curriculum_length == 6
    assert info["_curriculum_length"].all()
    assert seen == {2, 3, 4, 5, 6}


def test_tasks_without_a_length_range_are_refused():
    for env_id in ("memenvs/DelayedRecall-v0", "memenvs/Copy-v0"):
        with pytest.raises(TypeError, match="no length range .* tape tasks .* PrioritySort"):
            LengthCurriculum(gym.make(env_id))


def test_each_wrapper_names_the_other_for_the_wrong_kind_of_env():
    """LengthCurriculum on a vector env failed with gymnasium's generic 'Expected env to be a
    gymnasium.Env'; VectorLengthCurriculum on a single env with 'not a memenvs env'."""
    vector = gym.make_vec("memenvs/TapeCopy-v0", num_envs=2)
    with pytest.raises(TypeError, match=r"use VectorLengthCurriculum .* wrappers=\[Length"):
        LengthCurriculum(vector)
    with pytest.raises(TypeError, match="for a single env use LengthCurriculum"):
        VectorLengthCurriculum(gym.make("memenvs/TapeCopy-v0"))
    venv = gym.make_vec(
        "memenvs/TapeCopy-v0", 2, vectorization_mode="sync", wrappers=[LengthCurriculum]
    )
    _, info = venv.reset(seed=0)
    assert info["curriculum_length"].tolist() == [venv.envs[0].curriculum_length] * 2


@pytest.mark.parametrize(
    ("knobs", "message"),
    [
        ({"start": 1}, r"start must be in \[2, 6\], got 1"),
        ({"stop": 1}, r"stop must be in \[2, 100000000\], got 1"),
        ({"window": 0}, r"window must be in \[1, 100000000\], got 0"),
        ({"increment": 0}, r"increment must be in \[1, 100000000\], got 0"),
        ({"spread": -1}, r"spread must be in \[0, 100000000\], got -1"),
    ],
)
def test_bad_arguments(knobs, message):
    with pytest.raises(ValueError, match=message):
        LengthCurriculum(gym.make("memenvs/TapeCopy-v0"), **knobs)


def test_start_past_the_tasks_max_length_names_start():
    env = gym.make("memenvs/TapeCopy-v0", min_length=2, max_length=4)
    with pytest.raises(ValueError, match=r"start must be in \[2, 4\], got 100000000"):
        LengthCurriculum(env, start=10**8)


@pytest.mark.parametrize(
    "env_id", ["memenvs/TapeCopy-v0", "memenvs/TapeDuplicatedInput-v0", "memenvs/PrioritySort-v0"]
)
def test_a_stop_over_the_memory_budget_is_refused_up_front(env_id):
    env = gym.make(env_id, min_length=2, max_length=4)
    with pytest.raises(ValueError, match=r"stop=100000000 .*max_length=100000000.*over the budget"):
        LengthCurriculum(env, window=1, stop=10**8, increment=10**8)
    assert env.unwrapped.task.length_range == (2, 4)


@pytest.mark.parametrize("task_env", ["memenvs/TapeCopy-v0", "memenvs/PrioritySort-v0"])
def test_a_refused_length_range_leaves_the_task_as_it_was(task_env):
    task = gym.make(task_env, min_length=2, max_length=4).unwrapped.task
    with pytest.raises(ValueError, match="max_length=100000000.*over the budget"):
        task.set_length_range(2, 10**8)
    assert task.length_range == (2, 4)
    assert task.check_length_range(3, 5) == (3, 5) and task.length_range == (2, 4)


def test_a_failed_promotion_leaves_schedule_and_task_consistent(monkeypatch):
    env = LengthCurriculum(
        gym.make("memenvs/TapeCopy-v0", min_length=2, max_length=4), window=1, stop=6
    )
    env.reset(seed=6)
    task = env.unwrapped.task

    def refuse(min_length, max_length):
        raise ValueError(f"max_length={max_length} refused")

    monkeypatch.setattr(task, "set_length_range", refuse)
    with pytest.raises(ValueError, match="max_length=3 refused"):
        play(env, oracle)
    monkeypatch.undo()
    assert env.schedule.state() == {
        "length": 2,
        "length_range": (2, 2),
        "promotions": 0,
        "recent_successes": [True],
    }
    assert task.length_range == (2, 2)
    ret, info = play(env, oracle)  # the env still works and the next solve promotes
    assert ret == pytest.approx(1.0) and info["curriculum_length"] == 3
