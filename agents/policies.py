"""Actor-critic policies around any :class:`~agents.cores.MemoryCore`.

``features -> core -> MLP heads -> action distribution / value``. The recurrent state is
``(actor_state, critic_state)``; ``critic_state`` is ``None`` when the core is shared.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial
from typing import Any

import numpy as np
import torch
from gymnasium import spaces
from stable_baselines3.common.distributions import (
    BernoulliDistribution,
    CategoricalDistribution,
    DiagGaussianDistribution,
    Distribution,
    MultiCategoricalDistribution,
    make_proba_distribution,
)
from stable_baselines3.common.policies import BasePolicy
from stable_baselines3.common.torch_layers import (
    BaseFeaturesExtractor,
    CombinedExtractor,
    FlattenExtractor,
    MlpExtractor,
)
from stable_baselines3.common.type_aliases import Schedule
from torch import nn
from torch.utils.checkpoint import checkpoint

from agents.checks import check_bool, check_int
from agents.cores import CoreExtras, LSTMCore, MemoryCore
from agents.cores.base import Diagnostics
from agents.cores.state import State, index_rows, tree_leaves
from agents.registry import AgentSpec, on_register

PolicyState = tuple  # (actor_state, critic_state | None)
CRITIC_READS = ("expected", "sampled")


@dataclass
class SequenceEval:
    """What the update needs from replaying stored sequences; all ``[T, B]``."""

    values: torch.Tensor
    log_prob: torch.Tensor  # log-prob of the env actions
    entropy: torch.Tensor  # entropy of the action distribution
    internal_log_prob: torch.Tensor | None  # log-prob of internal (memory) decisions
    internal_entropy: torch.Tensor | None  # entropy of internal (memory) decisions
    internal_values: torch.Tensor | None = None  # the internal critic's values, if any


class MemoryActorCriticPolicy(BasePolicy):
    """Recurrent actor-critic policy with a pluggable memory core.

    Args:
        core_class: a :class:`MemoryCore` subclass, built as
            ``core_class(features_dim, **core_kwargs)``.
        core_kwargs: keyword arguments of the core (e.g. ``hidden_size``, ``memory_slots``).
        net_arch: MLP heads after the core, SB3 style (``[64]`` or ``dict(pi=[..], vf=[..])``).
        shared_core: one core for actor and critic (default) or a separate critic core.
        critic_reads: the baseline of a shared core's sampled reads. ``"sampled"``
            (default): the critic sees the reads drawn, and the reads share the action's
            advantage (or, with an internal critic, get theirs from it on the reads drawn): a
            baseline that depends on the read it judges, biased; it learned faster than
            ``"expected"`` with the episodic core on DelayedRecall and slower with the NTM on
            Copy (``benchmarks/results/read-baseline/learning``). ``"expected"``: an
            internal critic sees their expectation under the weighting each was drawn from
            (``CoreExtras.expected_y``), an unbiased baseline for the reads, while the value
            head keeps the reads drawn (the env action is chosen after them, so for the
            action they are part of the state).
        bptt_checkpoint: if > 0, replay sequences in chunks of this many steps under
            activation checkpointing: memory O(T/chunk * state + chunk * activations).
        internal_critic: a second value head (``internal_value_net``, on the critic's latent,
            of the expected reads with ``critic_reads="expected"``) for internal decisions,
            whose advantages then come from it (``MemoryPPO``: discount ``internal_gamma`` or
            ``gamma``); ``True`` needs a core with internal decisions. ``None`` (default): for
            a shared core with internal decisions and ``critic_reads="expected"``.
    """

    def __init__(
        self,
        observation_space: spaces.Space,
        action_space: spaces.Space,
        lr_schedule: Schedule,
        core_class: type[MemoryCore] = LSTMCore,
        core_kwargs: dict[str, Any] | None = None,
        net_arch: list[int] | dict[str, list[int]] | None = None,
        activation_fn: type[nn.Module] = nn.Tanh,
        shared_core: bool = True,
        critic_reads: str = "sampled",
        ortho_init: bool = True,
        bptt_checkpoint: int = 0,
        internal_critic: bool | None = None,
        features_extractor_class: type[BaseFeaturesExtractor] = FlattenExtractor,
        features_extractor_kwargs: dict[str, Any] | None = None,
        normalize_images: bool = True,
        optimizer_class: type[torch.optim.Optimizer] = torch.optim.Adam,
        optimizer_kwargs: dict[str, Any] | None = None,
        use_sde: bool = False,
    ) -> None:
        if use_sde:
            raise ValueError("use_sde is not supported by memory policies")
        check_int("bptt_checkpoint", bptt_checkpoint, 0)
        shared_core = check_bool("shared_core", shared_core)
        ortho_init = check_bool("ortho_init", ortho_init)
        normalize_images = check_bool("normalize_images", normalize_images)
        if internal_critic is not None:
            internal_critic = check_bool("internal_critic", internal_critic)
        if net_arch is not None:
            _check_net_arch(net_arch)
        self._check_extractor(observation_space, features_extractor_class)
        if critic_reads not in CRITIC_READS:
            raise ValueError(f"critic_reads must be one of {CRITIC_READS}, got {critic_reads!r}")
        if not (isinstance(core_class, type) and issubclass(core_class, MemoryCore)):
            raise ValueError(f"core_class must be a MemoryCore subclass, got {core_class!r}")
        super().__init__(
            observation_space,
            action_space,
            features_extractor_class,
            features_extractor_kwargs,
            optimizer_class=optimizer_class,
            optimizer_kwargs=optimizer_kwargs or {"eps": 1e-5},
            normalize_images=normalize_images,
        )
        self.core_class = core_class
        self.core_kwargs = dict(core_kwargs or {})
        self.net_arch = [64] if net_arch is None else net_arch
        self.activation_fn = activation_fn
        self.shared_core = shared_core
        self.critic_reads = critic_reads
        self.ortho_init = ortho_init
        self.bptt_checkpoint = bptt_checkpoint

        self.features_extractor = self.make_features_extractor()
        self.features_dim = self.features_extractor.features_dim
        self.core = core_class(self.features_dim, **self.core_kwargs)
        self.critic_core = (
            None if shared_core else core_class(self.features_dim, **self.core_kwargs)
        )
        self.internal_action_nvec = tuple(self.core.internal_action_nvec)
        expected = critic_reads == "expected"
        usable = bool(self.internal_action_nvec) and shared_core and internal_critic is not False
        if expected and not usable:
            raise ValueError(  # it would change nothing: say why rather than ignore it
                "critic_reads='expected' is the baseline of a shared core's sampled reads: it "
                "needs a core with internal decisions (e.g. read_mode='sample'), "
                "shared_core=True and an internal critic (internal_critic None or True); got "
                f"{core_class.__name__} with {self.core_kwargs}, shared_core={shared_core}, "
                f"internal_critic={internal_critic}"
            )
        if internal_critic is None:
            internal_critic = expected
        self.internal_critic = internal_critic
        if internal_critic and not self.internal_action_nvec:
            raise ValueError(
                "internal_critic=True (MemoryPPO's internal_gamma sets it) needs a core with "
                f"internal decisions (e.g. sampled reads); {core_class.__name__} with "
                f"{self.core_kwargs} makes none"
            )
        self.mlp_extractor = MlpExtractor(
            self.core.output_size,
            net_arch=self.net_arch,
            activation_fn=activation_fn,
            device=self.device,
        )
        self.action_dist = make_proba_distribution(action_space)
        if isinstance(self.action_dist, DiagGaussianDistribution):
            self.action_net, self.log_std = self.action_dist.proba_distribution_net(
                self.mlp_extractor.latent_dim_pi, log_std_init=0.0
            )
        else:
            self.action_net = self.action_dist.proba_distribution_net(
                self.mlp_extractor.latent_dim_pi
            )
        self.value_net = nn.Linear(self.mlp_extractor.latent_dim_vf, 1)
        self.internal_value_net = (
            nn.Linear(self.mlp_extractor.latent_dim_vf, 1) if internal_critic else None
        )
        if ortho_init:
            gains = [
                (self.features_extractor, np.sqrt(2)),
                (self.mlp_extractor, np.sqrt(2)),
                (self.action_net, 0.01),
                (self.value_net, 1.0),
            ]
            if self.internal_value_net is not None:
                gains.append((self.internal_value_net, 1.0))
            for module, gain in gains:
                module.apply(partial(self.init_weights, gain=gain))
        self.optimizer = self.optimizer_class(
            self.parameters(), lr=lr_schedule(1), **self.optimizer_kwargs
        )

    def _check_extractor(self, observation_space: spaces.Space, extractor: Any) -> None:
        """A Dict observation space needs an extractor that takes dicts (CombinedExtractor):
        FlattenExtractor would fail mid-rollout on the dict of tensors."""
        if not (
            isinstance(observation_space, spaces.Dict)
            and isinstance(extractor, type)
            and issubclass(extractor, FlattenExtractor)
        ):
            return
        name = type(self).__name__
        multi = "MultiInput" + name.removeprefix("Mlp")
        if name.startswith("Mlp") and multi in POLICY_ALIASES:
            use = f"the policy {multi!r}"
        else:
            use = "policy_kwargs features_extractor_class=CombinedExtractor"
        raise ValueError(
            f"observation_space is a Dict ({list(observation_space.spaces)}), which "
            f"{extractor.__name__} cannot take: use {use} (agents.training.make_agent picks "
            "it for Dict observations)"
        )

    def _get_constructor_parameters(self) -> dict[str, Any]:
        data = super()._get_constructor_parameters()
        data.update(
            core_class=self.core_class,
            core_kwargs=self.core_kwargs,
            net_arch=self.net_arch,
            activation_fn=self.activation_fn,
            shared_core=self.shared_core,
            critic_reads=self.critic_reads,
            ortho_init=self.ortho_init,
            bptt_checkpoint=self.bptt_checkpoint,
            internal_critic=self.internal_critic,
            lr_schedule=self._dummy_schedule,
            optimizer_class=self.optimizer_class,
            optimizer_kwargs=self.optimizer_kwargs,
            features_extractor_class=self.features_extractor_class,
            features_extractor_kwargs=self.features_extractor_kwargs,
        )
        return data

    # --------------------------------------------------------------------------- state
    def initial_state(
        self, batch_size: int, device: torch.device | str | None = None
    ) -> PolicyState:
        device = self.device if device is None else device
        critic = (
            None if self.critic_core is None else self.critic_core.initial_state(batch_size, device)
        )
        return (self.core.initial_state(batch_size, device), critic)

    # ------------------------------------------------------------------------- helpers
    def _features(self, obs: Any, T: int, B: int) -> torch.Tensor:
        """Observations with leading ``[T * B]`` -> features ``[T, B, F]``."""
        return self.extract_features(obs, self.features_extractor).view(T, B, -1)

    def _distribution(self, latent_pi: torch.Tensor) -> Distribution:
        out = self.action_net(latent_pi)
        if isinstance(self.action_dist, DiagGaussianDistribution):
            return self.action_dist.proba_distribution(out, self.log_std)
        if isinstance(
            self.action_dist,
            (CategoricalDistribution, MultiCategoricalDistribution, BernoulliDistribution),
        ):
            return self.action_dist.proba_distribution(action_logits=out)
        raise ValueError(f"unsupported action distribution {type(self.action_dist).__name__}")

    def _run_core(
        self,
        core: MemoryCore,
        x: torch.Tensor,
        state: State,
        starts: torch.Tensor,
        extras: CoreExtras,
    ) -> tuple[torch.Tensor, State]:
        """Run a core over ``[T, B]``, in checkpointed chunks when asked and training."""
        chunk = self.bptt_checkpoint
        if chunk <= 0 or x.shape[0] <= chunk or not torch.is_grad_enabled():
            return core(x, state, starts, extras)
        ys, extra_chunks = [], []
        for a in range(0, x.shape[0], chunk):
            sl = slice(a, a + chunk)
            replay = None if extras.replay is None else extras.replay[sl]
            leaves = tree_leaves(state)

            def run(x_, starts_, replay_, *leaves_, _state=state):
                st = _rebuild(_state, list(leaves_))
                ex = CoreExtras(
                    replay=replay_, deterministic=extras.deterministic, expected=extras.expected
                )
                y_, st_ = core(x_, st, starts_, ex)
                extra = () if ex.log_prob is None else (ex.actions, ex.log_prob, ex.entropy)
                if ex.expected_y is not None:
                    extra = (*extra, ex.expected_y)
                return (y_, *extra, *tree_leaves(st_))

            out = checkpoint(run, x[sl], starts[sl], replay, *leaves, use_reentrant=False)
            n_extra = len(out) - 1 - len(leaves)  # what the function returned, not the caller
            ys.append(out[0])
            if n_extra:
                extra_chunks.append(out[1 : 1 + n_extra])
            state = _rebuild(state, list(out[1 + n_extra :]))
        if extra_chunks:
            joined = [torch.cat(parts) for parts in zip(*extra_chunks, strict=True)]
            extras.actions, extras.log_prob, extras.entropy = joined[:3]
            extras.expected_y = joined[3] if len(joined) > 3 else None
        return torch.cat(ys), state

    def _latents(
        self,
        obs,
        state: PolicyState,
        starts: torch.Tensor,
        extras: CoreExtras,
        replay: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, PolicyState, torch.Tensor | None]:
        """Shared forward: ``obs [T*B, ...]``, ``starts [T, B]`` -> latents ``[T, B, *]``
        of the actor, the critic and the internal critic.

        ``replay [T, B, R_actor + R_critic]`` teacher-forces both cores' internal actions.
        A separate critic core decides deterministically (``extras.deterministic``, e.g. an
        argmax read): its decisions are no actions of the agent, nothing trains them by the
        policy gradient, so sampling would only add noise to the baseline. They are still
        returned, stored and replayed, so replay never depends on an argmax tie breaking the
        same way twice. Returns the latents, the new state and all internal actions
        ``[T, B, R_actor + R_critic]`` (None for cores without internal decisions).
        The internal critic's latent is of the expected reads (``CoreExtras.expected_y``)
        on a shared core with ``critic_reads="expected"``, else the critic's.
        """
        T, B = starts.shape
        x = self._features(obs, T, B)
        n_actor = len(self.internal_action_nvec)
        if replay is not None:
            extras.replay = replay[..., :n_actor] if n_actor else None
        actor_state, critic_state = state
        # (the constructor refuses "expected" without a shared core and an internal critic)
        extras.expected = self.critic_reads == "expected"
        y, actor_state = self._run_core(self.core, x, actor_state, starts, extras)
        latent_pi = self.mlp_extractor.forward_actor(y)
        internal = [extras.actions] if extras.actions is not None else []
        latent_ivf = None
        if self.critic_core is None:
            latent_vf = self.mlp_extractor.forward_critic(y)
            if extras.expected_y is not None:
                latent_ivf = self.mlp_extractor.forward_critic(extras.expected_y)
        else:
            critic_replay = None
            if replay is not None and self.critic_core.internal_action_nvec:
                critic_replay = replay[..., n_actor:]
            critic_extras = CoreExtras(replay=critic_replay, deterministic=True)
            yc, critic_state = self._run_core(
                self.critic_core, x, critic_state, starts, critic_extras
            )
            latent_vf = self.mlp_extractor.forward_critic(yc)
            if critic_extras.actions is not None:
                internal.append(critic_extras.actions)
        actions = torch.cat(internal, dim=-1) if internal else None
        latent_ivf = latent_vf if latent_ivf is None else latent_ivf
        return latent_pi, latent_vf, latent_ivf, (actor_state, critic_state), actions

    # --------------------------------------------------------------------- public API
    def forward(
        self,
        obs,
        state: PolicyState,
        episode_starts: torch.Tensor,
        deterministic: bool = False,
        trace: dict[str, list[torch.Tensor]] | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, PolicyState, tuple | None]:
        """One step for the rollout: ``obs [B, ...]``, ``episode_starts [B]``.

        Returns actions ``[B, ...]``, values ``[B]``, action log-probs ``[B]``, the new state,
        and ``(internal_actions [B, R_actor + R_critic], actor's internal_log_prob [B],
        internal values [B] or None)`` for cores with internal decisions (else None). A
        ``trace`` dict collects the core's per-step diagnostics.
        """
        extras = CoreExtras(deterministic=deterministic, trace=trace)
        starts = episode_starts.view(1, -1)
        latent_pi, latent_vf, latent_ivf, state, internal_actions = self._latents(
            obs, state, starts, extras
        )
        dist = self._distribution(latent_pi[0])
        actions = dist.get_actions(deterministic=deterministic)
        log_prob = dist.log_prob(actions)
        internal = None
        if internal_actions is not None:  # the actor's log-prob only: the critic's is no action
            lp = torch.zeros_like(log_prob) if extras.log_prob is None else extras.log_prob[0]
            internal = (internal_actions[0], lp, self._internal_values(latent_ivf[0]))
        values = self.value_net(latent_vf[0]).flatten()
        return actions, values, log_prob, state, internal

    def evaluate_sequences(
        self,
        obs,
        actions: torch.Tensor,
        state: PolicyState,
        episode_starts: torch.Tensor,
        internal_actions: torch.Tensor | None = None,
    ) -> SequenceEval:
        """Replay stored sequences: ``obs [T*B, ...]`` (time-major), ``actions [T*B, ...]``,
        ``episode_starts [T, B]``, ``internal_actions [T, B, R_actor + R_critic]``
        teacher-forced."""
        extras = CoreExtras()
        latent_pi, latent_vf, latent_ivf, _, _ = self._latents(
            obs, state, episode_starts, extras, internal_actions
        )
        T, B = episode_starts.shape
        dist = self._distribution(latent_pi.reshape(T * B, -1))
        log_prob = dist.log_prob(actions).view(T, B)
        entropy = dist.entropy()
        entropy = torch.zeros_like(log_prob) if entropy is None else entropy.view(T, B)
        values = self.value_net(latent_vf).view(T, B)
        return SequenceEval(
            values,
            log_prob,
            entropy,
            extras.log_prob,
            extras.entropy,
            self._internal_values(latent_ivf),
        )

    def predict_values(self, obs, state: PolicyState, episode_starts: torch.Tensor) -> torch.Tensor:
        """Values ``[B]`` of one step of observations from ``state`` (no sampling)."""
        return self.predict_all_values(obs, state, episode_starts)[0]

    def predict_all_values(
        self, obs, state: PolicyState, episode_starts: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Both critics' values ``[B]`` (the internal one None without it) from one core run."""
        extras = CoreExtras(deterministic=True)
        _, latent_vf, latent_ivf, _, _ = self._latents(
            obs, state, episode_starts.view(1, -1), extras
        )
        return self.value_net(latent_vf[0]).flatten(), self._internal_values(latent_ivf[0])

    def _internal_values(self, latent_vf: torch.Tensor) -> torch.Tensor | None:
        """The internal critic's values ``[...]`` of latents ``[..., D]`` (None without it)."""
        if self.internal_value_net is None:
            return None
        return self.internal_value_net(latent_vf).squeeze(-1)

    def diagnose_column(self, buffer: Any, column: int = 0, images: bool = False) -> Diagnostics:
        """Rerun the actor core over one env column of a stored rollout (``buffer.obs
        [T, N, ...]``, ``episode_starts [T, N]``, ``states``, ``internal``) with a trace, and
        return the core's own :meth:`~agents.cores.MemoryCore.diagnostics`."""

        def col(x: torch.Tensor) -> torch.Tensor:  # [T, N, ...] -> [T * 1, ...]
            return x[:, column : column + 1].reshape(-1, *x.shape[2:])

        obs = buffer.obs
        first = {k: col(v) for k, v in obs.items()} if isinstance(obs, dict) else col(obs)
        n_actor = len(self.internal_action_nvec)
        replay = None
        if buffer.internal is not None and n_actor:  # the actor's part of the stored actions
            replay = buffer.internal[:, column : column + 1, :n_actor]
        extras = CoreExtras(trace={}, replay=replay)
        state = index_rows(buffer.states[0], slice(column, column + 1))[0]
        with torch.no_grad():
            x = self._features(first, buffer.n_steps, 1)
            self.core(x, state, buffer.episode_starts[:, column : column + 1], extras)
        diag = self.core.diagnostics(extras.trace, images=images)
        if extras.entropy is not None:
            diag.scalars["internal_entropy"] = extras.entropy.mean().item()
        return diag

    def _state_layout(self) -> list[int]:
        """The number of dimensions of each tensor of a state (computed once)."""
        if getattr(self, "_layout", None) is None:
            self._layout = [t.dim() for t in tree_leaves(self.initial_state(1))]
        return self._layout

    def _predict(self, observation, deterministic: bool = False) -> torch.Tensor:
        raise NotImplementedError(
            "memory policies need a state: use predict(obs, state, episode_start)"
        )

    def predict(
        self,
        observation: np.ndarray | dict[str, np.ndarray],
        state: PolicyState | None = None,
        episode_start: np.ndarray | None = None,
        deterministic: bool = False,
    ) -> tuple[np.ndarray, PolicyState]:
        """SB3-style ``predict`` for one step of (possibly vectorized) observations.

        ``state=None`` starts from the initial state; ``episode_start[B]`` resets rows.
        Returns the actions (numpy) and the new state (pass it back on the next call).
        """
        self.set_training_mode(False)
        obs_tensor, vectorized = self.obs_to_tensor(observation)
        check_finite_observation(obs_tensor)
        n = (next(iter(obs_tensor.values())) if isinstance(obs_tensor, dict) else obs_tensor).shape[
            0
        ]
        if state is None:
            state = self.initial_state(n)
        layout = [t.dim() for t in tree_leaves(state)]
        if layout != self._state_layout():
            raise ValueError(
                f"state does not fit this policy (tensors of {layout} dimensions, its core's "
                f"are {self._state_layout()}): pass the state this policy's predict returned "
                "(or state=None to start from the initial state)"
            )
        rows = sorted({t.shape[0] if t.dim() else 0 for t in tree_leaves(state)})
        if rows != [n]:
            raise ValueError(
                f"state has batch size {rows[0] if len(rows) == 1 else rows} but the observation "
                f"has {n} rows: pass the state predict returned for these {n} envs "
                "(or state=None to start from the initial state)"
            )
        starts = np.zeros(n, dtype=bool) if episode_start is None else np.asarray(episode_start)
        if starts.size != n:
            raise ValueError(
                f"episode_start must hold one flag per observation row ({n}), got shape "
                f"{starts.shape}"
            )
        starts_t = torch.as_tensor(starts.reshape(n), dtype=torch.bool, device=self.device)
        with torch.no_grad():
            actions, _, _, state, _ = self.forward(obs_tensor, state, starts_t, deterministic)
        actions = actions.cpu().numpy().reshape((-1, *self.action_space.shape))
        if isinstance(self.action_space, spaces.Box):
            actions = np.clip(actions, self.action_space.low, self.action_space.high)
        if not vectorized:
            actions = actions.squeeze(axis=0)
        return actions, state


