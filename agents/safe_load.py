"""Load a policy without unpickling anything (issue 14 item 10).

``MemoryPPO.load`` (SB3) cloudpickles several entries of ``model.zip``: loading a crafted
file runs arbitrary code. :func:`save_policy` writes a folder that needs no pickle:

* ``weights.pt``: ``torch.save`` of the policy's state dict, read with ``weights_only=True``;
* ``policy.json``: the agent's name in :mod:`agents.registry`, the policy class
  (``Mlp{stem}Policy``, ``MultiInput{stem}Policy``, or ``MemoryPolicy`` with the agent's core),
  the policy kwargs as JSON (core kwargs, ``net_arch``, ``normalize_images``, ...; the
  activation and features extractor by class name) and the observation/action spaces.

:func:`load_policy` rebuilds the registered policy from those two files. A policy kwarg it
could not rebuild (not plain JSON, an activation outside ``torch.nn``, a features extractor
other than SB3's ``FlattenExtractor``, ``CombinedExtractor`` and ``NatureCNN``, a policy
subclass) makes :func:`save_policy` raise a ``ValueError`` and write nothing. The optimizer
(its class, kwargs and state) is not saved: the loaded policy is for acting.
:func:`load_policy` refuses a pickle-based file (a SB3 ``.zip``, a ``.pkl``) unless the
caller passes ``allow_pickle=True``: only do that for files you trust.
A path that does not exist raises ``FileNotFoundError``; a ``policy.json`` or ``weights.pt``
that does not read, lacks a key or does not fit the other raises a ``ValueError`` naming the
file and what is wrong.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import torch
from gymnasium import spaces
from stable_baselines3.common.torch_layers import CombinedExtractor, FlattenExtractor, NatureCNN
from stable_baselines3.common.utils import get_device
from torch import nn

from agents.checks import check_device, reading
from agents.policies import POLICY_ALIASES, MemoryActorCriticPolicy
from agents.registry import AgentSpec, memory_agents

WEIGHTS, CONFIG, FORMAT = "weights.pt", "policy.json", 2
FORMATS = (1, 2)  # 1: no "policy" (Mlp{stem}Policy), extractor or normalize_images (defaults)
# The policy's constructor kwargs (``_get_constructor_parameters``), each handled one way:
JSON_KWARGS = (  # stored as JSON
    "core_kwargs",
    "net_arch",
    "shared_core",
    "critic_reads",
    "internal_critic",
    "ortho_init",
    "bptt_checkpoint",
    "normalize_images",
    "features_extractor_kwargs",
)
NAMED_KWARGS = ("activation_fn", "features_extractor_class")  # stored by class name
OWN_KEYS = ("observation_space", "action_space", "core_class")  # own keys; the agent's core
NOT_SAVED = ("lr_schedule", "optimizer_class", "optimizer_kwargs")  # training only
EXTRACTORS = {cls.__name__: cls for cls in (FlattenExtractor, CombinedExtractor, NatureCNN)}
KINDS = ("Mlp", "MultiInput")  # the observation kinds of a stem's policy aliases


def space_to_json(space: spaces.Space) -> dict[str, Any]:
    """A plain description of a Box, Discrete, MultiDiscrete, MultiBinary or Dict space."""
    if isinstance(space, spaces.Box):
        return {
            "type": "Box",
            "low": space.low.tolist(),
            "high": space.high.tolist(),
            "shape": list(space.shape),
            "dtype": str(space.dtype),
        }
    if isinstance(space, spaces.Discrete):
        return {"type": "Discrete", "n": int(space.n), "start": int(space.start)}
    if isinstance(space, spaces.MultiDiscrete):
        return {"type": "MultiDiscrete", "nvec": space.nvec.tolist()}
    if isinstance(space, spaces.MultiBinary):
        return {"type": "MultiBinary", "n": np.asarray(space.n).tolist()}
    if isinstance(space, spaces.Dict):
        return {"type": "Dict", "spaces": {k: space_to_json(v) for k, v in space.spaces.items()}}
    raise ValueError(
        f"space must be Box, Discrete, MultiDiscrete, MultiBinary or Dict, got {space}"
    )


def space_from_json(d: dict[str, Any]) -> spaces.Space:
    kind = d.get("type")
    if kind == "Box":
        dtype = np.dtype(d["dtype"])
        low = np.asarray(d["low"], dtype=dtype).reshape(d["shape"])
        return spaces.Box(low, np.asarray(d["high"], dtype=dtype).reshape(d["shape"]), dtype=dtype)
    if kind == "Discrete":
        return spaces.Discrete(d["n"], start=d["start"])
    if kind == "MultiDiscrete":
        return spaces.MultiDiscrete(d["nvec"])
    if kind == "MultiBinary":
        return spaces.MultiBinary(d["n"])
    if kind == "Dict":
        return spaces.Dict({k: space_from_json(v) for k, v in d["spaces"].items()})
    raise ValueError(f"unknown space type {kind!r} in {CONFIG}")


def _aliases(spec: AgentSpec) -> list[str]:
    """The policy classes ``load_policy`` may rebuild for ``spec``."""
    stems = [f"{kind}{spec.policy_stem}Policy" for kind in KINDS] if spec.policy_stem else []
    return [*stems, "MemoryPolicy"]


def _agent_and_alias(policy: MemoryActorCriticPolicy) -> tuple[str, str]:
    """The registered agent whose core ``policy`` runs, and the policy alias of its class."""
    cls = type(policy)
    for spec in memory_agents():
        for alias in _aliases(spec):
            if POLICY_ALIASES.get(alias) is cls and spec.core_class is policy.core_class:
                return spec.name, alias
    known = sorted({a for spec in memory_agents() for a in _aliases(spec)})
    raise ValueError(
        f"policy must be one of {known} running a registered agent's core, got "
        f"{cls.__name__} with core_class {policy.core_class.__name__}: register the core with "
        "agents.registry.register_agent"
    )


def _plain(value: Any) -> Any:
    """``value`` with numpy scalars as Python ones (cores accept ``np.int64(8)``)."""
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def _policy_kwargs(policy: MemoryActorCriticPolicy) -> dict[str, Any]:
    """The policy's constructor kwargs as JSON, or ``ValueError`` for one it cannot store."""
    params = policy._get_constructor_parameters()
    unknown = sorted(set(params) - {*JSON_KWARGS, *NAMED_KWARGS, *OWN_KEYS, *NOT_SAVED})
    if unknown:
        raise ValueError(
            f"policy kwargs {unknown} cannot be saved: save_policy stores "
            f"{[*JSON_KWARGS, *NAMED_KWARGS]}"
        )
    act, extractor = params["activation_fn"], params["features_extractor_class"]
    if getattr(nn, act.__name__, None) is not act:
        raise ValueError(f"activation_fn must be a torch.nn class to save safely, got {act!r}")
    if EXTRACTORS.get(extractor.__name__) is not extractor:
        raise ValueError(
            f"features_extractor_class must be one of {sorted(EXTRACTORS)} to save safely, "
            f"got {extractor!r}"
        )
    kwargs = {"activation_fn": act.__name__, "features_extractor_class": extractor.__name__}
    for key in JSON_KWARGS:
        kwargs[key] = _plain(params[key])
        try:
            json.dumps(kwargs[key])
        except (TypeError, ValueError) as err:
            raise ValueError(
                f"policy kwarg {key}={params[key]!r} must be plain JSON to save safely ({err})"
            ) from err
    return kwargs


