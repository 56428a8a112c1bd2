"""MemoryPPO machinery: replayed log-probs equal recorded ones, SB3 surface, save/load."""

from __future__ import annotations

import glob
import os
import re

import gymnasium as gym
import numpy as np
import pytest
import torch
from core_contract import assert_batch_replays
from stable_baselines3.common.callbacks import CheckpointCallback, EvalCallback
from stable_baselines3.common.evaluation import evaluate_policy
from stable_baselines3.common.utils import obs_as_tensor
from stable_baselines3.common.vec_env import DummyVecEnv, SubprocVecEnv

import memenvs  # noqa: F401
from agents import MemoryPPO, NativeVecEnv, NTMCore, make_vec_env
from agents.policies import MemoryActorCriticPolicy
from agents.registry import get_agent, memory_agents

SMALL_NTM = {"memory_slots": 16, "memory_width": 8, "controller_size": 32}
SMALL_RNN = {"hidden_size": 32}
# small core sizes per registered memory agent; an agent not listed runs its own defaults
SMALL = {
    "lstm": SMALL_RNN,
    "gru": SMALL_RNN,
    "ntm": SMALL_NTM,
    "stochastic-ntm": SMALL_NTM,
    "episodic": {"max_memory": 32, "embed_size": 16, "key_size": 8, "value_size": 8},
    "stochastic-episodic": {"max_memory": 32, "embed_size": 16, "key_size": 8, "value_size": 8},
}
MEMORY_AGENTS = [spec.name for spec in memory_agents()]
# extra replay cases beyond every agent x {shared, separate critic} x {checkpointed or not}
EXTRA_CASES = {
    "lstm-one-sequence": ("MlpLstmPolicy", {"core_kwargs": SMALL_RNN}),
    "ntm-sampled-reads-and-writes": (
        "MlpNTMPolicy",
        {"core_kwargs": {**SMALL_NTM, "read_mode": "sample", "write_mode": "sample"}},
    ),
    "ntm-sampled-reads-straight-through": (
        "MlpStochasticNTMPolicy",
        {"core_kwargs": {**SMALL_NTM, "straight_through": True}},
    ),
    # the reads' own critic on their expectation, BPTT checkpointed (chunks of 5)
    "ntm-expected-reads-checkpointed": (
        "MlpStochasticNTMPolicy",
        {"core_kwargs": SMALL_NTM, "critic_reads": "expected", "bptt_checkpoint": 5},
    ),
    "episodic-expected-reads-checkpointed": (
        "MlpStochasticEpisodicPolicy",
        {
            "core_kwargs": SMALL["stochastic-episodic"],
            "critic_reads": "expected",
            "bptt_checkpoint": 5,
        },
    ),  # fmt: skip
}


def collect(model: MemoryPPO) -> None:
    _, callback = model._setup_learn(model.n_steps * model.n_envs, None)
    assert model.collect_rollouts(model.env, callback, model.rollout_buffer, model.n_steps)


def assert_first_epoch_replays_rollout(policy: str, policy_kwargs: dict, seq_len: int) -> None:
    """First epoch of the first update: ratio == 1 within 1e-5 and values equal."""
    # active TMaze truncates episodes: bootstrapping and resets inside sequences both occur
    env = make_vec_env(
        "memenvs/TMaze-v0", n_envs=4, seed=0, env_kwargs={"length": 3, "active": True}
    )
    model = MemoryPPO(policy, env, n_steps=24, seq_len=seq_len, seed=0, policy_kwargs=policy_kwargs)
    collect(model)
    buffer = model.rollout_buffer
    assert len(buffer.states) == 24 // seq_len
    assert buffer.episode_starts[1:].any(), "the rollout should contain episode starts"
    model.policy.set_training_mode(True)
    n_batches = 0
    for batch in buffer.sequences(model.sequences_per_batch):
        # gradients enabled, as in the update: bptt_checkpoint only chunks then
        ev = assert_batch_replays(model.policy, batch)
        sampled = bool(model.policy.internal_action_nvec)  # sampled reads replay too
        assert (ev.internal_log_prob is not None) == sampled
        assert (batch.old_internal_log_prob is not None) == sampled
        n_batches += 1
    assert n_batches == model.rollout_buffer.n_sequences // model.sequences_per_batch


@pytest.mark.parametrize("checkpointed", [False, True], ids=["full", "checkpointed"])
@pytest.mark.parametrize("shared_core", [True, False], ids=["shared", "separate-critic"])
@pytest.mark.parametrize("agent", MEMORY_AGENTS)
def test_replayed_log_probs_and_values_equal_recorded(agent, shared_core, checkpointed):
    """Every registered core, shared or separate critic core, BPTT checkpointed or not
    (3 sequences of 8 steps per env column; chunks of 5 do not divide them)."""
    spec = get_agent(agent)
    policy_kwargs = {
        "core_kwargs": SMALL.get(agent, {}),
        "shared_core": shared_core,
        "bptt_checkpoint": 5 if checkpointed else 0,
    }
    assert_first_epoch_replays_rollout(spec.policy, policy_kwargs, seq_len=8)


