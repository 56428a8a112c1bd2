"""Bad knobs, actions and reset options get a ValueError that names the problem (issue 14).

Each reproducer here failed before its fix: with an OverflowError or IndexError inside the
dynamics, a MemoryError, a silent wrong answer, or a silent acceptance.
"""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest

import memenvs  # noqa: F401
from memenvs import core
from memenvs.core import MAX_KNOB, check_int, check_memory, score_reward
from memenvs.envs.count_recall import CountRecall
from memenvs.envs.endless_recall import EndlessRecall
from memenvs.envs.repeat_copy import RepeatCopy
from memenvs.envs.repeat_previous import RepeatPrevious
from memenvs.envs.tape_duplicated_input import TapeDuplicatedInput
from memenvs.registry import TASKS
from memenvs.wrappers import ExternalMemory, ExternalMemoryVector

DEFAULT_IDS = [f"memenvs/{e.name}-v0" for e in TASKS]


# ------------------------------------------------------------------------- integer knobs
@pytest.mark.parametrize(
    "build, knob",
    [
        (lambda: gym.make("memenvs/DelayedRecall-v0", delay=2**63).reset(seed=0), "delay"),
        (lambda: EndlessRecall(1, delay_growth=2**63).step(np.zeros(1, np.int64)), "delay_growth"),
        (lambda: RepeatPrevious(1, length=2**63 - 1), "length"),
        (lambda: CountRecall(1, length=2**63), "length"),
        (lambda: TapeDuplicatedInput(1, duplication=2**63), "duplication"),
        (lambda: RepeatCopy(1, max_repeats=2**63 - 1), "max_repeats"),
    ],
)
def test_huge_integer_knobs_fail_at_construction(build, knob):
    with pytest.raises(ValueError, match=rf"{knob} must be in \[\d+, {MAX_KNOB}\]"):
        build()


@pytest.mark.parametrize("entry", TASKS, ids=lambda e: e.name)
def test_every_integer_knob_has_the_upper_bound(entry):
    for knob, default in entry.knobs().items():
        if isinstance(default, bool) or not isinstance(default, int):
            continue
        for value in (MAX_KNOB + 1, 2**63, -(2**63) - 1, np.uint64(2**64 - 1)):
            with pytest.raises(ValueError, match=knob):
                gym.make(f"memenvs/{entry.name}-v0", **{knob: value})


def test_delay_and_length_knobs_reach_a_million():
    """The suite is for recall across 10**4-10**5 steps: such knobs must allow 10**6."""
    assert MAX_KNOB >= 10**6
    env = gym.make("memenvs/DelayedRecall-v0", delay=10**6).unwrapped
    env.reset(seed=0)
    assert env.task.delay[0] == 10**6
    gym.make("memenvs/TMaze-v0", length=10**6, active=True).reset(seed=0)
    gym.make("memenvs/CountRecall-v0", length=10**6).reset(seed=0)
    gym.make("memenvs/RepeatPrevious-v0", k=10**6 - 1, length=10**6).reset(seed=0)


def test_check_int_refuses_non_integers():
    for bad in (True, np.bool_(False), 2.0, np.timedelta64(3), "3", None, np.float32(1)):
        with pytest.raises(ValueError, match="x must be an integer"):
            check_int("x", bad, 0)
    assert check_int("x", np.int8(5), 0) == 5
    assert check_int("x", np.uint64(7), 0) == 7


def test_repeat_copy_long_repeats_stay_in_bounds():
    """max_repeats used to wrap around int64 and index out of bounds within 50 steps."""
    env = gym.make("memenvs/RepeatCopy-v0", max_repeats=MAX_KNOB).unwrapped
    env.reset(seed=0)
    env.action_space.seed(0)
    for _ in range(200):
        *_, terminated, truncated, _ = env.step(env.action_space.sample())
        if terminated or truncated:
            env.reset()


