"""MemorySize: see many bits at once, then recall the one asked for (bsuite memory_size)."""

from __future__ import annotations

import numpy as np
from gymnasium import spaces

from memenvs.core import DRAW_BYTES, MemoryEnv, MemoryVectorEnv, Task, check_int


class MemorySize(Task):
    """Batched dynamics of :class:`MemorySizeEnv`.

    State per row: the context bits ``bits[N, num_bits]``, the queried index and the step
    ``t``; the query is at ``t = delay + 1`` and ``t`` stops at ``delay + 2``.
    """

    def __init__(self, num_envs: int, num_bits: int = 8, delay: int = 4) -> None:
        super().__init__(num_envs)
        self.num_bits = check_int("num_bits", num_bits, 1)
        self.delay = check_int("delay", delay, 0)
        b = self.num_bits
        # per row: the bits (int64), and a reset's draw of them
        self.check_memory(2 * b + 2, 8 * (b + 3) + DRAW_BYTES * b, num_bits=b, delay=self.delay)
        # [context bits (B), query one-hot (B), context flag, query flag]
        self.observation_space = spaces.Box(0.0, 1.0, (2 * b + 2,), np.float32)
        self.action_space = spaces.Discrete(2)
        self.random_return = 0.5
        self.memoryless_return = 0.5
        self._r = np.arange(num_envs)
        self.bits = np.zeros((num_envs, b), dtype=np.int64)
        self.query = np.zeros(num_envs, dtype=np.int64)
        self.t = np.zeros(num_envs, dtype=np.int64)
        self.correct = np.zeros(num_envs, dtype=bool)

    def reset_rows(self, rows: np.ndarray) -> None:
        n, b = len(rows), self.num_bits
        self.bits[rows] = self.rng.integers(0, 2, size=(n, b))
        self.query[rows] = self.rng.integers(0, b, size=n)
        self.t[rows] = 0
        self.correct[rows] = False

    def _answer(self) -> np.ndarray:
        return self.bits[self._r, self.query]

    def step(self, actions: np.ndarray):
        at_query = self.t == self.delay + 1
        correct = at_query & (actions == self._answer())
        self.correct |= correct
        self.t += self.t <= self.delay + 1
        return correct.astype(np.float64), at_query, np.zeros(self.num_envs, dtype=bool)

    def observe(self) -> np.ndarray:
        b = self.num_bits
        obs = np.zeros((self.num_envs, 2 * b + 2), dtype=np.float32)
        first = self.t == 0
        at_query = self.t == self.delay + 1
        obs[first, :b] = self.bits[first]
        obs[self._r[at_query], b + self.query[at_query]] = 1.0
        obs[:, 2 * b] = first
        obs[:, 2 * b + 1] = at_query
        return obs

    def success(self) -> np.ndarray:
        return self.correct.copy()

    def oracle(self) -> np.ndarray:
        return self._answer()

    def describe(self, row: int) -> str:
        t, d = int(self.t[row]), self.delay
        if t == 0:
            what = "context bits " + "".join(str(int(v)) for v in self.bits[row])
        elif t <= d:
            what = "blank"
        elif t == d + 1:
            what = f"query: what was bit {self.query[row]}?"
        else:
            what = "episode over (" + ("correct" if self.correct[row] else "wrong") + ")"
        return f"MemorySize t={t}/{d + 1}  {what}"


class MemorySizeEnv(MemoryEnv):
    """See many bits at once, hold them through a short delay, then recall the one asked for.

    ## Description
    The first observation shows `num_bits` random bits at once (the context). Then follow
    `delay` blank steps, then a query step that names one of the bits (uniformly chosen):
    the action there must be that bit's value. All other actions are ignored. The delay is
    short and fixed: what grows is how much must be held at once. Anchor: bsuite
    `memory_size` (bsuite's memory chain with many context bits and one query).

    ## Action Space
    `Discrete(2)`: the bit's value (only scored at the query step).

    ## Observation Space
    `Box(0, 1, (2 * num_bits + 2,), float32)`: the context bits (shown at the first step
    only, zeros otherwise), the one-hot index of the queried bit (at the query step only),
    a context flag and a query flag. After the query the observation is all zeros.

    ## Rewards
    1 at the query step if the action is the queried bit, else 0. (bsuite pays +1 / -1;
    1 / 0 keeps the returns of all memenvs tasks on one scale, 0 to 1.)

    ## Episode End
    Terminates after the query step, i.e. after `delay + 2` steps.
    `info["success"]` is true when the answer was right.

    ## Arguments
    - `num_bits` (int in [1, 10**8], default 8): how many bits are shown at once.
    - `delay` (int in [0, 10**8], default 4): blank steps between the bits and the query.

    ## Optimal Return
    1.0 (name the queried bit).

    ## Random-policy Return
    0.5 (right with probability 1/2). Memoryless return: also 0.5 at best, since the query
    observation says nothing about the bits.

    ## Registered Configurations
    - `memenvs/MemorySize-v0`: the defaults.
    - `memenvs/MemorySize-Easy-v0`: `num_bits=3, delay=2`.
    - `memenvs/MemorySize-Medium-v0`: `num_bits=32, delay=8`.
    - `memenvs/MemorySize-Hard-v0`: `num_bits=256, delay=256`.

    ## Version History
    - v0: initial version.
    """

    task_cls = MemorySize


class MemorySizeVectorEnv(MemoryVectorEnv):
    """Native vector version of :class:`MemorySizeEnv` (same dynamics, N rows)."""

    task_cls = MemorySize
