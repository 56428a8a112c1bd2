"""The vector seeding contract (issue 12 item 5): row i of ``make_vec(id, n).reset(seed=s)``
plays ``make(id).reset(seed=s + i)``'s episodes, whatever ``n`` is (one generator per row).
"""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.vector import AutoresetMode

import memenvs  # noqa: F401
from memenvs.evaluate import sample_actions
from memenvs.registry import all_ids

ALL_IDS = all_ids()
SEED, STEPS = 21, 40


def action_plan(space: gym.Space, rows: int) -> np.ndarray:
    """Fixed random actions ``[STEPS, rows, ...]``: row i's column does not depend on rows."""
    columns = [sample_actions(space, (STEPS,), np.random.default_rng(100 + i)) for i in range(rows)]
    return np.stack(columns, axis=1)


@pytest.mark.parametrize("env_id", ALL_IDS)
def test_vector_row_i_plays_the_single_env_seeded_seed_plus_i(env_id):
    n = 3
    venv = gym.make_vec(env_id, num_envs=n, autoreset_mode=AutoresetMode.SAME_STEP)
    plan = action_plan(venv.single_action_space, n)
    obs_v, _ = venv.reset(seed=SEED)
    singles = [gym.make(env_id).unwrapped for _ in range(n)]
    obs_s = [env.reset(seed=SEED + i)[0] for i, env in enumerate(singles)]
    for t in range(STEPS):
        for i in range(n):
            np.testing.assert_array_equal(obs_v[i], obs_s[i], err_msg=f"row {i}, step {t}")
        obs_v, reward_v, term_v, trunc_v, _ = venv.step(plan[t])
        for i, env in enumerate(singles):
            obs_s[i], reward, term, trunc, _ = env.step(plan[t, i])
            assert (reward_v[i], term_v[i], trunc_v[i]) == (reward, term, trunc)
            if term or trunc:
                obs_s[i], _ = env.reset()


@pytest.mark.parametrize("mode", [AutoresetMode.NEXT_STEP, AutoresetMode.SAME_STEP])
@pytest.mark.parametrize("env_id", [i for i in ALL_IDS if "-Easy-" in i])
def test_a_rows_episodes_do_not_depend_on_num_envs(env_id, mode):
    """Over many episodes, autoresets included: rows 0-1 of 2 envs == rows 0-1 of 5 envs."""
    small = gym.make_vec(env_id, num_envs=2, autoreset_mode=mode)
    large = gym.make_vec(env_id, num_envs=5, autoreset_mode=mode)
    plan = action_plan(small.single_action_space, 5)
    o_small, _ = small.reset(seed=SEED)
    o_large, _ = large.reset(seed=SEED)
    episodes = 0
    for t in range(STEPS * 5):
        np.testing.assert_array_equal(o_small, o_large[:2], err_msg=f"step {t}")
        o_small, r_small, te, tr, _ = small.step(plan[t % STEPS, :2])
        o_large, r_large, *_ = large.step(plan[t % STEPS])
        np.testing.assert_array_equal(r_small, r_large[:2])
        episodes += int((te | tr).sum())
    assert episodes >= 2


def test_reseeding_restarts_every_row_and_seed_lists_work():
    env_id = "memenvs/DelayedRecall-Medium-v0"  # noisy distractors: draws inside step too
    venv = gym.make_vec(env_id, num_envs=3)
    first, _ = venv.reset(seed=5)
    trace = [venv.step(np.zeros(3, np.int64))[0] for _ in range(20)]
    again, _ = venv.reset(seed=5)
    np.testing.assert_array_equal(first, again)
    for expected in trace:
        np.testing.assert_array_equal(venv.step(np.zeros(3, np.int64))[0], expected)
    listed, _ = venv.reset(seed=[5, 6, 7])
    np.testing.assert_array_equal(listed, first)
    with pytest.raises(ValueError, match="seed must be an int, None or a list of 3 seeds"):
        venv.reset(seed=[1, 2])