def _check_net_arch(net_arch: Any) -> None:
    """SB3's ``net_arch``: a list of layer sizes (integers >= 1) or a dict of such lists
    under ``pi`` and ``vf``; else ``ValueError`` (instead of an error deep in nn.Linear)."""

    def sizes(layers: Any) -> bool:
        return isinstance(layers, (list, tuple)) and all(
            isinstance(n, (int, np.integer)) and not isinstance(n, (bool, np.bool_)) and n >= 1
            for n in layers
        )

    if isinstance(net_arch, dict):
        ok = set(net_arch) <= {"pi", "vf"} and all(sizes(v) for v in net_arch.values())
    else:
        ok = sizes(net_arch)
    if not ok:
        raise ValueError(
            "net_arch must be a list of layer sizes (integers >= 1) or a dict of such lists "
            f"under 'pi' and 'vf', got {net_arch!r}"
        )


def _rebuild(template: State, leaves: list[torch.Tensor]) -> State:
    """Refill a state structure with new leaves (inverse of ``tree_leaves``)."""
    if isinstance(template, torch.Tensor):
        return leaves.pop(0)
    if template is None:
        return None
    items = [_rebuild(sub, leaves) for sub in template]
    return type(template)(*items) if hasattr(template, "_fields") else type(template)(items)


