"""PrioritySort: read items with priorities, then write them out by priority (NTM)."""

from __future__ import annotations

import numpy as np
from gymnasium import spaces

from memenvs.core import (
    LengthRangeTask,
    MemoryEnv,
    MemoryVectorEnv,
    check_int,
    check_min_max,
    one_hot,
    sample_range,
    score_reward,
)


class PrioritySort(LengthRangeTask):
    """Batched dynamics of :class:`PrioritySortEnv`.

    State per row: the items ``symbols[N, M]`` and ``priority[N, M]`` (``M`` = the longest
    length), the sorted items ``ranked[N, M]`` and the row's length ``L``. Step ``t`` shows
    item ``t`` while ``t < L``, the delimiter at ``t = L``; output step ``j = t - L - 1``
    wants ``ranked[j]``. ``t`` stops at ``2 L + 1``.
    """

    def __init__(
        self, num_envs: int, num_symbols: int = 8, min_length: int = 2, max_length: int = 6
    ) -> None:
        super().__init__(num_envs)
        self.num_symbols = check_int("num_symbols", num_symbols, 2)
        self.length_range = check_min_max("min_length", min_length, "max_length", max_length, 1)
        k = self.num_symbols
        self._check_size(self.length_range[1])
        # [symbol one-hot (K), priority, delimiter flag, output-phase flag]
        low = np.zeros(k + 3, dtype=np.float32)
        low[k] = -1.0
        self.observation_space = spaces.Box(low, np.ones(k + 3, dtype=np.float32), dtype=np.float32)
        self.action_space = spaces.Discrete(k)
        self.random_return = 1.0 / k
        self.memoryless_return = 1.0 / k
        self._r = np.arange(num_envs)
        self.symbols = np.zeros((num_envs, 0), dtype=np.int64)
        self.priority = np.zeros((num_envs, 0), dtype=np.float32)
        self.ranked = np.zeros((num_envs, 0), dtype=np.int64)
        self._grow(self.length_range[1])
        self.length = np.ones(num_envs, dtype=np.int64)
        self.t = np.zeros(num_envs, dtype=np.int64)
        self.num_correct = np.zeros(num_envs, dtype=np.int64)

    def _check_size(self, m: int) -> None:
        k = self.num_symbols
        # per item slot: 20 B of state, and about 32 B of reset temporaries (the draws, the
        # mask, the negated priorities, the argsort order and workspace, the ranked items);
        # shared: the observation bounds built here (float32; the Box copies them)
        self.check_memory(k + 3, 52 * m + 64, 8 * (k + 3), num_symbols=k, max_length=m)

    def _grow(self, m: int) -> None:
        old = self.symbols.shape[1]
        if m <= old:
            return
        pad = ((0, 0), (0, m - old))
        self.symbols = np.pad(self.symbols, pad)
        self.priority = np.pad(self.priority, pad)
        self.ranked = np.pad(self.ranked, pad)

    def reset_rows(self, rows: np.ndarray) -> None:
        n, m = len(rows), self.symbols.shape[1]
        length = sample_range(self.rng, self.length_range, n)
        symbols = self.rng.integers(0, self.num_symbols, size=(n, m))
        priority = self.rng.uniform(-1.0, 1.0, size=(n, m)).astype(np.float32)
        unused = np.arange(m)[None, :] >= length[:, None]
        priority[unused] = -np.inf  # sorts last
        order = np.argsort(-priority, axis=1, kind="stable")  # highest first; ties: input order
        self.symbols[rows] = symbols
        self.priority[rows] = np.where(unused, 0.0, priority)
        self.ranked[rows] = np.take_along_axis(symbols, order, axis=1)
        self.length[rows] = length
        self.t[rows] = 0
        self.num_correct[rows] = 0

    def _wanted(self) -> np.ndarray:
        j = np.clip(self.t - self.length - 1, 0, self.ranked.shape[1] - 1)
        return self.ranked[self._r, j]

    def step(self, actions: np.ndarray):
        scored = (self.t > self.length) & (self.t <= 2 * self.length)
        correct = scored & (actions == self._wanted())
        self.num_correct += correct
        terminated = self.t == 2 * self.length
        self.t += self.t <= 2 * self.length
        reward = score_reward(self.num_correct, correct, self.length)
        return reward, terminated, np.zeros(self.num_envs, dtype=bool)

    def observe(self) -> np.ndarray:
        k = self.num_symbols
        reading = self.t < self.length
        i = np.minimum(self.t, self.symbols.shape[1] - 1)
        obs = one_hot(self.symbols[self._r, i], k + 3, reading)
        obs[:, k] = np.where(reading, self.priority[self._r, i], 0.0)
        obs[:, k + 1] = self.t == self.length
        obs[:, k + 2] = (self.t > self.length) & (self.t <= 2 * self.length)
        return obs

    def success(self) -> np.ndarray:
        return self.num_correct == self.length

    def oracle(self) -> np.ndarray:
        return self._wanted()

    def items(self, row: int) -> tuple[np.ndarray, np.ndarray]:
        """The symbols and priorities shown in ``row``, in input order."""
        n = int(self.length[row])
        return self.symbols[row, :n].copy(), self.priority[row, :n].copy()

    def describe(self, row: int) -> str:
        t, n = int(self.t[row]), int(self.length[row])
        if t < n:
            prio = float(self.priority[row, t])
            what = f"input {t + 1}/{n}: symbol {self.symbols[row, t]}, priority {prio:+.2f}"
        elif t == n:
            what = "delimiter: now write the items, highest priority first"
        elif t <= 2 * n:
            what = f"output {t - n}/{n}: write the item ranked {t - n}"
        else:
            what = f"episode over ({self.num_correct[row]}/{n} correct)"
        return f"PrioritySort t={t}/{2 * n + 1}  {what}"


