"""Training checkpoints that resume MemoryPPO (and sb3-contrib's RecurrentPPO) exactly.

``save_checkpoint(model, folder)`` writes these files:

* ``model.zip``: SB3's save (policy and optimizer weights, ``num_timesteps``, ``_last_obs``,
  ``_last_episode_starts``, episode-info buffers, update counters, hyperparameters);
* ``resume.pt``: the algorithm's name, the step, policy and core classes, its recurrent
  state (MemoryPPO's ``_last_state``, which its own save now keeps too, and RecurrentPPO's
  ``_last_lstm_states``, which SB3's save leaves out) and the torch (CPU and CUDA), numpy
  and Python RNG states;
* ``env.pkl``: the VecEnv itself (cloudpickle), when it pickles: memenvs envs (single and
  native vector) and ``DummyVecEnv``/``VecMonitor`` do, with their own generators.
* ``checkpoint.json``: the step, the algorithm, policy and core classes, and each file's
  size and sha256.

The files are written into a temporary sibling folder (``.<name>.saving-*``) that then
replaces ``folder`` (other files in ``folder`` are carried over), so a save that fails or is
killed leaves the previous checkpoint complete. ``load_checkpoint`` refuses files that do not
belong together (from different saves, changed or truncated: a ``ValueError`` naming them and
the mismatch) and names a file that does not read. Checkpoints saved before
``checkpoint.json`` existed still load; their files are only checked for fitting together
(the algorithm, and the recurrent state's shapes against the policy's).

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

import glob
import hashlib
import inspect
import json
import os
import pickle
import random
import shutil
import uuid
import warnings
import zipfile
from pathlib import Path
from typing import Any

import cloudpickle
import numpy as np
import torch
from stable_baselines3.common.on_policy_algorithm import OnPolicyAlgorithm
from stable_baselines3.common.vec_env import VecEnv

from agents.checks import check_device, reading
from agents.cores.state import tree_map
from agents.ppo import MemoryPPO

MODEL, RESUME, ENV, MANIFEST = "model.zip", "resume.pt", "env.pkl", "checkpoint.json"
FORMAT = 1


def rng_states() -> dict[str, Any]:
    """The global random states: torch's (and CUDA's), numpy's legacy one, Python's."""
    return {
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else None,
        "numpy": np.random.get_state(),  # noqa: NPY002 (SB3 seeds the legacy global one)
        "python": random.getstate(),
    }


def set_rng_states(states: dict[str, Any]) -> None:
    """Restore what :func:`rng_states` returned."""
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


def _identity(model: OnPolicyAlgorithm) -> dict[str, Any]:
    """What a checkpoint's files must agree on: the algorithm, policy and core classes and
    the step."""
    core = getattr(model.policy, "core", None)
    return {
        "algorithm": type(model).__name__,
        "policy": type(model.policy).__name__,
        "core": None if core is None else type(core).__name__,
        "step": int(model.num_timesteps),
    }


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _fsync(path: Path) -> None:
    """Flush a file, or a folder's entries (POSIX only), to disk."""
    if path.is_dir():
        if os.name == "nt":
            return
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
        return
    with open(path, "rb") as f:
        os.fsync(f.fileno())


def _link_or_copy(src: str, dst: str) -> None:
    try:
        os.link(src, dst)
    except OSError:
        shutil.copy2(src, dst)


def _siblings(folder: Path, kind: str) -> list[Path]:
    """Leftovers of an interrupted save next to ``folder``: ``kind`` is "saving" (a new
    checkpoint being written) or "old" (the previous one, moved aside for the swap)."""
    if not folder.parent.is_dir():
        return []
    return sorted(folder.parent.glob(f".{glob.escape(folder.name)}.{kind}-*"))


def _recover(folder: Path) -> None:
    """A save killed between moving the old checkpoint aside and moving the new one in left
    no ``folder``: put the old (complete) one back."""
    if not folder.exists():
        old = _siblings(folder, "old")
        if old:
            os.rename(max(old, key=lambda p: p.stat().st_mtime), folder)


