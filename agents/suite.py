"""Benchmark suites: loading, validation, and the plan of runs at one ladder rung.

A suite is a JSON file; see :mod:`agents.benchmark` for its fields. Names taken from it
(the suite, agents, variants, task ids, knobs, ladder values) become folder names only
after :func:`path_component` has checked them, so a suite file cannot write outside the
output folder.
"""

from __future__ import annotations

import contextlib
import importlib.resources
import json
import re
from pathlib import Path
from typing import Any

from agents.checks import check_int

_SAFE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")
_DEVICE = re.compile(r"^(cpu|cuda(:[0-9]+)?)$")
REQUIRED = ("agents", "seeds", "budget", "tasks")
KEYS = (  # every key a suite may have (see agents.benchmark)
    "name",
    "description",
    "notes",
    *REQUIRED,
    "eval_episodes",
    "n_envs",
    "jobs",
    "device",
    "hyperparameters",
    "agent_overrides",
)

MAX_JOBS = 1024  # parallel runs: a process pool forks all its workers at once

TASK_KEYS = ("env", "knob", "ladder", "fixed", "eval", "curriculum", "curriculum_success")


def path_component(field: str, value: Any) -> str:
    """``value`` as one safe folder name (letters, digits, ``._-``, no ``..``, <= 100 chars).

    Raises ``ValueError`` naming ``field`` otherwise.
    """
    text = str(value)
    if isinstance(value, bool) or not _SAFE.match(text) or ".." in text:
        raise ValueError(
            f"{field}={value!r} cannot be used as a folder name: use 1-100 letters, digits, "
            f"'.', '_' or '-', starting with a letter or digit, without '..'"
        )
    return text


def path_like(text: str) -> bool:
    """Whether a ``--suite`` argument names a file rather than a shipped suite."""
    return text.endswith(".json") or "/" in text or "\\" in text


def task_name(env_id: str) -> str:
    """Short task name of an env id: ``memenvs/DelayedRecall-v0`` -> ``DelayedRecall``."""
    return env_id.split("/")[-1].removesuffix("-v0")


def _items(field: str, value: Any, unique: bool = True) -> list:
    """``value`` if it is a non-empty list (``unique``: without repeats); ``ValueError``
    naming ``field`` otherwise."""
    if not isinstance(value, list) or not value:
        raise ValueError(f"{field} must be a non-empty list, got {value!r}")
    repeats = [v for i, v in enumerate(value) if v in value[:i]]
    if unique and repeats:
        raise ValueError(f"{field} must not repeat a value, got {repeats[0]!r} twice in {value}")
    return value


def _object(field: str, value: Any) -> dict:
    if not isinstance(value, dict):
        raise ValueError(f"{field} must be an object ({{name: value}}), got {value!r}")
    return value


def validate_suite(suite: dict[str, Any]) -> dict[str, Any]:
    """Check a suite's fields (known keys, types, ranges, no repeats), every name that
    becomes a path, that its agents and task settings exist, that no seed meets the
    evaluation episodes and that each agent's model can be built with its settings
    (:func:`_check_models`); return it. Raises ``ValueError`` naming the field."""
    missing = [k for k in REQUIRED if k not in suite]
    if missing:
        raise ValueError(f"suite {suite.get('name')!r} is missing keys {missing}")
    unknown = [k for k in suite if k not in KEYS]
    if unknown:
        raise ValueError(f"unknown suite key {unknown[0]!r}: a suite's keys are {list(KEYS)}")
    path_component("name", suite["name"])
    for agent in _items("agents", suite["agents"]):
        path_component("agents[]", agent)
    overrides = _object("agent_overrides", suite.get("agent_overrides", {}))
    for variant, override in overrides.items():
        path_component("agent_overrides key", variant)
        _object(f"agent_overrides[{variant!r}]", override)
        if "agent" in override and not isinstance(override["agent"], str):  # not a folder
            raise ValueError(f"agent_overrides[{variant!r}].agent must be an agent name")
    for seed in _items("seeds", suite["seeds"]):
        check_int("seeds[]", seed, 0)
    check_int("budget", suite["budget"], 1)
    for key in ("n_envs", "eval_episodes"):
        check_int(key, suite.get(key, 1), 1)
    check_int("jobs", suite.get("jobs", 1), 1, MAX_JOBS)
    if "agent" in _object("hyperparameters", suite.get("hyperparameters", {})):
        raise ValueError(
            "hyperparameters.agent is not allowed: it would train another agent than the "
            "one each run is named after; to train a variant, name it in agents and set its "
            "agent in agent_overrides"
        )
    device = suite.get("device", "cpu")
    if not isinstance(device, str) or not _DEVICE.match(device):
        raise ValueError(f"device must be 'cpu', 'cuda' or 'cuda:N', got {device!r}")
    notes = suite.get("notes", [])
    if not isinstance(notes, list) or not all(isinstance(n, str) for n in notes):
        raise ValueError(f"notes must be a list of strings, got {notes!r}")
    for i, task in enumerate(_items("tasks", suite["tasks"], unique=False)):
        _validate_task(f"tasks[{i}]", task)  # a repeated task: see _check_settings
    _check_agents(suite["agents"], overrides)
    _check_distinct_tasks(suite["tasks"])
    _check_settings(suite["tasks"])
    _check_seeds(suite)
    _check_episode_rollouts(suite)
    _check_models(suite)
    return suite