@pytest.mark.parametrize("case", list(EXTRA_CASES))
@pytest.mark.parametrize("seq_len", [24, 8])
def test_replayed_log_probs_equal_recorded_extra_cases(case, seq_len):
    policy, policy_kwargs = EXTRA_CASES[case]
    assert_first_epoch_replays_rollout(policy, policy_kwargs, seq_len)


def test_separate_critic_internal_decisions_are_stored_and_deterministic():
    """A separate critic core's internal decisions (sampled reads) are argmax, not sampled,
    and are stored after the actor's, so the update replays the rollout's values exactly."""
    env = make_vec_env("memenvs/DelayedRecall-v0", n_envs=8, seed=0, env_kwargs={"delay": 2})
    model = MemoryPPO(
        "MlpStochasticNTMPolicy",
        env,
        n_steps=8,
        seed=0,
        policy_kwargs={"core_kwargs": SMALL_NTM, "shared_core": False},
    )
    collect(model)
    n_actor = len(model.policy.internal_action_nvec)
    n_critic = len(model.policy.critic_core.internal_action_nvec)
    assert n_actor == n_critic == 1
    assert model.rollout_buffer.internal.shape == (8, 8, n_actor + n_critic)
    obs = obs_as_tensor(env.reset(), model.device)
    state, starts = model.policy.initial_state(8), torch.ones(8, dtype=torch.bool)
    draws = []
    for seed in range(4):
        torch.manual_seed(seed)
        with torch.no_grad():
            draws.append(model.policy(obs, state, starts)[4][0])
    actor = torch.stack([d[:, :n_actor] for d in draws])
    critic = torch.stack([d[:, n_actor:] for d in draws])
    assert not (actor == actor[0]).all(), "the actor's reads are sampled"
    assert (critic == critic[0]).all(), "the critic's reads are argmax"


@pytest.mark.parametrize(
    "agent, critic_reads",
    [
        *((a, "sampled") for a in MEMORY_AGENTS),
        ("stochastic-ntm", "expected"),
        ("stochastic-episodic", "expected"),
    ],
)
def test_checkpointed_replay_has_same_gradients(agent, critic_reads, row_blocks):
    """Forward and backward, every core on its default path (the C++ LSTM and GRU
    sequences' backward once read their saved tensors twice, which checkpointing refuses),
    the C++ sequences in one call and in blocks of rows (checkpointing's saved-tensor hooks
    once deadlocked the blocks' threads), and the expected reads' critic."""
    env = make_vec_env("memenvs/DelayedRecall-v0", n_envs=2, seed=0, env_kwargs={"delay": 3})
    grads = []
    for chunk in (0, 4):
        torch.manual_seed(0)
        kwargs = {"core_kwargs": SMALL.get(agent, {}), "bptt_checkpoint": chunk}
        if critic_reads == "expected":
            kwargs["critic_reads"] = "expected"
        model = MemoryPPO(get_agent(agent).policy, env, n_steps=16, seed=0, policy_kwargs=kwargs)
        collect(model)
        batch = next(model.rollout_buffer.sequences(2, torch.Generator().manual_seed(0)))
        ev = model.policy.evaluate_sequences(  # sampled reads replayed, as in the update
            batch.observations,
            batch.actions,
            batch.state,
            batch.episode_starts,
            batch.internal_actions,
        )
        internal = 0.0 if ev.internal_values is None else ev.internal_values.sum()
        (ev.log_prob.sum() + ev.values.sum() + internal).backward()
        grads.append(
            torch.cat([p.grad.flatten() for p in model.policy.parameters() if p.grad is not None])
        )
    torch.testing.assert_close(grads[0], grads[1], atol=1e-5, rtol=1e-4)


def test_learn_logs_success_and_memory_to_tensorboard(tmp_path):
    env = make_vec_env("memenvs/DelayedRecall-v0", n_envs=4, seed=0, env_kwargs={"delay": 2})
    model = MemoryPPO(
        "MlpNTMPolicy",
        env,
        n_steps=16,
        seed=0,
        tensorboard_log=str(tmp_path),
        memory_image_interval=1,
        policy_kwargs={"core_kwargs": SMALL_NTM},
    )
    model.learn(128, tb_log_name="run", progress_bar=False)
    files = glob.glob(str(tmp_path / "run_1" / "events.out.tfevents.*"))
    assert files
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    acc = EventAccumulator(files[0])
    acc.Reload()
    scalars = set(acc.Tags()["scalars"])
    assert {"rollout/success_rate", "train/value_loss", "memory/read_weights_entropy"} <= scalars
    assert "memory/write_weights_entropy" in scalars and "memory/slots_written" in scalars
    assert {"memory/read_weights", "memory/write_weights"} <= set(acc.Tags()["images"])


