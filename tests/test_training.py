"""agents.training: evaluation quotas, algorithm classes, loading any registered agent."""

from __future__ import annotations

import re
import warnings

import gymnasium as gym
import numpy as np
import pytest
import torch
from gymnasium import spaces

from agents.ppo import MemoryPPO
from agents.registry import AGENTS
from agents.training import (
    algorithm_class,
    check_device,
    evaluate_success,
    load_agent,
    make_agent,
)
from agents.vec_env import make_vec_env

VARLEN = "tests/VariableLength-v0"


class VariableLengthEnv(gym.Env):
    """Episodes of 1 step (success) or 20 steps (failure), each with probability 1/2."""

    observation_space = spaces.Box(0.0, 1.0, (1,), np.float32)
    action_space = spaces.Discrete(2)

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.length = 1 if self.np_random.random() < 0.5 else 20
        self.t = 0
        return np.zeros(1, np.float32), {}

    def step(self, action):
        self.t += 1
        done = self.t >= self.length
        info = {"success": self.length == 1} if done else {}
        return np.zeros(1, np.float32), float(done and self.length == 1), done, False, info


if VARLEN not in gym.registry:
    gym.register(VARLEN, entry_point=VariableLengthEnv)


class ZeroPolicy:
    def predict(self, obs, state=None, episode_start=None, deterministic=True):
        return np.zeros(len(obs), dtype=np.int64), state


def test_evaluate_success_is_not_biased_to_short_episodes():
    """One episode per env, 16 envs, 20 seeds: short (successful) episodes finish first, so
    keeping the first 16 to finish scores ~1.0. Each env's own quota (as SB3's
    evaluate_policy) keeps every row's first episode: the true rate, 0.5."""
    rates = [
        evaluate_success(ZeroPolicy(), VARLEN, n_episodes=16, n_envs=16, seed=s)["success_rate"]
        for s in range(20)
    ]
    assert 0.4 < np.mean(rates) < 0.6, rates


def test_evaluate_success_counts_exactly_n_episodes_with_uneven_quotas():
    result = evaluate_success(ZeroPolicy(), VARLEN, n_episodes=21, n_envs=4, seed=1)
    assert result["episodes"] == 21


@pytest.mark.parametrize("agent", list(AGENTS))
def test_every_registered_agent_saves_and_loads_by_name(tmp_path, agent):
    env = make_vec_env("memenvs/DelayedRecall-v0", n_envs=2, seed=0, env_kwargs={"delay": 1})
    kwargs = {"n_steps": 8, "batch_size": 16} if agent != "recurrent-ppo" else {"n_steps": 8}
    model = make_agent(agent, env, **kwargs)
    assert isinstance(model, algorithm_class(agent))
    model.save(tmp_path / "m.zip")
    loaded = load_agent(agent, tmp_path / "m.zip")
    obs = env.reset()
    a1, _ = model.predict(obs, episode_start=np.ones(2, bool), deterministic=True)
    a2, _ = loaded.predict(obs, episode_start=np.ones(2, bool), deterministic=True)
    np.testing.assert_array_equal(a1, a2)


@pytest.mark.parametrize(
    ("saved", "loaded_as", "why"),
    [
        ("lstm", "ppo", "a memory policy"),
        ("lstm", "recurrent-ppo", "a memory policy"),
        ("ppo", "lstm", "not a memory policy"),
        ("lstm", "gru", "core LSTMCore, not GRUCore"),
        ("ppo", "recurrent-ppo", "not a recurrent policy"),
        ("recurrent-ppo", "ppo", "a recurrent policy"),
    ],
)
def test_load_agent_refuses_another_agents_model(tmp_path, saved, loaded_as, why):
    """SB3's load builds the policy the file names: load_agent("ppo", a MemoryPPO file)
    returned a PPO around a memory policy, and "gru" loaded an LSTM model."""
    env = make_vec_env("memenvs/DelayedRecall-v0", n_envs=2, seed=0, env_kwargs={"delay": 1})
    kwargs = {"n_steps": 8, "batch_size": 16} if saved != "recurrent-ppo" else {"n_steps": 8}
    make_agent(saved, env, **kwargs).save(tmp_path / "m.zip")
    with pytest.raises(ValueError, match=rf"m.zip holds a \w+ model \({why}\), not one of "):
        load_agent(loaded_as, tmp_path / "m.zip")


def test_load_agent_rejects_unknown_agent(tmp_path):
    with pytest.raises(ValueError, match="agent must be one of"):
        load_agent("transformer", tmp_path / "m.zip")