def save_policy(model: Any, folder: str | Path) -> Path:
    """Write ``weights.pt`` and ``policy.json`` for ``model`` (a MemoryPPO) into ``folder``;
    a policy it cannot save raises a ``ValueError`` before ``folder`` is created."""
    policy = model.policy
    if not isinstance(policy, MemoryActorCriticPolicy):
        raise ValueError(f"model must hold a MemoryActorCriticPolicy, got {type(policy).__name__}")
    agent, alias = _agent_and_alias(policy)
    config = {
        "format": FORMAT,
        "agent": agent,
        "policy": alias,
        "policy_kwargs": _policy_kwargs(policy),
        "observation_space": space_to_json(policy.observation_space),
        "action_space": space_to_json(policy.action_space),
    }
    text = json.dumps(config, indent=2)  # before the folder: a failure leaves nothing
    state = {k: v.cpu() for k, v in policy.state_dict().items()}
    out = Path(folder)
    out.mkdir(parents=True, exist_ok=True)
    (out / CONFIG).write_text(text)
    torch.save(state, out / WEIGHTS)
    return out


def _refuse_pickle(path: Path, allow_pickle: bool) -> MemoryActorCriticPolicy | None:
    """A SB3 zip or pickle: load it only with ``allow_pickle=True``."""
    if path.is_dir():
        return None
    if not path.exists():
        raise FileNotFoundError(f"no such file or folder: {str(path)!r}")
    if path.name in (CONFIG, WEIGHTS):
        raise ValueError(
            f"path {str(path)!r} is one file of a save_policy folder: pass the folder "
            f"{str(path.parent)!r}"
        )
    if not allow_pickle:
        raise ValueError(
            f"path {str(path)!r} is a pickle-based model file (SB3 .zip / .pkl): loading it can "
            "run arbitrary code. Load a save_policy folder instead, or pass allow_pickle=True "
            "if you trust the file"
        )
    from agents.ppo import MemoryPPO

    return MemoryPPO.load(path, device="cpu").policy


