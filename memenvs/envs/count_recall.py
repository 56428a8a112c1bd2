"""CountRecall: at every step say how many times the symbol shown has been seen before."""

from __future__ import annotations

import functools

import numpy as np
from gymnasium import spaces

from memenvs.core import (
    DRAW_BYTES,
    MemoryEnv,
    MemoryVectorEnv,
    Task,
    check_int,
    one_hot,
    score_reward,
)


@functools.lru_cache(maxsize=256)
def memoryless_count_recall(num_symbols: int, length: int) -> float:
    """The best return of a policy that sees only the current symbol.

    The count at step ``t`` is Binomial(t, 1/K) whichever symbol is shown, and nothing in
    the observation tells ``t``, so the best such policy always answers the one count
    ``a`` that maximises ``sum_t P(Binomial(t, 1/K) = a) / length`` (actions do not change
    what is shown, so no stochastic policy does better).

    The sum is the expected number of the first ``length`` steps at which the count equals
    ``a``. The count stays at each level for a Geometric(1/K) number of steps, level 0
    first, so the time at level ``a`` within the first ``length`` steps is at most
    ``min(G, length)`` with ``G`` distributed as the time at level 0: ``a = 0`` is best and
    the return is ``sum_t (1 - p)**t / length = (1 - (1 - p)**length) / (p length)``, O(1).
    """
    p = 1.0 / num_symbols
    return float(-np.expm1(length * np.log1p(-p)) / (p * length))


class CountRecall(Task):
    """Batched dynamics of :class:`CountRecallEnv`.

    State per row: the episode's symbols ``seq[N, length]`` (drawn at reset), the running
    counts ``counts[N, K]`` and the step ``t``; ``t`` stops at ``length``.
    """

    def __init__(self, num_envs: int, num_symbols: int = 4, length: int = 16) -> None:
        super().__init__(num_envs)
        self.num_symbols = check_int("num_symbols", num_symbols, 2)
        self.length = check_int("length", length, 1)
        k, n = self.num_symbols, self.length
        # per row: the symbols and the counts (int64), and a reset's draw of the symbols
        self.check_memory(k, 8 * (n + k + 4) + DRAW_BYTES * n, num_symbols=k, length=n)
        # the one-hot symbol shown
        self.observation_space = spaces.Box(0.0, 1.0, (k,), np.float32)
        self.action_space = spaces.Discrete(n)  # a count: 0 .. length - 1
        self.random_return = 1.0 / n
        self.memoryless_return = memoryless_count_recall(k, n)
        self._r = np.arange(num_envs)
        self.seq = np.zeros((num_envs, n + 1), dtype=np.int64)
        self.seq[:, n] = k
        self.counts = np.zeros((num_envs, k + 1), dtype=np.int64)  # column K: a dummy
        self.t = np.zeros(num_envs, dtype=np.int64)
        self.num_correct = np.zeros(num_envs, dtype=np.int64)

    def reset_rows(self, rows: np.ndarray) -> None:
        n = self.length
        self.seq[rows, :n] = self.rng.integers(0, self.num_symbols, size=(len(rows), n))
        self.counts[rows] = 0
        self.t[rows] = 0
        self.num_correct[rows] = 0

    def _shown(self) -> np.ndarray:
        return self.seq[self._r, self.t]

    def step(self, actions: np.ndarray):
        shown = self._shown()  # K (the dummy column) once the episode is over
        live = self.t < self.length
        correct = (actions == self.counts[self._r, shown]) & live
        self.num_correct += correct
        self.counts[self._r, shown] += 1
        self.t += live
        terminated = live & (self.t == self.length)
        reward = score_reward(self.num_correct, correct, self.length)
        return reward, terminated, np.zeros(self.num_envs, dtype=bool)

    def observe(self) -> np.ndarray:
        shown = self._shown()
        return one_hot(shown, self.num_symbols, shown < self.num_symbols)  # K: after the end

    def success(self) -> np.ndarray:
        return self.num_correct == self.length

    def oracle(self) -> np.ndarray:
        return np.minimum(self.counts[self._r, self._shown()], self.length - 1)

    def describe(self, row: int) -> str:
        t, n = int(self.t[row]), self.length
        if t >= n:
            return f"CountRecall t={t}/{n}  episode over ({self.num_correct[row]}/{n} correct)"
        s = int(self.seq[row, t])
        return f"CountRecall t={t}/{n}  symbol {s}: seen {self.counts[row, s]} time(s) before"


class CountRecallEnv(MemoryEnv):
    """At every step, say how many times the symbol now shown has been shown before.

    ## Description
    Each step shows a random symbol, one of `num_symbols` (K), drawn uniformly and
    independently; the action names how many times that symbol was shown earlier in the
    episode (0 the first time). Every step is scored. The agent must keep a running count
    of every symbol. Anchor: POPGym `CountRecall` (there the query is a second card; here
    it is the card shown).

    ## Action Space
    `Discrete(length)`: the count named (0 .. `length - 1`).

    ## Observation Space
    `Box(0, 1, (num_symbols,), float32)`: the one-hot symbol shown. Nothing tells the
    step number. After the last step the observation is all zeros.

    ## Rewards
    `1 / length` for each step whose action is the right count, else 0.

    ## Episode End
    Terminates after `length` steps. `info["success"]` is true when every count was right.

    ## Arguments
    - `num_symbols` (int in [2, 10**8], default 4): alphabet size K.
    - `length` (int in [1, 10**8], default 16): episode length in steps.

    ## Optimal Return
    1.0 (keep a count per symbol).

    ## Random-policy Return
    1/length (0.0625 with the defaults): each answer is one of `length` counts.
    Memoryless return: 0.247 with the defaults, computed exactly. A policy that sees only
    the current symbol cannot tell the step `t`, and the count at step `t` is
    Binomial(t, 1/K) whatever the symbol, so the best it can do is always answer the count
    `a` maximising `sum_t P(Binomial(t, 1/K) = a) / length` (here `a = 0`).

    ## Registered Configurations
    - `memenvs/CountRecall-v0`: the defaults.
    - `memenvs/CountRecall-Easy-v0`: `num_symbols=2, length=8`.
    - `memenvs/CountRecall-Medium-v0`: `num_symbols=4, length=64`.
    - `memenvs/CountRecall-Hard-v0`: `num_symbols=8, length=512`.

    ## Version History
    - v0: initial version.
    """

    task_cls = CountRecall


class CountRecallVectorEnv(MemoryVectorEnv):
    """Native vector version of :class:`CountRecallEnv` (same dynamics, N rows)."""

    task_cls = CountRecall
