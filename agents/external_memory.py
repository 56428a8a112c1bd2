"""SB3 ``VecEnv`` of :class:`memenvs.wrappers.ExternalMemory` envs.

With external memory the env itself holds the slots and the write/read actions, so a
memoryless ``PPO("MlpPolicy")`` can learn recall tasks by policy gradient alone::

    env = make_external_memory_vec_env("memenvs/DelayedRecall-v0", env_kwargs={"delay": (0, 16)})
    model = PPO("MlpPolicy", env, n_steps=64, batch_size=256, learning_rate=1e-3, ent_coef=0.01)
    model.learn(150_000)

(then ~100% success on delay 16, against 1/K = 0.25 for any memoryless policy; drawing the
delay from a range gives the write/read actions credit early: see
``tests/test_external_memory.py``).
"""

from __future__ import annotations

import functools
from typing import Any

from stable_baselines3.common.vec_env import VecEnv

from agents.vec_env import make_vec_env
from memenvs.core import check_int
from memenvs.wrappers import ExternalMemory


def make_external_memory_vec_env(
    env_id: str,
    n_envs: int = 16,
    seed: int | None = None,
    env_kwargs: dict[str, Any] | None = None,
    num_slots: int = 4,
) -> VecEnv:
    """A ``DummyVecEnv`` of ``Monitor(ExternalMemory(gym.make(env_id), num_slots))``.

    Episode statistics come from ``Monitor`` and ``info["is_success"]`` from the task's
    ``info["success"]`` (:func:`agents.vec_env.make_vec_env` with a ``wrapper_class``).
    ``num_slots`` is validated here, before any env is built.
    """
    # fail early, with the argument named, rather than inside the first env's constructor
    num_slots = check_int("num_slots", num_slots, 1)
    wrapper = functools.partial(ExternalMemory, num_slots=num_slots)
    return make_vec_env(
        env_id, n_envs=n_envs, seed=seed, env_kwargs=env_kwargs, wrapper_class=wrapper
    )