def test_save_load_round_trip_gives_identical_predictions(tmp_path):
    env = make_vec_env("memenvs/DelayedRecall-v0", n_envs=2, seed=0, env_kwargs={"delay": 2})
    model = MemoryPPO(
        "MlpNTMPolicy", env, n_steps=8, seed=0, policy_kwargs={"core_kwargs": SMALL_NTM}
    )
    model.learn(16)
    model.save(tmp_path / "model.zip")
    loaded = MemoryPPO.load(tmp_path / "model.zip", env=env)
    assert isinstance(loaded.policy, MemoryActorCriticPolicy)
    assert isinstance(loaded.policy.core, NTMCore)
    obs = env.reset()
    s1 = s2 = None
    starts = np.ones(2, dtype=bool)
    for _ in range(6):
        a1, s1 = model.predict(obs, s1, starts, deterministic=True)
        a2, s2 = loaded.predict(obs, s2, starts, deterministic=True)
        np.testing.assert_array_equal(a1, a2)
        obs, _, starts, _ = env.step(a1)
    for p, q in zip(
        model.policy.state_dict().values(), loaded.policy.state_dict().values(), strict=True
    ):
        assert torch.equal(p, q)


def test_predict_single_observation_and_evaluate_policy():
    env = gym.make("memenvs/DelayedRecall-v0", delay=2)
    model = MemoryPPO("MlpLstmPolicy", env, n_steps=8, seed=0)
    obs, _ = env.reset(seed=0)
    action, state = model.predict(obs)
    assert env.action_space.contains(int(action))
    action2, _ = model.predict(obs, state, episode_start=np.array([False]))
    assert np.shape(action2) == ()
    mean, _ = evaluate_policy(model, model.get_env(), n_eval_episodes=4)
    assert 0.0 <= mean <= 1.0


def small_model_and_obs(agent: str, n_envs: int) -> tuple[MemoryPPO, np.ndarray]:
    """An untrained small MemoryPPO of ``agent`` on DelayedRecall (delay 2) and its vector
    env's first observations ``[n_envs, ...]``."""
    env = make_vec_env("memenvs/DelayedRecall-v0", n_envs=n_envs, seed=0, env_kwargs={"delay": 2})
    model = MemoryPPO(
        get_agent(agent).policy, env, n_steps=8, seed=0,
        policy_kwargs={"core_kwargs": SMALL.get(agent, {})},
    )  # fmt: skip
    return model, env.reset()


@pytest.mark.parametrize("agent", MEMORY_AGENTS)
def test_predict_refuses_a_state_or_episode_start_of_another_batch(agent):
    """A state made for 1 env passed with 4 observations was once spread over the 4 rows (the
    LSTM, GRU) or failed deep inside a core (the NTM: 'inconsistent input_size')."""
    model, obs = small_model_and_obs(agent, n_envs=2)
    _, one = model.predict(obs[:1])
    with pytest.raises(ValueError, match="state has batch size 1 but the observation has 2 rows"):
        model.predict(obs, state=one)
    _, two = model.predict(obs)
    with pytest.raises(ValueError, match=r"episode_start must hold one flag per .* \(2\)"):
        model.predict(obs, state=two, episode_start=True)
    actions, _ = model.predict(obs, state=two, episode_start=np.array([True, False]))
    assert actions.shape == (2,)


@pytest.mark.parametrize("agent", MEMORY_AGENTS)
def test_predict_refuses_a_non_finite_observation_naming_its_rows(agent):
    """The LSTM, GRU and NTM cores turned a NaN into NaN logits and torch's unclear
    'Expected parameter logits ... invalid values' error."""
    model, obs = small_model_and_obs(agent, n_envs=3)
    obs[1, 0], obs[2, -1] = np.nan, np.inf
    with pytest.raises(ValueError, match=r"observation must be finite; rows \[1, 2\] hold NaN"):
        model.predict(obs)
    actions, _ = model.predict(obs[:1])
    assert actions.shape == (1,)


@pytest.mark.parametrize(
    ("device", "message"),
    [("foo", "device must be 'cpu', 'cuda'"), ("cuda:7", "device='cuda:7' was asked for")],
)
def test_memory_ppo_refuses_a_device_it_cannot_use(monkeypatch, device, message):
    """The same check as make_agent's (agents.checks.check_device): 'foo' was a RuntimeError
    from torch, and only 'cuda' on a machine without a GPU was caught."""
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)  # one GPU: cuda:7 is not
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    env = gym.make("memenvs/DelayedRecall-v0", delay=2)
    with pytest.raises(ValueError, match=re.escape(message)):
        MemoryPPO("MlpLstmPolicy", env, n_steps=8, device=device)


@pytest.mark.parametrize("agent", ["stochastic-ntm", "stochastic-episodic"])
def test_the_reads_baseline_ignores_the_read_sampled_where_asked(agent, load_script):
    """With critic_reads="expected" the internal critic's value at t, the baseline of the
    read drawn at t, does not depend on that read (it sees the reads' expectation), while the
    value head's V_t, the env action's baseline, does (the action is chosen after the read).
    On its own core, which reads by argmax, neither does. With the default "sampled" both
    do, which also shows the probe (scripts/probe_read_baseline.py: the rollout replayed
    with three reads at t) can tell."""
    probe = load_script("probe_read_baseline")
    v, internal = probe.spread(agent, shared=True, seed=0, critic_reads="expected")
    assert internal == 0.0 and v > 0.0
    assert probe.spread(agent, shared=False, seed=0) == (0.0, 0.0)
    assert probe.spread(agent, shared=True, seed=0)[1] > 0.0


