"""What the command-line scripts and the benchmark share: building agents, evaluating them.

Agents by name, from the one registry (:mod:`agents.registry`): every entry point builds
the same agent with the same defaults.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np
import torch
from stable_baselines3.common.base_class import BaseAlgorithm
from stable_baselines3.common.vec_env import VecEnv

from agents.ppo import MemoryPPO
from agents.registry import AGENTS as REGISTRY
from agents.registry import SB3_PPO, get_agent, memory_agents
from agents.vec_env import make_vec_env

AGENTS = tuple(REGISTRY)  # every agent name, in registry order


def run_name(env_id: str, agent: str, seed: int) -> str:
    """CleanRL-style run name ``{env}__{agent}__{seed}__{time}``."""
    return f"{env_id.replace('/', '-')}__{agent}__{seed}__{int(time.time())}"


def check_device(device: str) -> str:
    """Reject ``cuda`` on a machine without a GPU instead of silently using the CPU."""
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise ValueError(f"device={device!r} was asked for but no CUDA GPU is available here")
    return device


def make_agent(
    agent: str,
    env: VecEnv,
    seed: int = 0,
    device: str = "cpu",
    tensorboard_log: str | None = None,
    core_kwargs: dict[str, Any] | None = None,
    **algo_kwargs: Any,
) -> BaseAlgorithm:
    """Build one of :data:`AGENTS` on ``env``; ``algo_kwargs`` override the algorithm's."""
    check_device(device)
    spec = get_agent(agent)
    common = {"seed": seed, "device": device, "tensorboard_log": tensorboard_log}
    algo_kwargs = {**spec.algo_kwargs, **algo_kwargs}
    if spec.is_memory_agent:
        policy_kwargs = dict(algo_kwargs.pop("policy_kwargs", {}))
        policy_kwargs["core_kwargs"] = {**spec.core_kwargs, **(core_kwargs or {})}
        if not spec.policy_stem:  # a registered custom core runs under the generic policy
            policy_kwargs["core_class"] = spec.core_class
        return MemoryPPO(spec.policy, env, policy_kwargs=policy_kwargs, **common, **algo_kwargs)
    if core_kwargs:
        memory = [s.name for s in memory_agents()]
        raise ValueError(f"core_kwargs apply to memory agents {memory}, not {agent!r}")
    if spec.algorithm == SB3_PPO:
        from stable_baselines3 import PPO

        return PPO(spec.policy, env, **common, **algo_kwargs)
    from sb3_contrib import RecurrentPPO

    return RecurrentPPO(spec.policy, env, **common, **algo_kwargs)


def evaluate_success(
    model: BaseAlgorithm,
    env_id: str,
    env_kwargs: dict[str, Any] | None = None,
    n_episodes: int = 100,
    seed: int = 10_000,
    n_envs: int = 16,
    deterministic: bool = True,
    external_memory: bool = False,
) -> dict[str, float]:
    """Success rate and mean return on fresh episodes (a new env, a seed unseen in training).

    ``external_memory=True`` evaluates on the task wrapped in ``ExternalMemory`` (for agents
    trained on that wrapper).
    """
    n = min(n_envs, n_episodes)
    if external_memory:
        from agents.external_memory import make_external_memory_vec_env

        env = make_external_memory_vec_env(env_id, n_envs=n, seed=seed, env_kwargs=env_kwargs)
    else:
        env = make_vec_env(env_id, n_envs=n, seed=seed, env_kwargs=env_kwargs)
    obs = env.reset()
    state = None
    starts = np.ones(env.num_envs, dtype=bool)
    returns, successes = [], []
    running = np.zeros(env.num_envs)
    while len(returns) < n_episodes:
        actions, state = model.predict(
            obs, state=state, episode_start=starts, deterministic=deterministic
        )
        obs, rewards, starts, infos = env.step(actions)
        running += rewards
        for i in np.flatnonzero(starts):
            returns.append(running[i])
            successes.append(float(infos[i].get("is_success", infos[i].get("success", False))))
            running[i] = 0.0
    env.close()
    return {
        "success_rate": float(np.mean(successes[:n_episodes])),
        "mean_return": float(np.mean(returns[:n_episodes])),
        "episodes": n_episodes,
    }
