"""TapeRepeatCopy: read a tape, write it forwards, backwards, forwards (gym RepeatCopy-v0)."""

from __future__ import annotations

import numpy as np

from memenvs.core import MemoryEnv, MemoryVectorEnv
from memenvs.envs.tape import TapeTask


class TapeRepeatCopy(TapeTask):
    """Batched dynamics of :class:`TapeRepeatCopyEnv`: the target is ``x + reversed(x) + x``."""

    name = "TapeRepeatCopy"

    def __init__(
        self,
        num_envs: int,
        base: int = 5,
        min_length: int = 2,
        max_length: int = 5,
        interleaved: bool = False,
    ) -> None:
        super().__init__(num_envs, base, min_length, max_length, 1, interleaved)

    def target_capacity(self, length: int) -> int:
        return 3 * length

    def target_bytes(self, max_length: int) -> int:
        # int64 [3 M] each: i, the index, its clipped copy, the result, and the shared j
        return 5 * 8 * 3 * max_length

    def make_target(self, symbols: np.ndarray, lengths: np.ndarray):
        hi = symbols.shape[2]
        j = np.arange(3 * hi)[None, :]
        n = lengths[:, None]
        i = j % n
        idx = np.where(j // n == 1, n - 1 - i, i)  # the middle copy runs backwards
        return np.take_along_axis(symbols[:, 0, :], np.minimum(idx, hi - 1), axis=1), 3 * lengths

    def episode_shapes(self, length: int):
        return [(1.0, length, 3 * length, length)]


class TapeRepeatCopyEnv(MemoryEnv):
    """Read a tape, then write it out forwards, backwards and forwards again.

    ## Description
    The tape version of the repeat-copy task (gym's retired `RepeatCopy-v0`; Zaremba &
    Sutskever 2015). The input tape holds `L` random symbols `x` (`L` uniform in
    `[min_length, max_length]`), blank cells on both sides. The agent sees only the cell
    under its read head, which starts on the first symbol, and each step may move the head
    and write one symbol of the output. The target is `x`, then `x` reversed, then `x`
    again (`3 L` symbols). Writes count only once the read head has left the input (it
    stands on a blank cell): the agent reads the tape, keeps it in memory and writes the
    three copies afterwards. With `interleaved=True` writes count anywhere, the old gym
    rule: then the agent can sweep right, left and right over the tape writing the symbol
    under the head, remembering only which sweep it is in. The tape mechanics are shared
    by all tape tasks (`memenvs.envs.tape`).

    ## Action Space
    `MultiDiscrete([2, 2, base])`: `(move, write, symbol)`. `move`: 0 = left, 1 = right
    (the head may leave the tape on either side). `write`: 1 to write `symbol` as the next
    output symbol, 0 to write nothing. The write happens before the move.

    ## Observation Space
    `Box(0, 1, (base + 1,), float32)`: the one-hot symbol under the read head; the last
    entry is the blank (off the tape).

    ## Rewards
    `+1/(3L)` for each right symbol written. A wrong symbol gives `-0.5/(3L)` and ends the
    episode. Unless `interleaved`, writes while the head is on the input are ignored (no
    reward, nothing written). The step that runs out of time gives `-1/(3L)` instead of its
    reward (the old gym rewards, divided by the target length).

    ## Episode End
    Terminates when all `3 L` symbols are written, or at the first wrong write. The time
    limit is `4 L + 4` steps (read `L` cells, write `3 L` symbols, 4 spare): an episode
    still running after them is truncated on the next step, as in the old gym envs.
    `info["success"]` is true when every symbol was written in time.

    ## Arguments
    - `base` (int in [2, 10**8], default 5): number of symbols.
    - `min_length` (int in [1, 10**8], default 2): shortest input.
    - `max_length` (int >= `min_length`, default 5): longest input.
    - `interleaved` (bool, default False): let writes count while the head is on the input
      (gym's rule).

    ## Optimal Return
    1.0: move right over the input, then write the three copies (`4 L` steps).

    ## Random-policy Return
    -0.0317 with the defaults: a random policy soon walks off the input, where its writes
    count and are mostly wrong (`-0.5/T`), or it runs out of time (`-1/T`). Computed exactly
    by dynamic programming over (head position, symbols written) and checked by Monte Carlo.
    Memoryless return: at most 0.0346 with the defaults. A policy that sees only the current
    cell sees the blank whenever a write counts, so it writes from one fixed distribution
    and its first `k` writes are all right with probability at most `base**-min(k, L)` (the
    first `L` targets are independent and uniform): the bound is `E[sum_k base**-min(k, L) /
    (3 L)]`. With `interleaved=True` no bound is given (1.0).

    ## Registered Configurations
    - `memenvs/TapeRepeatCopy-v0`: the defaults.
    - `memenvs/TapeRepeatCopy-Easy-v0`: `min_length=1, max_length=3`.
    - `memenvs/TapeRepeatCopy-Medium-v0`: `min_length=6, max_length=12`.
    - `memenvs/TapeRepeatCopy-Hard-v0`: `min_length=64, max_length=128`.

    ## Version History
    - v0: initial version.
    """

    task_cls = TapeRepeatCopy


class TapeRepeatCopyVectorEnv(MemoryVectorEnv):
    """Native vector version of :class:`TapeRepeatCopyEnv` (same dynamics, N rows)."""

    task_cls = TapeRepeatCopy