@pytest.mark.parametrize("critic_reads, split", [("sampled", False), ("expected", True)])
def test_expected_reads_give_the_reads_their_own_advantage(critic_reads, split):
    """critic_reads="expected" adds the internal critic (discount gamma) and the split
    advantages; the default keeps one advantage for the action and the reads."""
    env = make_vec_env("memenvs/DelayedRecall-v0", n_envs=2, seed=0, env_kwargs={"delay": 3})
    kwargs = {"critic_reads": critic_reads, "core_kwargs": {"max_memory": 8}}
    model = MemoryPPO(
        "MlpStochasticEpisodicPolicy", env, n_steps=8, gamma=0.9, policy_kwargs=kwargs
    )
    assert model.policy.internal_critic is split
    assert model.internal_discount == (0.9 if split else None)
    model.learn(16)
    assert ("train/internal_value_loss" in model.logger.name_to_value) is split
    with pytest.raises(ValueError, match="critic_reads must be one of"):
        MemoryPPO("MlpStochasticEpisodicPolicy", env, policy_kwargs={"critic_reads": "soft"})


@pytest.mark.parametrize(
    "policy, kwargs",
    [
        ("MlpLstmPolicy", {}),  # no sampled reads
        ("MlpStochasticEpisodicPolicy", {"shared_core": False}),  # the critic's own core
        ("MlpStochasticEpisodicPolicy", {"internal_critic": False}),  # nothing would see it
    ],
)
def test_expected_reads_where_they_would_change_nothing_are_refused(policy, kwargs):
    env = make_vec_env("memenvs/DelayedRecall-v0", n_envs=2, seed=0, env_kwargs={"delay": 3})
    with pytest.raises(ValueError, match="critic_reads='expected' is the baseline of a shared"):
        MemoryPPO(policy, env, policy_kwargs={"critic_reads": "expected", **kwargs})


def test_a_gymnasium_vector_env_is_refused_with_the_way_to_vectorise():
    env = gym.make_vec("memenvs/DelayedRecall-v0", 2)
    with pytest.raises(ValueError, match=r"Gymnasium vector env .* agents.make_vec_env"):
        MemoryPPO("MlpLstmPolicy", env, n_steps=8)


@pytest.mark.parametrize("kind", ["dummy", "subproc", "native"])
def test_vec_env_kinds(kind):
    def make():
        return gym.make("memenvs/DelayedRecall-v0", delay=1)

    if kind == "dummy":
        env = DummyVecEnv([make, make])
    elif kind == "subproc":
        env = SubprocVecEnv([make, make], start_method="fork")
    else:
        env = make_vec_env("memenvs/DelayedRecall-v0", n_envs=2, env_kwargs={"delay": 1})
        assert isinstance(env.venv, NativeVecEnv)
    model = MemoryPPO("MlpGruPolicy", env, n_steps=8, seed=0)
    model.learn(32)
    assert model.num_timesteps == 32
    assert len(model.ep_success_buffer) > 0  # info["success"] reaches SB3's success buffer
    env.close()


def test_callbacks(tmp_path):
    env = make_vec_env("memenvs/DelayedRecall-v0", n_envs=2, seed=0, env_kwargs={"delay": 1})
    eval_env = make_vec_env("memenvs/DelayedRecall-v0", n_envs=1, seed=1, env_kwargs={"delay": 1})
    model = MemoryPPO("MlpLstmPolicy", env, n_steps=8, seed=0)
    callbacks = [
        EvalCallback(eval_env, eval_freq=8, n_eval_episodes=2, log_path=str(tmp_path), verbose=0),
        CheckpointCallback(save_freq=8, save_path=str(tmp_path), name_prefix="ckpt"),
    ]
    model.learn(32, callback=callbacks)
    assert os.path.exists(tmp_path / "evaluations.npz")
    assert glob.glob(str(tmp_path / "ckpt_*_steps.zip"))


def test_dict_observations_and_box_actions():
    class DictEnv(gym.Env):
        observation_space = gym.spaces.Dict(
            {"a": gym.spaces.Box(-1, 1, (3,), np.float32), "b": gym.spaces.Discrete(4)}
        )
        action_space = gym.spaces.Box(-1, 1, (2,), np.float32)

        def reset(self, *, seed=None, options=None):
            super().reset(seed=seed)
            self.t = 0
            return self.observation_space.sample(), {}

        def step(self, action):
            self.t += 1
            return (
                self.observation_space.sample(),
                float(-np.abs(action).sum()),
                self.t >= 5,
                False,
                {},
            )

    env = DummyVecEnv([DictEnv, DictEnv])
    model = MemoryPPO(
        "MultiInputNTMPolicy",
        env,
        n_steps=10,
        seq_len=5,
        seed=0,
        policy_kwargs={"core_kwargs": SMALL_NTM},
    )
    model.learn(40)
    action, _ = model.predict(env.reset())
    assert action.shape == (2, 2) and np.all(np.abs(action) <= 1)


