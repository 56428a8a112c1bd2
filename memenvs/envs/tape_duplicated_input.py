"""TapeDuplicatedInput: a tape of repeated symbols; write each one once (gym DuplicatedInput)."""

from __future__ import annotations

import numpy as np

from memenvs.core import MemoryEnv, MemoryVectorEnv, check_int
from memenvs.envs.tape import TapeTask


class TapeDuplicatedInput(TapeTask):
    """Batched dynamics of :class:`TapeDuplicatedInputEnv`.

    The input is ``L`` random symbols, each repeated ``duplication`` times in a row (width
    ``d L``); the target is the ``L`` symbols, once each.
    """

    name = "TapeDuplicatedInput"

    def __init__(
        self,
        num_envs: int,
        base: int = 5,
        min_length: int = 2,
        max_length: int = 6,
        duplication: int = 2,
        interleaved: bool = False,
    ) -> None:
        self.duplication = check_int("duplication", duplication, 2)
        super().__init__(num_envs, base, min_length, max_length, 1, interleaved)

    def input_width(self, lengths: np.ndarray) -> np.ndarray:
        return self.duplication * lengths

    def size_knobs(self) -> dict[str, int]:
        return {"duplication": self.duplication}

    def make_input(self, symbols: np.ndarray, lengths: np.ndarray) -> np.ndarray:
        return np.repeat(symbols, self.duplication, axis=2)

    def make_target(self, symbols: np.ndarray, lengths: np.ndarray):
        return symbols[:, 0, :].copy(), lengths.copy()

    def episode_shapes(self, length: int):
        return [(1.0, self.duplication * length, length, length)]


class TapeDuplicatedInputEnv(MemoryEnv):
    """Read a tape where every symbol comes `duplication` times, then write each symbol once.

    ## Description
    The tape version of the duplicated-input task (gym's retired `DuplicatedInput-v0`;
    Zaremba & Sutskever 2015). The input tape holds `L` random symbols (`L` uniform in
    `[min_length, max_length]`), each repeated `duplication` times in a row (`aabbcc` for
    `abc`), blank cells on both sides. The agent sees only the cell under its read head,
    which starts on the first symbol, and each step may move the head and write one symbol
    of the output. The target is the `L` symbols, once each. Writes count only once the
    read head has left the input (it stands on a blank cell): the agent reads the tape,
    keeps every `duplication`-th symbol in memory and writes them out afterwards. With
    `interleaved=True` writes count anywhere, the old gym rule: then the agent only has to
    count to `duplication` while moving right. The tape mechanics are shared by all tape
    tasks (`memenvs.envs.tape`).

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
    limit is `d L + L + 4` steps for `d = duplication` (read every cell, write `L` symbols,
    4 spare): an episode still running after them is truncated on the next step.
    `info["success"]` is true when every symbol was written in time.

    ## Arguments
    - `base` (int in [2, 10**8], default 5): number of symbols.
    - `min_length` (int in [1, 10**8], default 2): fewest distinct symbols `L` (the target length).
    - `max_length` (int >= `min_length`, default 6): most distinct symbols.
    - `duplication` (int in [2, 10**8], default 2): how many times each symbol is repeated.
    - `interleaved` (bool, default False): let writes count while the head is on the input
      (gym's rule).

    ## Optimal Return
    1.0: move right over the input, then write every `duplication`-th symbol
    (`(d + 1) L` steps).

    ## Random-policy Return
    -0.132 with the defaults: a random policy soon walks off the input, where its writes
    count and are mostly wrong (`-0.5/T`), or it runs out of time (`-1/T`). Computed exactly
    by dynamic programming over (head position, symbols written) and checked by Monte Carlo.
    Memoryless return: at most 0.0713 with the defaults. A policy that sees only the current
    cell sees the blank whenever a write counts, so it writes from one fixed distribution
    and its first `k` writes are all right with probability at most `base**-k`: the bound is
    `E[sum_k base**-k / L]`. With `interleaved=True` no bound is given (1.0).

    ## Registered Configurations
    - `memenvs/TapeDuplicatedInput-v0`: the defaults.
    - `memenvs/TapeDuplicatedInput-Easy-v0`: `min_length=1, max_length=3`.
    - `memenvs/TapeDuplicatedInput-Medium-v0`: `min_length=8, max_length=16, duplication=3`.
    - `memenvs/TapeDuplicatedInput-Hard-v0`: `min_length=100, max_length=200`.

    ## Version History
    - v0: initial version.
    """

    task_cls = TapeDuplicatedInput


class TapeDuplicatedInputVectorEnv(MemoryVectorEnv):
    """Native vector version of :class:`TapeDuplicatedInputEnv` (same dynamics, N rows)."""

    task_cls = TapeDuplicatedInput
