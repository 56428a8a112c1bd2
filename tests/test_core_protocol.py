"""The README's worked example core is real: it passes the generic core contract and runs
under MemoryPPO by its registered name, without touching any other file."""

from __future__ import annotations

import sys
import types

import pytest
from core_contract import README, F, check_core, check_memory_ppo, readme_example_core

import memenvs  # noqa: F401
from agents import registry
from agents.training import make_agent
from agents.vec_env import make_vec_env


@pytest.fixture()
def example_module():
    code = readme_example_core()
    assert len(code.strip().splitlines()) <= 30, "the example core should stay about 25 lines"
    module = types.ModuleType("readme_example_core")
    sys.modules[module.__name__] = module  # so saved models find the class by reference
    try:
        exec(compile(code, str(README), "exec"), module.__dict__)
        yield module
    finally:
        registry._AGENTS.pop("elman", None)
        sys.modules.pop(module.__name__, None)


def test_example_core_passes_the_contract(example_module, tmp_path):
    check_core(lambda: example_module.ElmanCore(F, hidden_size=8))
    check_memory_ppo(
        "MemoryPolicy",
        {"core_class": example_module.ElmanCore, "core_kwargs": {"hidden_size": 8}},
        tmp_path,
    )


def test_example_core_trains_by_its_registered_name(example_module):
    assert "elman" in registry.AGENTS
    env = make_vec_env("memenvs/DelayedRecall-v0", n_envs=2, env_kwargs={"delay": 2})
    model = make_agent("elman", env, n_steps=8, core_kwargs={"hidden_size": 8})
    assert isinstance(model.policy.core, example_module.ElmanCore)
    model.learn(16)


def test_registry_rejects_bad_names_and_duplicates():
    with pytest.raises(ValueError, match="agent name"):
        registry.register_agent("../x", registry.AGENTS["lstm"].core_class, summary="x")
    with pytest.raises(ValueError, match="already registered"):
        registry.register_agent("lstm", registry.AGENTS["lstm"].core_class, summary="x")
    with pytest.raises(ValueError, match="MemoryCore"):
        registry.register_agent("bad-core", dict, summary="x")
    with pytest.raises(ValueError, match="agent must be one of"):
        registry.get_agent("nope")


def test_named_policy_refuses_a_foreign_core():
    from agents import MemoryPPO
    from agents.cores import GRUCore

    env = make_vec_env("memenvs/DelayedRecall-v0", n_envs=2, env_kwargs={"delay": 1})
    with pytest.raises(ValueError, match="MlpLstmPolicy runs LSTMCore"):
        MemoryPPO("MlpLstmPolicy", env, n_steps=8, policy_kwargs={"core_class": GRUCore})


@pytest.fixture()
def unregister():
    """Names of agents a test registers; they and their policy aliases are removed after."""
    from agents import policies

    names: list[str] = []
    yield names
    for name in names:
        spec = registry._AGENTS.pop(name, None)
        if spec and spec.policy_stem:
            for alias in (f"Mlp{spec.policy_stem}Policy", f"MultiInput{spec.policy_stem}Policy"):
                policies.POLICY_ALIASES.pop(alias, None)
                vars(policies).pop(alias, None)


def test_a_later_registration_gets_its_named_policy(unregister):
    from agents.cores import GRUCore
    from agents.policies import POLICY_ALIASES

    unregister.append("gru-wide")
    registry.register_agent(
        "gru-wide", GRUCore, summary="x", core_kwargs={"hidden_size": 8}, policy_stem="GruWide"
    )
    assert {"MlpGruWidePolicy", "MultiInputGruWidePolicy"} <= set(POLICY_ALIASES)
    env = make_vec_env("memenvs/DelayedRecall-v0", n_envs=2, env_kwargs={"delay": 1})
    model = make_agent("gru-wide", env, n_steps=8)
    assert type(model.policy).__name__ == "MlpGruWidePolicy"
    assert isinstance(model.policy.core, GRUCore) and model.policy.core.output_size == 8


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"policy_stem": "Lstm"}, "policy_stem 'Lstm' is already used by agent 'lstm'"),
        ({"policy_stem": "Bad Name"}, "policy_stem must match"),
        ({"policy_stem": "P", "core_class": None, "algorithm": "ppo"}, "SB3 agents take none"),
    ],
)
def test_registry_refuses_a_policy_stem_it_cannot_name(unregister, kwargs, message):
    from agents.cores import GRUCore

    unregister.append("stem-test")
    with pytest.raises(ValueError, match=message):
        registry.register_agent("stem-test", **{"core_class": GRUCore, "summary": "x", **kwargs})
    assert "stem-test" not in registry.AGENTS