def test_custom_core_class_in_policy_kwargs():
    env = make_vec_env("memenvs/DelayedRecall-v0", n_envs=2, env_kwargs={"delay": 1})
    model = MemoryPPO(
        "MemoryPolicy",
        env,
        n_steps=8,
        policy_kwargs={"core_class": NTMCore, "core_kwargs": {"controller": "mlp", **SMALL_NTM}},
    )
    assert model.policy.core.controller_kind == "mlp"


def test_bad_arguments_are_rejected_clearly():
    env = make_vec_env("memenvs/DelayedRecall-v0", n_envs=2, env_kwargs={"delay": 1})
    with pytest.raises(TypeError, match="bogus"):
        MemoryPPO("MlpLstmPolicy", env, bogus=1)
    with pytest.raises(TypeError, match="hiden_size"):
        MemoryPPO("MlpLstmPolicy", env, policy_kwargs={"core_kwargs": {"hiden_size": 3}})
    with pytest.raises(ValueError, match="seq_len"):
        MemoryPPO("MlpLstmPolicy", env, n_steps=10, seq_len=3)
    with pytest.raises(ValueError, match="n_steps"):
        MemoryPPO("MlpLstmPolicy", env, n_steps=0)
    with pytest.raises(ValueError, match="gamma"):
        MemoryPPO("MlpLstmPolicy", env, gamma=1.5)
    with pytest.raises(ValueError, match="core_class"):
        MemoryPPO("MemoryPolicy", env, policy_kwargs={"core_class": torch.nn.LSTM})
    with pytest.raises(ValueError, match="not a registered|Unknown|unknown"):
        MemoryPPO("NoSuchPolicy", env)


@pytest.mark.parametrize(
    "name, bad, allowed",
    [
        # each used to run: a negative max_grad_norm turned the update into gradient ascent,
        # 0 froze it, and target_kl=-1 stopped every update before its first step
        ("max_grad_norm", -1.0, "> 0"),
        ("max_grad_norm", 0.0, "> 0"),
        ("target_kl", -1.0, "> 0"),
        ("clip_range", 0.0, "> 0 or a schedule"),
        ("clip_range_vf", -1.0, "> 0 or a schedule"),
        ("learning_rate", 0.0, "> 0 or a schedule"),
        ("learning_rate", float("nan"), "> 0 or a schedule"),
        ("vf_coef", -1.0, ">= 0.0"),
        ("ent_coef", float("nan"), "any finite value"),
        ("internal_ent_coef", float("inf"), "any finite value"),
        ("stats_window_size", 0, ">= 1"),
    ],
)
def test_bad_hyperparameters_are_rejected_clearly(name, bad, allowed):
    env = make_vec_env("memenvs/DelayedRecall-v0", n_envs=2, env_kwargs={"delay": 1})
    with pytest.raises(ValueError, match=rf"{name} must be .*{re.escape(allowed)}"):
        MemoryPPO("MlpLstmPolicy", env, **{name: bad})


def test_boundary_hyperparameters_still_work():
    env = make_vec_env("memenvs/DelayedRecall-v0", n_envs=2, env_kwargs={"delay": 1})
    model = MemoryPPO(
        "MlpLstmPolicy",
        env,
        n_steps=8,
        batch_size=16,
        max_grad_norm=float("inf"),  # no clipping
        learning_rate=lambda progress: 1e-3 * progress,
        clip_range=lambda progress: 0.2,
        clip_range_vf=0.5,
        target_kl=0.05,
        vf_coef=0.0,
        ent_coef=-0.01,
        policy_kwargs={"core_kwargs": SMALL_RNN},
    )
    model.learn(16)


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the no-GPU error")
def test_cuda_without_gpu_fails_clearly():
    env = make_vec_env("memenvs/DelayedRecall-v0", n_envs=2, env_kwargs={"delay": 1})
    with pytest.raises(ValueError, match="CUDA"):
        MemoryPPO("MlpLstmPolicy", env, device="cuda")


@pytest.mark.parametrize("internal_gamma", [None, 0.9], ids=["shared-advantage", "own-critic"])
@pytest.mark.parametrize("internal_pg", ["ppo", "reinforce"])
def test_sampled_reads_are_trained_by_the_policy_gradient(internal_pg, internal_gamma):
    env = make_vec_env("memenvs/DelayedRecall-v0", n_envs=4, seed=0, env_kwargs={"delay": 2})
    model = MemoryPPO(
        "MlpStochasticNTMPolicy",
        env,
        n_steps=16,
        seed=0,
        internal_pg=internal_pg,
        internal_gamma=internal_gamma,
        internal_ent_coef=0.01,
        policy_kwargs={"core_kwargs": SMALL_NTM},
    )
    assert model.policy.core.read_mode == "sample" and model.policy.internal_action_nvec == (16,)
    # the read-addressing weights get gradient only through the internal log-probs
    before = model.policy.core.head_proj.weight.detach().clone()
    model.learn(32)
    assert not torch.equal(before, model.policy.core.head_proj.weight)
    assert model.logger.name_to_value.get("train/internal_entropy_loss") is not None
    with pytest.raises(ValueError, match="internal_pg"):
        MemoryPPO("MlpStochasticNTMPolicy", env, internal_pg="a2c")