def _validate_task(field: str, task: Any) -> None:
    """Check one entry of a suite's ``tasks`` (without making its environment)."""
    _object(field, task)
    for key in ("env", "knob", "ladder"):
        if key not in task:
            raise ValueError(f"{field} is missing {key!r}")
    unknown = [k for k in task if k not in TASK_KEYS]
    if unknown:
        raise ValueError(
            f"{field}: unknown key {unknown[0]!r}: a task's keys are {list(TASK_KEYS)}"
        )
    name = path_component(f"{field}.env", task_name(str(task["env"])))
    knob = path_component(f"{field}.knob", task["knob"])
    for value in _items(f"{field}.ladder", task["ladder"]):
        path_component(f"{field}.ladder value", f"{name}-{knob}{value}")
    _object(f"{field}.fixed", task.get("fixed", {}))
    evals = task.get("eval", [{}])
    if not isinstance(evals, list) or not evals or not all(isinstance(e, dict) for e in evals):
        raise ValueError(f"{field}.eval must be a non-empty list of objects, got {evals!r}")
    if not isinstance(task.get("curriculum", False), bool):
        raise ValueError(f"{field}.curriculum must be true or false")
    advance = task.get("curriculum_success", 0.95)
    if isinstance(advance, bool) or not isinstance(advance, int | float):
        raise ValueError(f"{field}.curriculum_success must be a number in [0, 1]")
    if not 0.0 <= advance <= 1.0:
        raise ValueError(f"{field}.curriculum_success must be in [0, 1], got {advance}")


EXTERNAL_MEMORY = "external-memory-ppo"  # PPO on the task wrapped in ExternalMemory


def _check_agents(agents: list[str], overrides: dict[str, dict]) -> None:
    """Each agent is a registered one, ``external-memory-ppo``, or a variant whose
    override's ``agent`` is one of those."""
    from agents.registry import AGENTS, get_agent

    known = [*AGENTS, EXTERNAL_MEMORY]
    for agent in agents:
        base = overrides.get(agent, {}).get("agent", agent)
        if base == EXTERNAL_MEMORY:
            continue
        try:
            get_agent(base)  # imports the module of a "module:name" agent
        except ValueError as err:
            where = "agents" if base == agent else f"agent_overrides[{agent!r}].agent"
            raise ValueError(
                f"{where}: unknown agent {base!r}; use one of {known}, 'module:name' for an "
                "agent that module registers, or a variant name with an agent_overrides entry "
                f"whose 'agent' is one of them{f' ({err})' if ':' in base else ''}"
            ) from None


def run_folder(task: dict[str, Any], value: Any) -> str:
    """The TensorBoard folder name of a task's rung, ``<Task>-<knob><value>`` (under
    ``runs/<suite>/``, see :func:`plan`); ``ValueError`` if it is not a safe name."""
    return path_component("ladder value", f"{task_name(task['env'])}-{task['knob']}{value}")


