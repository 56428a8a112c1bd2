"""Mean return per env step of agents at their defaults, on a suite's tasks (issue 12, item 13).

python scripts/compare_defaults.py --suite defaults-vs-recurrent-ppo \
    --out benchmarks/results/defaults-vs-recurrent-ppo

Reads a benchmark suite (``agents/suites/<name>.json`` or a path; its first ladder rung of
each task, its agents and ``agent_overrides``, seeds, budget, ``n_envs``, ``eval_episodes``)
and trains every run for exactly the budget: unlike ``scripts/benchmark.py`` there is no
early stop, so every agent sees the same env steps. Each record holds the learning curve
(mean return of the last 100 training episodes after each rollout) and the mean return and
success of ``eval_episodes`` fresh deterministic episodes at the end. Records are appended
to ``<out>/returns.jsonl`` one run at a time (a rerun skips finished runs); the report is
``<out>/README.md`` plus ``<out>/returns.json`` (the command and machine, and the records).
``--agents``/``--tasks``/``--seeds`` restrict a run to part of the suite. Models are built
as ``scripts/benchmark.py`` builds them (``"n_steps": "episode"``, the suite's device, named
agent variants, ``external-memory-ppo``).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

CHECKPOINTS = (0.25, 0.5, 0.75, 1.0)  # fractions of the budget shown in the report


def train_run(run: dict[str, Any]) -> dict[str, Any]:
    """Train one run of the plan for its full budget; return its record."""
    import numpy as np
    import torch
    from stable_baselines3.common.callbacks import BaseCallback

    from agents.benchmark import build_model, hyperparameters
    from agents.benchutil import machine
    from agents.training import evaluate_success

    torch.set_num_threads(1)
    hp = hyperparameters(run)  # "n_steps": "episode" resolved, as the benchmark trains
    model, _, external = build_model(run, hp)
    env = model.get_env()
    curve: list[list[float]] = []

    class Curve(BaseCallback):
        def _on_step(self) -> bool:
            return True

        def _on_rollout_end(self) -> None:
            episodes = self.model.ep_info_buffer
            if episodes:
                curve.append([self.num_timesteps, float(np.mean([e["r"] for e in episodes]))])

    start = time.perf_counter()
    model.learn(run["budget"], callback=Curve())
    wall = time.perf_counter() - start
    result = evaluate_success(
        model,
        run["env"],
        run["env_kwargs"],
        n_episodes=run["eval_episodes"],
        external_memory=external,
    )
    env.close()
    keys = ("agent", "env", "knob", "value", "env_kwargs", "seed", "budget", "n_envs")
    return {
        **{k: run[k] for k in keys},
        "hyperparameters": hp,
        "device": run["device"],
        "success_rate": result["success_rate"],
        "mean_return": result["mean_return"],
        "eval_episodes": run["eval_episodes"],
        "steps_trained": model.num_timesteps,
        "wall_time_s": wall,
        "env_steps_per_s": model.num_timesteps / wall,
        "curve": curve,
        "machine": machine(),
    }


def at_step(curve: list[list[float]], step: float) -> float | None:
    """Training mean return at the last rollout ending at or before ``step``."""
    before = [r for s, r in curve if s <= step]
    return before[-1] if before else None


def report(suite: dict[str, Any], records: list[dict[str, Any]], command: str) -> str:
    """Markdown: per task, each agent's eval mean return per seed and its training curve."""
    from agents.benchutil import header, machine

    seeds, budget = suite["seeds"], suite["budget"]
    lines = [
        f"# Agents at their defaults: `{suite['name']}`\n",
        header(command, machine()),
        *(f"{note}\n" for note in suite.get("notes", [])),
        f"Budget {budget:,} env steps per run ({suite.get('n_envs', 16)} envs), no early stop; "
        f"seeds {seeds}. Eval: mean return of {suite.get('eval_episodes', 200)} fresh "
        "deterministic episodes after training (optimal 1.0). Curve: mean return of the last "
        "100 training episodes at that fraction of the budget (mean over seeds). Settings: "
        "`agent_overrides` of the suite file; an agent without one runs at its defaults.\n",
    ]
    for task in suite["tasks"]:
        rows = [r for r in records if r["env"] == task["env"]]
        if not rows:
            continue
        cols = " | ".join(f"seed {s}" for s in seeds)
        marks = " | ".join(f"{int(f * budget) // 1000}k" for f in CHECKPOINTS)
        lines += [
            f"\n## {task['env']}\n",
            f"| agent | eval mean | {cols} | curve {marks} | env-steps/s |",
            "| --- " * (len(seeds) + len(CHECKPOINTS) + 3) + "|",
        ]
        for agent in suite["agents"]:
            rs = {r["seed"]: r for r in rows if r["agent"] == agent}
            if not rs:
                continue
            per_seed = [f"{rs[s]['mean_return']:.2f}" if s in rs else "-" for s in seeds]
            mean = statistics.mean(r["mean_return"] for r in rs.values())
            points = []
            for f in CHECKPOINTS:
                vals = [
                    v for r in rs.values() if (v := at_step(r["curve"], f * budget)) is not None
                ]
                points.append(f"{statistics.mean(vals):.2f}" if vals else "-")
            speed = statistics.median(r["env_steps_per_s"] for r in rs.values())
            lines.append(
                f"| {agent} | {mean:.2f} | {' | '.join(per_seed)} | {' | '.join(points)} "
                f"| {speed:,.0f} |"
            )
    return "\n".join(lines) + "\n"