def test_truncated_episodes_bootstrap_from_terminal_observation_with_their_state():
    """At a truncation, reward += gamma * V(terminal_obs), the value computed from that row's
    current recurrent state (no reset); terminations get no bootstrap."""
    env = make_vec_env(
        "memenvs/TMaze-v0", n_envs=4, seed=0, env_kwargs={"length": 2, "active": True}
    )
    model = MemoryPPO("MlpLstmPolicy", env, n_steps=24, seed=0, gamma=0.9)
    calls = []
    original = model.policy.predict_values

    def spy(obs, state, starts):
        values = original(obs, state, starts)
        calls.append((obs.shape[0], starts.clone(), values.clone()))
        return values

    model.policy.predict_values = spy
    raw_rewards = []
    step_wait = model.env.step_wait

    def record_step_wait():
        obs, rewards, dones, infos = step_wait()
        raw_rewards.append(
            (rewards.copy(), dones.copy(), [i.get("TimeLimit.truncated", False) for i in infos])
        )
        return obs, rewards, dones, infos

    model.env.step_wait = record_step_wait
    collect(model)
    bootstrap_calls = calls[:-1]  # the last call is the value of the final observation
    truncations = sum(sum(t) for _, _, t in raw_rewards)
    assert truncations > 0 and len(bootstrap_calls) > 0
    assert sum(n for n, _, _ in bootstrap_calls) == truncations
    assert all(not starts.any() for _, starts, _ in bootstrap_calls)
    stored = model.rollout_buffer.rewards.cpu().numpy()
    values = iter(v for _, _, vs in bootstrap_calls for v in vs.tolist())
    for t, (rewards, _dones, truncated) in enumerate(raw_rewards):
        for i in range(len(rewards)):
            expected = rewards[i] + (0.9 * next(values) if truncated[i] else 0.0)
            assert stored[t, i] == pytest.approx(expected, abs=1e-5)


def _reference_gae(rewards, values, starts, last_values, last_dones, gamma, lam):
    """GAE(gamma, lambda) by the textbook recursion, in numpy, for [T, N] arrays."""
    T = len(rewards)
    adv, last = np.zeros_like(rewards), np.zeros_like(rewards[0])
    for t in reversed(range(T)):
        next_v = last_values if t == T - 1 else values[t + 1]
        alive = 1.0 - (last_dones if t == T - 1 else starts[t + 1]).astype(np.float64)
        delta = rewards[t] + gamma * next_v * alive - values[t]
        last = delta + gamma * lam * alive * last
        adv[t] = last
    return adv


