"""RepeatPrevious: at every step name the symbol seen k steps back (POPGym's k-back)."""

from __future__ import annotations

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


class RepeatPrevious(Task):
    """Batched dynamics of :class:`RepeatPreviousEnv`.

    Each row's episode lives in one padded slice of the flat array ``seq``:
    ``[-1] * k + symbols (length) + [num_symbols]``. At step ``t`` the target (the symbol
    shown at ``t - k``, or -1 when unscored) is ``seq[row_start + t]`` and the symbol shown
    is ``seq[row_start + t + k]`` (``num_symbols`` = nothing, once the episode is over).
    """

    def __init__(self, num_envs: int, k: int = 4, num_symbols: int = 4, length: int = 64) -> None:
        super().__init__(num_envs)
        self.k = check_int("k", k, 1)
        self.num_symbols = check_int("num_symbols", num_symbols, 2)
        self.length = check_int("length", length, 2)
        if self.length <= self.k:
            raise ValueError(f"length must be > k, got length={self.length} <= k={self.k}")
        k, n, big_k = self.k, self.length, self.num_symbols
        sym_bytes = 2 if big_k < 2**15 else 8
        # per row: the sequence, and a reset's draw of its symbols
        self.check_memory(
            big_k + 1,
            sym_bytes * (k + n + 1) + DRAW_BYTES * n + 64,
            4 * (n + 1),
            k=k,
            num_symbols=big_k,
            length=n,
        )
        # [symbol one-hot (K), scored flag]
        self.observation_space = spaces.Box(0.0, 1.0, (big_k + 1,), np.float32)
        self.action_space = spaces.Discrete(big_k)
        self.random_return = 1.0 / big_k
        self.memoryless_return = 1.0 / big_k
        self._width = k + n + 1
        self._row_start = np.arange(num_envs, dtype=np.int64) * self._width
        dtype = np.int16 if big_k < 2**15 else np.int64
        seq = np.empty((num_envs, self._width), dtype=dtype)
        seq[:, :k] = -1
        seq[:, k + n] = big_k
        self.seq = seq.reshape(-1)
        # the scored flag per step t
        steps = np.arange(n + 1)
        self._scored = ((steps >= k) & (steps < n)).astype(np.float32)
        self.t = np.zeros(num_envs, dtype=np.int64)
        self.num_correct = np.zeros(num_envs, dtype=np.int64)

    @property
    def symbols(self) -> np.ndarray:
        """The hidden symbol sequences, ``[num_envs, length]`` (a writable view)."""
        k = self.k
        return self.seq.reshape(self.num_envs, self._width)[:, k : k + self.length]

    def reset_rows(self, rows: np.ndarray) -> None:
        self.symbols[rows] = self.rng.integers(
            0, self.num_symbols, size=(len(rows), self.length), dtype=self.seq.dtype
        )
        self.t[rows] = 0
        self.num_correct[rows] = 0

    def step(self, actions: np.ndarray):
        correct = actions == self.seq[self._row_start + self.t]
        self.num_correct += correct
        self.t += 1
        np.minimum(self.t, self.length, out=self.t)  # rows already over stay at the end
        reward = score_reward(self.num_correct, correct, self.length - self.k)
        return reward, self.t == self.length, np.zeros(self.num_envs, dtype=bool)

    def observe(self) -> np.ndarray:
        big_k = self.num_symbols
        # the symbol shown; "nothing" (K) sets column K, which the flag overwrites
        obs = one_hot(self.seq[self._row_start + self.t + self.k], big_k + 1)
        obs[:, big_k] = self._scored[self.t]
        return obs

    def success(self) -> np.ndarray:
        return self.num_correct == self.length - self.k

    def oracle(self) -> np.ndarray:
        return np.maximum(self.seq[self._row_start + self.t], 0).astype(np.int64)

    def describe(self, row: int) -> str:
        t, k, n = int(self.t[row]), self.k, self.length
        if t >= n:
            return (
                f"RepeatPrevious t={t}/{n}  episode over ({self.num_correct[row]}/{n - k} correct)"
            )
        shown = int(self.symbols[row, t])
        task = f"name the symbol from t={t - k}" if t >= k else "not scored yet"
        return f"RepeatPrevious t={t}/{n}  symbol {shown}  ({task}, k={k})"


class RepeatPreviousEnv(MemoryEnv):
    """Name, at every step, the symbol that was shown k steps earlier.

    ## Description
    Each step shows a random symbol, one of `num_symbols` (K), drawn uniformly and
    independently. From step `k` on every action is scored: the action at step `t` must
    name the symbol shown at step `t - k`. The first `k` actions are not scored. The agent
    has to keep a sliding window of the last `k` symbols in memory. Anchor: POPGym
    `RepeatPrevious`.

    ## Action Space
    `Discrete(num_symbols)`: the symbol named (scored from step `k` on).

    ## Observation Space
    `Box(0, 1, (num_symbols + 1,), float32)`: the one-hot symbol shown at this step and a
    flag that is 1 when this step's action is scored (`k <= t < length`). After the last
    step the observation is all zeros.

    ## Rewards
    `1 / (length - k)` for each scored step whose action names the symbol shown `k` steps
    earlier, else 0.

    ## Episode End
    Terminates after `length` steps.

    ## Arguments
    - `k` (int in [1, 10**8], default 4): how many steps back to recall.
    - `num_symbols` (int in [2, 10**8], default 4): alphabet size K.
    - `length` (int in [k + 1, 10**8], default 64): episode length in steps.

    ## Optimal Return
    1.0 (name the symbol from k steps back at every scored step).

    ## Random-policy Return
    1/K (0.25 with the defaults). Memoryless return: also 1/K at best, since the current
    observation is independent of the symbol shown k steps earlier.

    ## Registered Configurations
    - `memenvs/RepeatPrevious-v0`: the defaults.
    - `memenvs/RepeatPrevious-Easy-v0`: `k=2, length=32`.
    - `memenvs/RepeatPrevious-Medium-v0`: `k=16, length=128`.
    - `memenvs/RepeatPrevious-Hard-v0`: `k=256, length=1024`.

    ## Version History
    - v0: initial version.
    """

    task_cls = RepeatPrevious


class RepeatPreviousVectorEnv(MemoryVectorEnv):
    """Native vector version of :class:`RepeatPreviousEnv` (same dynamics, N rows)."""

    task_cls = RepeatPrevious