def save_checkpoint(model: OnPolicyAlgorithm, path: str | Path) -> Path:
    """Write a resumable checkpoint of ``model`` (a MemoryPPO or RecurrentPPO) into the
    folder ``path`` (created). The files are written into a temporary sibling folder that
    then replaces ``path`` (other files in ``path`` are carried over): an interrupted save
    leaves the previous checkpoint, complete."""
    name, algorithms = type(model).__name__, _algorithms()
    if name not in algorithms or not isinstance(model, algorithms[name][0]):
        raise ValueError(f"model must be a MemoryPPO or RecurrentPPO, got {name}")
    folder = Path(path)
    if folder.exists() and not folder.is_dir():
        raise ValueError(f"path {str(folder)!r} is a file: a checkpoint is a folder")
    folder.parent.mkdir(parents=True, exist_ok=True)
    _recover(folder)
    for leftover in _siblings(folder, "saving") + _siblings(folder, "old"):
        shutil.rmtree(leftover, ignore_errors=True)
    tmp = folder.parent / f".{folder.name}.saving-{os.getpid()}-{uuid.uuid4().hex[:8]}"
    tmp.mkdir()  # the umask's permissions (tempfile.mkdtemp's are owner-only)
    if folder.is_dir():
        shutil.copymode(folder, tmp)
    try:
        _write(model, tmp, algorithms[name][1])
        if folder.is_dir():
            for entry in folder.iterdir():
                if entry.name in (MODEL, RESUME, ENV, MANIFEST):
                    continue
                if entry.is_dir() and not entry.is_symlink():
                    shutil.copytree(entry, tmp / entry.name, symlinks=True,
                                    copy_function=_link_or_copy)  # fmt: skip
                elif entry.is_symlink():
                    os.symlink(os.readlink(entry), tmp / entry.name)
                else:
                    _link_or_copy(str(entry), str(tmp / entry.name))
        _fsync(tmp)
        if folder.is_dir():
            old = folder.parent / f".{folder.name}.old-{os.getpid()}-{uuid.uuid4().hex[:8]}"
            os.rename(folder, old)
            try:
                os.rename(tmp, folder)
            except BaseException:
                os.rename(old, folder)
                raise
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.rename(tmp, folder)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    _fsync(folder.parent)
    return folder


def _write(model: OnPolicyAlgorithm, folder: Path, attribute: str) -> None:
    """The checkpoint's files, and last ``MANIFEST``: their sizes and hashes and the
    model's identity."""
    identity = _identity(model)
    model.save(folder / MODEL)
    state = getattr(model, attribute)
    if state is not None:
        state = tree_map(lambda t: t.detach().cpu(), state)
    extra = {**identity, "last_state": state, "rng": rng_states()}
    torch.save(extra, folder / RESUME)
    try:
        blob = _dump_env(model.get_env())
    except (pickle.PicklingError, TypeError, AttributeError) as err:
        warnings.warn(
            f"the env does not pickle ({err}); load_checkpoint will need env= and resets it",
            UserWarning,
            stacklevel=3,
        )
    else:
        (folder / ENV).write_bytes(blob)
    files = {}
    for file in (MODEL, RESUME, ENV):
        if (folder / file).is_file():
            _fsync(folder / file)
            files[file] = {
                "bytes": (folder / file).stat().st_size,
                "sha256": _sha256(folder / file),
            }
    manifest = {"format": FORMAT, **identity, "files": files}
    (folder / MANIFEST).write_text(json.dumps(manifest, indent=2))
    _fsync(folder / MANIFEST)


def _read_manifest(folder: Path) -> dict[str, Any] | None:
    """``MANIFEST`` checked against the files (None: a checkpoint saved before manifests)."""
    file = folder / MANIFEST
    if not file.is_file():
        return None
    with reading(file, (OSError, ValueError, KeyError, TypeError)):
        manifest = json.loads(file.read_text())
        files = manifest["files"]
        step, fmt = manifest["step"], manifest["format"]
        if not isinstance(files, dict) or MODEL not in files or RESUME not in files:
            raise KeyError(f"files ({MODEL} and {RESUME})")
    if fmt != FORMAT:
        raise ValueError(f"{str(file)!r}: format must be {FORMAT}, got {fmt!r}")
    for name in (MODEL, RESUME, ENV):
        path = folder / name
        if name not in files:
            if path.exists():
                raise ValueError(
                    f"checkpoint {str(folder)!r}: {name} does not belong to it ({MANIFEST}, "
                    f"written at step {step}, lists no {name}): it comes from another save"
                )
            continue
        if not path.is_file():
            raise ValueError(f"checkpoint {str(folder)!r}: {name} is missing ({MANIFEST} lists it)")
        want = files[name]
        size, digest = path.stat().st_size, _sha256(path)
        if size != want.get("bytes") or digest != want.get("sha256"):
            raise ValueError(
                f"checkpoint {str(folder)!r}: {name} does not match {MANIFEST} (written at "
                f"step {step}: {want.get('bytes')} bytes, sha256 {str(want.get('sha256'))[:12]}; "
                f"the file has {size} bytes, sha256 {digest[:12]}): it comes from another "
                "save, or was changed or truncated"
            )
    return manifest