def test_evaluate_success_warns_where_the_env_reports_no_success():
    """CartPole reports no success: its success_rate of 0 says nothing, and best models are
    then picked by return; the warning says so (a memenvs task, which reports it, does not)."""
    with pytest.warns(RuntimeWarning, match="CartPole-v1 reported no success"):
        result = evaluate_success(ZeroPolicy(), "CartPole-v1", n_episodes=2, n_envs=2)
    assert result["success_rate"] == 0.0
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        evaluate_success(ZeroPolicy(), VARLEN, n_episodes=2, n_envs=2)


def test_evaluate_success_rejects_zero_episodes():
    with pytest.raises(ValueError, match="n_episodes must be an integer >= 1"):
        evaluate_success(ZeroPolicy(), VARLEN, n_episodes=0)


def test_make_agent_keeps_core_kwargs_given_in_policy_kwargs():
    """policy_kwargs["core_kwargs"] used to be replaced by the spec's (a 128-unit LSTM)."""
    env = make_vec_env("memenvs/DelayedRecall-v0", n_envs=2, seed=0, env_kwargs={"delay": 1})
    model = make_agent("lstm", env, n_steps=8, policy_kwargs={"core_kwargs": {"hidden_size": 8}})
    assert model.policy.core.hidden_size == 8
    assert model.policy_kwargs["core_kwargs"]["hidden_size"] == 8
    both = make_agent(  # the explicit argument wins over policy_kwargs'
        "lstm",
        env,
        n_steps=8,
        core_kwargs={"hidden_size": 4},
        policy_kwargs={"core_kwargs": {"hidden_size": 8}},
    )
    assert both.policy.core.hidden_size == 4


# ----------------------------------------------------------------- devices and batches
DR = "memenvs/DelayedRecall-v0"


def tiny_env(n_envs: int = 2):
    return make_vec_env(DR, n_envs=n_envs, seed=0, env_kwargs={"delay": 1})


@pytest.mark.parametrize("device", ["foo", "", "CPU", "cuda:x", "cuda:-1"])
def test_check_device_names_the_forms_it_takes(device):
    """torch.device's RuntimeError ("Expected one of cpu, cuda, ...") used to escape."""
    forms = "'cpu', 'cuda', 'cuda:N', 'mps' or 'auto'"
    with pytest.raises(ValueError, match=re.escape(f"device must be {forms}, got {device!r}")):
        check_device(device)


@pytest.mark.parametrize("device", ["cpu", "cpu:0", "auto", torch.device("cpu")])
def test_check_device_takes_the_cpu_and_auto(device):
    assert check_device(device) is device


def test_check_device_refuses_accelerators_that_are_not_here(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: False)
    with pytest.raises(ValueError, match="device='cuda:0' was asked for but no CUDA GPU"):
        check_device("cuda:0")
    with pytest.raises(ValueError, match=r"device='mps' was asked for but no MPS \(Apple GPU\)"):
        check_device("mps")
    with pytest.raises(ValueError, match="device='meta' was asked for but no meta device"):
        check_device("meta")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)  # one GPU: cuda:1 is not
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    assert check_device("cuda") == "cuda" and check_device("cuda:0") == "cuda:0"
    with pytest.raises(ValueError, match=r"has 1 CUDA GPU\(s\), cuda:0 to cuda:0"):
        check_device("cuda:1")


@pytest.mark.parametrize("agent", ["ppo", "recurrent-ppo", "lstm"])
def test_make_and_load_agent_refuse_a_device_torch_does_not_know(tmp_path, agent):
    with pytest.raises(ValueError, match="device must be 'cpu'"):
        make_agent(agent, tiny_env(), n_steps=8, device="foo")
    with pytest.raises(ValueError, match="device must be 'cpu'"):
        load_agent(agent, tmp_path / "m.zip", device="foo")


@pytest.mark.parametrize(
    ("agent", "batch_size"),
    [*((a, b) for a in ("ppo", "recurrent-ppo") for b in (1, 0, -3, 2.5)), ("ppo", None)],
)
def test_make_agent_refuses_a_minibatch_of_one_for_sb3_agents(agent, batch_size):
    """recurrent-ppo with batch_size 1 normalised one advantage by its std (NaN) and died
    mid-training on NaN logits; ppo with batch_size 0 failed SB3's bare assertion."""
    expected = f"batch_size must be an integer >= 2, got {batch_size!r} (agent {agent!r}"
    with pytest.raises(ValueError, match=re.escape(expected)):
        make_agent(agent, tiny_env(), n_steps=8, batch_size=batch_size)


