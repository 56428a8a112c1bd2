"""RepeatCopy: read a sequence and a repeat count, write the sequence that many times."""

from __future__ import annotations

import numpy as np
from gymnasium import spaces

from memenvs.core import (
    MemoryEnv,
    MemoryVectorEnv,
    Task,
    check_int,
    check_min_max,
    one_hot,
    score_reward,
)

#: Above this many (length, repeats) combinations the memoryless return is bounded, not summed.
_EXACT_LIMIT = 1_000_000


def memoryless_repeat_copy(
    num_symbols: int, length_range: tuple[int, int], repeats_range: tuple[int, int]
) -> float:
    """Best return of a policy that sees only the current observation.

    Every scored step shows the same output-phase observation, so such a policy writes one
    fixed action at all ``L R + 1`` of them: a symbol scores ``L R / (L R + 1) / K`` in
    expectation, the end marker ``1 / (L R + 1)``. The result is the larger expectation
    over the uniform ``(L, R)`` grid (or an upper bound on it for huge grids).
    """
    k, (lo, hi), (rlo, rhi) = num_symbols, length_range, repeats_range
    if (hi - lo + 1) * (rhi - rlo + 1) > _EXACT_LIMIT:  # checked before building the grid
        return max(1.0 / (float(lo) * float(rlo) + 1.0), 1.0 / k)
    lengths = np.arange(lo, hi + 1, dtype=np.float64)
    repeats = np.arange(rlo, rhi + 1, dtype=np.float64)
    inv = 1.0 / (np.outer(lengths, repeats) + 1.0)  # 1 / (L R + 1)
    end_marker = float(inv.mean())
    symbol = float((1.0 - inv).mean()) / k
    return max(end_marker, symbol)


