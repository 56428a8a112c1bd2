"""External memory as an environment transformation: slots the agent writes and reads by acting.

:class:`ExternalMemory` gives any Gymnasium env a bank of ``num_slots`` memory slots and adds
"write the current observation to slot i / don't write" and "read slot j" to the action
space; the content of the slot read is appended to the next observation. Memory then lives
in the environment, so any algorithm, even a memoryless MLP PPO, can learn to use it by
policy gradient (Peshkin, Meuleau & Kaelbling 1999; Zaremba & Sutskever 2015).
:class:`ExternalMemoryVector` does the same bookkeeping for a Gymnasium vector env with numpy
arrays over its N rows.

Why this lives in ``memenvs`` and not in ``agents``: it transforms an environment (spaces,
dynamics, state) and is usable by any algorithm, it needs nothing but numpy and gymnasium,
and ``memenvs`` must never import torch, stable-baselines3 or ``agents``; the SB3 helper
that builds a ``VecEnv`` of wrapped envs is ``agents.external_memory``.

Layout (``D`` = the flattened observation size, ``S`` = ``num_slots``)
-----------------------------------------------------------------------
* Slots hold one observation each: the raw observation flattened to ``D`` floats (a
  ``Box`` observation is flattened; a ``Discrete(n)`` observation is one-hot, ``D = n``).
* Action: ``MultiDiscrete([*env_nvec, S + 1, S])`` = ``[env action..., write, read]``.
  The env's own action (``Discrete`` or ``MultiDiscrete``, flattened) comes first;
  ``write = 0`` does not write, ``write = i >= 1`` writes to slot ``i - 1``;
  ``read = j`` reads slot ``j``.
* Observation: ``Box(float32, (2 D + S,))`` = ``[obs (D), read content (D), one-hot of
  the slot read (S)]``.

Timing (one step)
-----------------
The agent sees ``x_t = [o_t, M[r_{t-1}], onehot(r_{t-1})]`` and acts ``(a, w, r)``:

1. the env steps with ``a``, giving ``o_{t+1}``, the reward and the info;
2. if ``w >= 1``, slot ``w - 1`` gets ``o_t``, the observation the agent just acted on;
3. slot ``r`` is read *after* the write (writing and reading one slot in the same step
   reads back ``o_t``) and ``x_{t+1} = [o_{t+1}, M[r], onehot(r)]``.

So a symbol seen at step ``t`` can be written at step ``t`` and is visible at the earliest
in ``x_{t+1}``. At reset every slot is zero and the first observation is ``[o_0, 0, 0]``
(nothing read yet). Memory is part of the env state: ``reset`` clears it, it pickles with
the env, and the wrapper draws no random numbers (determinism under a seed is the env's).
Reward, ``terminated``, ``truncated`` and ``info`` (``info["success"]`` included) pass
through unchanged.

Vector envs: with ``NEXT_STEP`` autoreset (the default of memenvs' native vector envs) a
row that ended is reset by the next ``step``, which ignores that row's action: its memory is
cleared, nothing is written, and its observation is ``[o_0, 0, 0]``, just like ``reset``.
With ``SAME_STEP`` the row resets inside the step that ended it: ``info["final_obs"]`` gets
the wrapped last observation (read from the memory before it is cleared), then the row's
memory is cleared and its observation is ``[o_0, 0, 0]``.
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces
from gymnasium.vector import AutoresetMode, VectorEnv, VectorWrapper
from gymnasium.vector.utils import batch_space

from memenvs.core import action_rows, check_int, check_memory, integer_actions

__all__ = ["ExternalMemory", "ExternalMemoryVector"]


class _Layout:
    """Spaces and numpy bookkeeping shared by the single and the vector wrapper (N rows)."""

    def __init__(
        self,
        observation_space: gym.Space,
        action_space: gym.Space,
        num_slots: Any,
        num_rows: int = 1,
    ) -> None:
        self.num_slots = s = check_int("num_slots", num_slots, 1)
        self.env_observation_space = observation_space
        self.env_action_space = action_space
        # observations ------------------------------------------------------------------
        if isinstance(observation_space, spaces.Box):
            low = np.asarray(observation_space.low, dtype=np.float32).reshape(-1)
            high = np.asarray(observation_space.high, dtype=np.float32).reshape(-1)
        elif isinstance(observation_space, spaces.Discrete):
            low = np.zeros(int(observation_space.n), dtype=np.float32)
            high = np.ones(int(observation_space.n), dtype=np.float32)
        else:
            raise ValueError(
                "ExternalMemory needs a Box or Discrete observation space (slots hold "
                f"flattened observations), got env.observation_space = {observation_space}"
            )
        self.obs_dim = d = low.size
        # the slots [rows, S, D], one observation batch [rows, 2D + S] and the spaces' bounds
        per_row = 4 * (s * d + 2 * d + s)
        check_memory(num_rows * per_row + 12 * (2 * d + s), num_slots=s, obs_dim=d, rows=num_rows)
        self.observation_space = spaces.Box(
            low=np.concatenate([low, np.minimum(low, 0), np.zeros(s)]).astype(np.float32),
            high=np.concatenate([high, np.maximum(high, 0), np.ones(s)]).astype(np.float32),
            shape=(2 * d + s,),
            dtype=np.float32,
        )
        # actions -----------------------------------------------------------------------
        if isinstance(action_space, spaces.Discrete):
            env_nvec = np.array([int(action_space.n)])
            env_start = np.array([int(action_space.start)])
        elif isinstance(action_space, spaces.MultiDiscrete):
            env_nvec = np.asarray(action_space.nvec).reshape(-1)
            env_start = np.asarray(action_space.start).reshape(-1)
        else:
            kind = type(action_space).__name__
            raise ValueError(
                f"ExternalMemory cannot combine a {kind} action space with discrete write/read "
                f"actions: env.action_space must be Discrete or MultiDiscrete, got {action_space}"
            )
        self.env_dims = env_nvec.size
        nvec = np.concatenate([env_nvec, [s + 1, s]]).astype(np.int64)
        start = np.concatenate([env_start, [0, 0]]).astype(np.int64)
        if start.any():
            self.action_space = spaces.MultiDiscrete(nvec, start=start)
        else:
            self.action_space = spaces.MultiDiscrete(nvec)
        self._low, self._high = start, start + nvec

    # ---------------------------------------------------------------------------- actions
    def check_actions(self, actions: Any, n: int | None) -> np.ndarray:
        """``actions`` (one action if ``n`` is None, else ``n`` rows) as int64 ``[rows, A]``."""
        width = self.env_dims + 2
        if n is None:  # one action: its width values in any nesting
            arr = np.asarray(actions)
            actions = arr.reshape(1, width) if arr.size == width else arr
        shape = (1 if n is None else n, width)
        arr = integer_actions(action_rows(actions, shape, self.action_space), self.action_space)
        bad = (arr < self._low) | (arr >= self._high)
        if bad.any():
            row = arr[bad.nonzero()[0][0]]
            raise ValueError(f"action {row!r} is outside the action space {self.action_space}")
        return arr

    def env_actions(self, arr: np.ndarray) -> np.ndarray:
        """The wrapped env's part of ``arr``, batched: ``[n]`` or ``[n, *nvec.shape]``."""
        if isinstance(self.env_action_space, spaces.Discrete):
            return arr[:, 0]
        space = self.env_action_space
        return arr[:, : self.env_dims].reshape(-1, *space.shape).astype(space.dtype)

    # ----------------------------------------------------------------------- observations
    def encode(self, obs: Any, n: int) -> np.ndarray:
        """Batched raw observations as float32 ``[n, D]`` (one-hot for ``Discrete``)."""
        space = self.env_observation_space
        if isinstance(space, spaces.Discrete):
            out = np.zeros((n, self.obs_dim), dtype=np.float32)
            idx = np.asarray(obs, dtype=np.int64).reshape(n) - int(space.start)
            out[np.arange(n), idx] = 1.0
            return out
        # a copy: an env may hand out (and later mutate) its own buffer
        return np.array(obs, dtype=np.float32).reshape(n, self.obs_dim)

    def observe(
        self, flat: np.ndarray, memory: np.ndarray, read: np.ndarray, mask: np.ndarray
    ) -> np.ndarray:
        """``[flat, memory[read], onehot(read)]`` per row; rows outside ``mask`` read nothing."""
        n, d = flat.shape
        out = np.zeros((n, 2 * d + self.num_slots), dtype=np.float32)
        out[:, :d] = flat
        rows = np.flatnonzero(mask)
        out[rows, d : 2 * d] = memory[rows, read[rows]]
        out[rows, 2 * d + read[rows]] = 1.0
        return out