def test_make_agent_refuses_recurrent_ppo_a_last_minibatch_of_one():
    """16 rollout steps in minibatches of 5 leave a last one of 1: NaN, as batch_size 1."""
    with pytest.raises(ValueError, match=r"batch_size=5 leaves RecurrentPPO a last minibatch"):
        make_agent("recurrent-ppo", tiny_env(), n_steps=8, batch_size=5)
    with pytest.raises(ValueError, match=r"n_steps \* n_envs must be >= 2 for agent 'ppo'"):
        make_agent("ppo", tiny_env(1), n_steps=1, batch_size=2)
    with pytest.warns(UserWarning, match="truncated mini-batch of size 1"):
        make_agent("ppo", tiny_env(), n_steps=8, batch_size=5)  # SB3's PPO skips a batch of 1
    make_agent("recurrent-ppo", tiny_env(), n_steps=8, batch_size=6)  # a last batch of 4
    make_agent("recurrent-ppo", tiny_env(), n_steps=8, batch_size=None)  # the whole rollout


def test_make_agent_takes_a_minibatch_of_one_without_advantage_normalisation():
    for agent in ("ppo", "recurrent-ppo"):
        make_agent(agent, tiny_env(), n_steps=8, batch_size=1, normalize_advantage=False)
        with pytest.raises(ValueError, match=r"batch_size must be an integer >= 1, got 0"):
            make_agent(agent, tiny_env(), n_steps=8, batch_size=0, normalize_advantage=False)


def test_memory_ppo_trains_on_minibatches_of_one_step():
    """MemoryPPO normalises no single advantage (its own guard): batch_size 1 with
    sequences of 1 step trains, with finite weights."""
    model = make_agent(
        "lstm",
        tiny_env(),
        n_steps=4,
        seq_len=1,
        batch_size=1,
        n_epochs=1,
        core_kwargs={"hidden_size": 8},
    )
    model.learn(8)
    assert model.num_timesteps == 8 and model._skipped_updates == 0
    assert all(torch.isfinite(p).all() for p in model.policy.parameters())


# ---------------------------------------------------------- Dict observations, hyperparameters
DICT = "tests/Dict-v0"


class DictEnv(gym.Env):
    """Dict observations (a Box and a Discrete); reward for action 1; 5-step episodes."""

    observation_space = spaces.Dict(
        {"a": spaces.Box(0.0, 1.0, (3,), np.float32), "b": spaces.Discrete(3)}
    )
    action_space = spaces.Discrete(2)

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.t = 0
        return self.observation_space.sample(), {}

    def step(self, action):
        self.t += 1
        return self.observation_space.sample(), float(action), self.t >= 5, False, {}


if DICT not in gym.registry:
    gym.register(DICT, entry_point=DictEnv)

SMALL_CORES = {
    "lstm": {"hidden_size": 8},
    "gru": {"hidden_size": 8},
    "ntm": {"memory_slots": 8, "controller_size": 16},
    "stochastic-ntm": {"memory_slots": 8, "controller_size": 16},
    "episodic": {"max_memory": 16},
    "stochastic-episodic": {"max_memory": 16},
}


@pytest.mark.parametrize("agent", AGENTS)
def test_every_agent_trains_on_dict_observations(agent):
    """make_agent built Mlp policies for Dict observations: every agent but ppo failed
    mid-training ('dict' object has no attribute 'flatten'), ppo at once (MlpPolicy)."""
    env = make_vec_env(DICT, n_envs=2, seed=0)
    model = make_agent(agent, env, core_kwargs=SMALL_CORES.get(agent), n_steps=8, batch_size=16)
    assert type(model.policy).__name__.startswith(("MultiInput", "RecurrentMultiInput"))
    assert AGENTS[agent].policy_for(env.observation_space) == AGENTS[agent].policy.replace(
        "Mlp", "MultiInput"
    )
    model.learn(16)
    actions, _ = model.predict(env.reset(), episode_start=np.ones(2, dtype=bool))
    assert actions.shape == (2,)


@pytest.fixture()
def stemless_agent():
    """An agent registered with only a core class (the README's "Adding a core")."""
    from agents import registry
    from agents.cores import GRUCore

    registry.register_agent("gru-nostem", GRUCore, summary="x", core_kwargs={"hidden_size": 8})
    yield "gru-nostem"
    registry._AGENTS.pop("gru-nostem", None)


def test_an_agent_without_a_policy_stem_trains_on_dict_observations(stemless_agent):
    from stable_baselines3.common.torch_layers import CombinedExtractor

    assert AGENTS[stemless_agent].policy_for(DictEnv.observation_space) == "MemoryPolicy"
    model = make_agent(stemless_agent, make_vec_env(DICT, n_envs=2, seed=0), n_steps=8)
    assert isinstance(model.policy.features_extractor, CombinedExtractor)
    model.learn(16)
    boxed = make_agent(stemless_agent, tiny_env(), n_steps=8)  # a Box: flattened, as before
    assert "features_extractor_class" not in boxed.policy_kwargs


