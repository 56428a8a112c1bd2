"""TapeReversedAddition: add numbers written digit by digit on a grid (gym ReversedAddition)."""

from __future__ import annotations

import functools

import numpy as np

from memenvs.core import MemoryEnv, MemoryVectorEnv, check_int
from memenvs.envs.tape import TapeTask


def add_columns(column_sums: np.ndarray, base: int, rows: int) -> np.ndarray:
    """The digits of a sum, least significant first, from its column sums ``[n, W]``.

    Returns ``[n, W]``: digit ``i`` is ``(s_i + c_i) mod base`` for the carry ``c_i`` into
    column ``i``. The carries come from a parallel prefix scan instead of a loop over the
    columns: column ``i`` maps an incoming carry ``c`` (at most ``rows - 1``) to the
    outgoing carry ``(s_i + c) // base``; composing these maps left to right in ``log2 W``
    doubling steps (Hillis & Steele) gives every column's incoming carry at once.
    """
    n, w = column_sums.shape
    carry_map = (column_sums[:, :, None] + np.arange(rows)) // base  # [n, W, rows]
    span = 1
    while span < w:
        composed = carry_map.copy()
        composed[:, span:] = np.take_along_axis(carry_map[:, span:], carry_map[:, :-span], axis=2)
        carry_map = composed
        span *= 2
    carry_in = np.zeros((n, w), dtype=np.int64)
    carry_in[:, 1:] = carry_map[:, :-1, 0]
    return (column_sums + carry_in) % base


