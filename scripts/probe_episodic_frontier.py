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
import sys
import time

from agents.benchutil import header, machine, write_results

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


def run(
    task: str, agent: str, seed: int, ladder, evals, budget, n_envs, eval_episodes, core_kwargs,
    hyper,
) -> dict:  # fmt: skip
    import inspect

    import torch

    from agents.ladder import train_ladder
    from agents.registry import get_agent
    from agents.training import evaluate_success, make_agent
    from agents.vec_env import make_vec_env

    torch.set_num_threads(1)
    env_id, knob, fixed = TASKS[task]

    def make_env(rung):
        return make_vec_env(env_id, n_envs=n_envs, seed=seed, env_kwargs={**fixed, knob: rung})

    spec, core = get_agent(agent), dict(core_kwargs)
    if spec.is_memory_agent:
        hyper = {**MEMORY_PPO_HYPER, **hyper}
    if spec.is_memory_agent and "max_memory" in inspect.signature(spec.core_class).parameters:
        core = {"max_memory": max(evals) + 2, **core}  # the longest evaluated episode
    model = make_agent(agent, make_env(ladder[0]), seed=seed, core_kwargs=core or None, **hyper)
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--task", choices=list(TASKS), default="DelayedRecall")
    parser.add_argument("--agent", default="episodic")
    parser.add_argument("--seeds", nargs="+", type=int, default=[0])
    parser.add_argument("--ladder", nargs="+", type=int, default=[16, 64])
    parser.add_argument("--eval", nargs="+", type=int, default=[16, 64, 256, 1024, 10000])
    parser.add_argument("--budget", type=int, default=300_000)
    parser.add_argument("--n-envs", type=int, default=16)
    parser.add_argument("--eval-episodes", type=int, default=64)
    parser.add_argument("--core-kwargs", type=json.loads, default={}, help="JSON dict")
    parser.add_argument(
        "--hyper", type=json.loads, default={}, help=f"JSON dict over the defaults {HYPER}"
    )
    parser.add_argument("--out", default=None)
    parser.add_argument("--json", default=None)
    args = parser.parse_args()
    if min(args.ladder + args.eval) < 1 or args.budget < 1:
        parser.error("--ladder, --eval and --budget must be >= 1")
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
    cmd = "python scripts/probe_episodic_frontier.py " + " ".join(sys.argv[1:])
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
    write_results("\n".join(lines) + "\n", records, args.out, args.json)


if __name__ == "__main__":
    main()
