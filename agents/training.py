"""What the command-line scripts and the benchmark share: building agents, evaluating them.

Agents by name, from the one registry (:mod:`agents.registry`): every entry point builds
the same agent with the same defaults.
"""

from __future__ import annotations

import inspect
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
from gymnasium import spaces
from stable_baselines3.common.base_class import BaseAlgorithm
from stable_baselines3.common.torch_layers import CombinedExtractor
from stable_baselines3.common.vec_env import VecEnv

from agents.checks import check_device, check_int, check_seed
from agents.ppo import MemoryPPO, check_ppo_kwargs
from agents.registry import AGENTS as REGISTRY
from agents.registry import MEMORY_PPO, RECURRENT_PPO, SB3_PPO, get_agent, memory_agents
from agents.runs import RunConfig, model_path, read_config
from agents.vec_env import make_vec_env

AGENTS = tuple(REGISTRY)  # every agent name, in registry order


def algorithm_class(agent: str) -> type[BaseAlgorithm]:
    """The SB3 algorithm class a registered agent is built with (and loaded by)."""
    algorithm = get_agent(agent).algorithm
    if algorithm == MEMORY_PPO:
        return MemoryPPO
    if algorithm == SB3_PPO:
        from stable_baselines3 import PPO

        return PPO
    from sb3_contrib import RecurrentPPO

    return RecurrentPPO


def load_agent(
    agent: str, path: str | Path, env: VecEnv | None = None, device: str = "cpu"
) -> BaseAlgorithm:
    """Load a model of a registered agent saved with ``model.save``; ``ValueError`` if the
    file holds another agent's model (SB3's ``load`` builds whatever policy the file names,
    so ``ppo`` loaded a MemoryPPO file as a PPO around a memory policy)."""
    from stable_baselines3.common.save_util import load_from_zip_file

    cls = algorithm_class(agent)
    device = check_device(device)
    data, _, _ = load_from_zip_file(path, device="cpu")  # the policy class, before building it
    refuse_other_agents(agent, path, data.get("policy_class"))
    model = cls.load(path, env=env, device=device)
    refuse_other_agents(agent, path, type(model.policy), type(getattr(model.policy, "core", None)))
    return model


def refuse_other_agents(agent: str, path: Any, policy: Any, core: type | None = None) -> None:
    """``ValueError`` unless ``policy`` (a policy class) and ``core`` (its core class, when
    known) are ones that ``agent`` builds."""
    from sb3_contrib.common.recurrent.policies import RecurrentActorCriticPolicy

    from agents.policies import MemoryActorCriticPolicy

    spec = get_agent(agent)
    memory = isinstance(policy, type) and issubclass(policy, MemoryActorCriticPolicy)
    recurrent = isinstance(policy, type) and issubclass(policy, RecurrentActorCriticPolicy)
    why = ""
    if memory != spec.is_memory_agent:
        why = "a memory policy" if memory else "not a memory policy"
    elif not memory and recurrent != (spec.algorithm == RECURRENT_PPO):
        why = "a recurrent policy" if recurrent else "not a recurrent policy"
    elif memory and core is not None and spec.core_class not in (None, core):
        why = f"core {core.__name__}, not {spec.core_class.__name__}"
    if why:
        name = getattr(policy, "__name__", repr(policy))
        raise ValueError(
            f"{path} holds a {name} model ({why}), not one of agent {agent!r}: load it as "
            "the agent that saved it"
        )


def check_batch_size(agent: str, n_envs: int, algo_kwargs: dict[str, Any]) -> None:
    """``ValueError`` for minibatches the ``ppo`` and ``recurrent-ppo`` agents would
    normalise a single advantage in: the std of one element is NaN (RecurrentPPO's logits
    turn NaN mid-training) or an assertion (SB3's PPO). ``batch_size`` must be >= 2 while
    ``normalize_advantage`` (the default) is on, and RecurrentPPO, which normalises every
    minibatch, must not be left a last one of a single step (``n_steps * n_envs`` one more
    than a multiple of ``batch_size``). MemoryPPO skips normalising one element itself."""
    algorithm = get_agent(agent).algorithm
    if algorithm not in (SB3_PPO, RECURRENT_PPO):
        return
    value = _sb3_settings(agent, algo_kwargs, ("batch_size", "n_steps", "normalize_advantage"))
    batch_size, n_steps = value["batch_size"], value["n_steps"]
    if not value["normalize_advantage"]:
        if batch_size is not None or algorithm == SB3_PPO:
            check_int("batch_size", batch_size, 1)
        return
    if batch_size is not None or algorithm == SB3_PPO:  # None: RecurrentPPO's whole rollout
        try:
            check_int("batch_size", batch_size, 2)
        except ValueError as err:
            raise ValueError(
                f"{err} (agent {agent!r} normalises each minibatch's advantages by their std, "
                "NaN for one step; >= 1 with normalize_advantage=False)"
            ) from None
    if isinstance(n_steps, bool) or not isinstance(n_steps, (int, np.integer)):
        return  # the algorithm names a bad n_steps itself
    rollout = int(n_steps) * n_envs
    if rollout < 2:
        raise ValueError(
            f"n_steps * n_envs must be >= 2 for agent {agent!r} (its advantages are normalised "
            f"by their std, NaN for one step), got n_steps={n_steps}, n_envs={n_envs}"
        )
    if algorithm == RECURRENT_PPO and rollout % (batch_size or rollout) == 1:
        raise ValueError(
            f"batch_size={batch_size} leaves RecurrentPPO a last minibatch of one step "
            f"(n_steps * n_envs = {rollout} = {rollout // batch_size} x {batch_size} + 1), "
            "whose advantage std is NaN: choose one that leaves none (a divisor of n_steps * "
            "n_envs) or a larger one"
        )