def check_subset(
    suite: dict[str, Any], agents: list[str] | None, tasks: list[str] | None, seeds: list | None
) -> None:
    """``ValueError`` naming each ``--agents``/``--tasks``/``--seeds`` value that selects
    nothing of the suite, and the values it has (a typo ran nothing and reported nothing)."""
    envs = [task["env"] for task in suite["tasks"]]
    for flag, given, allowed, hit in (
        ("--agents", agents, suite["agents"], lambda a: a in suite["agents"]),
        ("--tasks", tasks, envs, lambda t: any(t in env for env in envs)),
        ("--seeds", seeds, suite["seeds"], lambda s: s in suite["seeds"]),
    ):
        missing = [value for value in given or [] if not hit(value)]
        if missing:
            raise ValueError(
                f"{flag} {missing} not in suite {suite['name']!r}, which has {allowed}"
            )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--suite", required=True, help="shipped suite name or a JSON path")
    parser.add_argument("--out", required=True, help="output folder")
    parser.add_argument("--agents", nargs="+", help="only these agents of the suite")
    parser.add_argument("--tasks", nargs="+", help="only tasks whose env id contains one of these")
    parser.add_argument("--seeds", nargs="+", type=int, help="only these seeds of the suite")
    parser.add_argument("--report-only", action="store_true", help="rewrite the report only")
    args = parser.parse_args(argv)

    from agents.benchutil import check_output_paths, command_line, provenance
    from agents.checks import check_device
    from agents.results import append_record, read_results, run_key
    from agents.script_args import usage_errors
    from agents.suite import load_suite, plan

    out = Path(args.out)
    with usage_errors(parser):
        suite = load_suite(args.suite)
        check_subset(suite, args.agents, args.tasks, args.seeds)
        check_device(suite.get("device", "cpu"))  # the suite's, as the benchmark trains on it
        check_output_paths(out=str(out / "README.md"))
    path = out / "returns.jsonl"
    records = read_results(path)
    done = {run_key(r) for r in records}
    todo = [
        run
        for run in plan(suite, 0)
        if run_key(run) not in done
        and (not args.agents or run["agent"] in args.agents)
        and (not args.tasks or any(t in run["env"] for t in args.tasks))
        and (not args.seeds or run["seed"] in args.seeds)
    ]
    for i, run in enumerate([] if args.report_only else todo):
        print(f"[{i + 1}/{len(todo)}] {run['agent']} {run['env']} seed {run['seed']}", flush=True)
        record = train_run(run)
        print(
            f"    mean return {record['mean_return']:.3f}, success {record['success_rate']:.2f}, "
            f"{record['wall_time_s']:.0f} s",
            flush=True,
        )
        append_record(path, record)
        records.append(record)
    given = sys.argv[1:] if argv is None else argv
    command = command_line("compare_defaults.py", [a for a in given if a != "--report-only"])
    text = report(suite, records, command)
    (out / "README.md").write_text(text)
    data = {**provenance(command), "records": records}
    (out / "returns.json").write_text(json.dumps(data, indent=1))
    print(text)


if __name__ == "__main__":
    main()
