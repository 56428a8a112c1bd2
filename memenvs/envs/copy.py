"""Copy: read a sequence of symbols, then write it back (the NTM copy task)."""

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


class Copy(Task):
    """Batched dynamics of :class:`CopyEnv`.

    Each row keeps one int track of observation codes (symbol ``s`` -> ``s``, delimiter ->
    ``K``, output phase -> ``K+1``, episode over -> ``K+2``), of width ``3 M + 3`` for
    ``M = max_length`` whatever the row's length ``L``::

        [K+2] * (M+1) | M random symbols | K | [K+1] * M | K+2

    The row's sequence is the last ``L`` of the ``M`` random symbols (right-aligned, so a
    reset writes one block and no per-row shift), and both what is shown and what is scored
    at step ``t`` are one gather at ``t`` plus a per-row offset: the observation reads
    ``t + obs_off``, the wanted action ``t + tgt_off`` (codes ``>= K`` never match an
    action; the filler prefix keeps early target reads inside the row, and steps before
    the output phase, which may read unused symbol slots, are masked by ``t > L``). When
    the episode ends ``t`` jumps to ``end_t``, whose observation is the ``K+2`` slot, so
    rows stepped after their end stay in bounds. A reset draws one uniform block per row:
    column 0 gives ``L``, the rest the symbols.
    """

    def __init__(
        self, num_envs: int, num_symbols: int = 8, min_length: int = 1, max_length: int = 10
    ) -> None:
        super().__init__(num_envs)
        self.num_symbols = check_int("num_symbols", num_symbols, 2)
        self.length_range = check_min_max("min_length", min_length, "max_length", max_length, 1)
        k, m = self.num_symbols, self.length_range[1]
        # per symbol slot: the int64 track (3 slots), and a reset's float64 draws, their
        # scaled copy and the int64 symbols (temporaries)
        self.check_memory(k + 2, 8 * (6 * m + 16), num_symbols=k, max_length=m)
        # [symbol one-hot (K), delimiter flag, output-phase flag]
        self.observation_space = spaces.Box(0.0, 1.0, (k + 2,), np.float32)
        self.action_space = spaces.Discrete(k)
        self.random_return = 1.0 / k
        self.memoryless_return = 1.0 / k
        self._seq_col = m + 1  # first column of the symbol block
        row = np.concatenate(
            [np.full(m + 1, k + 2), np.zeros(m), [k], np.full(m, k + 1), [k + 2]]
        ).astype(np.int64)
        self.track = np.tile(row, (num_envs, 1))
        self._base = np.arange(num_envs, dtype=np.int64) * row.size
        self._idx = np.zeros(num_envs, dtype=np.int64)
        self._target = np.zeros(num_envs, dtype=np.int64)
        self._correct = np.zeros(num_envs, dtype=bool)
        self.length = np.ones(num_envs, dtype=np.int64)  # L
        self.last = np.full(num_envs, 2, dtype=np.int64)  # the last output step, 2 L
        self.end_t = np.full(num_envs, m + 2, dtype=np.int64)  # t once over, M + L + 1
        self.obs_off = self._base + 2 * m  # base + (M+1) + M - L
        self.tgt_off = self.obs_off - 2  # obs_off - L - 1
        self.t = np.zeros(num_envs, dtype=np.int64)
        self.n_correct = np.zeros(num_envs, dtype=np.int64)

    def reset_rows(self, rows: np.ndarray) -> None:
        k, (lo, hi) = self.num_symbols, self.length_range
        m, c = hi, self._seq_col
        u = self.rng.random((len(rows), m + 1))
        length = lo + (u[:, 0] * (hi - lo + 1)).astype(np.int64)
        self.track[rows, c : c + m] = (u[:, 1:] * k).astype(np.int64)
        obs_off = self._base[rows] + (c + m) - length
        self.obs_off[rows] = obs_off
        self.tgt_off[rows] = obs_off - length - 1
        self.length[rows] = length
        self.last[rows] = 2 * length
        self.end_t[rows] = m + 1 + length
        self.t[rows] = 0
        self.n_correct[rows] = 0

    def step(self, actions: np.ndarray):
        np.add(self.t, self.tgt_off, out=self._idx)
        self.track.take(self._idx, out=self._target, mode="clip")  # indices are in range
        np.equal(self._target, actions, out=self._correct)
        self._correct &= self.t > self.length  # only output steps are scored
        self.n_correct += self._correct
        reward = score_reward(self.n_correct, self._correct, self.length)
        terminated = self.t == self.last
        self.t += 1
        np.copyto(self.t, self.end_t, where=self.t > self.last)
        return reward, terminated, np.zeros(self.num_envs, dtype=bool)

    def observe(self) -> np.ndarray:
        np.add(self.t, self.obs_off, out=self._idx)
        codes = self.track.take(self._idx)
        width = self.num_symbols + 2
        return one_hot(codes, width, codes < width)  # code c sets column c; K+2 (over) none

    def sequence(self, row: int) -> np.ndarray:
        """The input sequence of ``row`` (length ``L``)."""
        m, n = self.length_range[1], int(self.length[row])
        return self.track[row, self._seq_col + m - n : self._seq_col + m].copy()

    def success(self) -> np.ndarray:
        return self.n_correct == self.length

    def oracle(self) -> np.ndarray:
        target = self.track.take(self.t + self.tgt_off)
        return np.where((self.t > self.length) & (self.t <= self.last), target, 0)

    def describe(self, row: int) -> str:
        n = int(self.length[row])
        t = min(int(self.t[row]), 2 * n + 1)
        if t < n:
            what = f"input {t + 1}/{n}: symbol {self.sequence(row)[t]}"
        elif t == n:
            what = "delimiter: now write the sequence back"
        elif t <= 2 * n:
            what = f"output {t - n}/{n}: write back input {t - n}"
        else:
            what = f"episode over ({self.n_correct[row]}/{n} correct)"
        return f"Copy t={t}/{2 * n + 1}  {what}"