# -------------------------------------------------------------------------- memory budget
@pytest.mark.parametrize(
    "build, knob",
    [
        # alphabets cost O(K) a row (no [K, K] tables): only the largest ones are too big
        (lambda: RepeatPrevious(4, num_symbols=MAX_KNOB), "num_symbols=100000000"),
        (lambda: gym.make("memenvs/AssociativeRecall-v0", num_symbols=MAX_KNOB), "num_symbols"),
        (
            lambda: gym.make_vec("memenvs/CountRecall-v0", num_envs=4, num_symbols=MAX_KNOB),
            "num_symbols",
        ),
        (lambda: gym.make_vec("memenvs/Copy-v0", num_envs=10**4, max_length=10**5), "num_envs"),
        (lambda: TapeDuplicatedInput(1, duplication=10**6, max_length=10**6), "max_length"),
        (lambda: gym.make("memenvs/MemorySize-v0", num_bits=MAX_KNOB), "num_bits"),
        (lambda: ExternalMemory(gym.make("memenvs/DelayedRecall-v0"), MAX_KNOB), "num_slots"),
    ],
)
def test_over_the_memory_budget_fails_fast(build, knob):
    with pytest.raises(ValueError, match=rf"{knob}.*over the budget of 2.0 GiB"):
        build()


def test_external_memory_num_slots_bound():
    with pytest.raises(ValueError, match=r"num_slots must be in \[1, 100000000\]"):
        ExternalMemory(gym.make("memenvs/DelayedRecall-v0"), num_slots=10**9)
    venv = gym.make_vec("memenvs/DelayedRecall-v0", num_envs=64)
    with pytest.raises(ValueError, match="num_slots=4000000.*rows=64"):
        ExternalMemoryVector(venv, num_slots=4 * 10**6)


def test_memory_budget_is_adjustable(monkeypatch):
    check_memory(2**20, x=1)
    monkeypatch.setattr(core, "MEMORY_BUDGET", 2**19)
    with pytest.raises(ValueError, match=r"x=1 would need about 1.0 MiB.*512.0 KiB"):
        check_memory(2**20, x=1)
    with pytest.raises(ValueError, match="length"):
        CountRecall(1, length=100_000)


@pytest.mark.parametrize(
    "env_id, knobs, named",
    [
        ("memenvs/TapeReversedAddition-v0", {"rows": 10**8}, "rows=100000000"),
        ("memenvs/TapeDuplicatedInput-v0", {"duplication": 10**8}, "duplication=100000000"),
    ],
)
def test_the_budget_error_names_the_knob_that_sized_the_tapes(env_id, knobs, named):
    with pytest.raises(ValueError, match=rf"{named}.*over the budget"):
        gym.make(env_id, **knobs)


def test_curriculum_growth_is_checked_too():
    task = TapeDuplicatedInput(1)
    with pytest.raises(ValueError, match="max_length=100000000.*over the budget"):
        task.set_length_range(1, MAX_KNOB)


# -------------------------------------------------------------------------------- actions
NON_INTEGER_ACTIONS = [
    np.timedelta64(1),
    np.datetime64(1, "s"),
    np.array(1, dtype="m8[D]"),
    np.float64(np.nan),
    np.float32(np.inf),
    1.5,
    True,
    np.bool_(False),
    1 + 0j,
    "1",
    None,
    np.array(1, dtype=object),
]


@pytest.mark.parametrize("env_id", DEFAULT_IDS)
def test_non_integer_actions_are_refused(env_id):
    """np.timedelta64 used to pass as an integer (IndexError inside three tasks' dynamics)."""
    env = gym.make(env_id).unwrapped
    env.reset(seed=0)
    shape = env.action_space.shape
    for bad in NON_INTEGER_ACTIONS:
        action = np.full(shape, bad) if shape else bad
        with pytest.raises(ValueError, match="actions must be integers"):
            env.step(action)
    venv = gym.make_vec(env_id, num_envs=3)
    venv.reset(seed=0)
    with pytest.raises(ValueError, match="actions must be integers"):
        venv.step(np.zeros((3, *shape), dtype="m8[s]"))


