"""The delay-frontier benchmark: agents x tasks x difficulty ladder x seeds, fixed budgets.

A suite is a JSON file, by name one shipped with the package (``agents/suites/<name>.json``,
:func:`agents.suite.load_suite`) or any path::

    {"agents": ["lstm", "ntm", ...], "seeds": [0, 1, 2], "budget": 100000,
     "eval_episodes": 200, "n_envs": 16, "jobs": 2,
     "hyperparameters": {"learning_rate": 0.001, "ent_coef": 0.01, "n_steps": "episode"},
     "agent_overrides": {"ppo": {...}},
     "tasks": [{"env": "memenvs/DelayedRecall-v0", "knob": "delay",
                "ladder": [16, 64, 256], "fixed": {"num_symbols": 4},
                "eval": [{"min_length": 50, "max_length": 50}]}]}

An optional ``"notes"`` list is printed in the report (protocol changes, reruns). A name in
``"agents"`` may be a variant defined by its override: ``"lstm-chrono": {"agent": "lstm",
"core_kwargs": {"chrono_max": 1024}}`` trains agent ``lstm`` with those settings.
``"n_steps": "episode"`` sets the rollout to a whole number of the task's episodes (the
smallest multiple of the episode length >= 32): all envs start together and episodes have a
fixed length, whatever the actions (checked), so every rollout holds whole episodes and BPTT
spans the full delay. Every MemoryPPO core gets the same hyperparameters (a controlled
comparison). A suite with any other key, an ``eval`` setting or a curriculum rung that
changes a rung's spaces, or settings an agent's model refuses (:func:`build_model` builds
each agent's once) is refused before any training.

This module is the library part (training runs, resume, the plan); the command line is
:mod:`agents.benchmark_app` (``python -m agents.benchmark``), the report
:mod:`agents.report`, its plots :mod:`agents.plots` (matplotlib: the ``bench`` extra).

Results go to ``<out>/<suite>/``: ``results.jsonl`` (one record per run, appended as runs
finish, so a rerun skips them; it refuses records made with another budget, ``n_envs``,
``eval_episodes``, device, hyperparameters, ``eval`` settings or ``curriculum_success``),
``README.md`` (tables, delay frontier,
throughput), ``success_vs_<knob>.png`` and ``curves_<task>.png``. TensorBoard runs go to
``<out>/runs/<suite>/<task>-<knob><value>/<agent>/seed<k>``. Names from the suite become
folder names only if they are safe (:func:`agents.suite.path_component`). An agent that
fails a rung
(median success < 95%) is not run at higher rungs of that task: its frontier is known.
A run stops before its budget once 99 of its last 100 training episodes succeed; the policy
evaluated is the one that met that test (see :func:`progress_callback`).
"""

from __future__ import annotations

import math
import shutil
import sys
import time
from collections.abc import Callable, Iterator
from concurrent.futures import as_completed
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from agents.ladder import STOP_SUCCESS, STOP_WINDOW, SUCCESS, progress_callback, train_ladder
from agents.report import frontier, median_success, task_records, write_report
from agents.results import (
    append_record,
    check_settings,
    output_lock,
    read_results,
    repair_results,
    run_key,
)
from agents.suite import EXTERNAL_MEMORY, load_suite, path_component, plan
from agents.sweep import report_failure, trial_name
from agents.workers import stop_pool, worker_pool

__all__ = [
    "STOP_SUCCESS",
    "STOP_WINDOW",
    "SUCCESS",
    "frontier",
    "load_suite",
    "plan",
    "progress_callback",
    "run_suite",
    "train_one",
    "write_report",
]

ENGINES = ("process", "ray")  # a pool of this machine's processes, or Ray tasks
RECORDED = ("budget", "n_envs", "eval_episodes")  # settings a record keeps besides its hp


# ------------------------------------------------------------------------------ one run
LENGTH_SEEDS = 64  # oracle episodes (seeds 0..63) that must all have one length


