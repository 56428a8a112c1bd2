"""The contract every registered task meets, parametrized over the registry."""

from __future__ import annotations

import pickle
import re
import subprocess
import sys

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.error import ResetNeeded
from gymnasium.utils.env_checker import check_env as gym_check_env
from gymnasium.vector import AutoresetMode
from lockstep import assert_lockstep

import memenvs
from memenvs.core import MemoryVectorEnv
from memenvs.registry import TASKS, all_ids, entry_for

ALL_IDS = all_ids()
DEFAULT_IDS = [f"memenvs/{e.name}-v0" for e in TASKS]
# the Hard presets run long episodes: the per-step contract is checked on the others
FAST_IDS = [i for i in ALL_IDS if "-Hard-" not in i]


def run_episode(env: gym.Env, policy, seed: int) -> tuple[float, dict, int]:
    obs, _ = env.reset(seed=seed)
    total, steps = 0.0, 0
    while True:
        obs, reward, terminated, truncated, info = env.step(policy(env, obs))
        total += reward
        steps += 1
        if terminated or truncated:
            return total, info, steps


def oracle(env, obs):
    return env.unwrapped.oracle_action()


def random_policy(env, obs):
    return env.action_space.sample()


@pytest.mark.parametrize("env_id", ALL_IDS)
def test_gymnasium_check_env(env_id):
    env = gym.make(env_id)
    gym_check_env(env.unwrapped, skip_render_check=False)


@pytest.mark.parametrize("env_id", DEFAULT_IDS)
def test_sb3_check_env(env_id):
    sb3_env_checker = pytest.importorskip("stable_baselines3.common.env_checker")
    sb3_env_checker.check_env(gym.make(env_id).unwrapped, warn=True)


@pytest.mark.parametrize("env_id", ALL_IDS)
def test_oracle_reaches_one(env_id):
    env = gym.make(env_id)
    for seed in range(5 if "-Hard-" in env_id else 20):
        ret, info, _ = run_episode(env, oracle, seed)
        assert ret == 1.0  # exactly: RepeatPrevious's shares of 1/60 summed to 1 + 1.3e-15
        assert info["success"] is True


@pytest.mark.parametrize("env_id", ALL_IDS)
def test_vector_oracle_returns_are_exactly_one(env_id):
    """Every row's float64 sum of rewards over an oracle episode is exactly 1.0."""
    venv = gym.make_vec(env_id, num_envs=4, autoreset_mode=AutoresetMode.SAME_STEP)
    venv.reset(seed=0)
    returns, finished = np.zeros(4), []
    for _ in range(10_000):
        _, reward, terminated, truncated, _ = venv.step(venv.oracle_action())
        returns += reward
        done = terminated | truncated
        finished.extend(returns[done].tolist())
        returns[done] = 0.0
        if len(finished) >= 8:
            break
    assert len(finished) >= 8 and finished == [1.0] * len(finished)


@pytest.mark.parametrize("env_id", DEFAULT_IDS)
def test_random_return_matches_documented(env_id):
    env = gym.make(env_id)
    env.action_space.seed(0)
    returns = [run_episode(env, random_policy, seed)[0] for seed in range(2000)]
    expected = env.unwrapped.task.random_return
    stderr = np.std(returns) / np.sqrt(len(returns))
    assert abs(np.mean(returns) - expected) < 4 * stderr + 1e-3
    assert f"{expected:.3g}" in type(env.unwrapped).__doc__ or "1/K" in type(env.unwrapped).__doc__


