"""Benchmark trials as Ray tasks, on one machine or a cluster (the ``sweep`` extra).

Each (agent, task setting, seed) trial is one Ray core task running
:func:`agents.benchmark.train_one`; the driver (the benchmark runner) keeps at most ``jobs``
of them in flight, collects their records as they finish and is the only writer of
``results.jsonl``. Without ``address`` a private local Ray instance is started on the
loopback interface and shut down at the end; with ``address`` (``host:port`` of a running
head node, ``ray://host:port`` for Ray Client, or ``auto``) the trials go to that cluster.

Why core tasks and not Ray Tune: a trial here is one function call with no intermediate
reporting, checkpointing or early stopping across trials (the runner's early stop lives
inside the trial), and resume is by finished records in ``results.jsonl``, which Tune's
experiment state would duplicate. Tasks give what is needed (resource requests, placement
on any node, retries after a node dies, cancellation) with no second bookkeeping.

Resources: a trial asks for ``threads`` CPUs (default 1) and, on a ``cuda`` device, one GPU,
so it only lands on a node with a free GPU; a suite that needs a GPU on a cluster without
one is refused before anything runs. A trial whose worker or node dies is retried once by
Ray (``MAX_RETRIES``); any other failure is reported and the trial is rerun by the next
invocation, as with the process pool.
"""

from __future__ import annotations

import importlib
import json
import os
import re
import socket
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

INSTALL_HINT = "pip install 'memenvs-agents[sweep]'"
MAX_RETRIES = 1  # retries of a trial whose worker process or node died
LOOPBACK = "127.0.0.1"
_HOST_PORT = re.compile(
    r"^(?:ray://)?(?P<host>[A-Za-z0-9][A-Za-z0-9.-]*|\[[0-9A-Fa-f:]+\]):(?P<port>\d{1,5})$"
)


def check_address(address: str) -> str:
    """``address`` if it names a Ray cluster: ``auto``, ``host:port`` or ``ray://host:port``.

    Raises ``ValueError`` otherwise (a port must be 1-65535).
    """
    if address == "auto":
        return address
    match = _HOST_PORT.match(address)
    if match is None or not 1 <= int(match["port"]) <= 65535:
        raise ValueError(
            f"--address {address!r} is not a Ray cluster address: use host:port of the head "
            f"node (as printed by `ray start --head`), ray://host:port, or auto"
        )
    return address


def require(module: str, purpose: str) -> Any:
    """Import ``module`` of the sweep extra, or ``ImportError`` naming the extra to install."""
    try:
        return importlib.import_module(module)
    except ImportError:
        raise ImportError(f"{purpose} needs {module}: {INSTALL_HINT}") from None


def reachable(address: str, timeout: float = 5.0) -> None:
    """``ConnectionError`` unless something listens at a ``host:port`` address."""
    match = _HOST_PORT.match(check_address(address))
    if match is None:  # auto: Ray finds the cluster itself
        return
    host, port = match["host"].strip("[]"), int(match["port"])
    try:
        socket.create_connection((host, port), timeout=timeout).close()
    except OSError as err:
        raise ConnectionError(
            f"no Ray cluster answers at {address} ({err.strerror or err}): start its head "
            f"with `ray start --head --port {port}` there, or check the address"
        ) from None


def import_ray() -> Any:
    """The ``ray`` module (the Ray engine)."""
    return require("ray", "the Ray engine")


def trial_resources(run: dict[str, Any]) -> dict[str, float]:
    """Ray resources of one trial: its torch threads as CPUs, one GPU on a cuda device."""
    gpus = 1 if str(run.get("device", "cpu")).startswith("cuda") else 0
    return {"num_cpus": run.get("threads", 1), "num_gpus": gpus}


def trial_name(run: dict[str, Any]) -> str:
    """Name of a trial's task in Ray's state API and logs."""
    return f"{run['agent']}/{run['env']}/{run['knob']}={run['value']}/seed{run['seed']}"