def episode_length(env_id: str, env_kwargs: dict[str, Any]) -> int:
    """Length of the task's episodes, which must not vary: ``ValueError`` naming the env and
    its knobs if the oracle episodes of seeds ``0..LENGTH_SEEDS-1`` differ in length (e.g.
    ``Copy`` with ``min_length < max_length``, a delay range), or if episodes of seeded
    random actions are not that long too (the length depends on the actions: e.g.
    Concentration, active TMaze, EndlessRecall). Played as one native vector env with a row
    per seed."""
    oracle = _episode_lengths(env_id, env_kwargs, oracle=True)
    fix = "set n_steps to a number of steps"
    if oracle.min() != oracle.max():
        raise ValueError(
            f'"n_steps": "episode" needs episodes of one length, but {env_id} with '
            f"{env_kwargs} has oracle episodes of {oracle.min()} to {oracle.max()} steps "
            f"(seeds 0-{LENGTH_SEEDS - 1}): {fix}, or fix the length (e.g. min = max)"
        )
    random = _episode_lengths(env_id, env_kwargs, oracle=False)  # only once that holds
    if random.min() != oracle[0] or random.max() != oracle[0]:
        raise ValueError(
            f'"n_steps": "episode" needs episodes of one length, but in {env_id} with '
            f"{env_kwargs} the length depends on the actions: oracle episodes of "
            f"{oracle[0]} steps, episodes of random actions of {random.min()} to "
            f"{random.max()} (seeds 0-{LENGTH_SEEDS - 1}): {fix}"
        )
    return int(oracle[0])


def _episode_lengths(env_id: str, env_kwargs: dict[str, Any], oracle: bool) -> Any:
    """The first episode's length ``[LENGTH_SEEDS]`` of seeds ``0..`` under the oracle's
    actions, or under random actions (the action space seeded 0)."""
    import gymnasium as gym
    import numpy as np

    import memenvs  # noqa: F401

    env = gym.make_vec(
        env_id, num_envs=LENGTH_SEEDS, vectorization_mode="vector_entry_point", **env_kwargs
    )
    try:
        env.reset(seed=0)  # row i: seed i
        env.action_space.seed(0)
        lengths = np.zeros(LENGTH_SEEDS, dtype=np.int64)
        steps = 0
        while not lengths.all():
            action = env.unwrapped.oracle_action() if oracle else env.action_space.sample()
            *_, terminated, truncated, _ = env.step(action)
            steps += 1
            lengths[(terminated | truncated) & (lengths == 0)] = steps
    finally:
        env.close()
    return lengths


def rollout_length(env_id: str, env_kwargs: dict[str, Any]) -> int:
    """The rollout of ``"n_steps": "episode"``: the smallest multiple of the episode
    length >= 32."""
    length = episode_length(env_id, env_kwargs)
    return length * math.ceil(32 / length)


def hyperparameters(run: dict[str, Any]) -> dict[str, Any]:
    """A run's hyperparameters as trained and recorded: ``"n_steps": "episode"`` resolved
    at the rung evaluated (also under a curriculum)."""
    hp = dict(run["hyperparameters"])
    if hp.get("n_steps") == "episode":
        hp["n_steps"] = rollout_length(run["env"], run["env_kwargs"])
    return hp


def _inside(root: Path, *parts: str) -> Path:
    """``root / parts``, refusing any path that resolves outside ``root``."""
    path = root.joinpath(*parts)
    if not path.resolve().is_relative_to(root.resolve()):
        raise ValueError(f"run folder {path} lies outside the output folder {root}")
    return path


def _rungs(run: dict[str, Any]) -> list[Any]:
    """The rungs a run trains on: its own, or under a curriculum the ladder up to it."""
    if not run.get("curriculum"):
        return [run["value"]]
    return run["ladder"][: run["ladder"].index(run["value"]) + 1]