@pytest.mark.parametrize("agent", ["ppo", "recurrent-ppo"])
@pytest.mark.parametrize(
    ("name", "bad", "allowed"),
    [
        ("ent_coef", float("nan"), "a number (any finite value)"),  # NaN in torch mid-run
        ("learning_rate", float("inf"), "a number > 0 or a schedule"),
        ("n_epochs", 0, "an integer >= 1"),  # SB3: UnboundLocalError after the rollout
        ("gamma", 2.0, "a number in [0.0, 1.0]"),  # trained silently
        ("gae_lambda", -0.5, "a number in [0.0, 1.0]"),
        ("vf_coef", float("nan"), "a number >= 0.0"),
        ("clip_range", 0.0, "a number > 0 or a schedule"),
        ("max_grad_norm", -1.0, "a number > 0"),
        ("target_kl", 0.0, "a number > 0"),
        ("normalize_advantage", "no", "one of (True, False)"),
        ("stats_window_size", 0, "an integer >= 1"),
    ],
)
def test_make_agent_checks_sb3_agents_hyperparameters_as_memory_ppo(agent, name, bad, allowed):
    """The same checks and messages as MemoryPPO's (agents.ppo.check_ppo_kwargs)."""
    message = re.escape(f"{name} must be {allowed}, got {bad!r}")
    with pytest.raises(ValueError, match=message):
        make_agent(agent, tiny_env(), n_steps=8, batch_size=16, **{name: bad})
    with pytest.raises(ValueError, match=message):
        make_agent("lstm", tiny_env(), n_steps=8, batch_size=16, **{name: bad})


@pytest.mark.parametrize("agent", ["lstm", "ppo", "recurrent-ppo"])
def test_make_agent_takes_policy_kwargs_none_as_the_defaults(agent):
    """SB3 takes policy_kwargs=None as no keywords; make_agent raised a TypeError."""
    model = make_agent(agent, tiny_env(), n_steps=8, batch_size=16, policy_kwargs=None)
    default = make_agent(agent, tiny_env(), n_steps=8, batch_size=16)
    assert type(model.policy) is type(default.policy)
    for p, q in zip(model.policy.parameters(), default.policy.parameters(), strict=True):
        assert torch.equal(p, q)
    with pytest.raises(ValueError, match=r"policy_kwargs must be a dict or None, got \[1\]"):
        make_agent("lstm", tiny_env(), n_steps=8, policy_kwargs=[1])


@pytest.mark.parametrize("agent", ["lstm", "ppo", "recurrent-ppo"])
@pytest.mark.parametrize("seed", [-1, 2**32, "1", 1.5, True])
def test_make_agent_names_a_bad_seed(agent, seed):
    """numpy's seeding refused these from inside SB3 ("Seed must be between 0 and 2**32 - 1")
    or with a TypeError."""
    env = make_vec_env("memenvs/DelayedRecall-v0", n_envs=2, seed=0, env_kwargs={"delay": 1})
    with pytest.raises(ValueError, match=r"seed must be an integer in \[0, 4294967295\]"):
        make_agent(agent, env, seed=seed)


def test_memory_ppo_names_a_bad_total_timesteps():
    env = make_vec_env("memenvs/DelayedRecall-v0", n_envs=2, seed=0, env_kwargs={"delay": 1})
    model = make_agent("lstm", env, n_steps=8, batch_size=16)
    for bad in ("16", -1, 2.5):
        with pytest.raises(ValueError, match="total_timesteps must be an integer"):
            model.learn(bad)
    with pytest.raises(ValueError, match="seed must be an integer"):
        MemoryPPO("MlpLstmPolicy", env, seed=-1)


def test_predict_names_a_state_from_another_policy():
    """An LSTM's state passed to an NTM ended in "zip() argument 2 is longer than argument 1"
    from inside the core."""
    env = make_vec_env("memenvs/DelayedRecall-v0", n_envs=2, seed=0, env_kwargs={"delay": 1})
    lstm, ntm = (make_agent(a, env, n_steps=8, batch_size=16) for a in ("lstm", "ntm"))
    obs = env.reset()
    _, state = lstm.predict(obs)
    with pytest.raises(ValueError, match="state does not fit this policy"):
        ntm.predict(obs, state=state)
    _, ntm_state = ntm.predict(obs)
    ntm.predict(obs, state=ntm_state)  # its own state fits