def check_sb3_kwargs(agent: str, algo_kwargs: dict[str, Any]) -> None:
    """``ValueError`` for a hyperparameter of the ``ppo`` or ``recurrent-ppo`` agent out of
    range, by MemoryPPO's checks (:func:`agents.ppo.check_ppo_kwargs`): SB3 takes e.g. a NaN
    ``ent_coef`` or ``gamma=2`` and fails mid-training or trains silently on it."""
    if get_agent(agent).algorithm not in (SB3_PPO, RECURRENT_PPO):
        return  # MemoryPPO checks its own
    names = inspect.signature(check_ppo_kwargs).parameters
    check_ppo_kwargs(**_sb3_settings(agent, algo_kwargs, names))


def _sb3_settings(agent: str, algo_kwargs: dict[str, Any], names: Any) -> dict[str, Any]:
    """``names``' values for an SB3 agent: the given ``algo_kwargs`` or the algorithm's
    defaults."""
    defaults = inspect.signature(algorithm_class(agent)).parameters
    return {k: algo_kwargs.get(k, defaults[k].default) for k in names}


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
    check_seed(seed)
    spec = get_agent(agent)
    algo_kwargs = {**spec.algo_kwargs, **algo_kwargs}
    check_sb3_kwargs(agent, algo_kwargs)
    check_batch_size(agent, getattr(env, "num_envs", 1), algo_kwargs)  # a gym.Env: one env
    common = {"seed": seed, "device": device, "tensorboard_log": tensorboard_log}
    space = getattr(env, "observation_space", None)  # None for an env id: SB3 builds it
    policy = spec.policy_for(space)
    if spec.is_memory_agent:
        policy_kwargs = algo_kwargs.pop("policy_kwargs", None)
        if not isinstance(policy_kwargs, (Mapping, type(None))):
            raise ValueError(f"policy_kwargs must be a dict or None, got {policy_kwargs!r}")
        policy_kwargs = dict(policy_kwargs or {})  # None: the defaults, as in SB3
        # the spec's, then policy_kwargs' own, then the explicit ones (each overriding)
        given = policy_kwargs.get("core_kwargs") or {}
        policy_kwargs["core_kwargs"] = {**spec.core_kwargs, **given, **(core_kwargs or {})}
        if not spec.policy_stem:  # a registered custom core runs under the generic policy
            policy_kwargs["core_class"] = spec.core_class
            if isinstance(space, spaces.Dict):  # what MultiInput{stem}Policy would set
                policy_kwargs.setdefault("features_extractor_class", CombinedExtractor)
        return MemoryPPO(policy, env, policy_kwargs=policy_kwargs, **common, **algo_kwargs)
    if core_kwargs:
        memory = [s.name for s in memory_agents()]
        raise ValueError(f"core_kwargs apply to memory agents {memory}, not {agent!r}")
    return algorithm_class(agent)(policy, env, **common, **algo_kwargs)


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

    Env ``i`` of ``n_envs`` contributes its first ``(n_episodes + i) // n_envs`` episodes
    (SB3's ``evaluate_policy`` quotas), so short episodes are not over-represented.

    ``external_memory=True`` evaluates on the task wrapped in ``ExternalMemory`` (for agents
    trained on that wrapper).
    """
    check_int("n_episodes", n_episodes, 1)
    n = min(check_int("n_envs", n_envs, 1), n_episodes)
    if external_memory:
        from agents.external_memory import make_external_memory_vec_env

        env = make_external_memory_vec_env(env_id, n_envs=n, seed=seed, env_kwargs=env_kwargs)
    else:
        env = make_vec_env(env_id, n_envs=n, seed=seed, env_kwargs=env_kwargs)
    # each env's own quota, as SB3's evaluate_policy: taking the first episodes to finish
    # would favour short episodes on variable-length tasks
    quota = np.array([(n_episodes + i) // n for i in range(n)])
    counts = np.zeros(n, dtype=int)
    obs = env.reset()
    state = None
    starts = np.ones(n, dtype=bool)
    returns, successes, reported = [], [], False
    running = np.zeros(n)
    while (counts < quota).any():
        actions, state = model.predict(
            obs, state=state, episode_start=starts, deterministic=deterministic
        )
        obs, rewards, starts, infos = env.step(actions)
        running += rewards
        for i in np.flatnonzero(starts):
            if counts[i] < quota[i]:
                returns.append(running[i])
                info = infos[i]
                reported = reported or "is_success" in info or "success" in info
                successes.append(float(info.get("is_success", info.get("success", False))))
                counts[i] += 1
            running[i] = 0.0
    env.close()
    if not reported:
        warnings.warn(
            f"{env_id} reported no success (info['is_success'] or info['success']) at any "
            "episode end: its success_rate is 0, and best models are picked by mean return",
            RuntimeWarning,
            stacklevel=2,
        )
    return {
        "success_rate": float(np.mean(successes)),
        "mean_return": float(np.mean(returns)),
        "episodes": n_episodes,
    }


def load_run(
    run_dir: str | Path, which: str = "final", device: str = "cpu"
) -> tuple[RunConfig, BaseAlgorithm]:
    """A run folder's config and one of its saved models (see :func:`agents.runs.model_path`)."""
    config = read_config(run_dir)
    return config, load_agent(config.agent, model_path(run_dir, which), device=device)