@pytest.mark.parametrize("env_id", DEFAULT_IDS)
def test_memoryless_policy_cannot_solve(env_id):
    """A fixed map from the current observation to an action scores the memoryless bound."""
    env = gym.make(env_id)
    bound = env.unwrapped.task.memoryless_return
    assert bound < 0.9, "a memory task must not be solvable without memory"
    rng = np.random.default_rng(0)
    table: dict[bytes, object] = {}
    means = []
    for trial in range(20):  # 20 random memoryless policies; none beats the bound
        table.clear()

        def memoryless(env, obs):
            key = np.asarray(obs).tobytes()
            if key not in table:
                table[key] = env.action_space.sample()
            return table[key]

        env.action_space.seed(int(rng.integers(1 << 30)))
        rets = [run_episode(env, memoryless, 1000 * trial + s)[0] for s in range(100)]
        means.append(np.mean(rets))
    assert max(means) < bound + 0.15
    assert max(means) < 0.9


@pytest.mark.parametrize("env_id", FAST_IDS)
def test_deterministic_under_seed(env_id):
    trajectories = []
    for _ in range(2):
        env = gym.make(env_id)
        env.action_space.seed(7)
        obs, _ = env.reset(seed=123)
        traj = [obs]
        for _ in range(300):
            obs, reward, terminated, truncated, _ = env.step(env.action_space.sample())
            traj.append((obs, reward, terminated, truncated))
            if terminated or truncated:
                obs, _ = env.reset()
                traj.append(obs)
        trajectories.append(traj)
    for a, b in zip(*trajectories, strict=True):
        np.testing.assert_equal(a, b)


@pytest.mark.parametrize("env_id", DEFAULT_IDS)
def test_pickles_mid_episode(env_id):
    env = gym.make(env_id).unwrapped
    env.reset(seed=3)
    env.step(env.action_space.sample())
    clone = pickle.loads(pickle.dumps(env))
    for _ in range(50):
        action = env.oracle_action()
        a = env.step(action)
        b = clone.step(action)
        np.testing.assert_equal(a, b)
        if a[2] or a[3]:
            break


@pytest.mark.parametrize("env_id", DEFAULT_IDS)
def test_render_modes(env_id):
    env = gym.make(env_id, render_mode="ansi")
    env.reset(seed=0)
    assert isinstance(env.render(), str) and env.render()
    env = gym.make(env_id, render_mode="rgb_array")
    env.reset(seed=0)
    img = env.render()
    assert img.dtype == np.uint8 and img.ndim == 3 and img.shape[2] == 3
    with pytest.raises(ValueError, match="render_mode"):
        gym.make(env_id, render_mode="bogus")


@pytest.mark.parametrize("env_id", DEFAULT_IDS)
def test_bad_actions_and_step_after_done(env_id):
    env = gym.make(env_id).unwrapped
    with pytest.raises(ResetNeeded):
        env.step(env.action_space.sample())
    env.reset(seed=0)
    bad = np.asarray(env.action_space.sample()) + 10_000
    with pytest.raises(ValueError, match="outside the action space"):
        env.step(bad)
    with pytest.raises(ValueError):
        env.step(np.zeros((3, 3, 3)))
    run_episode_from_reset(env)
    with pytest.raises(ResetNeeded, match="reset"):
        env.step(env.action_space.sample())


def run_episode_from_reset(env):
    while True:
        *_, terminated, truncated, _ = env.step(env.oracle_action())
        if terminated or truncated:
            return


@pytest.mark.parametrize("entry", TASKS, ids=lambda e: e.name)
def test_bad_knobs_name_the_argument(entry):
    for knob, default in entry.knobs().items():
        if isinstance(default, bool) or not isinstance(default, int):
            continue
        with pytest.raises(ValueError, match=knob):
            gym.make(f"memenvs/{entry.name}-v0", **{knob: -1_000_000})
        with pytest.raises(ValueError, match=knob):
            gym.make(f"memenvs/{entry.name}-v0", **{knob: "three"})


# ------------------------------------------------------------------------ vector envs
@pytest.mark.parametrize("env_id", ALL_IDS)
def test_make_vec_is_native(env_id):
    venv = gym.make_vec(env_id, num_envs=8)
    assert isinstance(venv, MemoryVectorEnv)
    obs, _ = venv.reset(seed=0)
    assert obs.shape == (8, *venv.single_observation_space.shape)
    assert venv.observation_space.contains(obs)