def build_model(run: dict[str, Any], hp: dict[str, Any]) -> tuple[Any, Callable[[Any], Any], bool]:
    """A run's untrained model with hyperparameters ``hp`` (:func:`hyperparameters`) on the
    env of its first rung (:func:`_rungs`); also the function that makes the env of a rung,
    and whether the agent trains on the task wrapped in ``ExternalMemory``. What
    :func:`train_one` trains, and what :func:`agents.suite.validate_suite` builds once per
    agent to check its settings."""
    import memenvs  # noqa: F401
    from agents.training import make_agent
    from agents.vec_env import make_vec_env

    agent = hp.get("agent", run["agent"])  # a named variant of an agent (see module doc)
    external = agent == EXTERNAL_MEMORY
    if external:
        from agents.external_memory import make_external_memory_vec_env as make
    else:
        make = make_vec_env

    def make_env(rung: Any) -> Any:
        kwargs = {**run["env_kwargs"], run["knob"]: rung}
        return make(run["env"], n_envs=run["n_envs"], seed=run["seed"], env_kwargs=kwargs)

    env = make_env(_rungs(run)[0])
    device = run.get("device", "cpu")
    algo_hp = {k: v for k, v in hp.items() if k != "agent"}
    try:
        model = make_agent(
            "ppo" if external else agent, env, seed=run["seed"], device=device, **algo_hp
        )
    except BaseException:
        env.close()
        raise
    return model, make_env, external


def train_one(run: dict[str, Any]) -> dict[str, Any]:
    """Train one agent on one configuration; return its result record.

    With ``run["curriculum"]`` the agent trains up the ladder first (:func:`train_ladder`);
    the record's ``"curriculum"`` is then ``[[rung, env step reached], ...]``, else null.
    ``steps_to_95`` counts only training at the evaluated rung.
    """
    import torch

    torch.set_num_threads(run.get("threads", 1))

    from stable_baselines3.common.logger import configure

    from agents.benchutil import machine
    from agents.training import evaluate_success

    hp = hyperparameters(run)
    rungs = _rungs(run)
    model, make_env, external = build_model(run, hp)
    # exactly runs/<suite>/<task>/<agent>/seed<k> (SB3's own naming would add _1, _2, ...);
    # a run that is trained again (it never finished) starts from an empty folder
    tb_dir = _inside(Path(run["out_root"]), run["tb_dir"], f"seed{run['seed']}")
    shutil.rmtree(tb_dir, ignore_errors=True)
    model.set_logger(configure(str(tb_dir), ["tensorboard"]))

    curve: list[tuple[int, float]] = []
    start = time.perf_counter()
    reached = train_ladder(
        model, make_env, rungs, run["budget"], curve, run.get("curriculum_success", SUCCESS)
    )
    wall = time.perf_counter() - start
    at_target = reached[-1][1] if reached[-1][0] == run["value"] else math.inf
    steps_to_95 = next((s for s, rate in curve if rate >= SUCCESS and s > at_target), None)
    evals = []
    for eval_kwargs in _eval_kwargs(run):
        result = evaluate_success(
            model,
            run["env"],
            eval_kwargs,
            n_episodes=run["eval_episodes"],
            external_memory=external,
        )
        evals.append({"env_kwargs": eval_kwargs, **result})
    info = machine()
    return {
        **{
            k: run[k]
            for k in ("suite", "agent", "env", "knob", "value", "env_kwargs", "seed", *RECORDED)
        },
        "hyperparameters": hp,
        "success_rate": evals[0]["success_rate"],
        "mean_return": evals[0]["mean_return"],
        "evals": evals,
        "steps_to_95": steps_to_95,
        "steps_trained": model.num_timesteps,
        "wall_time_s": wall,
        "env_steps_per_s": model.num_timesteps / wall,
        "curve": curve,
        "curriculum": reached if run.get("curriculum") else None,
        **({"curriculum_success": run["curriculum_success"]} if run.get("curriculum") else {}),
        "device": run.get("device", "cpu"),
        "tensorboard": str(Path(run["tb_dir"], f"seed{run['seed']}")),
        "machine": info,
    }