class ExternalMemory(gym.Wrapper, gym.utils.RecordConstructorArgs):
    """Give ``env`` ``num_slots`` memory slots, written and read through extra actions.

    See the module docstring for the exact observation/action layout and timing.

    Args:
        env: an env with a ``Box`` or ``Discrete`` observation space and a ``Discrete`` or
            ``MultiDiscrete`` action space.
        num_slots: S, the number of slots (int >= 1, default 4).

    Attributes:
        memory: float32 ``[num_slots, D]``, the slot contents (zeros after reset).
    """

    def __init__(self, env: gym.Env, num_slots: int = 4) -> None:
        gym.utils.RecordConstructorArgs.__init__(self, num_slots=num_slots)
        gym.Wrapper.__init__(self, env)
        self._layout = _Layout(env.observation_space, env.action_space, num_slots)
        self.num_slots = self._layout.num_slots
        self.observation_space = self._layout.observation_space
        self.action_space = self._layout.action_space
        d = self._layout.obs_dim
        self.memory = np.zeros((self.num_slots, d), dtype=np.float32)
        self._last = np.zeros((1, d), dtype=np.float32)  # o_t, flattened

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        obs, info = self.env.reset(seed=seed, options=options)
        self.memory[:] = 0.0
        self._last = self._layout.encode(obs, 1)
        return self._observe(self._last, None), info

    def step(self, action):
        layout = self._layout
        arr = layout.check_actions(action, None)
        env_action = layout.env_actions(arr)[0]
        if isinstance(layout.env_action_space, spaces.Discrete):
            env_action = int(env_action)
        obs, reward, terminated, truncated, info = self.env.step(env_action)
        write, read = int(arr[0, -2]), int(arr[0, -1])
        if write:
            self.memory[write - 1] = self._last[0]
        self._last = layout.encode(obs, 1)
        return self._observe(self._last, read), reward, terminated, truncated, info

    def _observe(self, flat: np.ndarray, read: int | None) -> np.ndarray:
        # the one-row case of _Layout.observe, without its fancy indexing (the hot path)
        d = self._layout.obs_dim
        out = np.zeros(2 * d + self.num_slots, dtype=np.float32)
        out[:d] = flat[0]
        if read is not None:
            out[d : 2 * d] = self.memory[read]
            out[2 * d + read] = 1.0
        return out


