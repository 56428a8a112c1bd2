"""Non-finite values never corrupt a model (issue 14 item 6).

An inf/NaN observation or reward from an env stops MemoryPPO with an error naming the env
index, step and value, before any parameter changes; an update whose loss or gradients are
non-finite is skipped, counted in ``train/skipped_updates`` and warned about.
"""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
import torch
from stable_baselines3.common.vec_env import DummyVecEnv

import memenvs  # noqa: F401
from agents import MemoryPPO

N_STEPS = 8


class Inject(gym.Wrapper):
    """Replace the observation (or reward) returned by the ``at``-th ``step`` with ``value``."""

    def __init__(self, env: gym.Env, at: int | None, what: str, value: float) -> None:
        super().__init__(env)
        self.at, self.what, self.value, self.calls = at, what, value, 0

    def step(self, action):
        obs, reward, terminated, truncated, info = self.env.step(action)
        self.calls += 1
        if self.calls == self.at:
            if self.what == "obs":
                obs = np.full_like(obs, self.value)
            else:
                reward = self.value
        return obs, reward, terminated, truncated, info


def make_model(bad_env: int, at: int | None, what: str, value: float) -> MemoryPPO:
    def factory(i: int):
        def make():
            env = gym.make("memenvs/DelayedRecall-v0", delay=2, disable_env_checker=True)
            env = gym.wrappers.TransformObservation(
                env, lambda o: o.astype(np.float32), env.observation_space
            )
            return Inject(env, at if i == bad_env else None, what, value)

        return make

    env = DummyVecEnv([factory(i) for i in range(3)])
    return MemoryPPO("MlpLstmPolicy", env, n_steps=N_STEPS, seed=0, policy_kwargs={})


def params(model: MemoryPPO) -> list[torch.Tensor]:
    return [p.detach().clone() for p in model.policy.parameters()]


@pytest.mark.parametrize(
    ("what", "value"),
    [("obs", np.inf), ("obs", np.nan), ("reward", np.nan), ("reward", np.inf), ("obs", -np.inf)],
)
def test_non_finite_env_output_stops_training_before_any_update(what, value):
    at = N_STEPS + 3  # in the second rollout: the first update has happened
    model = make_model(bad_env=1, at=at, what=what, value=value)
    model.learn(N_STEPS * 3)  # one rollout + update, all finite
    before = params(model)
    adam_steps = [s["step"].clone() for s in model.policy.optimizer.state.values()]
    model2 = make_model(bad_env=1, at=at, what=what, value=value)
    with pytest.raises(ValueError) as err:
        model2.learn(N_STEPS * 3 * 3)
    msg = str(err.value)
    kind = "observation" if what == "obs" else "reward"
    assert kind in msg and "env 1" in msg and f"step {at}" in msg, msg
    assert str(float(value)) in msg or str(value) in msg, msg
    # the bad step was in the second rollout: only the first (finite) update was applied
    for p, q in zip(before, params(model2), strict=True):
        assert torch.equal(p, q)
    for s, step in zip(model2.policy.optimizer.state.values(), adam_steps, strict=True):
        assert torch.equal(s["step"], step)
    assert all(torch.isfinite(p).all() for p in model2.policy.parameters())


def test_non_finite_first_observation_is_rejected():
    model = make_model(bad_env=0, at=None, what="obs", value=np.nan)
    model.env.reset = lambda: np.full((3, *model.observation_space.shape), np.nan, np.float32)
    with pytest.raises(ValueError, match=r"env 0 .*observation at step 0: nan"):
        model.learn(N_STEPS * 3)


def test_non_finite_gradient_update_is_skipped_and_counted():
    model = make_model(bad_env=0, at=None, what="obs", value=0.0)
    weight = model.policy.value_net.weight
    hook = weight.register_hook(lambda g: g * float("nan"))
    before = params(model)
    with pytest.warns(UserWarning, match="non-finite") as caught:
        model.learn(N_STEPS * 3)
    for p, q in zip(before, params(model), strict=True):
        assert torch.equal(p, q), "a non-finite gradient must not change any parameter"
    assert not model.policy.optimizer.state, "Adam's moments must not see the bad step"
    n_batches = model.rollout_buffer.n_sequences // model.sequences_per_batch
    skipped = model.logger.name_to_value["train/skipped_updates"]
    assert skipped == model.n_epochs * n_batches
    assert model.skipped_updates == skipped == model.minibatch_steps  # every one skipped
    # one warning at the first skip and one sum at the end, not one per skip
    messages = [str(w.message) for w in caught if "MemoryPPO skipped" in str(w.message)]
    assert len(messages) == 2, messages
    assert f"skipped {skipped} of {skipped} minibatch updates" in messages[1]
    assert "none was taken" in messages[1]
    summary = [w for w in caught if "minibatch updates in this learn() call" in str(w.message)]
    assert summary[0].filename == __file__  # points at the learn() call
    hook.remove()
    model.learn(N_STEPS * 3, reset_num_timesteps=False)
    assert not all(torch.equal(p, q) for p, q in zip(before, params(model), strict=True))
    assert model.logger.name_to_value["train/skipped_updates"] == skipped  # cumulative, no more
    assert model.skipped_updates == skipped < model.minibatch_steps


def test_non_finite_loss_update_is_skipped():
    model = make_model(bad_env=0, at=None, what="obs", value=0.0)
    original = model.policy.evaluate_sequences

    def nan_values(*args, **kwargs):
        ev = original(*args, **kwargs)
        ev.values = ev.values * float("nan")
        return ev

    model.policy.evaluate_sequences = nan_values
    before = params(model)
    with pytest.warns(UserWarning, match="non-finite"):
        model.learn(N_STEPS * 3)
    for p, q in zip(before, params(model), strict=True):
        assert torch.equal(p, q)
    assert model.logger.name_to_value["train/skipped_updates"] > 0