def _describe(state: Any) -> Any:
    """A state's structure with each tensor's shape and dtype."""
    if isinstance(state, torch.Tensor):
        return (tuple(state.shape), str(state.dtype))
    if isinstance(state, (tuple, list)):
        return [_describe(s) for s in state]
    return None if state is None else type(state).__name__


def _check_identity(folder: Path, model: OnPolicyAlgorithm, recorded: dict, source: str):
    """``source`` (a file name) recorded what ``model`` (loaded from ``MODEL``) must be."""
    actual = _identity(model)
    wrong = [
        f"{key} {recorded[key]!r} in {source}, {actual[key]!r} in {MODEL}"
        for key in ("algorithm", "policy", "core", "step")
        if key in recorded and recorded[key] != actual[key]
    ]
    if wrong:
        raise ValueError(
            f"checkpoint {str(folder)!r}: {MODEL} and {source} do not belong together "
            f"({'; '.join(wrong)})"
        )


def load_checkpoint(
    path: str | Path, env: VecEnv | None = None, device: torch.device | str = "auto"
) -> OnPolicyAlgorithm:
    """Rebuild a model from :func:`save_checkpoint`'s folder, ready for ``learn(n,
    reset_num_timesteps=False)``. ``env=None`` takes the saved env (exact resume); an
    ``env`` given here is reset at the next ``learn`` (see the module docstring). Files
    that do not belong together (another save's, changed, truncated) or do not read raise
    a ``ValueError`` naming them, as does a ``device`` this machine lacks."""
    check_device(device)
    folder = Path(path)
    _recover(folder)
    if not (folder / MODEL).is_file() or not (folder / RESUME).is_file():
        raise ValueError(f"path {str(folder)!r} holds no checkpoint ({MODEL} and {RESUME})")
    manifest = _read_manifest(folder)
    exact = env is None
    if exact and not (folder / ENV).is_file():
        raise ValueError(
            f"checkpoint {str(folder)!r} has no pickled env ({ENV}): pass env= (it is reset)"
        )
    with reading(folder / RESUME):
        extra = torch.load(folder / RESUME, weights_only=False)
        if not isinstance(extra, dict) or "rng" not in extra or "last_state" not in extra:
            raise ValueError("not a save_checkpoint resume file")
    algorithm = extra.get("algorithm", "MemoryPPO")
    if algorithm not in _algorithms():
        raise ValueError(f"{str(folder / RESUME)!r}: unknown algorithm {algorithm!r}")
    cls, attribute = _algorithms()[algorithm]
    with reading(folder / MODEL, (OSError, zipfile.BadZipFile, ValueError, EOFError)):
        with zipfile.ZipFile(folder / MODEL) as z:  # (in a truncated model.zip it can find
            bad, names = z.testzip(), set(z.namelist())  # the zip of a member: check names)
        if bad is not None:
            raise ValueError(f"member {bad!r} is corrupt")
        if not {"data", "policy.pth"} <= names:
            raise ValueError("not a SB3 save (no data and policy.pth): truncated?")
    if exact:
        with reading(folder / ENV):
            env = _load_env((folder / ENV).read_bytes())
    model = cls.load(folder / MODEL, env=env, device=device, force_reset=not exact)
    if manifest is not None:
        _check_identity(folder, model, manifest, MANIFEST)
    _check_identity(folder, model, extra, RESUME)
    if exact:
        state = tree_map(lambda t: t.to(model.device), extra["last_state"])
        expected = (
            model.policy.initial_state(model.n_envs)
            if attribute == "_last_state"
            else model._last_lstm_states
        )
        if state is not None and _describe(state) != _describe(expected):
            raise ValueError(
                f"checkpoint {str(folder)!r}: the recurrent state in {RESUME} does not fit the "
                f"policy in {MODEL} ({type(model.policy).__name__} with {model.n_envs} envs "
                f"expects {_describe(expected)}, {RESUME} holds {_describe(state)}): the files "
                "come from different saves"
            )
    else:  # a fresh env: the next learn resets it and starts from the initial state
        model._last_obs, state = None, None
    if exact or attribute == "_last_state":  # RecurrentPPO keeps zeros for a fresh start
        setattr(model, attribute, state)
    set_rng_states(extra["rng"])
    return model
