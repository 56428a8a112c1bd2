"""Hypothesis fuzz of every task's knobs and actions (issue 14): each case either builds and
steps fine, or raises a ValueError; never an OverflowError, IndexError, MemoryError or hang.

The memory budget is lowered to 8 MiB here, so that the largest configurations that still
fit build in milliseconds and the ones above it must be refused.
"""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import memenvs  # noqa: F401
from memenvs import core
from memenvs.core import MAX_KNOB
from memenvs.registry import TASKS
from memenvs.wrappers import ExternalMemory

FUZZ = settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
CASES = {"knobs": 0, "actions": 0}

edge_ints = st.sampled_from(
    [0, 1, 2, 3, -1, -(2**63), 2**63 - 1, 2**63, 2**64, MAX_KNOB, MAX_KNOB + 1, 10**6, 4096]
)
INVALID_NUM_ENVS = [0, -1, -(2**63), 2**63, 2**64, MAX_KNOB + 1]
int_knob = st.one_of(
    st.integers(-3, 40),
    edge_ints,
    st.integers(-(2**70), 2**70),
    edge_ints.filter(lambda v: -(2**63) <= v < 2**63).map(np.int64),
    st.integers(0, 2**64 - 1).map(np.uint64),
)
odd_value = st.sampled_from(
    [2.5, 3.0, float("nan"), float("inf"), "4", None, True, np.timedelta64(3, "s"), np.float32(2)]
)


def knob_values(default):
    """Valid and invalid values for a knob, by the type of its default."""
    if isinstance(default, bool):
        return st.one_of(st.booleans(), st.sampled_from([np.bool_(True), 1, 0, "yes", None]))
    if isinstance(default, int):
        return st.one_of(int_knob, odd_value, st.tuples(int_knob, int_knob))
    return st.one_of(st.just(default), st.tuples(int_knob, int_knob), int_knob, odd_value)


@st.composite
def configs(draw, entry):
    return {
        name: draw(knob_values(default))
        for name, default in entry.knobs().items()
        if draw(st.booleans())
    }


@pytest.fixture
def small_budget(monkeypatch):
    monkeypatch.setattr(core, "MEMORY_BUDGET", 8 * 2**20)


def run_a_little(env: gym.Env, seed: int, steps: int = 30) -> None:
    env.reset(seed=seed)
    env.action_space.seed(seed)
    for _ in range(steps):
        obs, reward, terminated, truncated, _ = env.step(env.action_space.sample())
        assert env.observation_space.contains(obs) and np.isfinite(reward)
        if terminated or truncated:
            env.reset()


@pytest.mark.parametrize("entry", TASKS, ids=lambda e: e.name)
def test_any_knobs_build_and_step_or_raise_value_error(entry, small_budget):
    @FUZZ
    @given(
        knobs=configs(entry),
        # valid but huge num_envs (10**6..10**8 rows) are a speed case, not a validation one:
        # they made a single example take minutes and ~10 GB; only values that must fail
        num_envs=st.one_of(st.integers(1, 4), st.sampled_from(INVALID_NUM_ENVS)),
        seed=st.integers(0, 2**32),
    )
    def check(knobs, num_envs, seed):
        CASES["knobs"] += 1
        try:
            env = gym.make(f"memenvs/{entry.name}-v0", **knobs).unwrapped
        except ValueError as err:
            assert any(name in str(err) for name in entry.knobs()), str(err)
        else:
            run_a_little(env, seed)
        try:
            venv = gym.make_vec(f"memenvs/{entry.name}-v0", num_envs=num_envs, **knobs)
        except ValueError as err:
            assert any(name in str(err) for name in [*entry.knobs(), "num_envs"]), str(err)
            return
        venv.reset(seed=seed)
        for _ in range(5):
            venv.step(venv.action_space.sample())

    check()


DTYPES = sorted({np.dtype(c) for c in np.typecodes["All"] if c not in "Mm"}, key=str) + [
    np.dtype("M8[s]"),
    np.dtype("m8[s]"),
    np.dtype("m8[D]"),
]


def as_dtype(value, dtype: np.dtype) -> np.ndarray:
    """``value`` (an int array) in ``dtype``, the way a careless caller would build it."""
    if dtype.kind in "Mm":
        return value.astype(np.int64).astype(dtype)
    if dtype.kind == "V":
        return np.zeros(value.shape, dtype=dtype)
    with np.errstate(all="ignore"):
        return value.astype(dtype)


@pytest.mark.parametrize("entry", TASKS, ids=lambda e: e.name)
def test_actions_of_every_dtype_step_or_raise_value_error(entry):
    env = gym.make(f"memenvs/{entry.name}-Easy-v0").unwrapped
    venv = gym.make_vec(f"memenvs/{entry.name}-Easy-v0", num_envs=3)

    @FUZZ
    @given(
        dtype=st.sampled_from(DTYPES),
        value=st.one_of(
            st.integers(-2, 6), st.sampled_from([2**63 - 1, 2**63, 2**64 - 1, -(2**63)])
        ),
        special=st.sampled_from([None, float("nan"), float("inf"), 1e30, 0.5]),
        seed=st.integers(0, 2**16),
    )
    def check(dtype, value, special, seed):
        CASES["actions"] += 1
        for target, batch in ((env, ()), (venv, (3,))):
            target.reset(seed=seed)
            shape = (*batch, *target.unwrapped.task.action_space.shape)
            raw = np.full(shape, special if special is not None else value, dtype=object)
            try:
                action = as_dtype(raw, dtype)
            except (OverflowError, ValueError, TypeError):
                continue  # the caller could not even build such an array
            try:
                target.step(action)
            except ValueError as err:
                assert "action" in str(err), str(err)
            else:
                assert dtype.kind in "iuf", f"{dtype} action accepted: {action!r}"

    check()


def test_external_memory_any_num_slots(small_budget):
    @FUZZ
    @given(num_slots=st.one_of(int_knob, odd_value), seed=st.integers(0, 2**16))
    def check(num_slots, seed):
        CASES["knobs"] += 1
        try:
            env = ExternalMemory(gym.make("memenvs/DelayedRecall-Easy-v0"), num_slots=num_slots)
        except ValueError as err:
            assert "num_slots" in str(err), str(err)
            return
        run_a_little(env, seed, steps=10)

    check()


def test_report_case_counts():
    """Print how many fuzz cases ran (``-s`` to see them); at least one of each kind."""
    print(f"fuzz cases: {CASES}")
    assert CASES["knobs"] > 0 and CASES["actions"] > 0
