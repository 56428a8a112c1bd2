"""EndlessRecall: a stream of DelayedRecall trials with growing delays, until a mistake."""

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


def stream_return(num_symbols: int, num_queries: int) -> float:
    """Expected return when each answer is right with probability 1/K, independently.

    ``sum_{i=1..Q} K**-i / Q``, in closed form: ``(1 - K**-Q) / (K - 1) / Q``.
    """
    k = float(num_symbols)
    return (1.0 - k**-num_queries) / (k - 1.0) / num_queries


class EndlessRecall(Task):
    """Batched dynamics of :class:`EndlessRecallEnv`.

    State per row: the cues of all trials ``cues[N, Q]`` (drawn at reset), the trial index
    ``i``, the step within the trial ``s`` (cue at ``s = 0``, query at ``s = d_i + 1``),
    the current delay ``d_i``, right answers so far and whether the episode is over.
    """

    def __init__(
        self,
        num_envs: int,
        num_symbols: int = 4,
        num_queries: int = 8,
        start_delay: int = 1,
        delay_growth: int = 2,
    ) -> None:
        super().__init__(num_envs)
        self.num_symbols = check_int("num_symbols", num_symbols, 2)
        self.num_queries = check_int("num_queries", num_queries, 1)
        self.start_delay = check_int("start_delay", start_delay, 0)
        self.delay_growth = check_int("delay_growth", delay_growth, 0)
        k, q = self.num_symbols, self.num_queries
        # per row: the cues (int64), and a reset's draw of them
        self.check_memory(k + 2, 8 * (q + 6) + DRAW_BYTES * q, num_symbols=k, num_queries=q)
        # [symbol one-hot (K), cue flag, query flag]
        self.observation_space = spaces.Box(0.0, 1.0, (k + 2,), np.float32)
        self.action_space = spaces.Discrete(k)
        self.random_return = stream_return(k, self.num_queries)
        self.memoryless_return = self.random_return
        self._r = np.arange(num_envs)
        self.cues = np.zeros((num_envs, self.num_queries), dtype=np.int64)
        self.trial = np.zeros(num_envs, dtype=np.int64)
        self.s = np.zeros(num_envs, dtype=np.int64)
        self.delay = np.full(num_envs, self.start_delay, dtype=np.int64)
        self.num_correct = np.zeros(num_envs, dtype=np.int64)
        self.done = np.ones(num_envs, dtype=bool)

    def delays(self) -> np.ndarray:
        """The delay of every trial: ``start_delay + i * delay_growth``."""
        return self.start_delay + self.delay_growth * np.arange(self.num_queries)

    def reset_rows(self, rows: np.ndarray) -> None:
        self.cues[rows] = self.rng.integers(0, self.num_symbols, size=(len(rows), self.num_queries))
        self.trial[rows] = 0
        self.s[rows] = 0
        self.delay[rows] = self.start_delay
        self.num_correct[rows] = 0
        self.done[rows] = False

    def _cue(self) -> np.ndarray:
        return self.cues[self._r, np.minimum(self.trial, self.num_queries - 1)]

    def step(self, actions: np.ndarray):
        live = ~self.done
        at_query = live & (self.s == self.delay + 1)
        correct = at_query & (actions == self._cue())
        self.num_correct += correct
        finished = correct & (self.num_correct == self.num_queries)
        terminated = (at_query & ~correct) | finished
        self.done |= terminated
        self.s += live
        nxt = correct & ~finished  # the next trial starts
        self.trial += nxt
        self.s[nxt] = 0
        self.delay = self.start_delay + self.delay_growth * self.trial
        reward = score_reward(self.num_correct, correct, self.num_queries)
        return reward, terminated, np.zeros(self.num_envs, dtype=bool)

    def observe(self) -> np.ndarray:
        k = self.num_symbols
        live = ~self.done
        is_cue = live & (self.s == 0)
        obs = one_hot(self._cue(), k + 2, is_cue)
        obs[:, k] = is_cue
        obs[:, k + 1] = live & (self.s == self.delay + 1)
        return obs

    def success(self) -> np.ndarray:
        return self.num_correct == self.num_queries

    def oracle(self) -> np.ndarray:
        return self._cue()

    def describe(self, row: int) -> str:
        i, s, d = int(self.trial[row]), int(self.s[row]), int(self.delay[row])
        head = f"EndlessRecall trial {i + 1}/{self.num_queries} (delay {d}) step {s}/{d + 1}"
        if self.done[row]:
            what = f"episode over ({self.num_correct[row]}/{self.num_queries} right)"
        elif s == 0:
            what = f"cue: symbol {self._cue()[row]}"
        elif s == d + 1:
            what = "query: which symbol was the cue?"
        else:
            what = "blank"
        return f"{head}  {what}"


class EndlessRecallEnv(MemoryEnv):
    """DelayedRecall trials one after another, each delay longer, until the first mistake.

    ## Description
    An endless variant of DelayedRecall: a stream of recall trials. Trial `i` (from 0)
    shows a cue, one of `num_symbols` symbols, then `start_delay + i * delay_growth` blank
    steps, then a query step where the action must name the cue. A right answer starts
    the next trial at once; the first wrong answer ends the episode. How many trials an
    agent gets through measures how long a delay its memory bridges. The stream stops,
    solved, after `num_queries` right answers, so returns stay in [0, 1]. Anchors: bsuite
    `memory_len`, POPGym `RepeatFirst`, with delays that grow within one episode.

    ## Action Space
    `Discrete(num_symbols)`: the symbol named (only scored at query steps).

    ## Observation Space
    `Box(0, 1, (num_symbols + 2,), float32)`: a one-hot symbol (the cue, at the first step
    of each trial; zeros otherwise), a cue flag and a query flag. After the episode ends
    the observation is all zeros.

    ## Rewards
    `1/num_queries` for each right answer, else 0.

    ## Episode End
    Terminates at the first wrong answer, or after the `num_queries`-th right one (after
    `sum_i (d_i + 2)` steps). `info["success"]` is true when every trial was answered
    right.

    ## Arguments
    - `num_symbols` (int in [2, 10**8], default 4): number of possible cues K.
    - `num_queries` (int in [1, 10**8], default 8): trials in a full stream Q.
    - `start_delay` (int in [0, 10**8], default 1): the first trial's delay.
    - `delay_growth` (int in [0, 10**8], default 2): how much longer each next delay is.

    ## Optimal Return
    1.0 (name every cue).

    ## Random-policy Return
    `sum_{k=1..Q} K**-k / Q` (0.0417 with the defaults): the `k`-th answer is reached and
    right with probability `K**-k`. Memoryless return: the same at best, since a query
    observation carries no information about its cue.

    ## Registered Configurations
    - `memenvs/EndlessRecall-v0`: the defaults (delays 1, 3, ..., 15).
    - `memenvs/EndlessRecall-Easy-v0`: `num_queries=4, start_delay=1, delay_growth=1`.
    - `memenvs/EndlessRecall-Medium-v0`: `num_queries=8, start_delay=4, delay_growth=8`.
    - `memenvs/EndlessRecall-Hard-v0`: `num_queries=6, start_delay=32, delay_growth=64`
      (delays up to 352).

    ## Version History
    - v0: initial version.
    """

    task_cls = EndlessRecall


class EndlessRecallVectorEnv(MemoryVectorEnv):
    """Native vector version of :class:`EndlessRecallEnv` (same dynamics, N rows)."""

    task_cls = EndlessRecall
