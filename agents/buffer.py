"""Rollout storage for recurrent PPO that keeps the core state only where sequences start.

The rollout ``[T, N]`` (T steps, N envs) is cut into sequences of ``seq_len`` steps along
time; sequence ``s = k * N + n`` covers steps ``k*L .. (k+1)*L - 1`` of env ``n``. The
policy state is stored once per sequence start (``T / L`` snapshots, not ``T``), and the
update replays whole sequences, episode starts inside them included (no padding).
Minibatches are sets of whole sequences (env columns, as in CleanRL's ppo_atari_lstm).
With ``internal_gamma`` set, the core's internal decisions get advantages and returns of
their own, from the internal critic's values and that discount.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import torch

from agents.cores.state import State, cat_rows, detach, index_rows


@dataclass
class SequenceBatch:
    """A minibatch of ``B`` whole sequences of length ``L``; time-major."""

    observations: Any  # tensor [L*B, ...] or dict of them
    actions: torch.Tensor  # [L*B, ...]
    episode_starts: torch.Tensor  # [L, B] bool
    old_values: torch.Tensor  # [L, B]
    old_log_prob: torch.Tensor  # [L, B]
    advantages: torch.Tensor  # [L, B]
    returns: torch.Tensor  # [L, B]
    state: State  # policy state at the first step of each sequence, batch B
    internal_actions: torch.Tensor | None  # [L, B, R]
    old_internal_log_prob: torch.Tensor | None  # [L, B]
    # with an internal critic (internal_gamma), all [L, B]; else None
    old_internal_values: torch.Tensor | None = None
    internal_advantages: torch.Tensor | None = None
    internal_returns: torch.Tensor | None = None


def _alloc(shape: tuple[int, ...], like: torch.Tensor) -> torch.Tensor:
    return torch.zeros(shape, dtype=like.dtype, device=like.device)


class SequenceRolloutBuffer:
    """Stores one rollout on the policy's device (see the module docstring)."""

    def __init__(
        self,
        n_steps: int,
        n_envs: int,
        seq_len: int,
        device: torch.device,
        gamma: float,
        gae_lambda: float,
        internal_gamma: float | None = None,
    ) -> None:
        if n_steps % seq_len != 0:
            raise ValueError(
                f"seq_len must divide n_steps, got seq_len={seq_len}, n_steps={n_steps}"
            )
        self.n_steps, self.n_envs, self.seq_len = n_steps, n_envs, seq_len
        self.device, self.gamma, self.gae_lambda = device, gamma, gae_lambda
        self.internal_gamma = internal_gamma
        self.n_sequences = (n_steps // seq_len) * n_envs
        self.reset()

    def reset(self) -> None:
        self.pos = 0
        self.states: list[State] = []
        self.obs: Any = None
        self.actions: torch.Tensor | None = None
        self.internal: torch.Tensor | None = None
        self.internal_log_probs: torch.Tensor | None = None
        T, N = self.n_steps, self.n_envs
        kw = {"device": self.device}
        self.rewards = torch.zeros(T, N, **kw)
        self.episode_starts = torch.zeros(T, N, dtype=torch.bool, **kw)
        self.values = torch.zeros(T, N, **kw)
        self.log_probs = torch.zeros(T, N, **kw)
        self.advantages = torch.zeros(T, N, **kw)
        self.returns = torch.zeros(T, N, **kw)
        critic = self.internal_gamma is not None
        self.internal_rewards = torch.zeros(T, N, **kw) if critic else None
        self.internal_values = torch.zeros(T, N, **kw) if critic else None
        self.internal_advantages = torch.zeros(T, N, **kw) if critic else None
        self.internal_returns = torch.zeros(T, N, **kw) if critic else None

    @property
    def full(self) -> bool:
        return self.pos == self.n_steps

    def store_state_if_sequence_start(self, state: State) -> None:
        """Call before ``add`` at every step: keeps the state where a sequence begins."""
        if self.pos % self.seq_len == 0:
            self.states.append(detach(state))

    def add(
        self,
        obs: Any,
        actions: torch.Tensor,
        rewards: torch.Tensor,
        episode_starts: torch.Tensor,
        values: torch.Tensor,
        log_probs: torch.Tensor,
        internal: tuple[torch.Tensor, torch.Tensor, torch.Tensor | None] | None,
        internal_rewards: torch.Tensor | None = None,
    ) -> None:
        """Append one step; ``internal`` is ``(internal_actions [N, R], log_prob [N],
        internal values [N] or None)``. With ``internal_gamma``, the internal values and
        ``internal_rewards [N]`` (the rewards bootstrapped with that discount) are needed."""
        T, t = self.n_steps, self.pos
        if t >= T:
            raise RuntimeError("rollout buffer is full: call reset() first")
        if self.actions is None:  # allocate on the first step, from the data's own shapes
            if isinstance(obs, dict):
                self.obs = {k: _alloc((T, *v.shape), v) for k, v in obs.items()}
            else:
                self.obs = _alloc((T, *obs.shape), obs)
            self.actions = _alloc((T, *actions.shape), actions)
            if internal is not None:
                self.internal = _alloc((T, *internal[0].shape), internal[0])
                self.internal_log_probs = _alloc((T, *internal[1].shape), internal[1])
        if isinstance(obs, dict):
            for k, v in obs.items():
                self.obs[k][t] = v
        else:
            self.obs[t] = obs
        self.actions[t] = actions
        if internal is not None:
            self.internal[t], self.internal_log_probs[t], internal_values = internal
        if self.internal_gamma is not None:
            if internal is None or internal_values is None or internal_rewards is None:
                raise ValueError(
                    "a buffer with internal_gamma needs internal decisions, internal values "
                    "and internal_rewards at every step"
                )
            self.internal_values[t] = internal_values
            self.internal_rewards[t] = internal_rewards
        self.rewards[t] = rewards
        self.episode_starts[t] = episode_starts
        self.values[t] = values
        self.log_probs[t] = log_probs
        self.pos += 1

    def compute_returns_and_advantage(
        self,
        last_values: torch.Tensor,
        dones: torch.Tensor,
        last_internal_values: torch.Tensor | None = None,
    ) -> None:
        """GAE(lambda) (Schulman et al. 2016), as in SB3's ``RolloutBuffer``; with
        ``internal_gamma``, again for the internal critic (``last_internal_values [N]``)."""
        self.advantages = self._gae(self.rewards, self.values, last_values, dones, self.gamma)
        self.returns = self.advantages + self.values
        if self.internal_gamma is not None:
            if last_internal_values is None:
                raise ValueError("a buffer with internal_gamma needs last_internal_values")
            self.internal_advantages = self._gae(
                self.internal_rewards,
                self.internal_values,
                last_internal_values,
                dones,
                self.internal_gamma,
            )
            self.internal_returns = self.internal_advantages + self.internal_values

    def _gae(
        self,
        rewards: torch.Tensor,
        values: torch.Tensor,
        last_values: torch.Tensor,
        dones: torch.Tensor,
        gamma: float,
    ) -> torch.Tensor:
        """Advantages ``[T, N]`` of ``rewards, values [T, N]`` by GAE(gamma, lambda):
        ``delta_t = r_t + gamma V_{t+1} (1 - d_{t+1}) - V_t`` for every step at once, then
        ``A_t = delta_t + gamma lambda (1 - d_{t+1}) A_{t+1}`` backwards (two ops a step)."""
        ends = torch.cat([self.episode_starts[1:].float(), dones.float().view(1, -1)])
        non_terminal = 1.0 - ends  # the next step starts a new episode: no bootstrap
        next_values = torch.cat([values[1:], last_values.view(1, -1)])
        deltas = rewards + gamma * next_values * non_terminal - values
        discounts = gamma * self.gae_lambda * non_terminal
        advantages = torch.empty_like(values)
        last_gae = torch.zeros(self.n_envs, device=self.device)
        for t in reversed(range(self.n_steps)):
            last_gae = deltas[t] + discounts[t] * last_gae
            advantages[t] = last_gae
        return advantages

    # ----------------------------------------------------------------------- sequences
    def _to_sequences(self, x: torch.Tensor) -> torch.Tensor:
        """``[T, N, ...] -> [L, K*N, ...]`` with sequence index ``k*N + n``."""
        T, N, L = self.n_steps, self.n_envs, self.seq_len
        K = T // L
        rest = x.shape[2:]
        return x.reshape(K, L, N, *rest).transpose(0, 1).reshape(L, K * N, *rest)

    def sequences(
        self, sequences_per_batch: int, generator: torch.Generator | None = None
    ) -> Iterator[SequenceBatch]:
        """Yield minibatches of whole sequences in a random order."""
        if not self.full:
            raise RuntimeError("rollout buffer is not full")
        seq = self._to_sequences
        obs = (
            {k: seq(v) for k, v in self.obs.items()}
            if isinstance(self.obs, dict)
            else seq(self.obs)
        )
        actions = seq(self.actions)
        starts, values = seq(self.episode_starts), seq(self.values)
        log_probs, advantages, returns = (
            seq(self.log_probs),
            seq(self.advantages),
            seq(self.returns),
        )
        internal = None if self.internal is None else seq(self.internal)
        internal_lp = None if self.internal is None else seq(self.internal_log_probs)
        critic = self.internal_gamma is not None
        ivalues = seq(self.internal_values) if critic else None
        iadvantages = seq(self.internal_advantages) if critic else None
        ireturns = seq(self.internal_returns) if critic else None
        states = cat_rows(self.states)
        order = torch.randperm(self.n_sequences, generator=generator).to(self.device)
        L = self.seq_len
        for a in range(0, self.n_sequences, sequences_per_batch):
            idx = order[a : a + sequences_per_batch]

            def flat(x: torch.Tensor, idx=idx) -> torch.Tensor:
                return x[:, idx].reshape(L * len(idx), *x.shape[2:])

            yield SequenceBatch(
                observations={k: flat(v) for k, v in obs.items()}
                if isinstance(obs, dict)
                else flat(obs),
                actions=flat(actions),
                episode_starts=starts[:, idx],
                old_values=values[:, idx],
                old_log_prob=log_probs[:, idx],
                advantages=advantages[:, idx],
                returns=returns[:, idx],
                state=index_rows(states, idx),
                internal_actions=None if internal is None else internal[:, idx],
                old_internal_log_prob=None if internal_lp is None else internal_lp[:, idx],
                old_internal_values=ivalues[:, idx] if critic else None,
                internal_advantages=iadvantages[:, idx] if critic else None,
                internal_returns=ireturns[:, idx] if critic else None,
            )
