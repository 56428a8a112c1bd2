"""Benchmark suites: loading, validation, and the plan of runs at one ladder rung.

A suite is a JSON file; see :mod:`agents.benchmark` for its fields. Names taken from it
(the suite, agents, variants, task ids, knobs, ladder values) become folder names only
after :func:`path_component` has checked them, so a suite file cannot write outside the
output folder.
"""

from __future__ import annotations

import importlib.resources
import json
import re
from pathlib import Path
from typing import Any

_SAFE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")
REQUIRED = ("agents", "seeds", "budget", "tasks")


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


def validate_suite(suite: dict[str, Any]) -> dict[str, Any]:
    """Check a suite's structure and every name that becomes a path; return it."""
    missing = [k for k in REQUIRED if k not in suite]
    if missing:
        raise ValueError(f"suite {suite.get('name')!r} is missing keys {missing}")
    path_component("name", suite["name"])
    if not isinstance(suite["agents"], list) or not suite["agents"]:
        raise ValueError(f"agents must be a non-empty list, got {suite['agents']!r}")
    for agent in suite["agents"]:
        path_component("agents[]", agent)
    for variant, override in suite.get("agent_overrides", {}).items():
        path_component("agent_overrides key", variant)
        if not isinstance(override, dict):
            raise ValueError(f"agent_overrides[{variant!r}] must be an object")
        if "agent" in override:
            path_component(f"agent_overrides[{variant!r}].agent", override["agent"])
    for seed in suite["seeds"]:
        if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
            raise ValueError(f"seeds must be integers >= 0, got {seed!r}")
    for i, task in enumerate(suite["tasks"]):
        for key in ("env", "knob", "ladder"):
            if key not in task:
                raise ValueError(f"tasks[{i}] is missing {key!r}")
        name = path_component(f"tasks[{i}].env", task_name(str(task["env"])))
        knob = path_component(f"tasks[{i}].knob", task["knob"])
        for value in task["ladder"]:
            path_component(f"tasks[{i}].ladder value", f"{name}-{knob}{value}")
        if not isinstance(task.get("curriculum", False), bool):
            raise ValueError(f"tasks[{i}].curriculum must be true or false")
        advance = task.get("curriculum_success", 0.95)
        if isinstance(advance, bool) or not isinstance(advance, int | float):
            raise ValueError(f"tasks[{i}].curriculum_success must be a number in [0, 1]")
        if not 0.0 <= advance <= 1.0:
            raise ValueError(f"tasks[{i}].curriculum_success must be in [0, 1], got {advance}")
    return suite


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
        setting = path_component("ladder value", f"{task_name(task['env'])}-{task['knob']}{value}")
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