class ExternalMemoryVector(VectorWrapper):
    """:class:`ExternalMemory` for a vector env: memory ``[N, num_slots, D]``, one numpy call.

    Works with ``NEXT_STEP`` and ``SAME_STEP`` autoreset (read from
    ``env.metadata["autoreset_mode"]``), e.g. on
    ``gymnasium.make_vec("memenvs/DelayedRecall-v0", num_envs=N)``. A 1-row ``SAME_STEP``
    vector env agrees step for step with the single wrapper.
    """

    def __init__(self, env: VectorEnv, num_slots: int = 4) -> None:
        super().__init__(env)
        mode = env.metadata.get("autoreset_mode", AutoresetMode.NEXT_STEP)
        try:
            mode = AutoresetMode(mode)
        except ValueError:
            mode = None
        if mode not in (AutoresetMode.NEXT_STEP, AutoresetMode.SAME_STEP):
            raise ValueError(
                "ExternalMemoryVector needs autoreset_mode NEXT_STEP or SAME_STEP, got "
                f"env.metadata['autoreset_mode'] = {env.metadata.get('autoreset_mode')!r}"
            )
        self.autoreset_mode = mode
        self._layout = _Layout(
            env.single_observation_space, env.single_action_space, num_slots, env.num_envs
        )
        self.num_slots = self._layout.num_slots
        self.single_observation_space = self._layout.observation_space
        self.single_action_space = self._layout.action_space
        self.observation_space = batch_space(self.single_observation_space, self.num_envs)
        self.action_space = batch_space(self.single_action_space, self.num_envs)
        n, d = self.num_envs, self._layout.obs_dim
        self.memory = np.zeros((n, self.num_slots, d), dtype=np.float32)
        self._last = np.zeros((n, d), dtype=np.float32)
        self._needs_reset = np.zeros(n, dtype=bool)
        self._obs = np.zeros((n, *self.single_observation_space.shape), dtype=np.float32)

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        """Reset every row, or with ``options={"reset_mask": mask}`` (bool ``[N]``, as
        gymnasium's ``SyncVectorEnv`` takes it) only the rows in ``mask``: their memory is
        cleared and they read nothing; the other rows keep their memory and get back the
        observation of their last step."""
        n = self.num_envs
        mask = None if options is None else options.get("reset_mask")  # the env pops it
        obs, info = self.env.reset(seed=seed, options=options)
        rows = np.ones(n, dtype=bool) if mask is None else np.asarray(mask, dtype=bool)
        self.memory[rows] = 0.0
        self._needs_reset[rows] = False
        flat = self._layout.encode(obs, n)
        self._last[rows] = flat[rows]
        nothing = np.zeros(n, dtype=np.int64)
        out = self._layout.observe(flat, self.memory, nothing, np.zeros(n, dtype=bool))
        if mask is not None:
            out[~rows] = self._obs[~rows]
        self._obs = out
        return out, info

    def step(self, actions):
        layout, n = self._layout, self.num_envs
        arr = layout.check_actions(actions, n)
        obs, reward, terminated, truncated, info = self.env.step(layout.env_actions(arr))
        write, read = arr[:, -2], arr[:, -1]
        fresh = self._needs_reset  # NEXT_STEP: rows the env just reset, ignoring their action
        rows = np.flatnonzero((write > 0) & ~fresh)
        self.memory[rows, write[rows] - 1] = self._last[rows]
        self.memory[fresh] = 0.0
        flat = layout.encode(obs, n)
        out = layout.observe(flat, self.memory, read, ~fresh)
        done = np.asarray(terminated) | np.asarray(truncated)
        if self.autoreset_mode == AutoresetMode.NEXT_STEP:
            self._needs_reset = done
        elif done.any():
            final = np.zeros_like(out)
            rows = np.flatnonzero(done)
            final_raw = info["final_obs"]
            raw = layout.encode(np.stack([np.asarray(final_raw[i]) for i in rows]), len(rows))
            everyone = np.ones(len(rows), dtype=bool)
            final[rows] = layout.observe(raw, self.memory[rows], read[rows], everyone)
            info = {**info, "final_obs": final}
            self.memory[rows] = 0.0
            out[rows, layout.obs_dim :] = 0.0  # fresh episodes have read nothing yet
        self._last = flat
        self._obs = out
        return out, reward, terminated, truncated, info
