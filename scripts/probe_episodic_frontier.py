"""How far does the episodic core reach under PPO? A delay curriculum, then every rung.

    python scripts/probe_episodic_frontier.py --task DelayedRecall --seeds 0 1 2 \\
        --ladder 16 64 256 --eval 16 64 256 1024 4096 10000 \\
        --out benchmarks/results/frontier-long/delayed-recall.md \\
        --json benchmarks/results/frontier-long/delayed-recall.json

One MemoryPPO model per seed (``--agent``, default ``episodic``, with ``max_memory`` = the
longest evaluated episode) trains up ``--ladder`` with :func:`agents.ladder.train_ladder`
(moves on at >= 95% training success over the last 100 episodes, stops at 99% at the last
rung or when ``--budget`` env steps are spent). It is then evaluated on fresh episodes at
every ``--eval`` delay, including delays it never trained on (zero-shot transfer: the read
is by content, so a cue learned at delay 64 is found at 10,000 if the attention is sharp).
Reports env steps and wall time to reach each rung, and success at each evaluated delay.
"""

from __future__ import annotations

import argparse
import json
import time

from agents.benchutil import (
    check_output_paths,
    command_line,
    header,
    machine,
    provenance,
    write_results,
)
from agents.checks import MAX_SEED
from agents.cli.common import json_dict
from agents.script_args import check_agent, check_ints, init_parameters, usage_errors

TASKS = {  # task -> (env id, knob, fixed kwargs)
    "DelayedRecall": ("memenvs/DelayedRecall-v0", "delay", {"num_symbols": 4}),
    "DelayedRecallNoise": ("memenvs/DelayedRecall-v0", "delay", {"num_symbols": 4, "noise": True}),
    "TMaze": ("memenvs/TMaze-v0", "length", {"active": False}),
}
HYPER = {"n_steps": 64, "learning_rate": 1e-3, "ent_coef": 0.01, "batch_size": 256}
# MemoryPPO agents: 4 epochs, MemoryPPO's default until c25c207, which most committed
# frontier-long results used; delayed-recall-stochastic and delayed-recall-gru-chrono ran 10
# (pass --hyper '{"n_epochs": 10}' to rerun them; frontier-long/rerun-xeon/README.md).
# RecurrentPPO keeps its own default (10 epochs).
MEMORY_PPO_HYPER = {"n_epochs": 4}


def build(task: str, agent: str, seed: int, ladder, evals, n_envs, core_kwargs, hyper):
    """The model at the first rung, ``make_env(rung)``, and its hyperparameters and core
    kwargs with this probe's defaults."""
    import inspect

    from agents.registry import get_agent
    from agents.training import make_agent
    from agents.vec_env import make_vec_env

    env_id, knob, fixed = TASKS[task]

    def make_env(rung):
        return make_vec_env(env_id, n_envs=n_envs, seed=seed, env_kwargs={**fixed, knob: rung})

    spec, core = get_agent(agent), dict(core_kwargs)
    if spec.is_memory_agent:
        hyper = {**MEMORY_PPO_HYPER, **hyper}
    if spec.is_memory_agent and "max_memory" in inspect.signature(spec.core_class).parameters:
        core = {"max_memory": max(evals) + 2, **core}  # the longest evaluated episode
    model = make_agent(agent, make_env(ladder[0]), seed=seed, core_kwargs=core or None, **hyper)
    return model, make_env, hyper, core


def run(
    task: str, agent: str, seed: int, ladder, evals, budget, n_envs, eval_episodes, core_kwargs,
    hyper,
) -> dict:  # fmt: skip
    import torch

    from agents.ladder import train_ladder
    from agents.training import evaluate_success

    torch.set_num_threads(1)
    env_id, knob, fixed = TASKS[task]
    model, make_env, hyper, core = build(
        task, agent, seed, ladder, evals, n_envs, core_kwargs, hyper
    )
    start = time.perf_counter()
    curve: list = []
    reached = train_ladder(model, make_env, list(ladder), budget, curve)
    train_s = time.perf_counter() - start
    results = {}
    for d in evals:
        t0 = time.perf_counter()
        r = evaluate_success(
            model, env_id, {**fixed, knob: d}, n_episodes=eval_episodes, n_envs=eval_episodes
        )
        results[str(d)] = {**r, "eval_s": time.perf_counter() - t0}
        print(task, agent, seed, d, r["success_rate"], flush=True)
    return {
        "task": task,
        "env": env_id,
        "knob": knob,
        "fixed": fixed,
        "agent": agent,
        "seed": seed,
        "ladder": list(ladder),
        "curriculum": reached,
        "env_steps": int(model.num_timesteps),
        "train_s": train_s,
        "eval": results,
        "hyperparameters": hyper,
        "core_kwargs": core,
    }


