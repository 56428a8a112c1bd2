"""MemoryPPO: recurrent PPO (Schulman et al. 2017) for any memory core, on SB3 conventions.

Differences from sb3-contrib's RecurrentPPO: the core's state is opaque (any nested tuple of
tensors), stored only where a training sequence starts; the update replays whole sequences
(default: the whole rollout, so BPTT spans ``n_steps``) with in-sequence resets and no
padding; minibatches are sets of whole env columns; internal stochastic decisions of a
core (sampled memory reads) are stored, replayed and trained by the same clipped objective.
"""

from __future__ import annotations

import math
import warnings
from typing import Any, ClassVar

import numpy as np
import torch
from gymnasium import spaces
from gymnasium.error import ResetNeeded
from gymnasium.vector import VectorEnv
from stable_baselines3.common.buffers import RolloutBuffer
from stable_baselines3.common.callbacks import BaseCallback
from stable_baselines3.common.logger import Image
from stable_baselines3.common.on_policy_algorithm import OnPolicyAlgorithm
from stable_baselines3.common.policies import BasePolicy
from stable_baselines3.common.type_aliases import GymEnv, Schedule
from stable_baselines3.common.utils import FloatSchedule, explained_variance, obs_as_tensor
from stable_baselines3.common.vec_env import VecEnv

from agents.buffer import SequenceRolloutBuffer
from agents.checks import (
    check_bool,
    check_device,
    check_int,
    check_number,
    check_positive_number,
    check_seed,
)
from agents.cores.state import index_rows, tree_leaves, tree_map
from agents.policies import POLICY_ALIASES, MemoryActorCriticPolicy

INTERNAL_PG = ("ppo", "reinforce")


def check_ppo_kwargs(
    *,
    learning_rate: Any,
    n_steps: Any,
    n_epochs: Any,
    gamma: Any,
    gae_lambda: Any,
    clip_range: Any,
    clip_range_vf: Any,
    normalize_advantage: Any,
    ent_coef: Any,
    vf_coef: Any,
    max_grad_norm: Any,
    target_kl: Any,
    stats_window_size: Any,
) -> None:
    """``ValueError`` naming the first of PPO's hyperparameters out of range: MemoryPPO's
    checks, which ``make_agent`` also runs on SB3's PPO and RecurrentPPO (same meanings)."""
    check_int("n_steps", n_steps, 1)
    check_int("n_epochs", n_epochs, 1)
    check_number("gamma", gamma, 0.0, 1.0)
    check_number("gae_lambda", gae_lambda, 0.0, 1.0)
    check_int("stats_window_size", stats_window_size, 1)
    check_positive_number("learning_rate", learning_rate, schedule=True)
    check_positive_number("clip_range", clip_range, schedule=True)
    if clip_range_vf is not None:
        check_positive_number("clip_range_vf", clip_range_vf, schedule=True)
    check_positive_number("max_grad_norm", max_grad_norm, allow_inf=True)  # inf: no clip
    if target_kl is not None:
        check_positive_number("target_kl", target_kl)
    check_number("vf_coef", vf_coef, 0.0)
    check_number("ent_coef", ent_coef, -math.inf)  # finite; negative discourages exploring
    check_bool("normalize_advantage", normalize_advantage)