def test_vector_actions_of_another_row_count_are_refused_not_reshaped():
    """A (3, 2) array for 2 envs of 3-field actions used to be reshaped to (2, 3), moving
    fields between rows; a flat (6,) one too. Only a row's own nesting may differ."""
    venv = gym.make_vec("memenvs/TapeCopy-v0", num_envs=2)
    venv.reset(seed=0)
    for bad in ([[1, 0], [0, 1], [1, 0]], [1, 0, 1, 0, 1, 0], [[[1, 0, 1, 0, 1, 0]]]):
        with pytest.raises(ValueError, match=r"actions must have shape \(2, 3\)"):
            venv.step(np.asarray(bad))
    venv.step(np.asarray([[1, 0, 1], [0, 1, 0]])[:, :, None])  # [N, 3, 1]: each row's own
    discrete = gym.make_vec("memenvs/DelayedRecall-v0", num_envs=4)
    discrete.reset(seed=0)
    with pytest.raises(ValueError, match=r"actions must have shape \(4,\)"):
        discrete.step(np.zeros((2, 2), dtype=np.int64))
    discrete.step(np.zeros((4, 1), dtype=np.int64))
    memory = ExternalMemoryVector(gym.make_vec("memenvs/DelayedRecall-v0", num_envs=2), 2)
    memory.reset(seed=0)
    width = memory.single_action_space.shape[0]
    with pytest.raises(ValueError, match=rf"actions must have shape \(2, {width}\)"):
        memory.step(np.zeros(2 * width, dtype=np.int64))
    memory.step(np.zeros((2, width), dtype=np.int64))
    single = ExternalMemory(gym.make("memenvs/DelayedRecall-v0"), num_slots=2)
    single.reset(seed=0)
    single.step(np.zeros((1, width), dtype=np.int64))  # one action, batched


def test_whole_float_and_unsigned_actions_still_work():
    env = gym.make("memenvs/KeyToDoor-v0").unwrapped
    env.reset(seed=0)
    env.step(np.float32(2.0))
    env.step(np.uint8(1))
    with pytest.raises(ValueError, match="outside the action space"):
        env.step(np.uint64(2**64 - 1))
    with pytest.raises(ValueError, match="outside the action space"):
        env.step(np.float64(1e30))


def test_external_memory_refuses_non_integer_actions():
    env = ExternalMemory(gym.make("memenvs/DelayedRecall-v0"), num_slots=2)
    env.reset(seed=0)
    for bad in (np.array([0, 0, 0], dtype="m8[s]"), np.array([0.0, np.inf, 0.0]), [True] * 3):
        with pytest.raises(ValueError, match="actions must be integers|outside"):
            env.step(bad)


# -------------------------------------------------------------------------- reset options
@pytest.mark.parametrize("env_id", DEFAULT_IDS)
def test_reset_options_are_checked(env_id):
    env = gym.make(env_id)
    env.reset(seed=0, options=None)
    env.reset(seed=0, options={})
    with pytest.raises(ValueError, match="unknown reset option.*'delay'"):
        env.reset(options={"delay": 3})
    with pytest.raises(ValueError, match="options must be a dict or None, got list"):
        env.reset(options=["x"])
    venv = gym.make_vec(env_id, num_envs=2)
    venv.reset(seed=0, options={})
    with pytest.raises(ValueError, match="unknown reset option"):
        venv.reset(options={"x": 1})
    with pytest.raises(ValueError, match="options must be a dict"):
        venv.reset(options="fast")


def test_score_rewards_sum_exactly_to_the_score():
    """Paid one right step at a time, the running float64 sum is exactly ``count / total``
    (so exactly 1.0 at the end), where ``1 / total`` a step drifts by an ulp or so."""
    for total in [*range(1, 2001), 99_991, 10**6]:
        count = np.arange(1, total + 1)
        rewards = score_reward(count, np.ones(total, dtype=np.int64), total)
        np.testing.assert_array_equal(np.cumsum(rewards), count / total)  # a sequential sum
    assert sum([1 / 60] * 60) != 1.0 and sum(score_reward(np.arange(1, 61), 1, 60)) == 1.0