def _trial(run: dict[str, Any]) -> dict[str, Any]:
    """Body of one Ray task: train, then say on which node (TensorBoard runs stay there)."""
    import ray

    from agents.benchmark import train_one

    record = train_one(run)
    record["node"] = {"id": ray.get_runtime_context().get_node_id(), "host": socket.gethostname()}
    return record


def report_failure(err: BaseException, run: dict[str, Any]) -> None:
    """One line on stderr for a trial that failed, naming it (the next invocation reruns it)."""
    first = str(err).strip().splitlines()[:1]
    print(
        f"run {trial_name(run)} failed: {type(err).__name__}: {first[0] if first else ''}",
        file=sys.stderr,
    )


class RaySession:
    """Ray for the duration of a ``with`` block: ``train_all`` runs trials as tasks.

    Without ``address`` starts a local instance (``num_cpus`` = max(cores, jobs), so
    ``jobs`` one-CPU trials fit) with a reaper process that kills its daemons and workers if
    the runner itself is killed (:func:`agents.workers.start_reaper`); with ``address``
    connects to that cluster, whose Ray ends the job's tasks when the driver dies.
    """

    def __init__(self, jobs: int, address: str | None = None) -> None:
        if isinstance(jobs, bool) or not isinstance(jobs, int) or jobs < 1:
            raise ValueError(f"jobs must be an integer >= 1, got {jobs!r}")
        self.jobs = jobs
        self.address = None if address is None else check_address(address)
        self._reaper = None

    def __enter__(self) -> RaySession:
        from agents.workers import start_reaper

        if self.address is not None:
            reachable(self.address)  # ray.init would retry for minutes
        ray = import_ray()
        if self.address is not None:
            ray.init(address=self.address)
            return self
        self._reaper = start_reaper()
        try:
            ray.init(  # "local": a new instance even if RAY_ADDRESS or `ray start` name one
                address="local",
                num_cpus=max(os.cpu_count() or 1, self.jobs),
                include_dashboard=False,
                _node_ip_address=LOOPBACK,
            )
        except BaseException:
            self.__exit__()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        from agents.workers import stop_reaper

        import_ray().shutdown()
        stop_reaper(self._reaper)
        self._reaper = None

    def check_feasible(self, runs: list[dict[str, Any]]) -> None:
        """``ValueError`` if a trial needs a GPU and no node of the cluster has one."""
        ray = import_ray()
        needs_gpu = any(trial_resources(r)["num_gpus"] for r in runs)
        if needs_gpu and ray.cluster_resources().get("GPU", 0) < 1:
            raise ValueError(
                "the suite trains on a cuda device but no node of the Ray cluster has a "
                "GPU: add a GPU node (ray start ... --num-gpus N) or train on cpu"
            )

    def train_all(self, runs: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
        """Yield the records of ``runs`` as they finish, ``jobs`` trials at a time.

        A failed trial is reported and skipped; if the caller stops (Ctrl-C, an error), the
        trials still running are cancelled (their workers killed).
        """
        ray = import_ray()
        self.check_feasible(runs)
        remote = ray.remote(_trial)
        queue, pending = list(runs), {}
        try:
            while queue or pending:
                while queue and len(pending) < self.jobs:
                    run = queue.pop(0)
                    options = {**trial_resources(run), "max_retries": MAX_RETRIES}
                    pending[remote.options(name=trial_name(run), **options).remote(run)] = run
                (ref,), _ = ray.wait(list(pending), num_returns=1)
                run = pending.pop(ref)
                try:
                    record = ray.get(ref)
                except Exception as err:  # a Ray task error wraps the trial's exception
                    report_failure(err, run)
                    continue
                yield record
        except BaseException:
            for ref in pending:
                ray.cancel(ref, force=True)
            raise


# ---------------------------------------------------------------- hyperparameter search
CORE_SIZE = {  # the width each memory core is tuned by
    "lstm": "hidden_size",
    "gru": "hidden_size",
    "ntm": "controller_size",
    "stochastic-ntm": "controller_size",
    "episodic": "embed_size",
    "stochastic-episodic": "embed_size",
}
SEARCH_SPACE = {  # name: (kind, choices or bounds); documented in the tune report
    "learning_rate": ("log-uniform", (1e-4, 3e-3)),
    "ent_coef": ("log-uniform", (1e-4, 5e-2)),
    "rollout_episodes": ("choice", (1, 2, 4)),
    "core_size": ("choice", (32, 64, 128)),
}
SOLVED_BONUS = 0.1  # score = success + 0.1 x (unused fraction of the budget) once solved
SAMPLER_SEED = 0  # a call's TPE seed: this plus the trials already done (a resume draws anew)


def search_space(agent: str) -> dict[str, Any]:
    """Optuna distributions for ``agent`` (a base agent name of :data:`CORE_SIZE`)."""
    import optuna

    if agent not in CORE_SIZE:
        raise ValueError(
            f"--tune needs a MemoryPPO agent with a core size to tune {sorted(CORE_SIZE)}, "
            f"got {agent!r}"
        )
    space = {}
    for name, (kind, spec) in SEARCH_SPACE.items():
        if kind == "log-uniform":
            space[name] = optuna.distributions.FloatDistribution(*spec, log=True)
        else:
            space[name] = optuna.distributions.CategoricalDistribution(spec)
    return space


def apply_params(run: dict[str, Any], params: dict[str, Any], base_agent: str) -> dict[str, Any]:
    """``run`` with a trial's hyperparameters: the rollout is ``rollout_episodes`` times the
    suite's ``"episode"`` rollout (whole episodes: BPTT spans the delay), the core size sets
    the core's width (:data:`CORE_SIZE`)."""
    from agents.benchmark import rollout_length

    hp = dict(run["hyperparameters"])
    rollout = hp.get("n_steps", "episode")
    if rollout == "episode":
        rollout = rollout_length(run["env"], run["env_kwargs"])
    hp["n_steps"] = int(rollout) * params["rollout_episodes"]
    hp["learning_rate"] = params["learning_rate"]
    hp["ent_coef"] = params["ent_coef"]
    hp["core_kwargs"] = {**hp.get("core_kwargs", {}), CORE_SIZE[base_agent]: params["core_size"]}
    return {**run, "hyperparameters": hp}


def trial_score(records: list[dict[str, Any]]) -> float:
    """Mean over seeds of the success rate, plus ``SOLVED_BONUS`` times the unused fraction
    of the budget for a run that met 95% (runs stop early once solved: faster is better)."""
    from agents.ladder import SUCCESS

    def score(r: dict[str, Any]) -> float:
        unused = max(0.0, 1 - r["steps_trained"] / r["budget"])
        return r["success_rate"] + (SOLVED_BONUS * unused if r["success_rate"] >= SUCCESS else 0)

    return sum(map(score, records)) / len(records)


def _one_or_all(values) -> Any:
    """The one distinct value of ``values``, or all of them sorted (``[]`` if none)."""
    distinct = sorted(set(values))
    return distinct[0] if len(distinct) == 1 else distinct


def _trial_settings(run: dict[str, Any]) -> dict[str, Any]:
    """What a trial's run was made with (a record) or is to be made with (a planned run with
    the trial's parameters applied), as resume compares them; those present in ``run``."""
    from agents.benchmark import _settings, hyperparameters

    made = {k: run[k] for k in ("env", "env_kwargs") if k in run}
    if "evals" in run:  # a record: what it evaluated on
        made["eval"] = [e.get("env_kwargs") for e in run["evals"]]
    elif "eval" in run:  # a planned run
        made["eval"] = [{**run["env_kwargs"], **extra} for extra in run["eval"]]
    if "curriculum" in run:  # a record's is null or the rungs reached
        made["curriculum"] = run["curriculum"] not in (None, False)
    hp = hyperparameters(run) if "hyperparameters" in run else {}
    return {**made, **_settings(run, hp)}


def read_trials(
    path: Path,
    space: dict[str, Any],
    budget: int | None = None,
    seeds: list | None = None,
    device: str | None = None,
    runs: list[dict[str, Any]] | None = None,
    agent: str | None = None,
) -> list[dict[str, Any]]:
    """The finished trials of a tune run (none if ``path`` does not exist).

    ``ResultsError`` naming the file and line for a line that is not a trial of this
    search space (another agent's file, a truncated write) or whose runs had another
    budget, other seeds or another device than ``budget``, ``seeds`` and ``device`` (when
    given; runs recorded without a device are not compared on it), or, given the planned
    ``runs`` (one per seed) of base agent ``agent``, was made with other settings than
    those runs with the trial's parameters applied (:func:`_trial_settings`: env, fixed
    knobs, ``n_envs``, ``eval_episodes``, evaluations, curriculum and the hyperparameters
    not tuned): such scores are not comparable, so a resume must not mix them.
    """
    import optuna

    from agents.results import ResultsError, check_settings

    if not path.exists():
        return []
    given = {"budget": budget, "seeds": None if seeds is None else sorted(seeds), "device": device}
    wanted = {k: v for k, v in given.items() if v is not None}
    trials = []
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        try:
            entry = json.loads(line)
            score, params, _ = float(entry["score"]), dict(entry["params"]), int(entry["trial"])
            optuna.trial.create_trial(params=params, distributions=space, value=score)
            devices = _one_or_all(r["device"] for r in entry["runs"] if "device" in r)
            made = {
                "budget": _one_or_all(r["budget"] for r in entry["runs"]),
                "seeds": sorted(r["seed"] for r in entry["runs"]),  # runs: as they finished
                "device": devices or device,  # runs recorded without one: not compared
            }
        except (ValueError, KeyError, TypeError) as err:
            raise ResultsError(
                f"{path}, line {number}: not a trial of this search space ({err}); move the "
                f"line (or the file) away to go on"
            ) from None
        check_settings(path, number, "a trial", {k: made[k] for k in wanted}, wanted)
        if runs is not None and agent is not None:
            planned = {run["seed"]: run for run in runs}
            for record in entry["runs"]:
                if record["seed"] not in planned:
                    continue  # other seeds: refused above when seeds are given
                now = apply_params(planned[record["seed"]], entry["params"], agent)
                try:
                    was = _trial_settings(record)
                except (ValueError, KeyError, TypeError, AttributeError) as err:
                    raise ResultsError(
                        f"{path}, line {number}: not a trial record ({err!r}); move the line "
                        f"(or the file) away to go on"
                    ) from None
                wanted_now = _trial_settings(now)
                if "device" not in record:
                    wanted_now.pop("device", None)
                what = f"trial {entry['trial']} (seed {record['seed']})"
                every = "n_envs" in record  # recorded in full
                check_settings(path, number, what, was, wanted_now, every=every)
        trials.append(entry)
    return trials


def choose_task(tasks: list[dict[str, Any]], task: str | None) -> dict[str, Any]:
    """The task of ``tasks`` that ``task`` (``--task``) names: its short name
    (``DelayedRecall``), env id, either of those with ``:knob`` (``DelayedRecall:delay``,
    for two tasks on one env) or its index in the suite; ``None`` for a suite's only task.

    ``ValueError`` listing the tasks as ``Name:knob`` with their indices unless exactly one
    task matches.
    """
    from agents.suite import task_name

    def names(i: int, t: dict[str, Any]) -> set[str]:
        short, env, knob = task_name(t["env"]), str(t["env"]), str(t["knob"])
        return {short, env, f"{short}:{knob}", f"{env}:{knob}", str(i)}

    chosen = [t for i, t in enumerate(tasks) if task is None or task in names(i, t)]
    if len(chosen) == 1:
        return chosen[0]
    listed = ", ".join(f"{i}: {task_name(t['env'])}:{t['knob']}" for i, t in enumerate(tasks))
    if task is None:
        why = f"the suite has {len(tasks)}"
    else:
        why = f"{task!r} matches {len(chosen)} of them" if chosen else f"got {task!r}"
    raise ValueError(
        f"--task must name one of the suite's tasks ({listed}) by name, env id, name:knob "
        f"or index; {why}"
    )


def tune(
    suite: dict[str, Any],
    out_root: Path,
    agent: str,
    rung: str,
    trials: int,
    jobs: int,
    task: str | None = None,
    engine: str = "process",
    address: str | None = None,
) -> tuple[Path, list[dict[str, Any]], int]:
    """Optuna search (TPE) of :data:`SEARCH_SPACE` for ``agent`` at one rung.

    Each trial trains the agent once per suite seed with the suite's budget through the
    benchmark's engine (``jobs`` runs at a time), scored by :func:`trial_score`. Trials go
    to ``<out_root>/tune-<suite>-<agent>-<task>-<knob><rung>/trials.jsonl`` as they finish;
    a rerun resumes (finished trials are told to the study again, not retrained) until
    ``trials`` are done. The sampler's seed is :data:`SAMPLER_SEED` plus the number of
    trials already done, so a fresh search is reproducible and a resumed one draws new
    parameters instead of repeating the previous call's random start-up trials. Returns
    the folder, all trials, and how many trials failed in this call (a failed trial is not
    recorded; it stops the search if its whole batch failed).
    ``ValueError`` for a bad suite
    (:func:`agents.suite.validate_suite`) or choice.
    """
    import optuna

    from agents.benchmark import trial_engine
    from agents.results import append_record, output_lock
    from agents.suite import path_component, plan, task_name, validate_suite

    validate_suite(suite)
    if isinstance(trials, bool) or not isinstance(trials, int) or trials < 1:
        raise ValueError(f"trials must be an integer >= 1, got {trials!r}")
    chosen_task = choose_task(suite["tasks"], task)
    ladder = [str(v) for v in chosen_task["ladder"]]
    if str(rung) not in ladder:
        raise ValueError(f"--rung must be a value of the task's ladder {ladder}, got {rung!r}")
    if agent not in suite["agents"]:
        raise ValueError(f"--tune must name an agent of the suite {suite['agents']}, got {agent!r}")
    base = suite.get("agent_overrides", {}).get(agent, {}).get("agent", agent)
    space = search_space(base)
    index = ladder.index(str(rung))
    runs = [r for r in plan(suite, index, [chosen_task]) if r["agent"] == agent]
    setting = f"{task_name(chosen_task['env'])}-{chosen_task['knob']}{ladder[index]}"
    name = path_component("tune folder", f"tune-{suite['name']}-{agent}-{setting}")
    out_dir = out_root / name
    path = out_dir / "trials.jsonl"
    with output_lock(out_dir) as close_lock_in_child:
        done = read_trials(
            path,
            space,
            suite["budget"],
            list(suite["seeds"]),
            suite.get("device", "cpu"),
            runs=runs,
            agent=base,
        )
        startup = min(10, max(2, trials // 2))  # random trials before TPE models the scores
        # seeded by the trials done: a resume must not replay the start-up draws of the
        # call before it (same seed, same random sequence); a fresh search stays seed 0
        sampler = optuna.samplers.TPESampler(
            seed=SAMPLER_SEED + len(done), n_startup_trials=startup
        )
        optuna.logging.set_verbosity(optuna.logging.WARNING)
        study = optuna.create_study(direction="maximize", sampler=sampler)
        for entry in done:
            study.add_trial(
                optuna.trial.create_trial(
                    params=entry["params"], distributions=space, value=entry["score"]
                )
            )
        next_id = max((entry["trial"] for entry in done), default=-1) + 1  # names folders
        order = {run["seed"]: i for i, run in enumerate(runs)}
        failed = 0
        with trial_engine(engine, jobs, address, close_lock_in_child) as train_all:
            while len(done) < trials:
                width = min(max(1, jobs // len(runs)), trials - len(done))
                batch = {next_id + i: study.ask(space) for i in range(width)}
                next_id += width
                todo = [
                    {
                        **apply_params(run, t.params, base),
                        "tb_dir": f"runs/{name}/trial{number}",
                        "out_root": str(out_root.resolve()),
                    }
                    for number, t in batch.items()
                    for run in runs
                ]
                finished: dict[int, list[dict]] = {number: [] for number in batch}
                for record in train_all(todo):  # tensorboard: runs/<name>/trial<k>/seed<s>
                    number = int(Path(record["tensorboard"]).parent.name.removeprefix("trial"))
                    finished[number].append(record)
                told = 0
                for number, trial in batch.items():
                    if len(finished[number]) < len(runs):  # a run failed (reported above)
                        study.tell(trial, state=optuna.trial.TrialState.FAIL)
                        failed += 1
                        continue
                    finished[number].sort(key=lambda r: order[r["seed"]])  # as they finished
                    score = trial_score(finished[number])
                    study.tell(trial, score)
                    entry = {"trial": number, "params": trial.params, "score": score}
                    append_record(path, {**entry, "runs": finished[number]})
                    done.append({**entry, "runs": finished[number]})
                    told += 1
                if not told:
                    print("tune: every trial of a batch failed; stopping", file=sys.stderr)
                    break
    return out_dir, done, failed


def write_tune_report(
    out_dir: Path, trials: list[dict[str, Any]], suite: dict[str, Any], command: str
) -> str:
    """Write ``out_dir/README.md``: provenance, the search space, trials by score; return it."""
    from agents.benchutil import header, machine

    runs = [run for t in trials for run in t["runs"]]
    first = runs[0] if runs else {}
    lines = [
        f"# Hyperparameter search `{out_dir.name}`\n",
        header(command, machine()),
        f"Agent `{first.get('agent')}` on `{first.get('env')}` at {first.get('knob')}="
        f"{first.get('value')} (fixed {first.get('env_kwargs')}), suite `{suite['name']}`: "
        f"budget {suite['budget']:,} env steps per run, seeds {suite['seeds']}, "
        f"{suite.get('eval_episodes', 200)} evaluation episodes per run. Optuna TPE "
        f"(random trials first; seed {SAMPLER_SEED} plus the trials done when a call "
        f"starts, so a resumed search draws new parameters). Score of a trial: mean over "
        f"seeds of the evaluation success rate, plus {SOLVED_BONUS} x the unused fraction "
        f"of the budget for a run that reached 95% (runs stop once 99 of 100 training "
        f"episodes succeed). With {len(suite['seeds'])} seed(s) per trial the ranking is "
        f"a pointer for a full benchmark run, not an estimate with an interval.\n",
        "Search space (the other hyperparameters are the suite's):\n",
        "| parameter | distribution | values |",
        "| --- | --- | --- |",
    ]
    for name, (kind, spec) in SEARCH_SPACE.items():
        lines.append(f"| {name} | {kind} | {', '.join(map(str, spec))} |")
    widths = ", ".join(f"{a}: {k}" for a, k in CORE_SIZE.items())
    lines += [
        "\n`rollout_episodes`: `n_steps` is that many times the suite's whole-episode rollout; "
        f"`core_size`: the core's width ({widths}).\n",
        f"{len(trials)} trials, best first:\n",
        "| trial | score | success per seed | env steps per seed | learning_rate | ent_coef | "
        "n_steps | core_size | wall s |",
        "| --- " * 9 + "|",
    ]
    for t in sorted(trials, key=lambda t: -t["score"]):
        p, rs = t["params"], t["runs"]
        lines.append(
            f"| {t['trial']} | {t['score']:.3f} | "
            + ", ".join(f"{r['success_rate']:.2f}" for r in rs)
            + " | "
            + ", ".join(f"{r['steps_trained']:,}" for r in rs)
            + f" | {p['learning_rate']:.2e} | {p['ent_coef']:.2e} | "
            f"{rs[0]['hyperparameters']['n_steps']} | {p['core_size']} | "
            f"{sum(r['wall_time_s'] for r in rs):.0f} |"
        )
    if trials:
        best = max(trials, key=lambda t: t["score"])
        hp = {
            k: v
            for k, v in best["runs"][0]["hyperparameters"].items()
            if k in ("learning_rate", "ent_coef", "n_steps", "core_kwargs")
        }
        lines.append(
            f"\nBest trial {best['trial']} (score {best['score']:.3f}) as a suite override: "
            f"`{json.dumps(hp)}`\n"
        )
    text = "\n".join(lines) + "\n"
    (out_dir / "README.md").write_text(text)
    return text
