"""AssociativeRecall: see a list of key-value items, then name the value of a queried key."""

from __future__ import annotations

import numpy as np
from gymnasium import spaces

from memenvs.core import (
    MemoryEnv,
    MemoryVectorEnv,
    Task,
    check_int,
    check_min_max,
    one_hot,
    one_hot_rows,
)


class AssociativeRecall(Task):
    """Batched dynamics of :class:`AssociativeRecallEnv`.

    Each row keeps one int track of observation codes (key ``s`` -> ``s``, value ``s`` ->
    ``K+s``, query ``s`` -> ``2K+s``, episode over -> ``3K``) of width ``2 M + 2`` for
    ``M = max_items``: ``M`` (key, value) pairs, the query, then ``3K``. The row's items are
    the last ``n`` of the ``M`` pairs (right-aligned, so the query sits in a fixed column
    and a reset writes whole blocks), and step ``t`` shows column ``t + 2 (M - n)``. The
    only scored step is the query at ``t = 2 n``; ``t`` stops at ``2 n + 1``, so rows
    stepped after their end stay in bounds.
    """

    def __init__(
        self, num_envs: int, num_symbols: int = 16, min_items: int = 2, max_items: int = 6
    ) -> None:
        super().__init__(num_envs)
        self.num_symbols = check_int("num_symbols", num_symbols, 2)
        self.items_range = check_min_max("min_items", min_items, "max_items", max_items, 1)
        k, m = self.num_symbols, self.items_range[1]
        if m > k:
            raise ValueError(
                f"max_items must be <= num_symbols (keys are distinct symbols), "
                f"got max_items={m} > num_symbols={k}"
            )
        # a reset shuffles the K symbols per row: about four K-sized int64 temporaries a row
        self.check_memory(k + 3, 8 * (4 * k + 2 * m + 12), 8 * k, num_symbols=k, max_items=m)
        # [symbol one-hot (K), key flag, value flag, query flag]
        self.observation_space = spaces.Box(0.0, 1.0, (k + 3,), np.float32)
        self.action_space = spaces.Discrete(k)
        self.random_return = 1.0 / k
        self.memoryless_return = 1.0 / k
        self.track = np.zeros((num_envs, 2 * m + 2), dtype=np.int64)
        self.track[:, 2 * m + 1] = 3 * k
        self._base = np.arange(num_envs, dtype=np.int64) * (2 * m + 2)
        self._symbols = np.arange(k, dtype=np.int64)
        self._idx = np.zeros(num_envs, dtype=np.int64)
        self.num_items = np.ones(num_envs, dtype=np.int64)  # n
        self.query = np.zeros(num_envs, dtype=np.int64)  # the queried key
        self.answer = np.zeros(num_envs, dtype=np.int64)  # its value
        self.query_t = np.full(num_envs, 2, dtype=np.int64)  # the query step, 2 n
        self.stop = np.full(num_envs, 3, dtype=np.int64)  # end-of-episode slot, 2 n + 1
        self.obs_off = self._base + 2 * m - 2  # base + 2 (M - n)
        self.t = np.zeros(num_envs, dtype=np.int64)
        self.correct = np.zeros(num_envs, dtype=bool)

    def reset_rows(self, rows: np.ndarray) -> None:
        k, (lo, m) = self.num_symbols, self.items_range
        count = len(rows)
        u = self.rng.random((count, m + 2))
        n = lo + (u[:, 0] * (m - lo + 1)).astype(np.int64)
        # distinct keys: the first M symbols of a random permutation, per row
        keys = self.rng.permuted(np.broadcast_to(self._symbols, (count, k)), axis=1)[:, :m]
        values = (u[:, 2:] * k).astype(np.int64)
        item = m - n + (u[:, 1] * n).astype(np.int64)  # uniform over the row's n items
        r = np.arange(count)
        self.track[rows, 0 : 2 * m : 2] = keys
        self.track[rows, 1 : 2 * m : 2] = k + values
        self.query[rows] = keys[r, item]
        self.track[rows, 2 * m] = 2 * k + keys[r, item]
        self.answer[rows] = values[r, item]
        self.num_items[rows] = n
        self.query_t[rows] = 2 * n
        self.stop[rows] = 2 * n + 1
        self.obs_off[rows] = self._base[rows] + 2 * (m - n)
        self.t[rows] = 0
        self.correct[rows] = False

    def step(self, actions: np.ndarray):
        at_query = self.t == self.query_t
        correct = actions == self.answer
        correct &= at_query
        self.correct |= correct
        self.t += 1
        np.minimum(self.t, self.stop, out=self.t)
        return correct.astype(np.float64), at_query, np.zeros(self.num_envs, dtype=bool)

    def observe(self) -> np.ndarray:
        k = self.num_symbols
        np.add(self.t, self.obs_off, out=self._idx)
        codes = self.track.take(self._idx)
        kind = codes // k  # code = kind K + symbol: key, value, query, 3 = episode over
        shown = kind < 3
        obs = one_hot(codes - kind * k, k + 3, shown)  # the symbol
        one_hot_rows(obs, k + kind, shown)  # the key, value or query flag
        return obs

    def items(self, row: int) -> tuple[np.ndarray, np.ndarray]:
        """The keys and values shown in ``row``, in order (``n`` each)."""
        m, n = self.items_range[1], int(self.num_items[row])
        shown = self.track[row, 2 * (m - n) : 2 * m]
        return shown[0::2].copy(), shown[1::2] - self.num_symbols

    def success(self) -> np.ndarray:
        return self.correct.copy()

    def oracle(self) -> np.ndarray:
        return self.answer.copy()

    def describe(self, row: int) -> str:
        t, n = int(self.t[row]), int(self.num_items[row])
        if t < 2 * n:
            keys, values = self.items(row)
            i = t // 2
            what = f"item {i + 1}/{n} " + (f"key {keys[i]}" if t % 2 == 0 else f"value {values[i]}")
        elif t == 2 * n:
            what = f"query: the value of key {self.query[row]}?"
        else:
            what = "episode over (" + ("correct" if self.correct[row] else "wrong") + ")"
        return f"AssociativeRecall t={t}/{2 * n + 1}  {what}"