@functools.lru_cache(maxsize=256)
def final_carry_probability(base: int, rows: int, width: int) -> float:
    """P(the sum of ``rows`` random ``width``-digit numbers has ``width + 1`` digits)."""
    digit_sum = np.ones(1)
    for _ in range(rows):
        digit_sum = np.convolve(digit_sum, np.full(base, 1.0 / base))
    carry = np.zeros(rows)
    carry[0] = 1.0
    sums = np.arange(len(digit_sum))
    for _ in range(width):
        new = np.zeros(rows)
        for c in range(rows):
            np.add.at(new, (sums + c) // base, carry[c] * digit_sum)
        carry = new
    return float(1.0 - carry[0])


class TapeReversedAddition(TapeTask):
    """Batched dynamics of :class:`TapeReversedAdditionEnv`.

    The input is a ``rows x W`` grid of digits, one number per row, least significant digit
    in column 0; the target is the digits of their sum, least significant first, with a
    last digit for a final carry (``T = W`` or ``W + 1``).
    """

    name = "TapeReversedAddition"

    def __init__(
        self,
        num_envs: int,
        rows: int = 2,
        base: int = 3,
        min_length: int = 2,
        max_length: int = 6,
        interleaved: bool = False,
    ) -> None:
        rows = check_int("rows", rows, 2)
        super().__init__(num_envs, base, min_length, max_length, rows, interleaved)
        if rows > self.base:
            raise ValueError(
                f"rows must be <= base (a final carry must fit in one digit), "
                f"got rows={rows} > base={self.base}"
            )

    def target_capacity(self, length: int) -> int:
        return length + 1

    def target_bytes(self, max_length: int) -> int:
        # int64 [M + 1] each: the column sums, the shared column index, and three carry maps
        # of add_columns (each [M + 1, rows]) at once
        return 8 * (max_length + 1) * (2 + 3 * self.rows)

    def make_target(self, symbols: np.ndarray, lengths: np.ndarray):
        n, _, hi = symbols.shape
        sums = np.zeros((n, hi + 1), dtype=np.int64)
        sums[:, :hi] = np.where(np.arange(hi)[None, :] < lengths[:, None], symbols.sum(axis=1), 0)
        digits = add_columns(sums, self.base, self.rows)
        final = digits[np.arange(n), lengths]  # the carry out of the last column
        return digits, lengths + (final > 0)

    def episode_shapes(self, length: int):
        p = final_carry_probability(self.base, self.rows, length)
        return [(1.0 - p, length, length, length), (p, length, length + 1, length)]


class TapeReversedAdditionEnv(MemoryEnv):
    """Read numbers written digit by digit on a grid, then write their sum.

    ## Description
    The grid version of the reversed-addition task (gym's retired `ReversedAddition-v0`
    and `ReversedAddition3-v0`; Zaremba & Sutskever 2015). The input is a grid of `rows`
    numbers of `L` digits in base `base` (`L` uniform in `[min_length, max_length]`), one
    number per row, written least significant digit first (column 0), with blank cells all
    around. The agent sees only the cell under its read head, which starts on the top-left
    digit, moves the head left, right, up or down, and may write one digit of the output
    per step. The target is the sum, least significant digit first: `L` digits, plus one
    more when there is a final carry. Writes count only once the read head has left the
    grid (it stands on a blank cell): the agent reads the digits, adds them up in memory
    and writes the sum afterwards. With `interleaved=True` writes count anywhere, the old
    gym rule: then it suffices to read a column, write its digit and carry on, remembering
    only the carry and the column's partial sum. The tape mechanics are shared by all tape
    tasks (`memenvs.envs.tape`).

    ## Action Space
    `MultiDiscrete([4, 2, base])`: `(move, write, digit)`. `move`: 0 = left, 1 = right,
    2 = up, 3 = down (the head may leave the grid on any side). `write`: 1 to write `digit`
    as the next output digit, 0 to write nothing. The write happens before the move.

    ## Observation Space
    `Box(0, 1, (base + 1,), float32)`: the one-hot digit under the read head; the last
    entry is the blank (off the grid).

    ## Rewards
    `+1/T` for each right digit written (`T` = the length of the sum). A wrong digit gives
    `-0.5/T` and ends the episode. Unless `interleaved`, writes while the head is on the
    grid are ignored (no reward, nothing written). The step that runs out of time gives
    `-1/T` instead of its reward (the old gym rewards, divided by the target length).

    ## Episode End
    Terminates when all `T` digits are written, or at the first wrong write. The time
    limit is `rows L + T + 4` steps (read every digit, write the sum, 4 spare; the old gym
    limit of `2 L + 4` made the 3-row task unsolvable): an episode still running after them
    is truncated on the next step. `info["success"]` is true when
    every digit was written in time.

    ## Arguments
    - `rows` (int in [2, `base`], default 2): how many numbers are added.
    - `base` (int in [2, 10**8], default 3): the number base.
    - `min_length` (int in [1, 10**8], default 2): fewest digits per number.
    - `max_length` (int >= `min_length`, default 6): most digits per number.
    - `interleaved` (bool, default False): let writes count while the head is on the grid
      (gym's rule).

    ## Optimal Return
    1.0: read the grid column by column (down the even columns, up the odd ones), step off
    it to the right, then write the sum (`rows L + T` steps).

    ## Random-policy Return
    -0.00996 with the defaults: a random policy soon walks off the grid, where its writes
    count and are mostly wrong (`-0.5/T`), or it runs out of time (`-1/T`). Computed exactly
    by dynamic programming over (head position, digits written) and checked by Monte Carlo.
    Memoryless return: at most 0.127 with the defaults. A policy that sees only the current
    cell sees the blank whenever a write counts, so it writes from one fixed distribution;
    the first `L` digits of the sum are independent and uniform, so its first `k` writes are
    all right with probability at most `base**-min(k, L)`: the bound is `E[sum_k
    base**-min(k, L) / T]`. With `interleaved=True` no bound is given (1.0).

    ## Registered Configurations
    - `memenvs/TapeReversedAddition-v0`: the defaults (2 rows, base 3, like gym's
      `ReversedAddition-v0`).
    - `memenvs/TapeReversedAddition-Easy-v0`: `min_length=1, max_length=3`.
    - `memenvs/TapeReversedAddition-Medium-v0`: `rows=3, min_length=6, max_length=12`
      (like gym's `ReversedAddition3-v0`).
    - `memenvs/TapeReversedAddition-Hard-v0`: `rows=3, min_length=100, max_length=200`.

    ## Version History
    - v0: initial version.
    """

    task_cls = TapeReversedAddition


class TapeReversedAdditionVectorEnv(MemoryVectorEnv):
    """Native vector version of :class:`TapeReversedAdditionEnv` (same dynamics, N rows)."""

    task_cls = TapeReversedAddition
