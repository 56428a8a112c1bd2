"""A policy loads from weights + JSON without unpickling anything (issue 14 item 10)."""

from __future__ import annotations

import base64
import inspect
import json
import pickle
import shutil
import types
import zipfile

import gymnasium as gym
import numpy as np
import pytest
import torch
from core_contract import readme_example_core
from gymnasium import spaces
from stable_baselines3.common.torch_layers import FlattenExtractor
from stable_baselines3.common.vec_env import DummyVecEnv

import memenvs  # noqa: F401
from agents import MemoryPPO, make_vec_env, registry
from agents.policies import MemoryActorCriticPolicy
from agents.safe_load import (
    JSON_KWARGS,
    NAMED_KWARGS,
    NOT_SAVED,
    OWN_KEYS,
    load_policy,
    save_policy,
)
from agents.training import make_agent


class RunsCode:
    """Unpickling this runs code: it creates the marker file."""

    def __init__(self, marker: str) -> None:
        self.marker = marker

    def __reduce__(self):
        return (exec, (f"open({self.marker!r}, 'w').close()",))


def crafted_zip(tmp_path, marker) -> str:
    payload = base64.b64encode(pickle.dumps(RunsCode(str(marker)))).decode()
    path = tmp_path / "evil.zip"
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("data", json.dumps({"policy_class": {":serialized:": payload}}))
        z.writestr("_stable_baselines3_version", "2.0.0")
    return str(path)


def test_crafted_zip_is_refused_and_runs_nothing(tmp_path):
    marker = tmp_path / "marker"
    path = crafted_zip(tmp_path, marker)
    with pytest.raises(ValueError, match="allow_pickle"):
        load_policy(path)
    assert not marker.exists()
    # the file is live: the unsafe path (SB3's load) runs its code
    with pytest.raises(Exception):  # noqa: B017 (the payload breaks SB3 after running)
        load_policy(path, allow_pickle=True)
    assert marker.exists()


@pytest.mark.parametrize(
    ("policy", "kwargs"),
    [
        ("MlpLstmPolicy", {"core_kwargs": {"hidden_size": 16}}),
        (
            "MlpStochasticNTMPolicy",
            {"core_kwargs": {"memory_slots": 8, "memory_width": 4}, "shared_core": False},
        ),
        (  # an internal critic: its weights and the setting that makes it come back
            "MlpStochasticEpisodicPolicy",
            {"core_kwargs": {"max_memory": 8}, "critic_reads": "expected"},
        ),
    ],
)
def test_round_trip_gives_identical_predictions(policy, kwargs, tmp_path):
    env = make_vec_env("memenvs/DelayedRecall-v0", n_envs=2, seed=0, env_kwargs={"delay": 2})
    model = MemoryPPO(policy, env, n_steps=8, seed=0, policy_kwargs=kwargs)
    model.learn(16)
    save_policy(model, tmp_path / "policy")
    loaded = load_policy(tmp_path / "policy")
    assert type(loaded) is type(model.policy)
    obs, starts = env.reset(), np.ones(2, dtype=bool)
    s1 = s2 = None
    for _ in range(6):
        a1, s1 = model.predict(obs, s1, starts, deterministic=True)
        a2, s2 = loaded.predict(obs, s2, starts, deterministic=True)
        np.testing.assert_array_equal(a1, a2)
        obs, _, starts, _ = env.step(a1)


def test_a_policy_with_an_internal_critic_loads(tmp_path):
    """internal_gamma gives the policy a second value head; policy.json now says so (before,
    its weights did not fit the policy the folder described)."""
    env = make_vec_env("memenvs/DelayedRecall-v0", n_envs=2, seed=0, env_kwargs={"delay": 2})
    kwargs = {"core_kwargs": {"max_memory": 8}}
    model = MemoryPPO(
        "MlpStochasticEpisodicPolicy", env, n_steps=8, internal_gamma=0.9, policy_kwargs=kwargs
    )
    save_policy(model, tmp_path / "policy")
    loaded = load_policy(tmp_path / "policy")
    assert loaded.internal_value_net is not None
    for mine, theirs in zip(model.policy.parameters(), loaded.parameters(), strict=True):
        torch.testing.assert_close(mine, theirs)


def test_load_policy_rejects_bad_folders(tmp_path):
    with pytest.raises(ValueError, match="holds no"):
        load_policy(tmp_path)
    (tmp_path / "policy.json").write_text(json.dumps({"format": 1, "agent": "nope"}))
    (tmp_path / "weights.pt").write_bytes(b"")
    with pytest.raises(ValueError, match="agent must be one of"):
        load_policy(tmp_path)


def test_a_missing_path_is_named_and_not_called_a_pickle(tmp_path):
    for missing in (tmp_path / "nope", tmp_path / "nope.zip"):
        with pytest.raises(FileNotFoundError, match="nope") as info:
            load_policy(missing)
        assert "allow_pickle" not in str(info.value)


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    env = make_vec_env("memenvs/DelayedRecall-v0", n_envs=2, seed=0, env_kwargs={"delay": 2})
    model = MemoryPPO("MlpLstmPolicy", env, n_steps=8, seed=0,
                      policy_kwargs={"core_kwargs": {"hidden_size": 8}})  # fmt: skip
    return save_policy(model, tmp_path_factory.mktemp("saved") / "policy")


