"""One registry of agents: name -> algorithm, policy, core and default settings.

Every place that names agents (``MemoryPPO``'s policy aliases, :func:`agents.training.
make_agent`, the CLI's ``--agent`` choices, the benchmark, the README's table) reads
:data:`AGENTS`. Adding a core needs one :func:`register_agent` call::

    register_agent("stack", StackCore, summary="soft stack", core_kwargs={"depth": 32})

A memory agent with a ``policy_stem`` also gets SB3-style policy aliases ``Mlp{stem}Policy``
and ``MultiInput{stem}Policy`` (:mod:`agents.policies` builds them for every agent, whenever
it is registered, through :func:`on_register`).
"""

from __future__ import annotations

import importlib
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from gymnasium import spaces

from agents.cores import EpisodicMemoryCore, GRUCore, LSTMCore, MemoryCore, NTMCore

MEMORY_PPO, SB3_PPO, RECURRENT_PPO = "memory-ppo", "ppo", "recurrent-ppo"
ALGORITHMS = (MEMORY_PPO, SB3_PPO, RECURRENT_PPO)
_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]*$")
_STEM = re.compile(r"^[A-Za-z][A-Za-z0-9]*$")


@dataclass(frozen=True)
class AgentSpec:
    """An agent: how to build it and what it is.

    ``core_kwargs`` are the core's defaults (baked into its named policy);
    ``algo_kwargs`` the algorithm's defaults for this agent (a caller's keywords win).
    """

    name: str
    algorithm: str
    summary: str
    core_class: type[MemoryCore] | None = None
    core_kwargs: Mapping[str, Any] = field(default_factory=dict)
    algo_kwargs: Mapping[str, Any] = field(default_factory=dict)
    policy_stem: str | None = None  # "NTM" -> MlpNTMPolicy / MultiInputNTMPolicy

    @property
    def policy(self) -> str:
        """The policy alias the algorithm is built with (for flat observations)."""
        return self.policy_for(None)

    def policy_for(self, observation_space: spaces.Space | None) -> str:
        """The policy alias for an env with ``observation_space``: the ``Mlp`` form, or the
        ``MultiInput`` one for a Dict space (``MemoryPolicy`` then needs
        ``features_extractor_class=CombinedExtractor``, which ``make_agent`` passes)."""
        kind = "MultiInput" if isinstance(observation_space, spaces.Dict) else "Mlp"
        if self.algorithm == SB3_PPO:
            return f"{kind}Policy"
        if self.algorithm == RECURRENT_PPO:
            return f"{kind}LstmPolicy"
        return f"{kind}{self.policy_stem}Policy" if self.policy_stem else "MemoryPolicy"

    @property
    def is_memory_agent(self) -> bool:
        return self.algorithm == MEMORY_PPO


_AGENTS: dict[str, AgentSpec] = {}
AGENTS: Mapping[str, AgentSpec] = MappingProxyType(_AGENTS)
_LISTENERS: list[Callable[[AgentSpec], None]] = []


def on_register(listener: Callable[[AgentSpec], None]) -> None:
    """Call ``listener(spec)`` for every agent registered so far and from now on."""
    for spec in list(_AGENTS.values()):
        listener(spec)
    _LISTENERS.append(listener)


