"""Checkpoints resume MemoryPPO training exactly (issue 14 item 7)."""

from __future__ import annotations

import gymnasium as gym
import pytest
import torch
from stable_baselines3.common.vec_env import DummyVecEnv

import memenvs  # noqa: F401
from agents import MemoryPPO, make_vec_env
from agents.checkpoint import load_checkpoint, save_checkpoint

SMALL = {
    "MlpLstmPolicy": {"hidden_size": 16},
}


def make_model(policy: str) -> MemoryPPO:
    env = make_vec_env("memenvs/DelayedRecall-v0", n_envs=4, seed=0, env_kwargs={"delay": 3})
    return MemoryPPO(
        policy, env, n_steps=16, seq_len=8, seed=0, policy_kwargs={"core_kwargs": SMALL[policy]}
    )


def snapshot(model: MemoryPPO) -> list[torch.Tensor]:
    opt = model.policy.optimizer.state_dict()["state"]
    moments = [t for s in opt.values() for t in s.values() if isinstance(t, torch.Tensor)]
    return [p.detach().clone() for p in model.policy.parameters()] + moments


@pytest.mark.parametrize("policy", list(SMALL))
def test_save_load_resume_equals_straight_run_bitwise(policy, tmp_path):
    straight = make_model(policy)
    straight.learn(768)
    resumed = make_model(policy)
    resumed.learn(384)
    save_checkpoint(resumed, tmp_path / "ckpt")
    del resumed
    torch.manual_seed(123)  # whatever happens between save and load must not matter
    loaded = load_checkpoint(tmp_path / "ckpt")
    assert loaded.num_timesteps == 384
    loaded.learn(384, reset_num_timesteps=False)
    assert loaded.num_timesteps == straight.num_timesteps == 768
    a, b = snapshot(straight), snapshot(loaded)
    assert len(a) == len(b)
    diff = max((x - y).abs().max().item() for x, y in zip(a, b, strict=True))
    assert diff == 0.0, f"max difference {diff}"


def test_load_checkpoint_with_a_fresh_env_resets_it(tmp_path):
    model = make_model("MlpLstmPolicy")
    model.learn(64)
    save_checkpoint(model, tmp_path / "ckpt")
    fresh = make_vec_env("memenvs/DelayedRecall-v0", n_envs=4, seed=1, env_kwargs={"delay": 3})
    loaded = load_checkpoint(tmp_path / "ckpt", env=fresh)
    loaded.learn(64, reset_num_timesteps=False)
    assert loaded.num_timesteps == 128


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
