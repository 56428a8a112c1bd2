"""DelayedRecall: remember one cue symbol across a delay."""

from __future__ import annotations

import numpy as np
from gymnasium import spaces

from memenvs.core import (
    MemoryEnv,
    MemoryVectorEnv,
    Task,
    check_bool,
    check_int,
    check_range,
    hash_ints,
    one_hot_rows,
    sample_range,
)


class DelayedRecall(Task):
    """Batched dynamics of :class:`DelayedRecallEnv`."""

    def __init__(self, num_envs: int, num_symbols: int = 4, delay=16, noise: bool = False) -> None:
        super().__init__(num_envs)
        self.num_symbols = check_int("num_symbols", num_symbols, 2)
        self.delay_range = check_range("delay", delay, 0)
        self.noise = check_bool("noise", noise)
        k = self.num_symbols
        self.check_memory(k + 2, 48, num_symbols=k)
        # [symbol one-hot (K), cue flag, query flag]
        self.observation_space = spaces.Box(0.0, 1.0, (k + 2,), np.float32)
        self.action_space = spaces.Discrete(k)
        self.random_return = 1.0 / k
        self.memoryless_return = 1.0 / k
        self.cue = np.zeros(num_envs, dtype=np.int64)
        self.delay = np.zeros(num_envs, dtype=np.int64)
        self.t = np.zeros(num_envs, dtype=np.int64)
        self.distractor = np.zeros(num_envs, dtype=np.int64)
        self.noise_key = np.zeros(num_envs, dtype=np.int64)  # per-row seed of the noise
        self.correct = np.zeros(num_envs, dtype=bool)

    def reset_rows(self, rows: np.ndarray) -> None:
        n = len(rows)
        self.cue[rows] = self.rng.integers(0, self.num_symbols, size=n)
        self.delay[rows] = sample_range(self.rng, self.delay_range, n)
        if self.noise:
            self.noise_key[rows] = self.rng.integers(0, 2**63 - 1, size=n)
        self.t[rows] = 0
        self.correct[rows] = False

    def step(self, actions: np.ndarray):
        at_query = self.t == self.delay + 1
        correct = at_query & (actions == self.cue)
        self.correct |= correct
        self.t += 1
        if self.noise:
            self.distractor = hash_ints(self.noise_key, self.t, self.num_symbols)
        reward = correct.astype(np.float32)
        return reward, at_query, np.zeros(self.num_envs, dtype=bool)

    def observe(self) -> np.ndarray:
        k = self.num_symbols
        obs = np.zeros((self.num_envs, k + 2), dtype=np.float32)
        is_cue = self.t == 0
        is_query = self.t == self.delay + 1
        one_hot_rows(obs, self.cue, is_cue)
        if self.noise:
            one_hot_rows(obs, self.distractor, ~is_cue & ~is_query)
        obs[:, k] = is_cue
        obs[:, k + 1] = is_query
        return obs

    def success(self) -> np.ndarray:
        return self.correct.copy()

    def oracle(self) -> np.ndarray:
        return self.cue.copy()

    def describe(self, row: int) -> str:
        t, d = int(self.t[row]), int(self.delay[row])
        if t == 0:
            what = f"cue: symbol {self.cue[row]}"
        elif t == d + 1:
            what = "query: which symbol was the cue?"
        elif t > d + 1:
            what = "episode over (" + ("correct" if self.correct[row] else "wrong") + ")"
        else:
            what = f"distractor {self.distractor[row]}" if self.noise else "blank"
        return f"DelayedRecall t={t}/{d + 1}  {what}"


class DelayedRecallEnv(MemoryEnv):
    """Remember a cue symbol across a delay, then name it when queried.

    ## Description
    At the first step the agent sees a cue, one of `num_symbols` symbols. Then follow
    `delay` distractor steps (blank, or a random symbol each step when `noise=True`), then
    a query step. The action taken at the query step is scored; all other actions are
    ignored. Anchors: bsuite `memory_len`, POPGym `RepeatFirst`.

    ## Action Space
    `Discrete(num_symbols)`: the symbol named (only scored at the query step).

    ## Observation Space
    `Box(0, 1, (num_symbols + 2,), float32)`: a one-hot symbol (the cue at t=0, the
    distractor symbol when `noise` is on, zeros otherwise), a cue flag and a query flag.

    ## Rewards
    1 at the query step if the action equals the cue, else 0.

    ## Episode End
    Terminates after the query step, i.e. after `delay + 2` steps.

    ## Arguments
    - `num_symbols` (int in [2, 10**8], default 4): number of possible cues K.
    - `delay` (int in [0, 10**8], or a `(min, max)` pair sampled per episode; default 16).
    - `noise` (bool, default False): random distractor symbols instead of blanks.

    ## Optimal Return
    1.0 (say the cue).

    ## Random-policy Return
    1/K (0.25 with the defaults). Memoryless return: also 1/K at best, since the query
    observation carries no information about the cue.

    ## Registered Configurations
    - `memenvs/DelayedRecall-v0`: the defaults.
    - `memenvs/DelayedRecall-Easy-v0`: `delay=8`.
    - `memenvs/DelayedRecall-Medium-v0`: `delay=64, noise=True`.
    - `memenvs/DelayedRecall-Hard-v0`: `delay=1024, num_symbols=8, noise=True`.

    ## Version History
    - v0: initial version.
    """

    task_cls = DelayedRecall


class DelayedRecallVectorEnv(MemoryVectorEnv):
    """Native vector version of :class:`DelayedRecallEnv` (same dynamics, N rows)."""

    task_cls = DelayedRecall
