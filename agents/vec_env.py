"""Hand memenvs' native vector envs to stable-baselines3 as an SB3 ``VecEnv``.

SB3 does not accept Gymnasium's ``VectorEnv``. :class:`NativeVecEnv` runs a
:class:`memenvs.MemoryVectorEnv` in ``SAME_STEP`` autoreset mode and follows SB3's
conventions: ``reset()`` returns observations only, a finished row is reset inside the step
that ended it, its last observation is in ``infos[i]["terminal_observation"]``, truncations
are flagged with ``infos[i]["TimeLimit.truncated"]``, and ``infos[i]["is_success"]`` carries
the task's success flag so SB3 logs ``rollout/success_rate``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium.envs.registration import load_env_creator
from gymnasium.vector import AutoresetMode
from stable_baselines3.common.monitor import Monitor
from stable_baselines3.common.vec_env import DummyVecEnv, VecEnv, VecEnvWrapper, VecMonitor

from memenvs.core import MemoryVectorEnv


class NativeVecEnv(VecEnv):
    """An SB3 ``VecEnv`` view of a native memenvs vector env (one numpy call per step)."""

    def __init__(self, venv: MemoryVectorEnv) -> None:
        if not isinstance(venv, MemoryVectorEnv):
            raise ValueError(f"venv must be a memenvs MemoryVectorEnv, got {type(venv).__name__}")
        if venv.autoreset_mode != AutoresetMode.SAME_STEP:
            raise ValueError("venv must be created with autoreset_mode=AutoresetMode.SAME_STEP")
        self.venv = venv
        super().__init__(venv.num_envs, venv.single_observation_space, venv.single_action_space)
        self.render_mode = venv.render_mode
        self._actions: np.ndarray | None = None

    def reset(self) -> np.ndarray:
        # row i from seed + i (SB3's VecEnv.seed and Gymnasium's convention); None keeps it
        obs, _ = self.venv.reset(seed=list(self._seeds))
        self._reset_seeds()
        self._reset_options()
        self.reset_infos = [{} for _ in range(self.num_envs)]
        return obs

    def step_async(self, actions: np.ndarray) -> None:
        self._actions = actions

    def step_wait(self):
        obs, reward, terminated, truncated, info = self.venv.step(self._actions)
        dones = terminated | truncated
        infos: list[dict[str, Any]] = [{} for _ in range(self.num_envs)]
        if info:
            final_obs, success = info["final_obs"], info["success"]
            for i in np.flatnonzero(dones):
                infos[i] = {
                    "terminal_observation": final_obs[i],
                    "TimeLimit.truncated": bool(truncated[i] and not terminated[i]),
                    "is_success": bool(success[i]),
                    "success": bool(success[i]),
                }
        return obs, reward.astype(np.float32), dones, infos

    def close(self) -> None:
        self.venv.close()

    def get_images(self) -> Sequence[np.ndarray | None]:
        if self.render_mode != "rgb_array":
            return [None] * self.num_envs
        return list(self.venv.render())

    def get_attr(self, attr_name: str, indices=None) -> list[Any]:
        return [getattr(self.venv, attr_name) for _ in self._get_indices(indices)]

    def set_attr(self, attr_name: str, value: Any, indices=None) -> None:
        setattr(self.venv, attr_name, value)

    def env_method(
        self, method_name: str, *method_args, indices=None, **method_kwargs
    ) -> list[Any]:
        result = getattr(self.venv, method_name)(*method_args, **method_kwargs)
        return [result for _ in self._get_indices(indices)]

    def env_is_wrapped(self, wrapper_class: type[gym.Wrapper], indices=None) -> list[bool]:
        return [False for _ in self._get_indices(indices)]


def make_vec_env(
    env_id: str,
    n_envs: int = 1,
    seed: int | None = None,
    env_kwargs: dict[str, Any] | None = None,
    native: bool | None = None,
    wrapper_class: Any = None,
) -> VecEnv:
    """Build an SB3 ``VecEnv`` for any Gymnasium id, monitored for episode statistics.

    Uses the native numpy vector env when the id's ``vector_entry_point`` is a memenvs one
    (``native=None`` means "when available") and no ``wrapper_class`` is asked for;
    otherwise a ``DummyVecEnv`` of ``gymnasium.make`` envs. ``env_id`` may be
    ``"module:id"`` to import the module that registers it.
    """
    env_kwargs = dict(env_kwargs or {})
    if n_envs < 1:
        raise ValueError(f"n_envs must be >= 1, got {n_envs}")
    if ":" in env_id:
        module, _, env_id = env_id.partition(":")
        __import__(module)
    spec = gym.spec(env_id)
    entry = spec.vector_entry_point
    if isinstance(entry, str):
        entry = load_env_creator(entry)
    is_memenvs = isinstance(entry, type) and issubclass(entry, MemoryVectorEnv)
    can_be_native = is_memenvs and wrapper_class is None
    if native and not can_be_native:
        raise ValueError(
            f"{env_id} has no memenvs native vector env (or a wrapper_class was given)"
        )
    if native is None:
        native = can_be_native
    if native:
        venv = gym.make_vec(
            env_id, num_envs=n_envs, autoreset_mode=AutoresetMode.SAME_STEP, **env_kwargs
        )
        vec: VecEnv = VecMonitor(NativeVecEnv(venv))
        vec.seed(seed)
        return vec

    def make_one():
        def _init():
            env = gym.make(env_id, **env_kwargs)
            if wrapper_class is not None:
                env = wrapper_class(env)
            return Monitor(env)

        return _init

    vec = DummyVecEnv([make_one() for _ in range(n_envs)])
    vec.seed(seed)
    return SuccessInfo(vec)


class SuccessInfo(VecEnvWrapper):
    """Copy ``info["success"]`` to SB3's ``info["is_success"]`` (for ``rollout/success_rate``)."""

    def reset(self):
        return self.venv.reset()

    def step_wait(self):
        obs, rewards, dones, infos = self.venv.step_wait()
        for i in np.flatnonzero(dones):
            if "success" in infos[i] and "is_success" not in infos[i]:
                infos[i]["is_success"] = bool(infos[i]["success"])
        return obs, rewards, dones, infos