# ---------------------------------------------------------------------------- the matrix
def _settings(
    run: dict[str, Any], hp: dict[str, Any], evals: list[dict] | None = None
) -> dict[str, Any]:
    """What resume compares between a record and the run it stands for (those present):
    ``evals`` are the env kwargs of its evaluations (None: not compared, as for ``--tune``'s
    trials), ``curriculum_success`` counts only under a curriculum."""
    keys = (*RECORDED, "device", *(("curriculum_success",) if run.get("curriculum") else ()))
    return {
        **{k: run[k] for k in keys if k in run},
        **{f"hyperparameters.{k}": v for k, v in hp.items()},
        **({"eval env_kwargs": evals} if evals is not None else {}),
    }


def _eval_kwargs(run: dict[str, Any]) -> list[dict[str, Any]]:
    """The env kwargs of a run's evaluations, as its record's ``evals`` lists them."""
    return [{**run["env_kwargs"], **extra} for extra in run.get("eval", [{}])]


def check_resumable(suite: dict[str, Any], records: list[dict], path: Path) -> None:
    """``ResultsError`` if a record of ``path`` stands for a run of ``suite`` (the same
    :func:`run_key`) but was made with another budget, ``n_envs``, ``eval_episodes``,
    device (the suite's ``"device"``, ``cpu`` by default) or hyperparameters (one the suite
    sets and the record lacks, or the other way round), other evaluations (the env kwargs
    of its ``evals``) or, under a curriculum, another ``curriculum_success``.

    Records written before ``n_envs`` was recorded are compared only on what they have
    (their budget and the hyperparameters they list): suites with such results have since
    pinned some hyperparameters at the values then in force. A record without a device,
    ``evals`` or (under a curriculum) ``curriculum_success`` (:func:`train_one` writes
    them) is not compared on it.
    """
    n_rungs = max(len(t["ladder"]) for t in suite["tasks"])
    planned = {run_key(r): r for i in range(n_rungs) for r in plan(suite, i)}
    for number, record in enumerate(records, start=1):  # read_results: one record a line
        run = planned.get(run_key(record))
        if run is not None:
            evals = [e.get("env_kwargs") for e in record["evals"]] if "evals" in record else None
            made = _settings(record, record.get("hyperparameters") or {}, evals)
            wanted = _settings(run, hyperparameters(run), _eval_kwargs(run))
            for key in ("device", "curriculum_success", "eval env_kwargs"):
                if key not in made:  # a record of older code: not compared on it
                    wanted.pop(key, None)
            what, every = f"run {trial_name(record)}", "n_envs" in record
            check_settings(path, number, what, made, wanted, every=every)


class RunsFailed(RuntimeError):
    """Runs of a suite failed (each reported on stderr); ``records`` holds all the others."""

    def __init__(self, failed: int, records: list[dict]) -> None:
        super().__init__(f"{failed} run(s) failed (reported above); rerun to retry them")
        self.records = records


Trainer = Callable[[list[dict]], Iterator[dict]]


def run_suite(
    suite: dict[str, Any],
    out_root: Path,
    jobs: int,
    progress: bool = True,
    repair: bool = False,
    engine: str = "process",
    address: str | None = None,
) -> list[dict]:
    """Run (or resume) a suite; returns all records.

    Records go to ``<out_root>/<suite>/results.jsonl``, TensorBoard runs to
    ``<out_root>/runs/<suite>/...`` (on a Ray cluster: on the node that ran the trial, at
    the same absolute path). Holds the suite folder's lock throughout
    (``OutputLocked`` if another runner has it); a bad line in ``results.jsonl`` raises
    ``ResultsError`` unless ``repair`` moves it aside first, as does a record made with
    other settings (:func:`check_resumable`); all before the engine starts (Ray: seconds).
    ``engine`` and ``address``: see :func:`trial_engine`. Raises ``RunsFailed`` at the end
    if any run failed.
    """
    out_dir = out_root / path_component("name", suite["name"])
    results_path = out_dir / "results.jsonl"
    with output_lock(out_dir) as close_lock_in_child:
        if repair:
            report_repair(results_path)
        records = read_results(results_path)
        check_resumable(suite, records, results_path)
        with trial_engine(engine, jobs, address, close_lock_in_child) as train_all:
            failed = _run_plan(suite, out_root, records, results_path, train_all, progress)
    if failed:
        raise RunsFailed(failed, records)
    return records