class PrioritySortEnv(MemoryEnv):
    """Read items with priorities, then write them out from the highest priority down.

    ## Description
    The Neural Turing Machine priority-sort task posed as RL. `L` items (`L` uniform in
    `[min_length, max_length]`) are shown one per step: a random symbol (one of
    `num_symbols`) with a priority drawn uniformly from [-1, 1]. Then one delimiter step,
    then `L` output steps: the action at output step `j` must be the symbol of the item
    with the `j`-th highest priority (ties, which need equal float32 priorities, keep the
    input order). Actions during the input and delimiter steps are ignored. Anchor: Graves
    et al. 2014, "Neural Turing Machines", priority sort (there 20 binary vectors in, the
    16 highest out; here symbols, and all of them come out).

    ## Action Space
    `Discrete(num_symbols)`: the symbol written (only scored during the output phase).

    ## Observation Space
    `Box(low, 1, (num_symbols + 3,), float32)`: a one-hot symbol and its priority (in
    [-1, 1]; `low` is -1 there and 0 elsewhere) during the input phase, zeros otherwise;
    then a delimiter flag and an output-phase flag. The output-phase observation is the
    same at every output step. After the last step the observation is all zeros.

    ## Rewards
    `1/L` for each output step whose action is the symbol of the item of that rank.

    ## Episode End
    Terminates after the last output step, i.e. after `2 L + 1` steps.
    `info["success"]` is true when every output symbol was right.

    ## Arguments
    - `num_symbols` (int in [2, 10**8], default 8): alphabet size K.
    - `min_length` (int in [1, 10**8], default 2): fewest items.
    - `max_length` (int >= `min_length`, default 6): most items.

    The task has `set_length_range(min_length, max_length)`, so
    `memenvs.curriculum.LengthCurriculum` can drive it.

    ## Optimal Return
    1.0 (write the symbols sorted by priority, highest first).

    ## Random-policy Return
    1/K (0.125 with the defaults). Memoryless return: also 1/K at best, since every output
    step shows the same observation and symbols are independent of priorities.

    ## Registered Configurations
    - `memenvs/PrioritySort-v0`: the defaults.
    - `memenvs/PrioritySort-Easy-v0`: `min_length=1, max_length=4`.
    - `memenvs/PrioritySort-Medium-v0`: `min_length=8, max_length=20`.
    - `memenvs/PrioritySort-Hard-v0`: `num_symbols=16, min_length=100, max_length=200`.

    ## Version History
    - v0: initial version.
    """

    task_cls = PrioritySort


class PrioritySortVectorEnv(MemoryVectorEnv):
    """Native vector version of :class:`PrioritySortEnv` (same dynamics, N rows)."""

    task_cls = PrioritySort