class AssociativeRecallEnv(MemoryEnv):
    """See a list of key-value items, then name the value stored under a queried key.

    ## Description
    A variant of the Neural Turing Machine associative-recall task posed as RL. Each
    episode draws `n` items (`n` uniform in `[min_items, max_items]`): a key and a value,
    each one of `num_symbols` symbols, keys distinct within the episode, values
    independent and uniform. The items are shown as a key step then a value step each,
    then a query step shows one of the keys (chosen uniformly). The action taken at the
    query step is scored; all other actions are ignored. Anchor: Graves et al. 2014,
    "Neural Turing Machines", associative recall (there the items are sequences and the
    answer is the next item; here they are single symbols in key-value pairs).

    ## Action Space
    `Discrete(num_symbols)`: the value named (only scored at the query step).

    ## Observation Space
    `Box(0, 1, (num_symbols + 3,), float32)`: a one-hot symbol (the key, the value or
    the queried key), then a key flag, a value flag and a query flag. After the query
    step the observation is all zeros.

    ## Rewards
    1 at the query step if the action equals the value of the queried key, else 0.

    ## Episode End
    Terminates after the query step, i.e. after `2 n + 1` steps. `info["success"]` is
    true when the answer was right.

    ## Arguments
    - `num_symbols` (int in [2, 10**8], default 16): alphabet size K of keys and values.
    - `min_items` (int in [1, 10**8], default 2): fewest items.
    - `max_items` (int in [`min_items`, `num_symbols`], default 6): most items.

    ## Optimal Return
    1.0 (name the value stored under the queried key).

    ## Random-policy Return
    1/K (0.0625 with the defaults). Memoryless return: also 1/K at best, since the query
    observation shows only the key and values are uniform and independent of keys.

    ## Registered Configurations
    - `memenvs/AssociativeRecall-v0`: the defaults.
    - `memenvs/AssociativeRecall-Easy-v0`: `num_symbols=8, min_items=2, max_items=4`.
    - `memenvs/AssociativeRecall-Medium-v0`: `num_symbols=32, min_items=4, max_items=16`.
    - `memenvs/AssociativeRecall-Hard-v0`: `num_symbols=512, min_items=128, max_items=256`.

    ## Version History
    - v0: initial version.
    """

    task_cls = AssociativeRecall


class AssociativeRecallVectorEnv(MemoryVectorEnv):
    """Native vector version of :class:`AssociativeRecallEnv` (same dynamics, N rows)."""

    task_cls = AssociativeRecall