class CopyEnv(MemoryEnv):
    """Read a sequence of symbols, then write it back one symbol per step.

    ## Description
    The Neural Turing Machine copy task posed as RL. A sequence of `L` random symbols
    (each one of `num_symbols`, drawn independently; `L` drawn uniformly from
    `[min_length, max_length]` each episode) is shown one symbol per step, then one
    delimiter step, then `L` output steps. The action at output step `j` is scored
    against input symbol `j`; actions during the input and delimiter steps are ignored.
    Anchor: Graves et al. 2014, "Neural Turing Machines", copy task.

    ## Action Space
    `Discrete(num_symbols)`: the symbol written (only scored during the output phase).

    ## Observation Space
    `Box(0, 1, (num_symbols + 2,), float32)`: a one-hot symbol (the input symbol during
    the input phase, zeros otherwise), a delimiter flag and an output-phase flag. The
    output-phase observation is the same at every output step: the agent must count.
    After the last step the observation is all zeros.

    ## Rewards
    `1/L` for each output step whose action equals the corresponding input symbol.

    ## Episode End
    Terminates after the last output step, i.e. after `2 L + 1` steps. `info["success"]`
    is true when every output symbol was right.

    ## Arguments
    - `num_symbols` (int in [2, 10**8], default 8): alphabet size K.
    - `min_length` (int in [1, 10**8], default 1): shortest sequence.
    - `max_length` (int >= `min_length`, default 10): longest sequence.

    ## Optimal Return
    1.0 (write back every symbol).

    ## Random-policy Return
    1/K (0.125 with the defaults): each output step is right with probability 1/K.
    Memoryless return: also 1/K at best, since every output step shows the same
    observation and the symbols are uniform and independent.

    ## Registered Configurations
    - `memenvs/Copy-v0`: the defaults.
    - `memenvs/Copy-Easy-v0`: `min_length=1, max_length=5`.
    - `memenvs/Copy-Medium-v0`: `min_length=5, max_length=20`.
    - `memenvs/Copy-Hard-v0`: `min_length=100, max_length=200`.

    ## Version History
    - v0: initial version.
    """

    task_cls = Copy


class CopyVectorEnv(MemoryVectorEnv):
    """Native vector version of :class:`CopyEnv` (same dynamics, N rows)."""

    task_cls = Copy
