"""The benchmark's report: tables per task, the delay frontier, IQM with bootstrap CIs,
curriculum use, plots.

Markdown only needs the records; the plots need matplotlib (:mod:`agents.plots`).
"""

from __future__ import annotations

import itertools
import json
import statistics
from pathlib import Path
from typing import Any

import numpy as np

from agents.ladder import SUCCESS
from agents.suite import EXTERNAL_MEMORY


def median_success(records: list[dict[str, Any]]) -> float:
    return statistics.median(r["success_rate"] for r in records) if records else float("nan")


def task_records(records: list[dict[str, Any]], task: dict[str, Any]) -> list[dict[str, Any]]:
    """The records of one suite task: its env, knob and ``fixed`` knobs, at a rung of its
    current ladder, made under its current protocol (with a curriculum or without: a rung
    since removed from the ladder or a run of the other protocol keeps its records in
    ``results.jsonl``)."""
    curriculum = bool(task.get("curriculum"))
    return [r for r in _env_records(records, task) if bool(r.get("curriculum")) == curriculum]


def _env_records(records: list[dict[str, Any]], task: dict[str, Any]) -> list[dict[str, Any]]:
    """The records at the task's env, knob, ``fixed`` knobs and ladder, of either protocol."""
    knob, fixed, ladder = task["knob"], task.get("fixed", {}), task["ladder"]
    return [
        r
        for r in records
        if r["env"] == task["env"]
        and r["knob"] == knob
        and r["value"] in ladder
        and r["env_kwargs"] == {**fixed, knob: r["value"]}
    ]


def frontier(records: list[dict], agent: str, env: str) -> Any:
    """Longest knob value at which the agent's median success over seeds is >= 95%."""
    values = sorted({r["value"] for r in records if r["agent"] == agent and r["env"] == env})
    ok = [
        v
        for v in values
        if median_success(
            [r for r in records if r["agent"] == agent and r["env"] == env and r["value"] == v]
        )
        >= SUCCESS
    ]
    return max(ok) if ok else None


def write_report(
    suite: dict[str, Any], records: list[dict], out_dir: Path, command: str, plots: bool = True
) -> str:
    """Write ``out_dir/README.md`` (and the plots unless ``plots=False``); return the text."""
    from agents.benchutil import header, machine

    # a seed or agent since dropped from the suite keeps its records; so does a rung since
    # dropped from a ladder (task_records leaves those out)
    seeds, agents = set(suite["seeds"]), set(suite["agents"])
    records = [r for r in records if r["seed"] in seeds and r["agent"] in agents]
    n_seeds = len(seeds)
    lines = [f"# Benchmark suite `{suite['name']}`\n", header(command, machine())]
    lines.append(
        f"Budget {suite['budget']:,} env steps per run, seeds {suite['seeds']}, "
        f"{suite.get('eval_episodes', 200)} fresh evaluation episodes per run (deterministic "
        f"actions). Cells: median success over seeds (min-max); `skip` = not run because the "
        f"agent already failed at a shorter delay; `not run` = not reached (suite unfinished); "
        f"`k of {n_seeds} seeds` = only k of the suite's seeds recorded (unfinished: the "
        f"median may still change). Frontier: the longest value with median "
        f"success >= 95% within budget; `so far (unfinished)` while seeds are missing. "
        f"Hyperparameters: the suite's file (`--suite` in the command above; a shipped "
        f"suite's is `agents/suites/{suite['name']}.json`).\n"
    )
    lines += [f"Note: {note}\n" for note in suite.get("notes", [])]
    for task in suite["tasks"]:
        env, mine = task["env"], task_records(records, task)
        lines.append(f"\n## {env} (`{task['knob']}`; fixed {task.get('fixed', {})})\n")
        other, taught = len(_env_records(records, task)) - len(mine), bool(task.get("curriculum"))
        if other:  # the task's curriculum flag changed since: another protocol
            lines.append(
                f"Left out: {other} record(s) made {'without' if taught else 'with'} a "
                f"curriculum, another protocol than this task's (`curriculum: "
                f"{json.dumps(taught)}`); they stay in results.jsonl.\n"
            )
        ladder = task["ladder"]
        lines.append(
            "| agent | "
            + " | ".join(f"{task['knob']}={v}" for v in ladder)
            + " | frontier | env-steps/s | curriculum |"
        )
        lines.append("| --- " * (len(ladder) + 4) + "|")
        for agent in suite["agents"]:
            cells, fps, failed, used, partial = [], [], False, set(), False
            for v in ladder:
                rs = [r for r in mine if r["agent"] == agent and r["value"] == v]
                fps += [r["env_steps_per_s"] for r in rs]
                used |= {bool(r.get("curriculum")) for r in rs}
                if not rs:
                    cells.append("skip" if failed else "not run")
                    continue
                rates = [r["success_rate"] for r in rs]
                cell = f"{median_success(rs):.2f} ({min(rates):.2f}-{max(rates):.2f})"
                have = len({r["seed"] for r in rs})
                if have < n_seeds:  # its median may still change: not a final result
                    cells.append(f"{cell}, {have} of {n_seeds} seeds")
                    partial = partial or not failed
                    continue
                cells.append(cell)
                failed = failed or median_success(rs) < SUCCESS
            front = frontier(mine, agent, env)
            front_text = "none" if front is None else str(front)
            if partial:  # seeds missing at a rung that still counts
                front_text = f"{front_text} so far (unfinished)"
            elif not failed and "not run" in cells:  # the ladder was not finished
                front_text = "not measured" if front is None else f">= {front} (unfinished)"
            speed = f"{statistics.median(fps):,.0f}" if fps else "-"
            curriculum = {frozenset([True]): "yes", frozenset([False]): "no"}.get(
                frozenset(used), "mixed" if used else "-"
            )
            lines.append(
                f"| {agent} | " + " | ".join(cells) + f" | {front_text} | {speed} | {curriculum} |"
            )
        lines.append(_interval_estimates(mine, task, suite["agents"]))
        lines.append(_improvement_over_baseline(mine, task, suite))
        lines.append(_curriculum_steps(mine, task, suite["agents"]))
        lines.append(_extra_evals(mine, task, suite["agents"]))
    text = "\n".join(lines) + "\n"
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "README.md").write_text(text)
    if plots:
        from agents.plots import write_plots

        write_plots(suite, records, out_dir)
    return text


