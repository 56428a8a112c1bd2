"""Checkpoints resume MemoryPPO (and RecurrentPPO) training exactly (issue 14 item 7)."""

from __future__ import annotations

import gymnasium as gym
import pytest
import torch
from sb3_contrib import RecurrentPPO
from stable_baselines3 import PPO
from stable_baselines3.common.vec_env import DummyVecEnv

import memenvs  # noqa: F401
from agents import MemoryPPO, make_vec_env
from agents.checkpoint import load_checkpoint, save_checkpoint

SMALL = {
    "MlpLstmPolicy": {"hidden_size": 16},
}


def make_env(seed: int = 0):
    return make_vec_env("memenvs/DelayedRecall-v0", n_envs=4, seed=seed, env_kwargs={"delay": 3})


def make_model(policy: str) -> MemoryPPO | RecurrentPPO:
    if policy == "RecurrentPPO":
        kwargs = {"lstm_hidden_size": 16, "net_arch": [16]}
        return RecurrentPPO(
            "MlpLstmPolicy", make_env(), n_steps=16, batch_size=32, seed=0, policy_kwargs=kwargs
        )
    return MemoryPPO(
        policy, make_env(), n_steps=16, seq_len=8, seed=0,
        policy_kwargs={"core_kwargs": SMALL[policy]},
    )  # fmt: skip


def snapshot(model) -> list[torch.Tensor]:
    opt = model.policy.optimizer.state_dict()["state"]
    moments = [t for s in opt.values() for t in s.values() if isinstance(t, torch.Tensor)]
    return [p.detach().clone() for p in model.policy.parameters()] + moments


@pytest.mark.parametrize("policy", [*SMALL, "RecurrentPPO"])
def test_save_load_resume_equals_straight_run_bitwise(policy, tmp_path):
    straight = make_model(policy)
    straight.learn(768)
    resumed = make_model(policy)
    resumed.learn(384)
    save_checkpoint(resumed, tmp_path / "ckpt")
    del resumed
    torch.manual_seed(123)  # whatever happens between save and load must not matter
    loaded = load_checkpoint(tmp_path / "ckpt")
    assert loaded.num_timesteps == 384 and type(loaded) is type(straight)
    loaded.learn(384, reset_num_timesteps=False)
    assert loaded.num_timesteps == straight.num_timesteps == 768
    a, b = snapshot(straight), snapshot(loaded)
    assert len(a) == len(b)
    diff = max((x - y).abs().max().item() for x, y in zip(a, b, strict=True))
    assert diff == 0.0, f"max difference {diff}"


@pytest.mark.parametrize("policy", ["MlpLstmPolicy", "RecurrentPPO"])
def test_load_checkpoint_with_a_fresh_env_resets_it(policy, tmp_path):
    model = make_model(policy)
    model.learn(64)
    save_checkpoint(model, tmp_path / "ckpt")
    loaded = load_checkpoint(tmp_path / "ckpt", env=make_env(seed=1))
    loaded.learn(64, reset_num_timesteps=False)
    assert loaded.num_timesteps == 128


def test_save_checkpoint_refuses_other_algorithms(tmp_path):
    model = PPO("MlpPolicy", make_env(), n_steps=16)
    with pytest.raises(ValueError, match="MemoryPPO or RecurrentPPO, got PPO"):
        save_checkpoint(model, tmp_path / "ckpt")


def test_load_with_force_reset_false_and_a_fresh_env_says_what_to_do(tmp_path):
    def make():
        return gym.make("memenvs/DelayedRecall-v0", delay=2)

    model = MemoryPPO("MlpLstmPolicy", DummyVecEnv([make, make]), n_steps=8, seed=0)
    model.learn(16)
    model.save(tmp_path / "model.zip")
    fresh = DummyVecEnv([make, make])
    loaded = MemoryPPO.load(tmp_path / "model.zip", env=fresh, force_reset=False)
    with pytest.raises(RuntimeError, match="force_reset=True.*load_checkpoint"):
        loaded.learn(16, reset_num_timesteps=False)


def test_load_checkpoint_rejects_a_folder_without_one(tmp_path):
    with pytest.raises(ValueError, match="no checkpoint"):
        load_checkpoint(tmp_path)