@pytest.mark.parametrize("env_id", FAST_IDS)
def test_vector_matches_single_step_for_step(env_id):
    """Same seed, same actions: the single env and a 1-row vector env agree exactly."""
    single = gym.make(env_id).unwrapped
    vector = gym.make_vec(env_id, num_envs=1, autoreset_mode=AutoresetMode.SAME_STEP)
    episodes = assert_lockstep(single, vector, steps=400)
    assert episodes >= 1


@pytest.mark.parametrize("env_id", FAST_IDS)
def test_vector_next_step_autoreset(env_id):
    venv = gym.make_vec(env_id, num_envs=16)
    venv.action_space.seed(0)
    venv.reset(seed=0)
    oracle_returns = np.zeros(16)
    finished = []
    prev_done = np.zeros(16, dtype=bool)
    for _ in range(600):
        obs, reward, terminated, truncated, info = venv.step(venv.oracle_action())
        assert venv.observation_space.contains(obs)
        assert np.all(reward[prev_done] == 0) and not np.any(terminated[prev_done])
        oracle_returns += reward
        done = terminated | truncated
        if done.any():
            assert np.array_equal(info["_success"], done)
            assert info["success"][done].all()
            finished.extend(oracle_returns[done].tolist())
            oracle_returns[done] = 0
        prev_done = done
    assert finished and finished == [1.0] * len(finished)


@pytest.mark.parametrize("env_id", DEFAULT_IDS)
def test_vector_rejects_bad_actions(env_id):
    venv = gym.make_vec(env_id, num_envs=4)
    venv.reset(seed=0)
    bad = np.asarray(venv.action_space.sample()) + 10_000
    with pytest.raises(ValueError, match="outside the action space"):
        venv.step(bad)
    with pytest.raises(ValueError, match="shape"):
        venv.step(np.zeros((5, 7, 3), dtype=np.int64))


# ------------------------------------------------------------------ registry and docs
def test_every_task_has_presets_and_docs():
    sections = [
        "## Description",
        "## Action Space",
        "## Observation Space",
        "## Rewards",
        "## Episode End",
        "## Arguments",
        "## Optimal Return",
        "## Random-policy Return",
        "## Registered Configurations",
    ]
    for entry in TASKS:
        doc = entry.env_class().__doc__
        for section in sections:
            assert section in doc, f"{entry.name} docstring lacks {section}"
        registered = entry.configurations()
        documented = set(
            re.findall(r"`(memenvs/[\w-]+-v0)`", doc.split("## Registered Configurations")[1])
        )
        assert documented == set(registered), f"{entry.name}: docs list {documented}"
        assert {"Easy", "Medium", "Hard"} <= set(entry.presets)
        for env_id in registered:
            assert entry_for(env_id) is entry
            assert env_id in gym.registry


def test_unknown_id_is_clear():
    with pytest.raises(ValueError, match="not a registered memenvs id"):
        entry_for("memenvs/Nope-v0")


def test_make_without_import():
    code = (
        "import sys, gymnasium as gym;"
        "env = gym.make('memenvs:memenvs/DelayedRecall-v0');"
        "env.reset(seed=0);"
        "[gym.make(i) for i in __import__('memenvs').all_ids()];"
        "bad = [m for m in ('torch', 'stable_baselines3', 'agents') if m in sys.modules];"
        "assert not bad, bad"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_version():
    assert memenvs.__version__


def test_readme_task_table_matches_registry():
    """The README's task table is generated from the registry; regenerate it when this fails:
    python -m memenvs list --markdown."""
    from pathlib import Path

    from memenvs.registry import configurations_markdown

    readme = (Path(__file__).parent.parent / "README.md").read_text()
    table = readme.split("<!-- tasks:begin -->")[1].split("<!-- tasks:end -->")[0].strip()
    assert table == configurations_markdown().strip()