def _check_distinct_tasks(tasks: list[dict]) -> None:
    """No two tasks vary the same knob of the same env (differing only in their ``fixed``
    knobs), and no two rungs of different tasks get the same run folder: their runs would
    share ``runs/<suite>/<Task>-<knob><value>/<agent>/seed<k>`` (a run deletes the other's
    TensorBoard logs; with several jobs both write at once) and ``--tune`` could not tell
    the tasks apart."""
    varied: dict[tuple[str, str], int] = {}
    folders: dict[str, int] = {}
    for i, task in enumerate(tasks):
        key = (str(task["env"]), str(task["knob"]))
        if key in varied:
            j = varied[key]
            raise ValueError(
                f"tasks[{j}] and tasks[{i}] both vary {task['knob']!r} of {task['env']} (fixed "
                f"{tasks[j].get('fixed', {})} and {task.get('fixed', {})}): their runs would "
                f"share TensorBoard folders runs/<suite>/{task_name(task['env'])}-"
                f"{task['knob']}<value>/ (one run deletes the other's logs) and --tune could "
                f"not tell them apart; merge them into one task or put them in distinct suites"
            )
        varied[key] = i
        for value in task["ladder"]:
            folder = run_folder(task, value)
            if folder in folders:
                j = folders[folder]
                who = (
                    f"tasks[{i}] has two rungs"
                    if j == i
                    else f"tasks[{j}] and tasks[{i}] both have a rung"
                )
                raise ValueError(
                    f"{who} in the run "
                    f"folder runs/<suite>/{folder}/ (their env ids, knobs or ladder values "
                    f"read alike): put them in distinct suites"
                )
            folders[folder] = i


def _check_settings(tasks: list[dict]) -> None:
    """Every task's env exists and can be made at every rung (and eval setting), each eval
    setting has the observation and action spaces of the rung it evaluates and every rung of
    a curriculum those of its first rung (the trained policy could not act on others), and
    no two tasks train the same setting (their records could not be told apart)."""
    import gymnasium as gym

    import memenvs  # noqa: F401  (registers the ids)
    from memenvs.registry import TASKS

    seen: dict[str, int] = {}
    for i, task in enumerate(tasks):
        env_id = task["env"]
        if not isinstance(env_id, str) or env_id not in gym.registry:
            names = [t.name for t in TASKS]
            raise ValueError(
                f"tasks[{i}].env {env_id!r} is not a registered environment: use "
                f"memenvs/<Task>-v0 (or a -Easy/-Medium/-Hard preset) with Task one of {names}"
            )
        for k, value in enumerate(task["ladder"]):
            kwargs = {**task.get("fixed", {}), task["knob"]: value}
            setting = json.dumps([env_id, kwargs], sort_keys=True)
            if setting in seen:
                raise ValueError(
                    f"tasks[{seen[setting]}] and tasks[{i}] both train {env_id} with {kwargs}: "
                    f"merge them into one task"
                )
            seen[setting] = i
            trained = _spaces(f"tasks[{i}] (fixed, knob, ladder)", env_id, kwargs)
            if k == 0:
                first_spaces = trained
            elif task.get("curriculum"):
                _same_spaces(
                    first_spaces, trained,
                    f"tasks[{i}] trains one policy up its ladder (curriculum): {env_id} at "
                    f"{task['knob']}={value!r}",
                    f"its first rung {task['knob']}={task['ladder'][0]!r}",
                )  # fmt: skip
            for j, extra in enumerate(task.get("eval", [{}])):
                made = {**kwargs, **extra}
                if made == kwargs:
                    continue
                _same_spaces(
                    trained, _spaces(f"tasks[{i}] (fixed, knob, ladder, eval)", env_id, made),
                    f"tasks[{i}].eval[{j}] {extra}: {env_id} with {made}",
                    f"the rung it evaluates, {task['knob']}={value!r} ({kwargs})",
                )  # fmt: skip