class RepeatCopy(Task):
    """Batched dynamics of :class:`RepeatCopyEnv`.

    Each row keeps one int track of observation codes (symbol ``s`` -> ``s``, delimiter ->
    ``K``, output phase -> ``K+1``, episode over -> ``K+2``) of width ``M + 3`` for
    ``M = max_length``: ``M random symbols | K | K+1 | K+2``. The row's sequence is the last
    ``L`` of the ``M`` symbols (right-aligned: a reset writes one block, no per-row shift),
    so step ``t`` shows column ``min(t, L + 1) + [t >= stop] + M - L``. Output step
    ``j = t - L - 1`` wants input symbol ``j mod L`` while ``j < L R`` and the end marker
    ``K`` at ``j = L R``. Arrays are sized by ``max_length`` only, never by
    ``max_length * max_repeats``; ``t`` stops at the end-of-episode slot ``stop``.
    """

    def __init__(
        self,
        num_envs: int,
        num_symbols: int = 8,
        min_length: int = 1,
        max_length: int = 5,
        min_repeats: int = 1,
        max_repeats: int = 5,
    ) -> None:
        super().__init__(num_envs)
        self.num_symbols = check_int("num_symbols", num_symbols, 2)
        self.length_range = check_min_max("min_length", min_length, "max_length", max_length, 1)
        self.repeats_range = check_min_max(
            "min_repeats", min_repeats, "max_repeats", max_repeats, 1
        )
        k, m = self.num_symbols, self.length_range[1]
        # per symbol slot: the int64 track, and a reset's float64 draws, their scaled copy
        # and the int64 symbols (temporaries); per row: about 24 counters and temporaries
        self.check_memory(k + 3, 8 * (4 * m + 24), num_symbols=k, max_length=m)
        # [symbol one-hot (K), delimiter flag, output-phase flag, repeat count R / max_repeats]
        self.observation_space = spaces.Box(0.0, 1.0, (k + 3,), np.float32)
        self.action_space = spaces.Discrete(k + 1)  # K symbols, then the end marker K
        self.random_return = 1.0 / (k + 1)
        self.memoryless_return = memoryless_repeat_copy(k, self.length_range, self.repeats_range)
        row = np.concatenate([np.zeros(m), [k, k + 1, k + 2]]).astype(np.int64)
        self.track = np.tile(row, (num_envs, 1))
        self._base = np.arange(num_envs, dtype=np.int64) * row.size
        self._idx = np.zeros(num_envs, dtype=np.int64)
        self._target = np.zeros(num_envs, dtype=np.int64)
        self.length = np.ones(num_envs, dtype=np.int64)  # L
        self.repeats = np.ones(num_envs, dtype=np.int64)  # R
        self.out_start = np.full(num_envs, 2, dtype=np.int64)  # first output step, L + 1
        self.lr = np.ones(num_envs, dtype=np.int64)  # L R: j of the end-marker step
        self.stop = np.full(num_envs, 4, dtype=np.int64)  # end-of-episode slot, L + L R + 2
        self.seq_off = self._base + m - 1  # flat index of the row's first symbol, base + M - L
        self.repeat_obs = np.ones(num_envs, dtype=np.float32)  # R / max_repeats
        self.t = np.zeros(num_envs, dtype=np.int64)
        self.n_correct = np.zeros(num_envs, dtype=np.int64)

    def reset_rows(self, rows: np.ndarray) -> None:
        k, (lo, hi), (rlo, rhi) = self.num_symbols, self.length_range, self.repeats_range
        u = self.rng.random((len(rows), hi + 2))
        length = lo + (u[:, 0] * (hi - lo + 1)).astype(np.int64)
        repeats = rlo + (u[:, 1] * (rhi - rlo + 1)).astype(np.int64)
        self.track[rows, :hi] = (u[:, 2:] * k).astype(np.int64)
        lr = length * repeats
        self.length[rows] = length
        self.repeats[rows] = repeats
        self.out_start[rows] = length + 1
        self.lr[rows] = lr
        self.stop[rows] = length + lr + 2
        self.seq_off[rows] = self._base[rows] + hi - length
        self.repeat_obs[rows] = repeats / rhi
        self.t[rows] = 0
        self.n_correct[rows] = 0

    def _targets(self, j: np.ndarray, at_end: np.ndarray) -> np.ndarray:
        """The action wanted at output index ``j`` (meaningful where ``0 <= j <= L R``)."""
        np.remainder(j, self.length, out=self._idx)
        self._idx += self.seq_off
        self.track.take(self._idx, out=self._target, mode="clip")  # indices are in range
        np.copyto(self._target, self.num_symbols, where=at_end)
        return self._target

    def step(self, actions: np.ndarray):
        j = self.t - self.out_start
        terminated = j == self.lr
        correct = self._targets(j, terminated) == actions
        correct &= j >= 0
        correct &= j <= self.lr
        self.n_correct += correct
        reward = score_reward(self.n_correct, correct, self.lr + 1)
        self.t += 1
        np.minimum(self.t, self.stop, out=self.t)
        return reward, terminated, np.zeros(self.num_envs, dtype=bool)

    def observe(self) -> np.ndarray:
        k = self.num_symbols
        idx = np.minimum(self.t, self.out_start)
        idx += self.t >= self.stop
        idx += self.seq_off
        # code c sets column c; K+2 (over) sets the repeat column, which is written next
        obs = one_hot(self.track.take(idx), k + 3)
        np.multiply(self.t == self.length, self.repeat_obs, out=obs[:, k + 2])
        return obs

    def sequence(self, row: int) -> np.ndarray:
        """The input sequence of ``row`` (length ``L``)."""
        m, n = self.length_range[1], int(self.length[row])
        return self.track[row, m - n : m].copy()

    def success(self) -> np.ndarray:
        return self.n_correct == self.lr + 1

    def oracle(self) -> np.ndarray:
        j = self.t - self.out_start
        target = self._targets(j, j == self.lr)
        return np.where((j >= 0) & (j <= self.lr), target, 0)

    def describe(self, row: int) -> str:
        t, n, r = int(self.t[row]), int(self.length[row]), int(self.repeats[row])
        j, lr = t - n - 1, n * r
        if t < n:
            what = f"input {t + 1}/{n}: symbol {self.sequence(row)[t]}"
        elif t == n:
            what = f"delimiter: write the sequence {r} time(s), then the end marker"
        elif j < lr:
            what = f"output {j + 1}/{lr + 1}: write back input {j % n + 1} (repeat {j // n + 1})"
        elif j == lr:
            what = f"output {j + 1}/{lr + 1}: write the end marker {self.num_symbols}"
        else:
            what = f"episode over ({self.n_correct[row]}/{lr + 1} correct)"
        return f"RepeatCopy t={t}/{n + lr + 2} L={n} R={r}  {what}"