def _interval_estimates(records: list[dict], task: dict, agents: list[str]) -> str:
    """IQM of success over seeds with its 95% stratified bootstrap CI, where >= 3 seeds
    (``records``: the task's)."""
    from agents.stats import MIN_SEEDS, iqm, stratified_bootstrap_ci

    ladder = task["ladder"]
    rows = []
    for agent in agents:
        cells = []
        for value in ladder:
            rates = np.array(
                [r["success_rate"] for r in records if r["agent"] == agent and r["value"] == value]
            )
            if len(rates) < MIN_SEEDS:
                cells.append(f"n={len(rates)}" if len(rates) else "-")
                continue
            low, high = stratified_bootstrap_ci(rates)
            cells.append(f"{iqm(rates):.2f} [{low:.2f}, {high:.2f}]")
        if any(c.endswith("]") for c in cells):
            rows.append(f"| {agent} | " + " | ".join(cells) + " |")
    if not rows:
        return ""
    head = [
        f"\nIQM of success over seeds [95% stratified bootstrap CI, 2,000 resamples] where "
        f"there are >= {MIN_SEEDS} seeds (rliable's estimates; `n=k`: too few seeds):\n",
        "| agent | " + " | ".join(f"{task['knob']}={v}" for v in ladder) + " |",
        "| --- " * (len(ladder) + 1) + "|",
    ]
    return "\n".join(head + rows)


BASELINE = "lstm"  # the recurrent baseline memory agents are compared with
RNN_BASELINES = ("lstm", "gru")  # memory-ppo agents that are baselines, not memory agents


def memory_agents(suite: dict[str, Any]) -> list[str]:
    """The suite's memory agents: MemoryPPO cores other than the RNN baselines (variants by
    their base agent), and PPO with the external memory."""
    from agents.registry import memory_agents as registered

    cores = {spec.name for spec in registered()} - set(RNN_BASELINES)
    overrides = suite.get("agent_overrides", {})
    base = {a: overrides.get(a, {}).get("agent", a) for a in suite["agents"]}
    return [a for a in suite["agents"] if base[a] in cores or base[a] == EXTERNAL_MEMORY]


def _success_cells(records: list[dict], agent: str, env: str) -> dict[tuple, float]:
    """``{(seed, value): success rate}`` of one agent on one task."""
    return {
        (r["seed"], r["value"]): r["success_rate"]
        for r in records
        if r["agent"] == agent and r["env"] == env
    }