def _same_spaces(want: tuple, got: tuple, what: str, against: str) -> None:
    """``ValueError`` unless the (observation, action) spaces ``got`` of ``what`` are ``want``,
    those of ``against``: one policy acts on both."""
    for name, w, g in zip(("observation", "action"), want, got, strict=True):
        if g != w:
            raise ValueError(
                f"{what} has {name} space {g}, but {against} has {w}: one policy must act "
                f"on both, so they need the same spaces"
            )


def _spaces(field: str, env_id: str, kwargs: dict[str, Any]) -> tuple[Any, Any]:
    """The observation and action spaces of ``env_id`` made with ``kwargs`` (after a reset);
    ``ValueError`` naming ``field`` if it cannot be made."""
    import gymnasium as gym

    try:
        env = gym.make(env_id, **kwargs)
        env.reset(seed=0)
        env.close()
    except Exception as err:  # whatever the task's own checks raise
        first = "".join(str(err).strip().splitlines()[:1])
        raise ValueError(
            f"{field}: {env_id} cannot be made with {kwargs}: {type(err).__name__}: {first}"
        ) from None
    return env.observation_space, env.action_space


# Evaluation episodes: env j of agents.training.evaluate_success is seeded 10_000 + j, for
# j < min(16, eval_episodes) (its defaults ``seed`` and ``n_envs``; committed results use
# them); training env i of a run is seeded seed + i (agents.vec_env).
EVAL_SEED, EVAL_ENVS = 10_000, 16


def _check_seeds(suite: dict[str, Any]) -> None:
    """No training env of any seed may replay the evaluation episodes."""
    n_envs = suite.get("n_envs", 16)
    first, end = EVAL_SEED - n_envs + 1, EVAL_SEED + min(EVAL_ENVS, suite.get("eval_episodes", 200))
    clash = [s for s in suite["seeds"] if first <= s < end]
    if clash:
        raise ValueError(
            f"seeds {clash} would train on the evaluation episodes: with n_envs={n_envs} a "
            f"run of seed s trains envs seeded s..s+{n_envs - 1}, and evaluation uses seeds "
            f"{EVAL_SEED}..{end - 1}; use seeds below {first} or from {end}"
        )


def _check_episode_rollouts(suite: dict[str, Any]) -> None:
    """Where an agent's ``"n_steps"`` is ``"episode"``, every rung of every task has
    episodes of one length (:func:`agents.benchmark.episode_length`); ``ValueError`` naming
    the task otherwise (a rollout of one seed's episode length would not hold whole
    episodes)."""
    from agents.benchmark import episode_length

    hp = suite.get("hyperparameters", {})
    overrides = suite.get("agent_overrides", {})
    users = [
        a for a in suite["agents"] if {**hp, **overrides.get(a, {})}.get("n_steps") == "episode"
    ]
    if not users:
        return
    for i, task in enumerate(suite["tasks"]):
        for value in task["ladder"]:
            try:
                episode_length(task["env"], {**task.get("fixed", {}), task["knob"]: value})
            except ValueError as err:
                raise ValueError(f"tasks[{i}] (agents {users}): {err}") from None


def _check_models(suite: dict[str, Any]) -> None:
    """Each agent's model can be built with its settings (the suite's ``hyperparameters``,
    then its ``agent_overrides`` entry): one untrained model per agent, built as
    :func:`agents.benchmark.build_model` builds a run's (``"n_steps": "episode"`` resolved
    likewise) for the first run of the first task's first rung, on the CPU (a suite's CUDA
    device is checked where it trains). A ``ValueError``, ``TypeError`` or
    ``AssertionError`` (SB3's own checks) becomes a ``ValueError`` naming the field, the
    agent and the original message."""
    import warnings

    firsts = {}
    for run in plan(suite, 0, suite["tasks"][:1]):
        firsts.setdefault(run["agent"], {**run, "device": "cpu"})
    overrides = suite.get("agent_overrides", {})
    with _rng_kept(), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # SB3's advice on these settings: shown when training
        for agent, run in firsts.items():
            error = _build_error(run)
            if error is None:
                continue
            field = "hyperparameters"
            if agent in overrides:  # the override's fault unless the suite's settings fail alone
                base = {"agent": overrides[agent]["agent"]} if "agent" in overrides[agent] else {}
                alone = {**run, "hyperparameters": {**suite.get("hyperparameters", {}), **base}}
                if _build_error(alone) is None:
                    field = f"agent_overrides.{agent}"
            raise ValueError(
                f"{field}: agent {agent!r} cannot be built with {run['hyperparameters']}: "
                f"{type(error).__name__}: {error}"
            )