class RepeatCopyEnv(MemoryEnv):
    """Read a sequence and a repeat count, then write the sequence that many times.

    ## Description
    The Neural Turing Machine repeat-copy task posed as RL. A sequence of `L` random
    symbols (`L` uniform in `[min_length, max_length]`) is shown one symbol per step, then
    a delimiter step that also shows the repeat count `R` (uniform in
    `[min_repeats, max_repeats]`), then `L R + 1` output steps: the sequence written `R`
    times over, then the end marker (action `num_symbols`). Actions during the input and
    delimiter steps are ignored. Anchor: Graves et al. 2014, "Neural Turing Machines",
    repeat copy task.

    ## Action Space
    `Discrete(num_symbols + 1)`: a symbol `0..K-1`, or `K`, the end marker (only scored
    during the output phase).

    ## Observation Space
    `Box(0, 1, (num_symbols + 3,), float32)`: a one-hot symbol (the input symbol during
    the input phase, zeros otherwise), a delimiter flag, an output-phase flag, and the
    repeat count `R / max_repeats` (nonzero only at the delimiter step). The output-phase
    observation is the same at every output step, the end-marker step included: the agent
    must count `L R` steps. After the last step the observation is all zeros.

    ## Rewards
    `1/(L R + 1)` for each output step whose action is right: input symbol `j mod L` at
    output step `j < L R`, the end marker at step `L R`.

    ## Episode End
    Terminates after the end-marker step, i.e. after `L + 1 + L R + 1` steps.
    `info["success"]` is true when every output step was right.

    ## Arguments
    - `num_symbols` (int in [2, 10**8], default 8): alphabet size K.
    - `min_length` (int in [1, 10**8], default 1): shortest sequence.
    - `max_length` (int >= `min_length`, default 5): longest sequence.
    - `min_repeats` (int in [1, 10**8], default 1): fewest repeats.
    - `max_repeats` (int >= `min_repeats`, default 5): most repeats.

    ## Optimal Return
    1.0 (write the sequence `R` times, then the end marker).

    ## Random-policy Return
    1/(K+1) (0.111 with the defaults): each output step is right with probability
    1/(K+1). Memoryless return: a policy that sees only the current observation writes
    one fixed action at every output step, scoring `E[1/(L R + 1)]` with the end marker
    or `E[L R/(L R + 1)]/K` with a symbol; the larger is its best (0.154 with the
    defaults, from the end marker: short episodes make the end marker a good guess).

    ## Registered Configurations
    - `memenvs/RepeatCopy-v0`: the defaults.
    - `memenvs/RepeatCopy-Easy-v0`: `min_length=1, max_length=3, min_repeats=1, max_repeats=3`.
    - `memenvs/RepeatCopy-Medium-v0`: `min_length=2, max_length=10, min_repeats=1,
      max_repeats=10`.
    - `memenvs/RepeatCopy-Hard-v0`: `min_length=50, max_length=100, min_repeats=2,
      max_repeats=5`.

    ## Version History
    - v0: initial version.
    """

    task_cls = RepeatCopy


class RepeatCopyVectorEnv(MemoryVectorEnv):
    """Native vector version of :class:`RepeatCopyEnv` (same dynamics, N rows)."""

    task_cls = RepeatCopy