class MemoryPPO(OnPolicyAlgorithm):
    """Recurrent PPO for memory policies.

    Args (beyond SB3's PPO, whose arguments keep their meaning):
        n_steps: steps per env per rollout; with the default ``seq_len`` this is also the
            BPTT window, so a delay longer than the rollout cannot be learned by BPTT.
        seq_len: length of replayed training sequences (divides ``n_steps``; default
            ``n_steps``). The state at each sequence start is stored and carries no gradient.
        batch_size: env-steps per minibatch, rounded to whole sequences (at least one;
            ``None``: a quarter of the rollout).
        n_epochs: passes over the rollout per update. The defaults ``batch_size=128,
            n_epochs=10`` are RecurrentPPO's (80 minibatch steps per 8 x 128 rollout); the
            former ``None, 4`` (16 steps) ran about 3x more env steps per second but learned
            worse per env step on RepeatPrevious, RepeatCopy and DelayedRecall
            (``benchmarks/results/defaults-vs-recurrent-ppo``).
        internal_ent_coef: entropy bonus for a core's internal decisions (sampled reads).
        internal_pg: how internal decisions are trained: ``"ppo"`` (their log-probs join the
            action's in the clipped ratio) or ``"reinforce"`` (REINFORCE with the critic as
            baseline, ``-A * log p(slot)``, as in Zaremba & Sutskever 2015).
        internal_gamma: the discount of internal decisions' own advantages: GAE from a second
            value head (the policy's ``internal_critic``) trained beside the first, with their
            own clipped ratio. ``None`` (default): ``gamma`` where the policy has an internal
            critic (``policy_kwargs={"critic_reads": "expected"}`` adds one on the reads'
            expectation, an unbiased baseline for them); else internal decisions share the
            action's advantage. A float adds the internal critic. With ``gamma=0`` on a
            recall task, a read drawn while the cue is shown earns nothing from the action at
            that step, however much the later recall depends on where it left the head;
            ``internal_gamma=0.95`` credits it with the rewards that follow.
        memory_image_interval: every this many rollouts, log an image of the core's
            weightings over one env column (time x slot); 0 disables.

    A callback that stops ``learn()`` mid-rollout leaves the model at the step the env took
    (observation, episode starts, recurrent state), so a later ``learn(...,
    reset_num_timesteps=False)`` continues every episode where it is; the unfinished rollout
    is not trained on. (SB3 keeps the step before, one observation behind the env.)
    """

    policy_aliases: ClassVar[dict[str, type[BasePolicy]]] = POLICY_ALIASES

    def __init__(
        self,
        policy: str | type[MemoryActorCriticPolicy],
        env: GymEnv | str,
        learning_rate: float | Schedule = 3e-4,
        n_steps: int = 128,
        seq_len: int | None = None,
        batch_size: int | None = 128,
        n_epochs: int = 10,
        gamma: float = 0.99,
        gae_lambda: float = 0.95,
        clip_range: float | Schedule = 0.2,
        clip_range_vf: float | Schedule | None = None,
        normalize_advantage: bool = True,
        ent_coef: float = 0.0,
        internal_ent_coef: float = 0.0,
        internal_pg: str = "ppo",
        internal_gamma: float | None = None,
        vf_coef: float = 0.5,
        max_grad_norm: float = 0.5,
        target_kl: float | None = None,
        memory_image_interval: int = 0,
        stats_window_size: int = 100,
        tensorboard_log: str | None = None,
        policy_kwargs: dict[str, Any] | None = None,
        verbose: int = 0,
        seed: int | None = None,
        device: torch.device | str = "auto",
        _init_setup_model: bool = True,
    ) -> None:
        check_ppo_kwargs(
            learning_rate=learning_rate,
            n_steps=n_steps,
            n_epochs=n_epochs,
            gamma=gamma,
            gae_lambda=gae_lambda,
            clip_range=clip_range,
            clip_range_vf=clip_range_vf,
            normalize_advantage=normalize_advantage,
            ent_coef=ent_coef,
            vf_coef=vf_coef,
            max_grad_norm=max_grad_norm,
            target_kl=target_kl,
            stats_window_size=stats_window_size,
        )
        seq_len = n_steps if seq_len is None else seq_len
        check_int("seq_len", seq_len, 1, n_steps)
        if n_steps % seq_len:
            raise ValueError(
                f"seq_len must divide n_steps, got seq_len={seq_len}, n_steps={n_steps}"
            )
        if batch_size is not None:
            check_int("batch_size", batch_size, 1)
        check_int("memory_image_interval", memory_image_interval, 0)
        check_number("internal_ent_coef", internal_ent_coef, -math.inf)  # as ent_coef
        if internal_gamma is not None:
            check_number("internal_gamma", internal_gamma, 0.0, 1.0)
        if internal_pg not in INTERNAL_PG:
            raise ValueError(f"internal_pg must be one of {INTERNAL_PG}, got {internal_pg!r}")
        if isinstance(env, VectorEnv):  # SB3 says only that "OpenAI Gym" is expected
            raise ValueError(
                f"env is a Gymnasium vector env ({type(env).__name__}, e.g. from "
                "gymnasium.make_vec), which stable-baselines3 cannot train on: use "
                "agents.make_vec_env(env_id, n_envs) (memenvs' native vector envs as an SB3 "
                "VecEnv) or a single env"
            )
        check_device(device)
        check_seed(seed)
        super().__init__(
            policy,
            env,
            learning_rate=learning_rate,
            n_steps=n_steps,
            gamma=gamma,
            gae_lambda=gae_lambda,
            ent_coef=ent_coef,
            vf_coef=vf_coef,
            max_grad_norm=max_grad_norm,
            use_sde=False,
            sde_sample_freq=-1,
            stats_window_size=stats_window_size,
            tensorboard_log=tensorboard_log,
            policy_kwargs=policy_kwargs,
            verbose=verbose,
            seed=seed,
            device=device,
            _init_setup_model=False,
            supported_action_spaces=(
                spaces.Box,
                spaces.Discrete,
                spaces.MultiDiscrete,
                spaces.MultiBinary,
            ),
        )
        self.seq_len = seq_len
        self.batch_size = batch_size
        self.n_epochs = n_epochs
        self.clip_range = clip_range
        self.clip_range_vf = clip_range_vf
        self.normalize_advantage = normalize_advantage
        self.internal_ent_coef = internal_ent_coef
        self.internal_pg = internal_pg
        self.internal_gamma = internal_gamma
        self.target_kl = target_kl
        self.memory_image_interval = memory_image_interval
        self._last_state = None
        self._rollouts = 0
        self._skipped_updates = 0  # minibatch steps dropped for a non-finite loss or gradient
        self._minibatch_steps = 0  # minibatch steps tried, taken or dropped
        self._warned_skip = False
        if _init_setup_model:
            self._setup_model()

    # ---------------------------------------------------------------------------- setup
    def _setup_model(self) -> None:
        self._setup_lr_schedule()
        self.set_random_seed(self.seed)
        if self.internal_gamma is not None:
            self.policy_kwargs = {**self.policy_kwargs, "internal_critic": True}
        self.policy = self.policy_class(
            self.observation_space, self.action_space, self.lr_schedule, **self.policy_kwargs
        ).to(self.device)
        if not isinstance(self.policy, MemoryActorCriticPolicy):
            raise ValueError(
                f"MemoryPPO needs a MemoryActorCriticPolicy, got {type(self.policy).__name__}"
            )
        self.rollout_buffer = SequenceRolloutBuffer(
            self.n_steps,
            self.n_envs,
            self.seq_len,
            self.device,
            self.gamma,
            self.gae_lambda,
            self.internal_discount,
        )
        n_seq = self.rollout_buffer.n_sequences
        steps = self.n_steps * self.n_envs // 4 if self.batch_size is None else self.batch_size
        self.sequences_per_batch = min(n_seq, max(1, round(steps / self.seq_len)))
        self.clip_range = FloatSchedule(self.clip_range)
        if self.clip_range_vf is not None:
            self.clip_range_vf = FloatSchedule(self.clip_range_vf)
        saved = self._last_state  # MemoryPPO.load's (SB3 sets the saved attributes first)
        self._last_state = self.policy.initial_state(self.n_envs)
        if saved is not None and _shapes(saved) == _shapes(self._last_state):
            self._last_state = tree_map(lambda t: t.to(self.device), saved)

    @property
    def internal_discount(self) -> float | None:
        """The discount of the internal critic's returns (``internal_gamma``, else ``gamma``);
        None without an internal critic (the internal decisions then share the action's
        advantage)."""
        if self.policy.internal_value_net is None:
            return None
        return self.gamma if self.internal_gamma is None else self.internal_gamma

    def save(self, path, exclude=None, include=None) -> None:
        """SB3's save, with the recurrent state that goes with ``_last_obs`` (on the CPU;
        ``load`` moves it to its device), so ``load(..., force_reset=False)`` continues the
        episodes with their memory."""
        state = self._last_state
        if state is not None:
            self._last_state = tree_map(lambda t: t.detach().cpu(), state)
        try:
            super().save(path, exclude=exclude, include=include)
        finally:
            self._last_state = state

    def _setup_learn(
        self, total_timesteps, callback=None, reset_num_timesteps=True, *args, **kwargs
    ):
        fresh = reset_num_timesteps or self._last_obs is None  # SB3 then resets the env
        out = super()._setup_learn(total_timesteps, callback, reset_num_timesteps, *args, **kwargs)
        if fresh or self._last_state is None:
            self._last_state = self.policy.initial_state(self.n_envs)
        return out

    def _update_info_buffer(
        self, infos: list[dict[str, Any]], dones: np.ndarray | None = None
    ) -> None:
        """SB3's episode stats, plus ``info["success"]`` (memenvs) as a success flag."""
        for i in np.flatnonzero(dones) if dones is not None else []:
            if "success" in infos[i] and "is_success" not in infos[i]:
                infos[i]["is_success"] = infos[i]["success"]
        super()._update_info_buffer(infos, dones)

    # -------------------------------------------------------------------------- rollout
    def collect_rollouts(
        self,
        env: VecEnv,
        callback: BaseCallback,
        rollout_buffer: RolloutBuffer,
        n_rollout_steps: int,
    ) -> bool:
        assert self._last_obs is not None, "No previous observation was provided"
        buffer: SequenceRolloutBuffer = rollout_buffer  # type: ignore[assignment]
        policy = self.policy
        policy.set_training_mode(False)
        buffer.reset()
        callback.on_rollout_start()
        state = self._last_state
        starts = torch.as_tensor(self._last_episode_starts, dtype=torch.bool, device=self.device)
        _check_finite("observation", self._last_obs, self.num_timesteps // env.num_envs)
        obs_t = obs_as_tensor(self._last_obs, self.device)
        clip_box = isinstance(self.action_space, spaces.Box)
        for _ in range(n_rollout_steps):
            buffer.store_state_if_sequence_start(state)
            with torch.no_grad():
                actions, values, log_probs, state, internal = policy(obs_t, state, starts)
            env_actions = actions.cpu().numpy()
            if clip_box:
                env_actions = np.clip(env_actions, self.action_space.low, self.action_space.high)
            try:
                new_obs, rewards, dones, infos = env.step(env_actions)
            except ResetNeeded as err:
                raise RuntimeError(
                    "the env needs a reset: MemoryPPO.load(..., force_reset=False) keeps the "
                    "saved last observation, valid only with the env that produced it; pass "
                    "force_reset=True for a fresh env, or resume exactly with "
                    "agents.checkpoint.save_checkpoint / load_checkpoint"
                ) from err
            self.num_timesteps += env.num_envs
            env_step = self.num_timesteps // env.num_envs  # steps each env took in this learn
            _check_finite("observation", new_obs, env_step)
            _check_finite("reward", rewards, env_step)
            callback.update_locals(locals())
            if not callback.on_step():
                # the env took this step: keep its observation and the state that goes with
                # it, so a later learn() continues every episode where it is (SB3 does not)
                self._update_info_buffer(infos, dones)
                self._last_obs, self._last_episode_starts, self._last_state = new_obs, dones, state
                return False
            self._update_info_buffer(infos, dones)
            rewards = torch.as_tensor(rewards, dtype=torch.float32, device=self.device)
            internal_rewards = None if self.internal_discount is None else rewards.clone()
            truncated = [
                i
                for i in np.flatnonzero(dones)
                if infos[i].get("TimeLimit.truncated", False)
                and infos[i].get("terminal_observation") is not None
            ]
            if truncated:  # bootstrap from the terminal observation, with that row's state
                rows = torch.as_tensor(truncated, device=self.device)
                term_obs = _stack_obs([infos[i]["terminal_observation"] for i in truncated])
                _check_finite("terminal observation", term_obs, env_step, rows=truncated)
                term = (
                    obs_as_tensor(term_obs, self.device),
                    index_rows(state, rows),
                    torch.zeros(len(truncated), dtype=torch.bool, device=self.device),
                )
                with torch.no_grad():
                    term_values, term_internal = self._bootstrap_values(*term)
                rewards[rows] += self.gamma * term_values
                if internal_rewards is not None:
                    internal_rewards[rows] += self.internal_discount * term_internal
            buffer.add(
                obs_t, actions, rewards, starts, values, log_probs, internal, internal_rewards
            )
            obs_t = obs_as_tensor(new_obs, self.device)
            starts = torch.as_tensor(dones, dtype=torch.bool, device=self.device)
        self._last_obs, self._last_episode_starts, self._last_state = new_obs, dones, state
        with torch.no_grad():
            last_values, last_internal = self._bootstrap_values(obs_t, state, starts)
        buffer.compute_returns_and_advantage(last_values, starts, last_internal)
        self._log_memory(buffer)
        callback.update_locals(locals())
        callback.on_rollout_end()
        return True

    def _bootstrap_values(
        self, obs, state, starts: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Values ``[B]`` to bootstrap from, and the internal critic's (None without one):
        one core run for both."""
        if self.internal_discount is None:
            return self.policy.predict_values(obs, state, starts), None
        return self.policy.predict_all_values(obs, state, starts)

    def _log_memory(self, buffer: SequenceRolloutBuffer) -> None:
        """Log the core's own diagnostics of env column 0 of this rollout (every 4th
        rollout; images every ``memory_image_interval``). Cores that trace nothing are
        never rerun."""
        self._rollouts += 1
        if not self.policy.core.traces:
            return
        interval = self.memory_image_interval
        want_image = interval > 0 and self._rollouts % interval == 0
        if not want_image and self._rollouts % 4 != 1:
            return
        diag = self.policy.diagnose_column(buffer, column=0, images=want_image)
        for name, value in diag.scalars.items():
            self.logger.record(f"memory/{name}", value)
        for name, img in diag.images.items():
            self.logger.record(
                f"memory/{name}", Image(img[None], "CHW"), exclude=("stdout", "log", "json", "csv")
            )

    # --------------------------------------------------------------------------- update
    def train(self) -> None:
        policy = self.policy
        policy.set_training_mode(True)
        self._update_learning_rate(policy.optimizer)
        clip_range = self.clip_range(self._current_progress_remaining)
        clip_range_vf = (
            None
            if self.clip_range_vf is None
            else self.clip_range_vf(self._current_progress_remaining)
        )
        keys = ("pg", "vf", "ivf", "ent", "ient", "kl", "clip")
        stats: dict[str, list[float]] = {k: [] for k in keys}
        continue_training = True
        for epoch in range(self.n_epochs):
            for batch in self.rollout_buffer.sequences(self.sequences_per_batch):
                ev = policy.evaluate_sequences(
                    batch.observations,
                    batch.actions,
                    batch.state,
                    batch.episode_starts,
                    batch.internal_actions,
                )
                adv = self._normalized(batch.advantages)
                has_internal = ev.internal_log_prob is not None
                split = has_internal and self.internal_discount is not None
                iadv = self._normalized(batch.internal_advantages) if split else adv
                new_lp, old_lp = ev.log_prob, batch.old_log_prob
                if has_internal and self.internal_pg == "ppo" and not split:
                    new_lp = new_lp + ev.internal_log_prob
                    old_lp = old_lp + batch.old_internal_log_prob
                log_ratio = new_lp - old_lp
                pg_loss, ratio = _clipped_surrogate(adv, log_ratio, clip_range)
                if split and self.internal_pg == "ppo":
                    ilog_ratio = ev.internal_log_prob - batch.old_internal_log_prob
                    ipg_loss, iratio = _clipped_surrogate(iadv, ilog_ratio, clip_range)
                    pg_loss = pg_loss + ipg_loss
                    # the joint policy's ratio: its KL is the sum of the two factors'
                    log_ratio, ratio = log_ratio + ilog_ratio, ratio * iratio
                if has_internal and self.internal_pg == "reinforce":
                    pg_loss = pg_loss - (iadv * ev.internal_log_prob).mean()
                vf_loss = _value_loss(ev.values, batch.old_values, batch.returns, clip_range_vf)
                if split:
                    ivf_loss = _value_loss(
                        ev.internal_values,
                        batch.old_internal_values,
                        batch.internal_returns,
                        clip_range_vf,
                    )
                    stats["ivf"].append(ivf_loss.item())
                    vf_loss = vf_loss + ivf_loss
                ent_loss = -ev.entropy.mean()
                loss = pg_loss + self.ent_coef * ent_loss + self.vf_coef * vf_loss
                if ev.internal_entropy is not None:
                    ient_loss = -ev.internal_entropy.mean()
                    loss = loss + self.internal_ent_coef * ient_loss
                    stats["ient"].append(ient_loss.item())
                with torch.no_grad():
                    approx_kl = ((ratio - 1) - log_ratio).mean().item()
                stats["pg"].append(pg_loss.item())
                stats["vf"].append(vf_loss.item())
                stats["ent"].append(ent_loss.item())
                stats["kl"].append(approx_kl)
                stats["clip"].append(((ratio - 1).abs() > clip_range).float().mean().item())
                if self.target_kl is not None and approx_kl > 1.5 * self.target_kl:
                    continue_training = False
                    if self.verbose >= 1:
                        print(f"Early stopping at epoch {epoch}: approx_kl {approx_kl:.2f}")
                    break
                policy.optimizer.zero_grad()
                loss.backward()
                grad_norm = torch.nn.utils.clip_grad_norm_(policy.parameters(), self.max_grad_norm)
                self._minibatch_steps += 1
                if not (torch.isfinite(loss) and torch.isfinite(grad_norm)):
                    self._skip_update(loss, grad_norm)
                    continue
                policy.optimizer.step()
            self._n_updates += 1
            if not continue_training:
                break
        buf = self.rollout_buffer
        explained_var = explained_variance(
            buf.values.flatten().cpu().numpy(), buf.returns.flatten().cpu().numpy()
        )
        record = self.logger.record
        record("train/policy_gradient_loss", np.mean(stats["pg"]))
        record("train/value_loss", np.mean(stats["vf"]))
        record("train/entropy_loss", np.mean(stats["ent"]))
        if stats["ient"]:
            record("train/internal_entropy_loss", np.mean(stats["ient"]))
        if stats["ivf"]:
            record("train/internal_value_loss", np.mean(stats["ivf"]))
        record("train/approx_kl", np.mean(stats["kl"]))
        record("train/clip_fraction", np.mean(stats["clip"]))
        record("train/loss", loss.item())
        record("train/explained_variance", explained_var)
        record("train/n_updates", self._n_updates, exclude="tensorboard")
        record("train/clip_range", clip_range)
        record("train/skipped_updates", self._skipped_updates)

    def _normalized(self, adv: torch.Tensor) -> torch.Tensor:
        if self.normalize_advantage and adv.numel() > 1:
            return (adv - adv.mean()) / (adv.std() + 1e-8)
        return adv

    @property
    def skipped_updates(self) -> int:
        """Minibatch steps dropped so far for a non-finite loss or gradient norm (the
        optimizer never saw them), out of :attr:`minibatch_steps`; also logged as
        ``train/skipped_updates``."""
        return self._skipped_updates

    @property
    def minibatch_steps(self) -> int:
        """Minibatch optimizer steps tried so far, taken or skipped."""
        return self._minibatch_steps

    def _skip_update(self, loss: torch.Tensor, grad_norm: torch.Tensor) -> None:
        """Drop a minibatch step whose loss or gradient norm is not finite: the optimizer
        (parameters and Adam moments) never sees it. Warns at the first skip of a ``learn``
        call; ``learn`` sums up the rest at its end."""
        self.policy.optimizer.zero_grad()
        self._skipped_updates += 1
        if not self._warned_skip:
            self._warned_skip = True
            warnings.warn(
                f"MemoryPPO skipped an update with a non-finite loss ({loss.item()}) or "
                f"gradient norm ({grad_norm.item()}); further skips in this learn() call are "
                "counted and summed up at its end",
                UserWarning,
                stacklevel=2,
            )

    def learn(
        self,
        total_timesteps: int,
        callback=None,
        log_interval: int = 1,
        tb_log_name: str = "MemoryPPO",
        reset_num_timesteps: bool = True,
        progress_bar: bool = False,
    ):
        check_int("total_timesteps", total_timesteps, 0)
        skipped, tried = self._skipped_updates, self._minibatch_steps
        self._warned_skip = False
        try:
            return super().learn(
                total_timesteps=total_timesteps,
                callback=callback,
                log_interval=log_interval,
                tb_log_name=tb_log_name,
                reset_num_timesteps=reset_num_timesteps,
                progress_bar=progress_bar,
            )
        finally:
            skipped, tried = self._skipped_updates - skipped, self._minibatch_steps - tried
            if skipped:
                warnings.warn(
                    f"MemoryPPO skipped {skipped} of {tried} minibatch updates in this learn() "
                    "call for a non-finite loss or gradient norm (the weights did not take "
                    f"them{'; none was taken' if skipped == tried else ''}): look for huge "
                    "rewards or observations, or lower the learning rate",
                    UserWarning,
                    stacklevel=2,  # the caller of learn()
                )

    def predict(self, observation, state=None, episode_start=None, deterministic: bool = False):
        """``(actions, state)``: pass the returned state back with the next observation."""
        return self.policy.predict(observation, state, episode_start, deterministic)


def _clipped_surrogate(
    adv: torch.Tensor, log_ratio: torch.Tensor, clip_range: float
) -> tuple[torch.Tensor, torch.Tensor]:
    """PPO's clipped surrogate loss (Schulman et al. 2017, eq. 7) and the ratio."""
    ratio = torch.exp(log_ratio)
    loss = -torch.min(adv * ratio, adv * ratio.clamp(1 - clip_range, 1 + clip_range)).mean()
    return loss, ratio


def _value_loss(
    values: torch.Tensor,
    old_values: torch.Tensor,
    returns: torch.Tensor,
    clip_range_vf: float | None,
) -> torch.Tensor:
    """MSE to the returns, values clipped to ``old +- clip_range_vf`` if that is set."""
    if clip_range_vf is not None:
        values = old_values + (values - old_values).clamp(-clip_range_vf, clip_range_vf)
    return torch.nn.functional.mse_loss(returns, values)


def _check_finite(what: str, values: Any, step: int, rows: list[int] | None = None) -> None:
    """Raise a ValueError naming the env, step and value if ``values [N, ...]`` (an array or
    a dict of arrays, one row per env) holds NaN or inf: one ``isfinite`` per array."""
    for key, array in values.items() if isinstance(values, dict) else ((None, values),):
        array = np.asarray(array)
        if not np.issubdtype(array.dtype, np.floating) or np.isfinite(array).all():
            continue
        bad = np.argwhere(~np.isfinite(array.reshape(len(array), -1)))[0]
        env = bad[0] if rows is None else rows[bad[0]]
        name = what if key is None else f"{what}[{key!r}]"
        raise ValueError(
            f"env {env} returned a non-finite {name} at step {step}: "
            f"{array.reshape(len(array), -1)[tuple(bad)]} (element {bad[1]} of that row); "
            "MemoryPPO stopped before updating on it: fix or wrap the env (e.g. clip or "
            "VecCheckNan to find the source)"
        )


def _shapes(state: Any) -> list[tuple]:
    """A recurrent state's leaves' shapes and dtypes, in order."""
    return [(tuple(t.shape), t.dtype) for t in tree_leaves(state)]


def _stack_obs(observations: list[Any]) -> Any:
    if isinstance(observations[0], dict):
        return {k: np.stack([o[k] for o in observations]) for k in observations[0]}
    return np.stack(observations)
