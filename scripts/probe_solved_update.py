"""Does one more PPO update keep a memory policy that has just solved its task?

    python scripts/probe_solved_update.py --out benchmarks/results/solved-update/README.md \
        --json benchmarks/results/solved-update/results.json

For each agent and seed: train with MemoryPPO until 99 of the last 100 training episodes
succeed (the benchmark's stop rule), collect one fresh rollout with that policy, then apply
exactly one PPO update (``n_epochs`` passes over the rollout, as in training) under a few
variants, each from the same weights, optimizer state and rollout, and evaluate the result
on fresh episodes (deterministic actions). When every episode in the rollout succeeds the
advantages are all near zero, and per-minibatch advantage normalization rescales that noise
to unit size; the variants show which part of the update does the damage. A run that does
not meet the stop rule within ``--budget`` is reported as not solved (``"solved": false``,
the success of its last policy as ``before``) and gets no update.
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from agents.benchutil import (  # noqa: E402
    check_output_paths,
    command_line,
    header,
    machine,
    provenance,
    write_results,
)
from agents.checks import MAX_SEED, check_int, check_positive_number  # noqa: E402

VARIANTS = {
    "default (SB3 settings)": {},
    "normalize_advantage=False": {"normalize_advantage": False},
    "n_epochs=1": {"n_epochs": 1},
    "ent_coef=0": {"ent_coef": 0.0},
    "learning_rate=1e-4": {"lr_schedule": lambda _: 1e-4},
}

# integer flags: allowed range [1, high] (10**12 n-steps tried to allocate 8 TB, 10**12
# evaluation episodes ran until killed)
LIMITS = {
    "budget": None,
    "n_envs": 1024,
    "n_steps": 10**5,
    "hidden": 4096,
    "episodes": 10**6,
    "reps": 100,
}


def probe(agent: str, env_id: str, env_kwargs: dict, seed: int, args) -> dict:
    import numpy as np
    import torch
    from stable_baselines3.common.callbacks import CallbackList

    from agents.benchmark import progress_callback
    from agents.training import evaluate_success, make_agent
    from agents.vec_env import make_vec_env

    torch.set_num_threads(1)
    env = make_vec_env(env_id, n_envs=args.n_envs, seed=seed, env_kwargs=env_kwargs)
    model = make_agent(
        agent,
        env,
        seed=seed,
        learning_rate=args.learning_rate,
        ent_coef=0.01,
        n_steps=args.n_steps,
        core_kwargs={"hidden_size": args.hidden},
    )
    stop = progress_callback([])
    model.learn(args.budget, callback=stop)

    def success() -> float:
        return evaluate_success(model, env_id, env_kwargs, n_episodes=args.episodes)["success_rate"]

    record = {"agent": agent, "env": env_id, "env_kwargs": env_kwargs, "seed": seed}
    if not stop.met:  # the budget ran out first: nothing solved to compare one update on
        return {
            **record,
            "solved": False,
            "solved_at": None,
            "steps_trained": model.num_timesteps,
            "before": success(),
            "rollout_advantage_std": None,
            "after": {},
        }
    solved_at = model.num_timesteps
    # one rollout from the policy that met the stop rule, on fresh episodes
    model.set_env(make_vec_env(env_id, n_envs=args.n_envs, seed=seed + 1000, env_kwargs=env_kwargs))
    model._last_obs = model.env.reset()
    model._last_episode_starts = np.ones(args.n_envs, dtype=bool)
    model._last_state = model.policy.initial_state(args.n_envs)
    noop = CallbackList([])
    noop.init_callback(model)
    model.collect_rollouts(model.env, noop, model.rollout_buffer, model.n_steps)
    weights = copy.deepcopy(model.policy.state_dict())
    optimizer = copy.deepcopy(model.policy.optimizer.state_dict())
    rollout = copy.deepcopy(model.rollout_buffer)
    record = {
        **record,
        "solved": True,
        "solved_at": solved_at,
        "steps_trained": solved_at,
        "before": success(),
        "rollout_advantage_std": float(rollout.advantages.std()),
        "after": {},
    }
    defaults = {k: getattr(model, k) for v in VARIANTS.values() for k in v}
    for name, attrs in VARIANTS.items():
        results = []
        for rep in range(args.reps):
            model.policy.load_state_dict(weights)
            model.policy.optimizer.load_state_dict(optimizer)
            model.rollout_buffer = copy.deepcopy(rollout)
            for k, v in {**defaults, **attrs}.items():
                setattr(model, k, v)
            torch.manual_seed(rep)  # minibatch order
            model.train()
            results.append(success())
        record["after"][name] = results
    return record


def check_agents(agents: list[str]) -> None:
    """``ValueError`` naming the agents that are not MemoryPPO agents (and those that are)."""
    from agents.registry import AGENTS, MEMORY_PPO

    allowed = [name for name, spec in AGENTS.items() if spec.algorithm == MEMORY_PPO]
    unknown = [a for a in agents if a not in allowed]
    if unknown:
        raise ValueError(f"--agents {unknown} not among the MemoryPPO agents {allowed}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--agents", nargs="+", default=["lstm", "gru"])
    parser.add_argument("--env", default="memenvs/TMaze-v0")
    parser.add_argument("--env-kwargs", default='{"length": 16, "active": false}')
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--budget", type=int, default=80_000)
    parser.add_argument("--n-envs", type=int, default=16)
    parser.add_argument("--n-steps", type=int, default=34, help="two TMaze-16 episodes")
    parser.add_argument("--hidden", type=int, default=128)
    parser.add_argument("--learning-rate", type=float, default=1e-3)
    parser.add_argument("--episodes", type=int, default=200)
    parser.add_argument("--reps", type=int, default=3, help="minibatch orders per variant")
    parser.add_argument("--out", default=None, help="write the markdown table here")
    parser.add_argument("--json", default=None, help="write the records here")
    args = parser.parse_args()
    try:
        env_kwargs = json.loads(args.env_kwargs)
        if not isinstance(env_kwargs, dict):
            raise ValueError(f"--env-kwargs must be a JSON object, got {args.env_kwargs!r}")
        check_agents(args.agents)
        for seed in args.seeds:  # seed + 1000 seeds the rollout's fresh episodes
            check_int("--seeds", seed, 0, MAX_SEED - 1000)
        for flag, high in LIMITS.items():
            check_int("--" + flag.replace("_", "-"), getattr(args, flag), 1, high)
        check_positive_number("--learning-rate", args.learning_rate)
        check_output_paths(out=args.out, json=args.json)
    except ValueError as err:  # json.JSONDecodeError included
        parser.error(str(err))

    import gymnasium as gym

    import memenvs  # noqa: F401
    from agents.vec_env import make_vec_env

    try:  # the task and its knobs, before any training
        make_vec_env(args.env, n_envs=args.n_envs, seed=0, env_kwargs=env_kwargs).close()
    except (gym.error.Error, ImportError, TypeError, ValueError) as err:
        parser.error(f"--env {args.env} / --env-kwargs / --n-envs: {err}")

    records = []
    for agent in args.agents:
        for seed in args.seeds:
            records.append(probe(agent, args.env, env_kwargs, seed, args))
            print(json.dumps(records[-1]), flush=True)
    command = command_line("probe_solved_update.py")
    lines = [
        "# One PPO update after a memory task is solved\n",
        header(command, machine()),
        f"Task `{args.env}` {env_kwargs}; MemoryPPO, {args.n_envs} envs x {args.n_steps} steps, "
        f"lr {args.learning_rate}, {args.hidden} units. `before`: success of the policy that "
        f"met the stop rule; then success after one update from the same weights, optimizer "
        f"state and rollout, for {args.reps} minibatch orders ({args.episodes} fresh episodes, "
        "deterministic actions). A run that did not meet the stop rule within the budget "
        "shows `not solved` and the success of its last policy, without the update.\n",
        "| agent | seed | solved at | adv. std | before | " + " | ".join(VARIANTS) + " |",
        "| --- " * (len(VARIANTS) + 5) + "|",
    ]
    for r in records:
        if not r["solved"]:
            lines.append(
                f"| {r['agent']} | {r['seed']} | not solved ({r['steps_trained']:,} steps) | - | "
                f"{r['before']:.2f} | " + " | ".join("-" for _ in VARIANTS) + " |"
            )
            continue
        cells = [" ".join(f"{x:.2f}" for x in r["after"][name]) for name in VARIANTS]
        lines.append(
            f"| {r['agent']} | {r['seed']} | {r['solved_at']:,} | "
            f"{r['rollout_advantage_std']:.3f} | {r['before']:.2f} | " + " | ".join(cells) + " |"
        )
    data = {**provenance(command), "records": records}
    write_results("\n".join(lines) + "\n", data, args.out, args.json)


if __name__ == "__main__":
    main()