def _policy(
    name: str,
    spec: AgentSpec,
    extractor: type[BaseFeaturesExtractor],
) -> type[MemoryActorCriticPolicy]:
    """A named policy class for a registered agent: its core, a features extractor and the
    agent's default core kwargs. Passing another ``core_class`` is an error (an LSTM name
    must not silently run a stack core): use ``MemoryPolicy`` for a custom core."""
    own_core, defaults = spec.core_class, dict(spec.core_kwargs)

    class _Policy(MemoryActorCriticPolicy):
        __doc__ = f"{spec.summary} ({extractor.__name__})."

        def __init__(self, *args, core_class=own_core, core_kwargs=None, **kwargs):
            if core_class is not own_core:
                raise ValueError(
                    f"{name} runs {own_core.__name__}; got core_class={core_class!r}: "
                    "use 'MemoryPolicy' with policy_kwargs core_class for another core"
                )
            kwargs.setdefault("features_extractor_class", extractor)
            super().__init__(
                *args,
                core_class=own_core,
                core_kwargs={**defaults, **(core_kwargs or {})},
                **kwargs,
            )

    _Policy.__name__ = _Policy.__qualname__ = name  # so pickle finds it in this module
    return _Policy


POLICY_ALIASES: dict[str, type[MemoryActorCriticPolicy]] = {"MemoryPolicy": MemoryActorCriticPolicy}