def register_agent(
    name: str,
    core_class: type[MemoryCore] | None = None,
    *,
    summary: str,
    core_kwargs: Mapping[str, Any] | None = None,
    algo_kwargs: Mapping[str, Any] | None = None,
    algorithm: str = MEMORY_PPO,
    policy_stem: str | None = None,
) -> AgentSpec:
    """Add an agent to :data:`AGENTS` (names: lower-case letters, digits, ``-``, ``_``)."""
    if not isinstance(name, str) or not _NAME.match(name):
        raise ValueError(f"agent name must match {_NAME.pattern}, got {name!r}")
    if name in _AGENTS:
        raise ValueError(f"agent {name!r} is already registered")
    if algorithm not in ALGORITHMS:
        raise ValueError(f"algorithm must be one of {ALGORITHMS}, got {algorithm!r}")
    if (algorithm == MEMORY_PPO) != (core_class is not None):
        raise ValueError("a memory-ppo agent needs a core_class; SB3 agents take none")
    if core_class is not None and not (
        isinstance(core_class, type) and issubclass(core_class, MemoryCore)
    ):
        raise ValueError(f"core_class must be a MemoryCore subclass, got {core_class!r}")
    if policy_stem is not None:  # it names policy classes: Mlp{stem}Policy, ...
        if algorithm != MEMORY_PPO:
            raise ValueError("policy_stem names memory-ppo policies; SB3 agents take none")
        if not isinstance(policy_stem, str) or not _STEM.match(policy_stem):
            raise ValueError(f"policy_stem must match {_STEM.pattern}, got {policy_stem!r}")
        taken = [s.name for s in _AGENTS.values() if s.policy_stem == policy_stem]
        if taken:
            raise ValueError(f"policy_stem {policy_stem!r} is already used by agent {taken[0]!r}")
    spec = AgentSpec(
        name,
        algorithm,
        summary,
        core_class,
        MappingProxyType(dict(core_kwargs or {})),
        MappingProxyType(dict(algo_kwargs or {})),
        policy_stem,
    )
    for listener in _LISTENERS:  # before it is listed, so a refusal leaves no trace
        listener(spec)
    _AGENTS[name] = spec
    return spec


def get_agent(name: str) -> AgentSpec:
    """The agent ``name``; ``"module:name"`` first imports ``module`` (which registers it),
    as Gymnasium's ``"module:id"`` does for envs, so the CLI, the benchmark's workers and
    a run's later evaluation find an agent registered in the user's own code."""
    if not isinstance(name, str):
        raise ValueError(f"agent must be a string, got {name!r}")
    module, _, short = name.rpartition(":")
    if module:
        try:
            importlib.import_module(module)
        except ImportError as err:
            raise ValueError(f"agent {name!r}: cannot import module {module!r} ({err})") from None
        if short not in _AGENTS:
            raise ValueError(f"agent {name!r}: module {module!r} registers no agent {short!r}")
    if short not in _AGENTS:
        raise ValueError(
            f"agent must be one of {list(_AGENTS)} (or 'module:name' for an agent that "
            f"module registers), got {name!r}"
        )
    return _AGENTS[short]


def memory_agents() -> list[AgentSpec]:
    return [s for s in _AGENTS.values() if s.is_memory_agent]


def markdown_table() -> str:
    """The README's table of agents (a test keeps the README's copy in sync)."""
    rows = ["| agent | algorithm | policy | summary |", "| --- | --- | --- | --- |"]
    rows += [
        f"| `{s.name}` | {s.algorithm} | `{s.policy}` | {s.summary} |" for s in AGENTS.values()
    ]
    return "\n".join(rows)


SAMPLED_READS = {"read_mode": "sample"}
register_agent("lstm", LSTMCore, summary="LSTM core (baseline)", policy_stem="Lstm", core_kwargs={})
register_agent("gru", GRUCore, summary="GRU core (baseline)", policy_stem="Gru")
register_agent("ntm", NTMCore, summary="Neural Turing Machine, soft addressing", policy_stem="NTM")
register_agent(
    "stochastic-ntm",
    NTMCore,
    summary="NTM with sampled (hard) reads trained by the policy gradient",
    core_kwargs=SAMPLED_READS,
    policy_stem="StochasticNTM",
)
register_agent(
    "episodic",
    EpisodicMemoryCore,
    summary="episodic memory (memory networks): every step written, read by attention",
    policy_stem="Episodic",
)
register_agent(
    "stochastic-episodic",
    EpisodicMemoryCore,
    summary="episodic memory with sampled (hard) reads trained by the policy gradient",
    core_kwargs=SAMPLED_READS,
    policy_stem="StochasticEpisodic",
)
register_agent("ppo", algorithm=SB3_PPO, summary="SB3 PPO with an MLP policy (memoryless)")
register_agent(
    "recurrent-ppo", algorithm=RECURRENT_PPO, summary="sb3-contrib RecurrentPPO (LSTM baseline)"
)