def _build_error(run: dict[str, Any]) -> Exception | None:
    """What building ``run``'s model raised (``ValueError``, ``TypeError`` or
    ``AssertionError``), else None."""
    from agents.benchmark import build_model, hyperparameters

    try:
        model, _, _ = build_model(run, hyperparameters(run))
    except (ValueError, TypeError, AssertionError) as err:
        return err
    model.get_env().close()
    return None


@contextlib.contextmanager
def _rng_kept() -> Any:
    """Restore the global random states afterwards (building a model seeds them)."""
    from agents.checkpoint import rng_states, set_rng_states

    states = rng_states()
    try:
        yield
    finally:
        set_rng_states(states)


def _shipped() -> Any:
    return importlib.resources.files("agents") / "suites"


def known_suites() -> list[str]:
    """Names of the suites shipped with the package (``agents/suites/*.json``)."""
    return sorted(
        p.name.removesuffix(".json") for p in _shipped().iterdir() if p.name.endswith(".json")
    )


def load_suite(name_or_path: str) -> dict[str, Any]:
    """Load and validate a suite: a shipped one by name (:func:`known_suites`), else a path.

    Raises ``ValueError`` if there is no such suite or it is malformed.
    """
    shipped = _shipped() / f"{name_or_path}.json"
    if path_like(name_or_path) or not shipped.is_file():
        path = Path(name_or_path)
        if not path.is_file():
            raise ValueError(
                f"suite {name_or_path!r} not found: not a file, and known suites are "
                f"{known_suites()}"
            )
        text, stem = path.read_text(), path.stem
    else:
        path, text, stem = shipped, shipped.read_text(), name_or_path
    try:
        suite = json.loads(text)
    except json.JSONDecodeError as err:
        raise ValueError(f"suite {path}: invalid JSON at line {err.lineno}: {err.msg}") from None
    if not isinstance(suite, dict):
        raise ValueError(f"suite {path} must hold a JSON object")
    suite.setdefault("name", stem)
    return validate_suite(suite)


def plan(
    suite: dict[str, Any], rung: int, tasks: list[dict] | None = None, runs_root: str = "runs"
) -> list[dict[str, Any]]:
    """All runs at ladder position ``rung`` (one per agent x task x seed).

    TensorBoard folders are ``<runs_root>/<suite>/<task>-<knob><value>/<agent>``.
    """
    runs = []
    for task in suite["tasks"] if tasks is None else tasks:
        if rung >= len(task["ladder"]):
            continue
        value = task["ladder"][rung]
        env_kwargs = {**task.get("fixed", {}), task["knob"]: value}
        setting = run_folder(task, value)
        for agent in suite["agents"]:
            hp = {
                **suite.get("hyperparameters", {}),
                **suite.get("agent_overrides", {}).get(agent, {}),
            }
            tb_dir = Path(runs_root, path_component("name", suite["name"]), setting)
            for seed in suite["seeds"]:
                runs.append(
                    {
                        "suite": suite["name"],
                        "agent": agent,
                        "env": task["env"],
                        "knob": task["knob"],
                        "value": value,
                        "env_kwargs": env_kwargs,
                        "seed": seed,
                        "budget": suite["budget"],
                        "eval_episodes": suite.get("eval_episodes", 200),
                        "n_envs": suite.get("n_envs", 16),
                        "device": suite.get("device", "cpu"),
                        "hyperparameters": hp,
                        "eval": task.get("eval", [{}]),
                        "curriculum": task.get("curriculum", False),
                        "curriculum_success": task.get("curriculum_success", 0.95),
                        "ladder": task["ladder"],
                        "tb_dir": str(tb_dir / path_component("agents[]", agent)),
                    }
                )
    return runs