def load_policy(
    folder: str | Path, device: torch.device | str = "cpu", allow_pickle: bool = False
) -> MemoryActorCriticPolicy:
    """Rebuild a policy from :func:`save_policy`'s folder without unpickling (see module doc);
    a ``device`` this machine lacks raises a ``ValueError`` (as ``MemoryPPO``'s does)."""
    device = get_device(check_device(device))
    path = Path(folder)
    pickled = _refuse_pickle(path, allow_pickle)
    if pickled is not None:
        return pickled.to(device)
    if not (path / CONFIG).is_file() or not (path / WEIGHTS).is_file():
        raise ValueError(f"folder {str(path)!r} holds no {CONFIG} and {WEIGHTS}")
    config, file = _read_config(path / CONFIG), str(path / CONFIG)
    spec = {spec.name: spec for spec in memory_agents()}[config["agent"]]
    alias = config.get("policy", spec.policy)
    if alias not in _aliases(spec):
        raise ValueError(
            f"{file!r}: policy must be one of {_aliases(spec)} (agent {spec.name!r}), got {alias!r}"
        )
    kwargs = dict(config["policy_kwargs"])
    act = kwargs.pop("activation_fn")
    if not (
        isinstance(act, str)
        and isinstance(getattr(nn, act, None), type)
        and issubclass(getattr(nn, act), nn.Module)
    ):
        raise ValueError(f"{file!r}: activation_fn must name a torch.nn module, got {act!r}")
    if "features_extractor_class" in kwargs:  # (format 1 has none: the alias's own)
        name = kwargs["features_extractor_class"]
        if not isinstance(name, str) or name not in EXTRACTORS:
            raise ValueError(
                f"{file!r}: features_extractor_class must be one of {sorted(EXTRACTORS)}, "
                f"got {name!r}"
            )
        kwargs["features_extractor_class"] = EXTRACTORS[name]
    try:
        spaces_ = [space_from_json(config[k]) for k in ("observation_space", "action_space")]
    except (KeyError, TypeError, ValueError) as err:
        raise ValueError(f"{file!r}: bad observation_space or action_space ({err!r})") from err
    try:
        policy = POLICY_ALIASES[alias](
            *spaces_,
            lambda _: 0.0,
            core_class=spec.core_class,
            activation_fn=getattr(nn, act),
            **kwargs,
        )
    except (TypeError, ValueError) as err:
        raise ValueError(
            f"{file!r}: its policy_kwargs do not build a {config['agent']!r} policy: {err}"
        ) from err
    weights = path / WEIGHTS
    with reading(weights):
        state = torch.load(weights, map_location="cpu", weights_only=True)
    try:
        policy.load_state_dict(state)
    except (RuntimeError, TypeError, AttributeError) as err:
        raise ValueError(
            f"{str(weights)!r} does not fit the {config['agent']!r} policy that {file!r} "
            f"describes (they come from different saves?): {err}"
        ) from err
    return policy.to(device)


def _read_config(file: Path) -> dict[str, Any]:
    """``policy.json``, its keys checked: errors name the file and what is wrong."""
    with reading(file, (OSError, UnicodeDecodeError, ValueError)):
        config = json.loads(file.read_text())
    if not isinstance(config, dict):
        raise ValueError(f"{str(file)!r} must hold a JSON object, got {type(config).__name__}")
    if config.get("format") not in FORMATS:
        raise ValueError(
            f"{str(file)!r}: format must be one of {FORMATS}, got {config.get('format')!r}"
        )
    names = [spec.name for spec in memory_agents()]
    agent = config.get("agent")
    if "agent" in config and (not isinstance(agent, str) or agent not in names):
        raise ValueError(f"{str(file)!r}: agent must be one of {names}, got {agent!r}")
    required = ("agent", "policy_kwargs", "observation_space", "action_space")
    missing = [k for k in required if k not in config]
    if missing:
        raise ValueError(f"{str(file)!r} lacks {', '.join(missing)} (it needs {list(required)})")
    if (
        not isinstance(config["policy_kwargs"], dict)
        or "activation_fn" not in config["policy_kwargs"]
    ):
        raise ValueError(f"{str(file)!r}: policy_kwargs must be an object with activation_fn")
    return config
