"""Run folders that remember how they were made (as RL Baselines3 Zoo's ``config.yml``).

A run folder ``<log_dir>/<run_name>/`` holds ``config.json`` (what :class:`RunConfig`
records), the TensorBoard events, ``checkpoints/latest.zip`` (the newest periodic
checkpoint), ``best_model.zip`` and ``evaluations.jsonl`` (periodic evaluation),
``model.zip`` (the final model) and ``result.json``. Evaluating, enjoying and resuming a run
need only the folder.
"""

from __future__ import annotations

import dataclasses
import json
import platform
import re
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

CONFIG = "config.json"
FINAL, BEST, LATEST = "model.zip", "best_model.zip", "checkpoints/latest.zip"
MODELS = {"final": FINAL, "best": BEST, "latest": LATEST}
EVALUATIONS, RESULT = "evaluations.jsonl", "result.json"
_UNSAFE = re.compile(r"[^A-Za-z0-9.,_-]+")


@dataclass
class RunConfig:
    """Everything needed to rebuild a run's env and agent and to say how it was made."""

    env: str
    agent: str
    seed: int
    steps: int
    n_envs: int
    env_kwargs: dict[str, Any] = field(default_factory=dict)
    core_kwargs: dict[str, Any] = field(default_factory=dict)
    algo_kwargs: dict[str, Any] = field(default_factory=dict)
    eval_episodes: int = 200
    checkpoint_every: int = 0
    eval_every: int = 0
    name: str = ""
    command: list[str] = field(default_factory=list)
    date: str = ""
    versions: dict[str, str] = field(default_factory=dict)


def knob_tag(env_kwargs: Mapping[str, Any]) -> str:
    """Env knobs as a folder-safe tag: ``{"delay": 64, "noise": True}`` -> ``delay64-noiseTrue``."""
    parts = [f"{k}{_UNSAFE.sub('', str(v))}" for k, v in sorted(env_kwargs.items())]
    return "-".join(parts)[:120]


def run_name(
    env_id: str, agent: str, seed: int, env_kwargs: Mapping[str, Any] | None = None
) -> str:
    """``{env}__{knobs}__{agent}__seed{seed}__{time}`` (the knobs part only when there are
    knobs), so runs that differ in a knob differ in TensorBoard."""
    env = _UNSAFE.sub("-", env_id.partition(":")[2] or env_id)
    knobs = knob_tag(env_kwargs or {})
    stamp = time.strftime("%Y%m%d-%H%M%S")
    agent = _UNSAFE.sub("-", agent)  # "module:name" agents
    return "__".join(p for p in (env, knobs, agent, f"seed{seed}", stamp) if p)


def new_run_dir(log_dir: str | Path, name: str) -> Path:
    """Create ``log_dir/name`` (``name_2``, ``name_3``, ... if taken)."""
    base = Path(log_dir)
    for i in range(1, 1000):
        run_dir = base / (name if i == 1 else f"{name}_{i}")
        try:
            run_dir.mkdir(parents=True)
            return run_dir
        except FileExistsError:
            continue
    raise ValueError(f"too many runs named {name!r} under {base}")


def versions() -> dict[str, str]:
    """Versions of python and of the packages a run depends on."""
    out = {"python": platform.python_version()}
    for dist in ("memenvs-agents", "torch", "stable-baselines3", "sb3-contrib", "gymnasium"):
        try:
            out[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            out[dist] = "not installed"
    return out


def stamp_config(config: RunConfig) -> RunConfig:
    """Fill in the command line, the date and the versions."""
    config.command = list(sys.argv)
    config.date = time.strftime("%Y-%m-%dT%H:%M:%S%z")
    config.versions = versions()
    return config


def write_config(run_dir: str | Path, config: RunConfig) -> Path:
    path = Path(run_dir) / CONFIG
    path.write_text(json.dumps(dataclasses.asdict(config), indent=2, default=_jsonable) + "\n")
    return path


def read_config(run_dir: str | Path) -> RunConfig:
    """The :class:`RunConfig` of a run folder; ``ValueError`` naming the file if it is
    missing or malformed."""
    path = Path(run_dir) / CONFIG
    if not path.is_file():
        raise ValueError(f"{run_dir} is not a run folder: no {CONFIG} in it")
    try:
        data = json.loads(path.read_text())
    except json.JSONDecodeError as err:
        raise ValueError(f"{path} is not valid JSON: {err}") from None
    known = {f.name for f in dataclasses.fields(RunConfig)}
    if not isinstance(data, dict):
        raise ValueError(f"{path} must hold a JSON object")
    unknown = sorted(set(data) - known)
    if unknown:
        raise ValueError(f"{path} has unknown keys {unknown}; known: {sorted(known)}")
    try:
        return RunConfig(**data)
    except TypeError as err:  # a required key is missing
        raise ValueError(f"{path}: {err}") from None


def model_path(run_dir: str | Path, which: str = "final") -> Path:
    """The saved model ``which`` (one of :data:`MODELS`) of a run folder; ``"final"`` falls
    back to the latest checkpoint of an unfinished run."""
    if which not in MODELS:
        raise ValueError(f"model must be one of {list(MODELS)}, got {which!r}")
    run_dir = Path(run_dir)
    path = run_dir / MODELS[which]
    if which == "final" and not path.exists():
        path = run_dir / LATEST
    if not path.is_file():
        raise ValueError(f"{run_dir} has no {which} model ({path} does not exist)")
    return path


def hparams(config: RunConfig) -> dict[str, bool | str | float]:
    """The config flattened for TensorBoard's hparams tab (``env/delay``, ``core/...``)."""
    out: dict[str, bool | str | float] = {
        "env": config.env,
        "agent": config.agent,
        "seed": config.seed,
        "steps": config.steps,
        "n_envs": config.n_envs,
    }
    for prefix, kwargs in (
        ("env", config.env_kwargs),
        ("core", config.core_kwargs),
        ("algo", config.algo_kwargs),
    ):
        for k, v in kwargs.items():
            scalar = isinstance(v, bool | str | int | float)
            out[f"{prefix}/{k}"] = v if scalar else json.dumps(v, default=_jsonable)
    return out


def _jsonable(value: Any) -> Any:
    return value.tolist() if hasattr(value, "tolist") else str(value)