def test_vector_reset_takes_a_numpy_integer_seed():
    """``np.int64(5)`` seeds like ``5`` (gymnasium's own seeding refused numpy integers)."""
    venv = gym.make_vec("memenvs/DelayedRecall-Medium-v0", num_envs=3)
    obs, _ = venv.reset(seed=5)
    trace = [venv.step(np.zeros(3, np.int64))[0] for _ in range(5)]
    for seed in (np.int64(5), np.uint64(5), np.int32(5)):
        again, _ = venv.reset(seed=seed)
        np.testing.assert_array_equal(again, obs)
        for expected in trace:
            np.testing.assert_array_equal(venv.step(np.zeros(3, np.int64))[0], expected)
    assert venv.unwrapped.np_random_seed == 5


def test_unseeded_vector_envs_differ_from_each_other():
    a = gym.make_vec("memenvs/CountRecall-v0", num_envs=4)
    b = gym.make_vec("memenvs/CountRecall-v0", num_envs=4)
    trace_a = [a.reset()[0]] + [a.step(np.zeros(4, np.int64))[0] for _ in range(8)]
    trace_b = [b.reset()[0]] + [b.step(np.zeros(4, np.int64))[0] for _ in range(8)]
    assert not np.array_equal(np.stack(trace_a), np.stack(trace_b))
    rows = np.stack(trace_a)  # four rows of one env: four different generators
    assert len({rows[:, i].tobytes() for i in range(4)}) == 4


@pytest.mark.parametrize("env_id", ["memenvs/RepeatCopy-Easy-v0", "memenvs/KeyToDoor-v0"])
def test_sb3_native_vec_env_seeds_like_dummy_vec_env(env_id):
    """SB3's ``VecEnv.seed(s)`` gives env i ``s + i``: native and DummyVecEnv agree."""
    pytest.importorskip("stable_baselines3")
    from agents.vec_env import make_vec_env

    native = make_vec_env(env_id, n_envs=3, seed=8, native=True)
    dummy = make_vec_env(env_id, n_envs=3, seed=8, native=False)
    np.testing.assert_array_equal(native.reset(), dummy.reset())
    plan = action_plan(native.action_space, 3)
    for t in range(STEPS):
        o_n, r_n, d_n, _ = native.step(plan[t])
        o_d, r_d, d_d, _ = dummy.step(plan[t])
        np.testing.assert_array_equal(o_n, o_d)
        np.testing.assert_array_equal(r_n, r_d)
        np.testing.assert_array_equal(d_n, d_d)
    native.seed(8)
    np.testing.assert_array_equal(native.reset(), make_vec_env(env_id, 3, seed=8).reset())


def _mix_reference(z):
    """mix64 as first written, out of place."""
    z = z.astype(np.uint64)
    with np.errstate(over="ignore"):
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return z ^ (z >> np.uint64(31))


def _hash_reference(key, counter):
    """hash_bits as first written: the streams every committed result was made with."""
    golden = np.uint64(0x9E3779B97F4A7C15)
    with np.errstate(over="ignore"):
        inner = _mix_reference(counter.astype(np.uint64) * golden + golden)
    return _mix_reference(key.astype(np.uint64) ^ inner)


#: hash_bits of keys [[1], [2]] and counters [0, 1, 2] (pinned: a change to the streams
#: changes every episode)
PINNED_BITS = [
    [11385487063155714807, 658006869215568080, 12570163593899035840],
    [4455725808831290745, 3268634955820036610, 2767183103124824136],
]


def test_the_row_streams_stay_the_same():
    """The in-place hash draws what the first one drew, leaves its inputs alone and
    broadcasts keys over counters."""
    from memenvs import core

    rng = np.random.default_rng(0)
    for dtype in (np.int64, np.uint64):
        key = rng.integers(0, 2**62, size=(5, 1)).astype(dtype)
        counter = rng.integers(0, 2**62, size=(5, 7)).astype(dtype)
        before = counter.copy()
        np.testing.assert_array_equal(core.hash_bits(key, counter), _hash_reference(key, counter))
        np.testing.assert_array_equal(core.mix64(counter), _mix_reference(counter))
        np.testing.assert_array_equal(counter, before)
    keys, counters = np.array([[1], [2]], np.uint64), np.array([[0, 1, 2]] * 2, np.uint64)
    assert core.hash_bits(keys, counters).tolist() == PINNED_BITS
    assert core.seed_key(7) == 17454865949639441193