def copy_of(saved, tmp_path):
    folder = tmp_path / "policy"
    shutil.copytree(saved, folder)
    return folder


def test_a_file_of_the_folder_is_not_called_a_pickle(saved):
    with pytest.raises(ValueError, match="pass the folder") as info:
        load_policy(saved / "policy.json")
    assert "allow_pickle" not in str(info.value)


def test_a_truncated_weights_file_is_named(saved, tmp_path):
    folder = copy_of(saved, tmp_path)
    data = (folder / "weights.pt").read_bytes()
    (folder / "weights.pt").write_bytes(data[: len(data) // 2])
    with pytest.raises(ValueError, match=r"cannot read .*weights\.pt"):
        load_policy(folder)


@pytest.mark.parametrize("key", ["policy_kwargs", "agent", "observation_space"])
def test_a_policy_json_missing_a_key_is_named(key, saved, tmp_path):
    folder = copy_of(saved, tmp_path)
    config = json.loads((folder / "policy.json").read_text())
    del config[key]
    (folder / "policy.json").write_text(json.dumps(config))
    with pytest.raises(ValueError, match=rf"policy\.json' lacks {key}"):
        load_policy(folder)


def test_a_policy_json_that_does_not_parse_is_named(saved, tmp_path):
    folder = copy_of(saved, tmp_path)
    (folder / "policy.json").write_text('{"format": 1, "agent": "lstm"')
    with pytest.raises(ValueError, match=r"cannot read .*policy\.json.*JSONDecodeError"):
        load_policy(folder)


def test_weights_of_another_policy_are_named(saved, tmp_path):
    folder = copy_of(saved, tmp_path)
    config = json.loads((folder / "policy.json").read_text())
    config["policy_kwargs"]["core_kwargs"]["hidden_size"] = 16
    (folder / "policy.json").write_text(json.dumps(config))
    with pytest.raises(ValueError, match=r"weights\.pt' does not fit .*policy\.json"):
        load_policy(folder)


@pytest.mark.parametrize(("device", "message"), [("gpu", "device must be"), ("cuda:99", "cuda:99")])
def test_load_policy_refuses_a_device_this_machine_lacks(device, message, saved):
    with pytest.raises(ValueError, match=message):
        load_policy(saved, device=device)


def values(policy, obs) -> torch.Tensor:
    """The policy's value of ``obs`` at an episode start."""
    obs_t, _ = policy.obs_to_tensor(obs)
    n = len(next(iter(obs.values())) if isinstance(obs, dict) else obs)
    with torch.no_grad():
        return policy.predict_values(
            obs_t, policy.initial_state(n), torch.ones(n, dtype=torch.bool)
        )


def assert_same_policy(model, loaded, env) -> None:
    assert type(loaded) is type(model.policy)
    obs = env.reset()
    torch.testing.assert_close(values(loaded, obs), values(model.policy, obs))


def test_normalize_images_false_round_trips(tmp_path):
    """An image task's policy with normalize_images=False came back with True: other values."""
    env = make_vec_env("memenvs/KeyToDoor-Easy-v0", n_envs=2, seed=0)
    kwargs = {"core_kwargs": {"hidden_size": 8}, "normalize_images": False}
    model = MemoryPPO("MlpLstmPolicy", env, n_steps=8, seed=0, policy_kwargs=kwargs)
    loaded = load_policy(save_policy(model, tmp_path / "policy"))
    assert loaded.normalize_images is False
    assert_same_policy(model, loaded, env)


class DictEnv(gym.Env):
    """Dict observations (a Box and a Discrete), random: enough to save and compare."""

    observation_space = spaces.Dict(
        {"a": spaces.Box(0, 1, (3,), np.float32), "b": spaces.Discrete(3)}
    )
    action_space = spaces.Discrete(2)

    def reset(self, seed=None, options=None):
        super().reset(seed=seed)
        self.observation_space.seed(seed)
        return self.observation_space.sample(), {}

    def step(self, action):
        return self.observation_space.sample(), 0.0, False, False, {}


def test_a_multi_input_policy_round_trips(tmp_path):
    """save_policy refused MultiInput{stem}Policy (it matched the Mlp alias's name only)."""
    env = DummyVecEnv([DictEnv, DictEnv])
    env.seed(0)
    kwargs = {"core_kwargs": {"hidden_size": 8}}
    model = MemoryPPO("MultiInputLstmPolicy", env, n_steps=8, seed=0, policy_kwargs=kwargs)
    loaded = load_policy(save_policy(model, tmp_path / "policy"))
    assert_same_policy(model, loaded, env)


@pytest.fixture()
def elman():
    """The README's "Adding a core" example (no policy_stem), registered as a module."""
    module = types.ModuleType("readme_example_core_safe_load")
    exec(readme_example_core("elman-safe-load"), module.__dict__)
    yield module
    registry._AGENTS.pop("elman-safe-load", None)


def test_an_agent_without_a_policy_stem_round_trips(elman, tmp_path):
    """README's register_agent call (no policy_stem) runs under MemoryPolicy: save_policy
    said the core was not registered."""
    env = make_vec_env("memenvs/DelayedRecall-v0", n_envs=2, seed=0, env_kwargs={"delay": 2})
    model = make_agent("elman-safe-load", env, n_steps=8, core_kwargs={"hidden_size": 8})
    loaded = load_policy(save_policy(model, tmp_path / "policy"))
    assert isinstance(loaded.core, elman.ElmanCore) and loaded.core.output_size == 8
    assert_same_policy(model, loaded, env)


def test_numpy_core_kwargs_save(tmp_path):
    """Cores accept numpy integers; json.dumps did not (and left an empty folder)."""
    env = make_vec_env("memenvs/DelayedRecall-v0", n_envs=2, seed=0, env_kwargs={"delay": 2})
    model = make_agent("episodic", env, n_steps=8, core_kwargs={"max_memory": np.int64(8)})
    loaded = load_policy(save_policy(model, tmp_path / "policy"))
    assert loaded.core_kwargs["max_memory"] == 8
    assert_same_policy(model, loaded, env)


class WideFlatten(FlattenExtractor):
    """A features extractor load_policy does not know."""


@pytest.fixture(scope="module")
def lstm_model():
    env = make_vec_env("memenvs/DelayedRecall-v0", n_envs=2, seed=0, env_kwargs={"delay": 2})
    return MemoryPPO("MlpLstmPolicy", env, n_steps=8, seed=0,
                     policy_kwargs={"core_kwargs": {"hidden_size": 8}})  # fmt: skip


def test_kwargs_that_are_not_json_are_refused_and_nothing_written(
    lstm_model, monkeypatch, tmp_path
):
    """save_policy created the folder before finding a kwarg json.dumps cannot write."""
    folder = tmp_path / "policy"
    monkeypatch.setitem(lstm_model.policy.core_kwargs, "init", object())
    with pytest.raises(ValueError, match="policy kwarg core_kwargs=.* must be plain JSON"):
        save_policy(lstm_model, folder)
    assert not folder.exists()


def test_kwargs_load_policy_cannot_rebuild_are_refused(lstm_model, monkeypatch, tmp_path):
    """A features extractor or a constructor kwarg save_policy does not store was dropped:
    the loaded policy was another one."""
    policy, folder = lstm_model.policy, tmp_path / "policy"
    monkeypatch.setattr(policy, "features_extractor_class", WideFlatten)
    with pytest.raises(ValueError, match="features_extractor_class must be one of"):
        save_policy(lstm_model, folder)
    monkeypatch.undo()
    params = policy._get_constructor_parameters()
    monkeypatch.setattr(policy, "_get_constructor_parameters", lambda: {**params, "new": 1})
    with pytest.raises(ValueError, match=r"policy kwargs \['new'\] cannot be saved"):
        save_policy(lstm_model, folder)
    assert not folder.exists()


def test_every_constructor_kwarg_is_saved_or_named_unneeded(lstm_model):
    """A kwarg added to the policy must be stored (or listed as not needed to act)."""
    handled = {*JSON_KWARGS, *NAMED_KWARGS, *OWN_KEYS, *NOT_SAVED}
    signature = set(inspect.signature(MemoryActorCriticPolicy.__init__).parameters)
    assert signature - {"self", "use_sde"} == handled  # use_sde: refused by the constructor
    assert set(lstm_model.policy._get_constructor_parameters()) == handled


def test_a_format_1_folder_still_loads(saved, tmp_path):
    """Folders saved before policy.json held the policy class (always Mlp{stem}Policy), the
    features extractor and normalize_images."""
    folder = copy_of(saved, tmp_path)
    config = json.loads((folder / "policy.json").read_text())
    config["format"] = 1
    del config["policy"]
    for key in ("normalize_images", "features_extractor_class", "features_extractor_kwargs"):
        del config["policy_kwargs"][key]
    (folder / "policy.json").write_text(json.dumps(config))
    loaded, now = load_policy(folder), load_policy(saved)
    assert type(loaded) is type(now) and loaded.normalize_images
    for mine, theirs in zip(now.state_dict().values(), loaded.state_dict().values(), strict=True):
        torch.testing.assert_close(mine, theirs)


def test_a_policy_class_not_of_the_agent_is_named(saved, tmp_path):
    folder = copy_of(saved, tmp_path)
    config = json.loads((folder / "policy.json").read_text())
    assert config["policy"] == "MlpLstmPolicy"
    config["policy"] = "MlpGruPolicy"
    (folder / "policy.json").write_text(json.dumps(config))
    with pytest.raises(ValueError, match=r"policy must be one of \['MlpLstmPolicy', "):
        load_policy(folder)