def _add_policy_aliases(spec: AgentSpec) -> None:
    """``Mlp{stem}Policy`` and ``MultiInput{stem}Policy`` for a memory agent with a stem
    (called by :func:`agents.registry.register_agent`, so a later registration gets them)."""
    if spec.is_memory_agent and spec.policy_stem:
        for prefix, extractor in (("Mlp", FlattenExtractor), ("MultiInput", CombinedExtractor)):
            name = f"{prefix}{spec.policy_stem}Policy"
            POLICY_ALIASES[name] = globals()[name] = _policy(name, spec, extractor)


on_register(_add_policy_aliases)


def check_finite_observation(obs: torch.Tensor | dict[str, torch.Tensor]) -> None:
    """``ValueError`` naming the rows (and key) of an observation ``[B, ...]`` that hold NaN
    or inf: a core would otherwise turn them into NaN logits and an unclear error."""
    parts = obs.items() if isinstance(obs, dict) else [(None, obs)]
    for key, x in parts:
        if not x.is_floating_point():
            continue
        bad = (~torch.isfinite(x)).reshape(x.shape[0], -1).any(dim=1).nonzero().flatten()
        if bad.numel():
            name = "observation" if key is None else f"observation[{key!r}]"
            raise ValueError(f"{name} must be finite; rows {bad.tolist()[:8]} hold NaN or inf")