def check_args(args) -> None:
    """Every argument, before any training: ``ValueError`` naming the flag and the range.
    Builds each env once (its knob and memory checks) and the first seed's model (the
    core's and the algorithm's checks of ``--core-kwargs`` and ``--hyper``)."""
    from agents.cores.base import MAX_SIZE
    from agents.vec_env import make_vec_env
    from memenvs.core import MAX_KNOB

    check_ints("--seeds", args.seeds, 0, MAX_SEED)
    check_ints("--ladder", args.ladder, 1, MAX_KNOB)
    check_ints("--eval", args.eval, 1, MAX_KNOB)
    check_ints("--budget", args.budget, 1)
    check_ints("--n-envs", args.n_envs, 1, MAX_KNOB)
    check_ints("--eval-episodes", args.eval_episodes, 1, MAX_KNOB)
    spec = check_agent(args.agent, args.hyper, args.core_kwargs)
    own_memory = spec.is_memory_agent and "max_memory" in init_parameters(spec.core_class)
    if own_memory and "max_memory" not in args.core_kwargs and max(args.eval) > MAX_SIZE - 2:
        raise ValueError(
            f"--eval must be in [1, {MAX_SIZE - 2}] for agent {args.agent!r} (its core's "
            f"max_memory is the longest --eval + 2, at most {MAX_SIZE}), got {max(args.eval)}"
        )
    env_id, knob, fixed = TASKS[args.task]
    for flag, values, n, n_flag in (
        ("--ladder", args.ladder, args.n_envs, "--n-envs"),
        ("--eval", args.eval, args.eval_episodes, "--eval-episodes"),
    ):
        for value in dict.fromkeys(values):
            try:
                make_vec_env(env_id, n_envs=n, env_kwargs={**fixed, knob: value}).close()
            except ValueError as err:
                raise ValueError(f"{flag} {value} with {n_flag} {n}: {err}") from None
    hyper = {**HYPER, **args.hyper}
    try:
        build(args.task, args.agent, args.seeds[0], args.ladder, args.eval, args.n_envs,
              args.core_kwargs, hyper)  # fmt: skip
    except (TypeError, ValueError) as err:
        flags = "--core-kwargs or --hyper" if spec.is_memory_agent else "--hyper"
        raise ValueError(f"{flags}: {err}") from None


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--task", choices=list(TASKS), default="DelayedRecall")
    parser.add_argument("--agent", default="episodic")
    parser.add_argument("--seeds", nargs="+", type=int, default=[0])
    parser.add_argument("--ladder", nargs="+", type=int, default=[16, 64])
    parser.add_argument("--eval", nargs="+", type=int, default=[16, 64, 256, 1024, 10000])
    parser.add_argument("--budget", type=int, default=300_000)
    parser.add_argument("--n-envs", type=int, default=16)
    parser.add_argument("--eval-episodes", type=int, default=64)
    parser.add_argument("--core-kwargs", type=json_dict, default={}, help="JSON dict")
    parser.add_argument(
        "--hyper", type=json_dict, default={}, help=f"JSON dict over the defaults {HYPER}"
    )
    parser.add_argument("--out", default=None)
    parser.add_argument("--json", default=None)
    args = parser.parse_args(argv)
    with usage_errors(parser):
        check_args(args)
        check_output_paths(out=args.out, json=args.json)
    cmd = command_line("probe_episodic_frontier.py", argv)
    records = [
        run(
            args.task,
            args.agent,
            s,
            args.ladder,
            args.eval,
            args.budget,
            args.n_envs,
            args.eval_episodes,
            args.core_kwargs,
            {**HYPER, **args.hyper},
        )
        for s in args.seeds
    ]
    for r in records:
        print(json.dumps(r), flush=True)
    evals = args.eval
    lines = [
        f"# Agent `{args.agent}`: {args.task}, curriculum {args.ladder}, then every delay\n",
        header(cmd, machine()),
        f"Agent `{args.agent}`, core kwargs {records[0]['core_kwargs']}, "
        f"hyperparameters {records[0]['hyperparameters']}, {args.n_envs} envs, budget "
        f"{args.budget:,} env steps; curriculum used: yes (ladder {args.ladder}, moving on "
        f"at >= 95% training success). Success on {args.eval_episodes} fresh episodes per "
        "delay; delays beyond the ladder were never trained on (zero-shot).\n",
        "| seed | rungs reached [rung, env step] | env steps | train s | "
        + " | ".join(f"{args.task} {d}" for d in evals)
        + " |",
        "| --- | --- | --- | --- | " + " | ".join("---" for _ in evals) + " |",
    ]
    for r in records:
        cells = " | ".join(f"{r['eval'][str(d)]['success_rate']:.2f}" for d in evals)
        lines.append(
            f"| {r['seed']} | {r['curriculum']} | {r['env_steps']:,} | {r['train_s']:.0f} | "
            f"{cells} |"
        )
    data = {**provenance(cmd), "results": records}
    write_results("\n".join(lines) + "\n", data, args.out, args.json)


if __name__ == "__main__":
    main()
