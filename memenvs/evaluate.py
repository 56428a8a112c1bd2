"""Run a scripted policy (random or oracle) on a task's native vector env and score it.

Used by ``python -m memenvs rollout`` and ``scripts/demo.py``. Every row of the vector env
plays a fixed quota of episodes, so episodes are counted without favouring short ones.
"""

from __future__ import annotations

import time
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces

import memenvs  # noqa: F401  (registers the ids)
from memenvs.core import check_int

POLICIES = ("random", "oracle")


def sample_actions(space: spaces.Space, shape: tuple[int, ...], rng: np.random.Generator):
    """Uniform random actions of a single-env ``space``, as an array ``[*shape, *space.shape]``.

    Much faster than calling ``space.sample()`` in a loop; ``shape`` is e.g. ``(N,)`` for one
    vector step or ``(T, N)`` for a pre-sampled block.
    """
    if isinstance(space, spaces.Discrete):
        return rng.integers(space.start, space.start + space.n, size=shape)
    if isinstance(space, spaces.MultiDiscrete):
        low = np.asarray(space.start)
        return rng.integers(low, low + space.nvec, size=(*shape, *space.shape))
    if isinstance(space, spaces.MultiBinary):
        return rng.integers(0, 2, size=(*shape, *np.atleast_1d(space.n)), dtype=np.int8)
    raise TypeError(f"cannot sample actions from {space}")


def make_vec(env_id: str, num_envs: int, **knobs: Any) -> gym.vector.VectorEnv:
    """``gymnasium.make_vec`` on the task's native vector env."""
    return gym.make_vec(env_id, num_envs=num_envs, vectorization_mode="vector_entry_point", **knobs)


def evaluate(
    env_id: str,
    policy: str = "random",
    episodes: int = 100,
    seed: int | None = 0,
    *,
    max_envs: int = 256,
    **knobs: Any,
) -> dict[str, Any]:
    """Play ``episodes`` episodes of ``env_id`` with ``policy`` ("random" or "oracle").

    Runs on the native vector env with ``min(episodes, max_envs)`` rows. Returns a dict with
    ``mean_return``, ``std_return``, ``success_rate``, ``mean_length``, ``returns`` (one per
    episode), ``env_steps`` (counted episode steps) and ``seconds``.
    Bad knobs raise the task's ``ValueError``.
    """
    if policy not in POLICIES:
        raise ValueError(f"policy must be one of {POLICIES}, got {policy!r}")
    check_int("episodes", episodes, 1)  # at most MAX_KNOB: np.full overflowed on 10**25
    n = min(episodes, max_envs)
    env = make_vec(env_id, n, **knobs)
    rng = np.random.default_rng(seed)
    start = time.perf_counter()
    try:
        quota = np.full(n, episodes // n, dtype=np.int64)
        quota[: episodes % n] += 1
        done_count = np.zeros(n, dtype=np.int64)
        ep_return = np.zeros(n, dtype=np.float64)
        ep_length = np.zeros(n, dtype=np.int64)
        returns: list[float] = []
        lengths: list[int] = []
        successes: list[bool] = []
        env.reset(seed=seed)
        space = env.single_action_space
        oracle = env.unwrapped.oracle_action
        next_step = env.metadata.get("autoreset_mode") != gym.vector.AutoresetMode.SAME_STEP
        fresh = np.zeros(n, dtype=bool)  # rows the next step resets (NEXT_STEP autoreset)
        while (done_count < quota).any():
            actions = sample_actions(space, (n,), rng) if policy == "random" else oracle()
            _, reward, terminated, truncated, info = env.step(actions)
            live = ~fresh  # a reset step is not part of any episode
            ep_return[live] += reward[live]
            ep_length[live] += 1
            done = (terminated | truncated) & live
            if done.any():
                success = info.get("success", np.zeros(n, dtype=bool))
                for row in np.flatnonzero(done & (done_count < quota)):
                    returns.append(float(ep_return[row]))
                    lengths.append(int(ep_length[row]))
                    successes.append(bool(success[row]))
                done_count[done] += 1
                ep_return[done] = 0.0
                ep_length[done] = 0
            if next_step:
                fresh = done
    finally:
        env.close()
    seconds = time.perf_counter() - start
    rets = np.asarray(returns)
    return {
        "env_id": env_id,
        "policy": policy,
        "episodes": len(returns),
        "seed": seed,
        "knobs": dict(knobs),
        "mean_return": float(rets.mean()),
        "std_return": float(rets.std()),
        "success_rate": float(np.mean(successes)),
        "mean_length": float(np.mean(lengths)),
        "returns": returns,
        "env_steps": int(np.sum(lengths)),
        "seconds": seconds,
    }
