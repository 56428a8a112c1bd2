"""TapeReverse: read a tape with a moving head, then write it out backwards (gym Reverse-v0)."""

from __future__ import annotations

import numpy as np

from memenvs.core import MemoryEnv, MemoryVectorEnv
from memenvs.envs.tape import TapeTask


class TapeReverse(TapeTask):
    """Batched dynamics of :class:`TapeReverseEnv`: the target is the input reversed."""

    name = "TapeReverse"

    def __init__(
        self,
        num_envs: int,
        base: int = 2,
        min_length: int = 2,
        max_length: int = 6,
        interleaved: bool = False,
    ) -> None:
        super().__init__(num_envs, base, min_length, max_length, 1, interleaved)

    def target_bytes(self, max_length: int) -> int:
        return 16 * max_length  # the reversed index and the result, int64

    def make_target(self, symbols: np.ndarray, lengths: np.ndarray):
        hi = symbols.shape[2]
        idx = np.clip(lengths[:, None] - 1 - np.arange(hi)[None, :], 0, hi - 1)
        return np.take_along_axis(symbols[:, 0, :], idx, axis=1), lengths.copy()

    def episode_shapes(self, length: int):
        return [(1.0, length, length, length)]


class TapeReverseEnv(MemoryEnv):
    """Read a tape of symbols with a moving read head, then write them out in reverse.

    ## Description
    The tape version of the reverse task (gym's retired `Reverse-v0`; Zaremba & Sutskever
    2015). The input tape holds `L` random symbols (`L` uniform in
    `[min_length, max_length]`), blank cells on both sides. The agent sees only the cell
    under its read head, which starts on the first symbol, and each step may move the head
    and write one symbol of the output. The target is the input reversed. Writes count
    only once the read head has left the input (it stands on a blank cell): the agent
    reads the tape, keeps it in memory (a stack will do) and writes it out afterwards. With
    `interleaved=True` writes count anywhere, the old gym rule: then it suffices to walk to
    the end of the input and write each symbol while walking back, which needs one bit of
    memory (which way am I going?). The tape mechanics are shared by all tape tasks
    (`memenvs.envs.tape`).

    ## Action Space
    `MultiDiscrete([2, 2, base])`: `(move, write, symbol)`. `move`: 0 = left, 1 = right
    (the head may leave the tape on either side). `write`: 1 to write `symbol` as the next
    output symbol, 0 to write nothing. The write happens before the move.

    ## Observation Space
    `Box(0, 1, (base + 1,), float32)`: the one-hot symbol under the read head; the last
    entry is the blank (off the tape).

    ## Rewards
    `+1/L` for each right symbol written. A wrong symbol gives `-0.5/L` and ends the
    episode. Unless `interleaved`, writes while the head is on the input are ignored (no
    reward, nothing written). The step that runs out of time gives `-1/L` instead of its
    reward (the old gym rewards, divided by the target length).

    ## Episode End
    Terminates when all `L` symbols are written, or at the first wrong write. The time
    limit is `2 L + 4` steps (read `L` cells, write `L` symbols, 4 spare): an episode still
    running after them is truncated on the next step, as in the old gym envs.
    `info["success"]` is true when every symbol was written in time.

    ## Arguments
    - `base` (int in [2, 10**8], default 2): number of symbols (gym's Reverse used 2).
    - `min_length` (int in [1, 10**8], default 2): shortest input.
    - `max_length` (int >= `min_length`, default 6): longest input.
    - `interleaved` (bool, default False): let writes count while the head is on the input
      (gym's rule).

    ## Optimal Return
    1.0: move right over the input, then write it out backwards (`2 L` steps).

    ## Random-policy Return
    0.0122 with the defaults: a random policy soon walks off the input, where its writes
    count and are mostly wrong (`-0.5/T`), or it runs out of time (`-1/T`). Computed exactly
    by dynamic programming over (head position, symbols written) and checked by Monte Carlo.
    Memoryless return: at most 0.252 with the defaults. A policy that sees only the current
    cell sees the blank whenever a write counts, so it writes from one fixed distribution
    and its first `k` writes are all right with probability at most `base**-k`: the bound is
    `E[sum_k base**-k / L]`. With `interleaved=True` no bound is given (1.0).

    ## Registered Configurations
    - `memenvs/TapeReverse-v0`: the defaults.
    - `memenvs/TapeReverse-Easy-v0`: `min_length=2, max_length=4`.
    - `memenvs/TapeReverse-Medium-v0`: `base=4, min_length=8, max_length=16`.
    - `memenvs/TapeReverse-Hard-v0`: `base=4, min_length=100, max_length=200`.

    ## Version History
    - v0: initial version.
    """

    task_cls = TapeReverse


class TapeReverseVectorEnv(MemoryVectorEnv):
    """Native vector version of :class:`TapeReverseEnv` (same dynamics, N rows)."""

    task_cls = TapeReverse