def test_buffer_gae_equals_the_textbook_recursion_with_starts_and_a_final_done():
    """The buffer's GAE (deltas for all steps at once, then the backward recursion) against
    the step-by-step numpy reference, with episode starts mid-rollout and at the end."""
    from agents.buffer import SequenceRolloutBuffer

    T, N, gamma, lam = 12, 5, 0.97, 0.9
    g = torch.Generator().manual_seed(0)
    buf = SequenceRolloutBuffer(T, N, 4, torch.device("cpu"), gamma, lam)
    buf.rewards = torch.randn(T, N, generator=g)
    buf.values = torch.randn(T, N, generator=g)
    buf.episode_starts = torch.rand(T, N, generator=g) < 0.3
    last_values = torch.randn(N, generator=g)
    dones = torch.tensor([True, False, True, False, False])
    buf.compute_returns_and_advantage(last_values, dones)
    arr = {k: getattr(buf, k).double().numpy() for k in ("rewards", "values")}
    starts = buf.episode_starts.numpy()
    expected = _reference_gae(
        arr["rewards"], arr["values"], starts, last_values.double().numpy(), dones.numpy(),
        gamma, lam,
    )  # fmt: skip
    np.testing.assert_allclose(buf.advantages.numpy(), expected, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(buf.returns, buf.advantages + buf.values)
    assert starts[1:].any() and not np.allclose(expected, arr["rewards"] - arr["values"])


def test_internal_gamma_gives_internal_decisions_their_own_critic_and_advantages(tmp_path):
    """With internal_gamma, sampled reads get GAE advantages of their own discount from a
    second value head, while actions keep gamma's (here 0: advantage = reward - value);
    replay reproduces both critics' values and both ratios; learning trains the new head."""
    env = make_vec_env(
        "memenvs/TMaze-v0", n_envs=4, seed=0, env_kwargs={"length": 3, "active": True}
    )
    kwargs = {"n_steps": 24, "seq_len": 8, "seed": 0, "gamma": 0.0, "gae_lambda": 0.9}
    policy_kwargs = {"core_kwargs": SMALL_NTM}
    model = MemoryPPO(
        "MlpStochasticNTMPolicy",
        env,
        internal_gamma=0.8,
        policy_kwargs=policy_kwargs,
        **kwargs,
    )
    assert model.policy.internal_value_net is not None
    collect(model)
    buf = model.rollout_buffer
    assert buf.episode_starts[1:].any()
    np_ = {k: getattr(buf, k).numpy() for k in ("rewards", "values", "internal_values")}
    np_["internal_rewards"] = buf.internal_rewards.numpy()
    starts = buf.episode_starts.numpy()
    # gamma 0: the action's advantage is the reward minus the value, nothing later
    np.testing.assert_allclose(
        buf.advantages.numpy(), np_["rewards"] - np_["values"], rtol=1e-5, atol=1e-6
    )
    # the internal critic's advantages follow GAE(0.8, 0.9), bootstrapped by its own values
    with torch.no_grad():
        last_i = model.policy.predict_all_values(
            obs_as_tensor(model._last_obs, model.device),
            model._last_state,
            torch.as_tensor(model._last_episode_starts, dtype=torch.bool),
        )[1].numpy()
    expected = _reference_gae(
        np_["internal_rewards"],
        np_["internal_values"],
        starts,
        last_i,
        model._last_episode_starts,
        0.8,
        0.9,
    )
    np.testing.assert_allclose(buf.internal_advantages.numpy(), expected, rtol=1e-4, atol=1e-5)
    assert not np.allclose(expected, np_["rewards"] - np_["internal_values"], atol=1e-3)
    model.policy.set_training_mode(True)
    for batch in buf.sequences(model.sequences_per_batch):
        ev = assert_batch_replays(model.policy, batch)
        torch.testing.assert_close(
            ev.internal_values.detach(), batch.old_internal_values, rtol=1e-5, atol=1e-5
        )
    before = model.policy.internal_value_net.weight.detach().clone()
    model.learn(96)
    assert not torch.equal(before, model.policy.internal_value_net.weight)
    assert model.logger.name_to_value.get("train/internal_value_loss") is not None
    model.save(tmp_path / "m.zip")
    loaded = MemoryPPO.load(tmp_path / "m.zip", env=env)
    assert loaded.internal_gamma == 0.8 and loaded.policy.internal_value_net is not None
    torch.testing.assert_close(
        loaded.policy.internal_value_net.weight, model.policy.internal_value_net.weight
    )


def test_internal_gamma_is_checked():
    env = make_vec_env("memenvs/TMaze-v0", n_envs=2, seed=0, env_kwargs={"length": 2})
    for bad in (-0.1, 1.5, float("nan")):
        with pytest.raises(ValueError, match="internal_gamma"):
            MemoryPPO("MlpStochasticNTMPolicy", env, internal_gamma=bad)
    with pytest.raises(ValueError, match="internal_critic.*internal decisions"):
        MemoryPPO("MlpLstmPolicy", env, internal_gamma=0.9)


def test_learn_stopped_by_a_callback_continues_each_episode_where_the_env_is():
    """A callback that stops learn() does so after the env took the step: the observation,
    episode starts and recurrent state of that step are kept (SB3 keeps the step before), so
    a later learn() goes on from where every episode is instead of one step behind."""
    from stable_baselines3.common.callbacks import BaseCallback

    env = make_vec_env("memenvs/TMaze-v0", n_envs=2, seed=0, env_kwargs={"length": 4})
    model = MemoryPPO("MlpLstmPolicy", env, n_steps=8, batch_size=16, seed=0)
    steps, states = [], []
    step_wait, forward = model.env.step_wait, model.policy.forward

    def record_step_wait():
        obs, rewards, dones, infos = step_wait()
        steps.append((obs.copy(), dones.copy()))
        return obs, rewards, dones, infos

    def record_forward(*args, **kwargs):
        out = forward(*args, **kwargs)
        states.append(out[3])
        return out

    model.env.step_wait, model.policy.forward = record_step_wait, record_forward

    class StopAtStep(BaseCallback):
        def _on_step(self) -> bool:
            return self.n_calls < 13  # mid-rollout (the second of 8 steps each)

    model.learn(64, callback=StopAtStep())
    assert model.num_timesteps == 13 * 2 and len(steps) == 13
    obs, dones = steps[-1]
    assert np.array_equal(model._last_obs, obs)
    assert np.array_equal(model._last_episode_starts, dones)
    assert model._last_state is states[-1]  # the state after the step the env took
    model.learn(16, reset_num_timesteps=False)
    first = model.rollout_buffer.obs[0].cpu().numpy()
    assert np.array_equal(first, obs)  # the continued rollout starts at that observation
    assert np.array_equal(model.rollout_buffer.episode_starts[0].cpu().numpy(), dones)


@pytest.mark.parametrize(
    "net_arch",
    [[-1], [0], "64", [8.0], [True], {"pi": [8], "qf": [8]}, {"pi": 8}, [{"pi": [8]}], None],
)
def test_net_arch_must_be_sb3_layer_lists(net_arch):
    """[-1] ended in a RuntimeError inside nn.Linear, "64" in a TypeError there."""
    env = make_vec_env("memenvs/DelayedRecall-v0", n_envs=2, env_kwargs={"delay": 1})
    if net_arch is None:  # the default, and every form SB3 takes, still builds
        for ok in (None, [], [8, 4], (8,), {"pi": [8], "vf": [4]}, {"vf": []}, [np.int64(8)]):
            policy_kwargs = {"net_arch": ok, "core_kwargs": SMALL_RNN}
            MemoryPPO("MlpLstmPolicy", env, n_steps=8, policy_kwargs=policy_kwargs)
        return
    with pytest.raises(ValueError, match=r"net_arch must be a list of layer sizes \(integers"):
        MemoryPPO("MlpLstmPolicy", env, n_steps=8, policy_kwargs={"net_arch": net_arch})


def test_a_dict_observation_space_needs_a_multi_input_policy():
    """MlpLstmPolicy on Dict observations built, then failed mid-rollout ('dict' object has
    no attribute 'flatten')."""
    space = gym.spaces.Dict({"a": gym.spaces.Box(0, 1, (3,), np.float32)})
    env = DummyVecEnv([lambda: gym.wrappers.TransformObservation(
        gym.make("memenvs/DelayedRecall-v0", delay=1), lambda o: {"a": o[:3]}, space
    )])  # fmt: skip
    with pytest.raises(ValueError, match="observation_space is a Dict.*'MultiInputLstmPolicy'"):
        MemoryPPO("MlpLstmPolicy", env, n_steps=8)
    with pytest.raises(ValueError, match="features_extractor_class=CombinedExtractor"):
        MemoryPPO("MemoryPolicy", env, n_steps=8)
    MemoryPPO("MultiInputLstmPolicy", env, n_steps=8, policy_kwargs={"core_kwargs": SMALL_RNN})


@pytest.mark.parametrize(
    "name, bad",
    [
        ("shared_core", "no"),  # each used to be taken as true
        ("ortho_init", "no"),
        ("normalize_images", 0),
        ("internal_critic", "yes"),
    ],
)
def test_policy_flags_must_be_bools(name, bad):
    env = make_vec_env("memenvs/DelayedRecall-v0", n_envs=2, env_kwargs={"delay": 1})
    with pytest.raises(ValueError, match=rf"{name} must be one of \(True, False\), got {bad!r}"):
        MemoryPPO("MlpLstmPolicy", env, n_steps=8, policy_kwargs={name: bad})


def test_normalize_advantage_must_be_a_bool():
    env = make_vec_env("memenvs/DelayedRecall-v0", n_envs=2, env_kwargs={"delay": 1})
    with pytest.raises(ValueError, match=r"normalize_advantage must be one of \(True, False\)"):
        MemoryPPO("MlpLstmPolicy", env, n_steps=8, normalize_advantage="no")


def test_load_without_reset_continues_with_the_saved_recurrent_state(tmp_path):
    """MemoryPPO.load(..., force_reset=False) kept the last observation and episode starts
    but started from a blank recurrent state: mid-episode with an empty memory. Saved and
    restored, learn(16); save; load; learn(24) equals learn(16); learn(24) bit for bit."""
    from stable_baselines3.common.utils import set_random_seed

    from agents.cores.state import tree_leaves

    def model() -> MemoryPPO:
        env = make_vec_env("memenvs/DelayedRecall-v0", n_envs=2, seed=0, env_kwargs={"delay": 3})
        return MemoryPPO(
            "MlpLstmPolicy", env, n_steps=8, batch_size=8, n_epochs=2, seed=0,
            policy_kwargs={"core_kwargs": {"hidden_size": 8}},
        )  # fmt: skip

    straight = model().learn(16)  # (each seeds the global RNGs when built)
    first = model().learn(16)
    assert not first._last_episode_starts.any()  # mid-episode: the memory matters
    first.save(tmp_path / "model.zip")
    loaded = MemoryPPO.load(tmp_path / "model.zip", env=first.get_env(), force_reset=False)
    before, after = tree_leaves(first._last_state), tree_leaves(loaded._last_state)
    assert any(t.abs().sum() > 0 for t in before)
    assert len(before) == len(after)
    assert all(
        torch.equal(a, b) and b.device == loaded.device for a, b in zip(before, after, strict=True)
    )
    for m in (straight, loaded):
        set_random_seed(5)  # load reseeds: the same draws from here on for both
        m.learn(24, reset_num_timesteps=False)
    for p, q in zip(straight.policy.parameters(), loaded.policy.parameters(), strict=True):
        assert torch.equal(p, q)
    # a reset env (force_reset, the default) starts from the initial state, as before, with
    # as many envs as it has
    for n_envs in (2, 3):
        env = make_vec_env("memenvs/DelayedRecall-v0", n_envs=n_envs, env_kwargs={"delay": 3})
        other = MemoryPPO.load(tmp_path / "model.zip", env=env)
        other._setup_learn(8, reset_num_timesteps=False)
        initial = tree_leaves(other.policy.initial_state(n_envs))
        leaves = tree_leaves(other._last_state)
        assert all(torch.equal(a, b) for a, b in zip(leaves, initial, strict=True))
        other.learn(8, reset_num_timesteps=False)