def _improvement_over_baseline(records: list[dict], task: dict, suite: dict) -> str:
    """P(X > LSTM) with its 95% stratified bootstrap CI for each memory agent X, over the
    rungs where both ran every seed (>= MIN_SEEDS); the best memory agent is marked
    (``records``: the task's)."""
    from agents.stats import MIN_SEEDS, probability_of_improvement, probability_of_improvement_ci

    env, ladder, seeds = task["env"], task["ladder"], suite["seeds"]
    if BASELINE not in suite["agents"] or len(seeds) < MIN_SEEDS:
        return ""
    base = _success_cells(records, BASELINE, env)
    rows = []
    for agent in memory_agents(suite):
        mine = _success_cells(records, agent, env)
        values = [v for v in ladder if all((s, v) in mine and (s, v) in base for s in seeds)]
        if not values:
            continue
        x = np.array([[mine[s, v] for v in values] for s in seeds])
        y = np.array([[base[s, v] for v in values] for s in seeds])
        front = frontier(records, agent, env)
        rank = (-1 if front is None else ladder.index(front), float(x.mean()))
        rows.append((rank, agent, values, x, y))
    if not rows:
        return ""
    best = max(rows, key=lambda row: row[0])[1]
    out = [
        f"\nProbability of improvement over `{BASELINE}` (rliable's P(X > Y): the chance that "
        f"a run of the agent beats a run of `{BASELINE}` at the same rung, ties count one half, "
        f"averaged over the rungs both ran with all {len(seeds)} seeds; 0.5 = no difference) "
        f"[95% stratified bootstrap CI, 2,000 resamples]. Best memory agent: the longest "
        f"frontier, then the highest mean success over those rungs (chosen after the fact, "
        f"so its interval is optimistic):\n",
        f"| memory agent | P(agent > {BASELINE}) | rungs compared |",
        "| --- | --- | --- |",
    ]
    for _, agent, values, x, y in rows:
        low, high = probability_of_improvement_ci(x, y)
        name = f"**{agent}** (best)" if agent == best else agent
        rungs = ", ".join(f"{task['knob']}={v}" for v in values)
        out.append(
            f"| {name} | {probability_of_improvement(x, y):.2f} [{low:.2f}, {high:.2f}] | {rungs} |"
        )
    return "\n".join(out)


def _curriculum_steps(records: list[dict], task: dict, agents: list[str]) -> str:
    """For curriculum runs: the env step at which each rung was reached, per seed
    (``records``: the task's)."""
    rows = [r for r in records if r.get("curriculum")]
    if not rows:
        return ""
    out = [
        "\nCurriculum (`curriculum: yes`): the agent trained up the ladder to the rung "
        "evaluated, moving on at >= 95% training success over 100 episodes; "
        "`rung@step` = env step at which each rung was reached, one row per seed:\n",
        "| agent | evaluated at | seed | rungs reached |",
        "| --- | --- | --- | --- |",
    ]
    for agent, value in itertools.product(agents, task["ladder"]):
        mine = [r for r in rows if r["agent"] == agent and r["value"] == value]
        for r in sorted(mine, key=lambda r: r["seed"]):
            steps = ", ".join(f"{rung}@{step:,}" for rung, step in r["curriculum"])
            out.append(f"| {agent} | {r['value']} | {r['seed']} | {steps} |")
    return "\n".join(out)


def _extra_evals(records: list[dict], task: dict, agents: list[str]) -> str:
    """Length-generalisation table for a task evaluated at several settings: one column per
    entry of its ``eval`` (``{}``: as trained), ``-`` where no run made that evaluation
    (``records``: the task's)."""
    extras = task.get("eval", [{}])
    if len(extras) < 2 or not records:
        return ""
    settings = [f"`{json.dumps(e, sort_keys=True)}`" if e else "as trained" for e in extras]
    out = [
        "\nEvaluation beyond the training distribution: median success over seeds (median mean "
        "return in brackets: partial credit, e.g. the fraction of symbols right); columns: "
        "the task's `eval` settings, each on top of the rung trained at:\n",
        "| agent | trained at | " + " | ".join(settings) + " |",
        "| --- " * (len(settings) + 2) + "|",
    ]
    for agent, value in itertools.product(agents, task["ladder"]):
        rs = [r for r in records if r["agent"] == agent and r["value"] == value]
        if rs:
            cells = [_eval_cell(rs, extra) for extra in extras]
            out.append(f"| {agent} | {value} | " + " | ".join(cells) + " |")
    return "\n".join(out)


def _eval_cell(records: list[dict], extra: dict) -> str:
    """Median success (mean return) of the runs' evaluations at their env kwargs updated by
    ``extra`` (a record without ``evals`` was evaluated as trained only)."""
    found = []
    for r in records:
        wanted = {**r["env_kwargs"], **extra}
        found += [e for e in r.get("evals", [r]) if e["env_kwargs"] == wanted][:1]
    if not found:
        return "-"
    cell = (
        f"{statistics.median(e['success_rate'] for e in found):.2f} "
        f"({statistics.median(e['mean_return'] for e in found):.2f})"
    )
    return cell if len(found) >= len(records) else f"{cell}, {len(found)} of {len(records)} runs"
