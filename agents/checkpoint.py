"""Training checkpoints that resume MemoryPPO (and sb3-contrib's RecurrentPPO) exactly.

``save_checkpoint(model, folder)`` writes three files:

* ``model.zip``: SB3's save (policy and optimizer weights, ``num_timesteps``, ``_last_obs``,
  ``_last_episode_starts``, episode-info buffers, update counters, hyperparameters);
* ``resume.pt``: the algorithm's name, its recurrent state (MemoryPPO's ``_last_state``,
  RecurrentPPO's ``_last_lstm_states``: both left out of SB3's save) and the torch (CPU and
  CUDA), numpy and Python RNG states;
* ``env.pkl``: the VecEnv itself (cloudpickle), when it pickles: memenvs envs (single and
  native vector) and ``DummyVecEnv``/``VecMonitor`` do, with their own generators.

Guarantee: ``load_checkpoint(folder)`` followed by ``model.learn(n, reset_num_timesteps=
False)`` gives bitwise the same parameters, optimizer state and step count as never having
stopped (same device, library versions and torch thread count, which sets how many blocks
of rows the C++ sequences run as; tested for MemoryPPO's LSTM and NTM cores and for
RecurrentPPO, CPU). The
learning-rate and clip schedules see the progress of the resumed ``learn`` call, as SB3's
do: exact for constant schedules, which are the defaults.

If the env does not pickle (``SubprocVecEnv``), or ``env=`` is passed to
``load_checkpoint``, the env is *reset*: training continues from a fresh episode in every
env with the initial recurrent state (weights, optimizer, counters and RNGs are still
restored), so the continuation is valid but not bitwise the uninterrupted run.

Security: ``model.zip``, ``env.pkl`` and ``resume.pt`` unpickle objects; load checkpoints you
made yourself. To run a policy from an untrusted source use :mod:`agents.safe_load`.
"""

from __future__ import annotations

import inspect
import pickle
import random
import warnings
from pathlib import Path
from typing import Any

import cloudpickle
import numpy as np
import torch
from stable_baselines3.common.on_policy_algorithm import OnPolicyAlgorithm
from stable_baselines3.common.vec_env import VecEnv

from agents.cores.state import tree_map
from agents.ppo import MemoryPPO

MODEL, RESUME, ENV = "model.zip", "resume.pt", "env.pkl"


def _rng_states() -> dict[str, Any]:
    return {
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else None,
        "numpy": np.random.get_state(),  # noqa: NPY002 (SB3 seeds the legacy global one)
        "python": random.getstate(),
    }


def _set_rng_states(states: dict[str, Any]) -> None:
    torch.set_rng_state(states["torch"])
    if states["cuda"] is not None and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(states["cuda"])
    np.random.set_state(states["numpy"])  # noqa: NPY002
    random.setstate(states["python"])


def _wrappers(env: VecEnv) -> list[VecEnv]:
    layers = [env]
    while hasattr(layers[-1], "venv"):
        layers.append(layers[-1].venv)
    return layers


def _dump_env(env: VecEnv) -> bytes:
    """cloudpickle a VecEnv layer by layer: SB3's wrappers cache their class members
    (unpicklable ABC internals) in ``class_attributes`` and their ``__getattr__`` recurses
    while unpickling, so each wrapper is stored as ``(class, attributes)`` without those."""
    layers = _wrappers(env)
    wrappers = [
        (type(w), {k: v for k, v in vars(w).items() if k not in ("venv", "class_attributes")})
        for w in layers[:-1]
    ]
    return cloudpickle.dumps((wrappers, layers[-1]))


def _load_env(blob: bytes) -> VecEnv:
    wrappers, env = pickle.loads(blob)
    for cls, attributes in reversed(wrappers):
        layer = object.__new__(cls)
        vars(layer).update(attributes, venv=env, class_attributes=dict(inspect.getmembers(cls)))
        env = layer
    return env


def _algorithms() -> dict[str, tuple[type[OnPolicyAlgorithm], str]]:
    """Name -> (class, attribute of the recurrent state between rollouts)."""
    from sb3_contrib import RecurrentPPO

    return {
        "MemoryPPO": (MemoryPPO, "_last_state"),
        "RecurrentPPO": (RecurrentPPO, "_last_lstm_states"),
    }


def save_checkpoint(model: OnPolicyAlgorithm, path: str | Path) -> Path:
    """Write a resumable checkpoint of ``model`` (a MemoryPPO or RecurrentPPO) into the
    folder ``path`` (created)."""
    name, algorithms = type(model).__name__, _algorithms()
    if name not in algorithms or not isinstance(model, algorithms[name][0]):
        raise ValueError(f"model must be a MemoryPPO or RecurrentPPO, got {name}")
    folder = Path(path)
    folder.mkdir(parents=True, exist_ok=True)
    model.save(folder / MODEL)
    state = getattr(model, algorithms[name][1])
    if state is not None:
        state = tree_map(lambda t: t.detach().cpu(), state)
    extra = {"algorithm": name, "last_state": state, "rng": _rng_states()}
    torch.save(extra, folder / RESUME)
    env_file = folder / ENV
    env_file.unlink(missing_ok=True)
    try:
        blob = _dump_env(model.get_env())
    except (pickle.PicklingError, TypeError, AttributeError) as err:
        warnings.warn(
            f"the env does not pickle ({err}); load_checkpoint will need env= and resets it",
            UserWarning,
            stacklevel=2,
        )
    else:
        env_file.write_bytes(blob)
    return folder


def load_checkpoint(
    path: str | Path, env: VecEnv | None = None, device: torch.device | str = "auto"
) -> OnPolicyAlgorithm:
    """Rebuild a model from :func:`save_checkpoint`'s folder, ready for ``learn(n,
    reset_num_timesteps=False)``. ``env=None`` takes the saved env (exact resume); an
    ``env`` given here is reset at the next ``learn`` (see the module docstring)."""
    folder = Path(path)
    if not (folder / MODEL).is_file() or not (folder / RESUME).is_file():
        raise ValueError(f"path {str(folder)!r} holds no checkpoint ({MODEL} and {RESUME})")
    exact = env is None
    if exact:
        if not (folder / ENV).is_file():
            raise ValueError(
                f"checkpoint {str(folder)!r} has no pickled env ({ENV}): pass env= (it is reset)"
            )
        env = _load_env((folder / ENV).read_bytes())
    extra = torch.load(folder / RESUME, weights_only=False)
    cls, attribute = _algorithms()[extra.get("algorithm", "MemoryPPO")]
    model = cls.load(folder / MODEL, env=env, device=device, force_reset=not exact)
    if exact:
        state = tree_map(lambda t: t.to(model.device), extra["last_state"])
    else:  # a fresh env: the next learn resets it and starts from the initial state
        model._last_obs, state = None, None
    if exact or attribute == "_last_state":  # RecurrentPPO keeps zeros for a fresh start
        setattr(model, attribute, state)
    _set_rng_states(extra["rng"])
    return model