def _run_plan(
    suite: dict[str, Any],
    out_root: Path,
    records: list[dict],
    results_path: Path,
    train_all: Trainer,
    progress: bool,
) -> int:
    """Train the runs of ``suite`` not in ``records``, appending each new record to
    ``records`` and ``results_path``; return how many runs failed."""
    done = {run_key(r) for r in records}
    failed = 0
    n_rungs = max(len(t["ladder"]) for t in suite["tasks"])
    total = sum(len(plan(suite, i)) for i in range(n_rungs))
    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=total, initial=len(done), desc=f"suite {suite['name']}", file=sys.stderr)
    for task in suite["tasks"]:  # task by task, so each task's frontier completes early
        for rung in range(len(task["ladder"])):
            todo = []
            for run in plan(suite, rung, [task]):
                run["out_root"] = str(out_root.resolve())  # the same on every node
                if run_key(run) in done:
                    continue
                if rung > 0 and _failed_below(records, run, task):
                    if bar is not None:
                        bar.update(1)
                    continue
                todo.append(run)
            if not todo:
                continue
            failed += len(todo)  # until their records come back
            for record in train_all(todo):
                failed -= 1
                records.append(record)
                append_record(results_path, record)
                if bar is not None:
                    bar.update(1)
    if bar is not None:
        bar.close()
    return failed


@contextmanager
def trial_engine(
    engine: str, jobs: int, address: str | None = None, child_init: Callable | None = None
) -> Iterator[Trainer]:
    """A function from runs to their records as they finish, ``jobs`` trials at a time.

    ``process``: a pool of this machine's processes (``child_init`` runs in each worker);
    ``ray``: Ray tasks (:mod:`agents.sweep`), on a local instance or the cluster at
    ``address``. Either way a failed trial is reported and skipped (the next invocation
    reruns it) and only the caller writes results.
    """
    if engine not in ENGINES:
        raise ValueError(f"engine must be one of {ENGINES}, got {engine!r}")
    if isinstance(jobs, bool) or not isinstance(jobs, int) or jobs < 1:
        raise ValueError(f"jobs must be an integer >= 1, got {jobs!r}")
    if engine == "process":
        if address is not None:
            raise ValueError("a cluster address needs the ray engine (--engine ray)")
        yield lambda runs: _train_all(runs, jobs, child_init)
        return
    from agents.sweep import RaySession

    with RaySession(jobs, address) as session:
        yield session.train_all


def _train_all(runs: list[dict], jobs: int, child_init) -> Iterator[dict]:
    """Yield the records of ``runs`` as they finish (a failed run is reported and skipped:
    the next invocation retries it). The pool has at most one worker per run (it forks
    them all at once)."""
    pool = worker_pool(min(jobs, len(runs)), child_init)
    try:
        futures = {pool.submit(train_one, run): run for run in runs}
        for future in as_completed(futures):
            try:
                record = future.result()
            except Exception as err:
                report_failure(err, futures[future])
                continue
            yield record
    except BaseException:
        stop_pool(pool)  # Ctrl-C or an error here: do not wait for running trials
        raise
    pool.shutdown()


def report_repair(path: Path) -> None:
    """``repair_results(path)``, saying on stderr how many lines it moved."""
    moved = repair_results(path)
    if moved:
        print(f"repair: moved {moved} bad line(s) of {path} to {path}.bad", file=sys.stderr)


def _failed_below(records: list[dict], run: dict, task: dict) -> bool:
    """True if this agent's median success fell short at any shorter rung of ``task``."""
    mine = [r for r in task_records(records, task) if r["agent"] == run["agent"]]
    for lower in task["ladder"][: task["ladder"].index(run["value"])]:
        rs = [r for r in mine if r["value"] == lower]
        if rs and median_success(rs) < SUCCESS:
            return True
    return False


if __name__ == "__main__":  # python -m agents.benchmark: the app's command line
    from agents.benchmark_app import main

    main(prog="python -m agents.benchmark")
