"""Agents registered in a user's own module, named ``module:name`` (as Gymnasium's
``module:id`` envs): the CLI, the benchmark and a run's later evaluation import the module.

Before, ``register_agent`` named a custom agent for ``make_agent`` only: ``memenvs-train``
fixed its ``--agent`` choices at start-up and a suite refused any name not registered in the
runner's process, so neither could reach an agent defined in the user's code.
"""

from __future__ import annotations

import json
import sys
import uuid

import pytest
from core_contract import readme_example_core

from agents import registry
from agents.cli import evaluate as evaluate_cli
from agents.cli import train as train_cli
from agents.registry import get_agent
from agents.suite import validate_suite

DR = "memenvs/DelayedRecall-v0"


@pytest.fixture
def user_agent(tmp_path, monkeypatch):
    """``"module:name"`` of the README's example core, as a fresh module on ``sys.path``
    that registers it on import (fresh names: the registry is process-wide)."""
    tag = uuid.uuid4().hex[:8]
    module, name = f"user_cores_{tag}", f"elman-{tag}"
    (tmp_path / f"{module}.py").write_text(readme_example_core(name))
    monkeypatch.syspath_prepend(str(tmp_path))
    yield f"{module}:{name}"
    registry._AGENTS.pop(name, None)  # other tests compare the registry with the README
    sys.modules.pop(module, None)


def test_get_agent_imports_the_module_that_registers_it(user_agent):
    module, _, name = user_agent.partition(":")
    assert get_agent(user_agent).name == name
    assert get_agent(name).name == name  # registered now


def test_get_agent_names_what_is_wrong_with_a_module_agent(user_agent):
    module, _, _ = user_agent.partition(":")
    with pytest.raises(ValueError, match="cannot import module 'no_such_module_x'"):
        get_agent("no_such_module_x:elman")
    with pytest.raises(ValueError, match=f"module '{module}' registers no agent 'other'"):
        get_agent(f"{module}:other")
    with pytest.raises(ValueError, match="agent must be one of .*'module:name'"):
        get_agent("nope")


def test_train_and_evaluate_a_module_agent_from_the_cli(user_agent, tmp_path):
    argv = [
        *("--agent", user_agent, "--env", DR, "--env-kwargs", '{"delay": 1}', "--steps", "16"),
        *("--n-envs", "2", "--n-steps", "8", "--eval-episodes", "2"),
        *("--log-dir", str(tmp_path / "runs"), "--no-progress-bar"),
    ]
    assert train_cli.main(argv) == 0
    (run,) = (tmp_path / "runs").iterdir()
    assert ":" not in run.name and user_agent.replace(":", "-") in run.name
    assert json.loads((run / "config.json").read_text())["agent"] == user_agent
    assert evaluate_cli.main([str(run), "--episodes", "2"]) == 0


def test_train_refuses_an_unknown_module_agent(tmp_path, capsys):
    with pytest.raises(SystemExit) as exc:
        train_cli.main(["--agent", "no_such_module_x:elman", "--log-dir", str(tmp_path)])
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert "argument --agent: agent 'no_such_module_x:elman': cannot import module" in err
    assert not list(tmp_path.iterdir())


def test_a_suite_runs_a_module_agent_as_a_variant(user_agent):
    suite = {
        "name": "user-agent",
        "agents": ["mine"],
        "agent_overrides": {"mine": {"agent": user_agent}},
        "seeds": [0],
        "budget": 64,
        "eval_episodes": 2,
        "n_envs": 2,
        "hyperparameters": {"n_steps": 8},
        "tasks": [{"env": DR, "knob": "delay", "ladder": [1]}],
    }
    assert validate_suite(suite)["agent_overrides"]["mine"]["agent"] == user_agent
    bad = {**suite, "agent_overrides": {"mine": {"agent": "no_such_module_x:elman"}}}
    with pytest.raises(ValueError, match=r"agent_overrides\['mine'\].agent: unknown agent"):
        validate_suite(bad)
