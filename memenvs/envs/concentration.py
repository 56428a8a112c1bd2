"""Concentration: flip cards two at a time to find the pairs; remember where each one was."""

from __future__ import annotations

import functools

import numpy as np
from gymnasium import spaces

from memenvs.core import DRAW_BYTES, MemoryEnv, MemoryVectorEnv, Task, check_int, score_reward

#: The returns' chains first track up to this many pairs found ...
_BAND = 64
#: ... and double that while more are found with a probability above this.
_TAIL = 1e-18


def _power_apply(matrix: np.ndarray, steps: int, vec: np.ndarray) -> np.ndarray:
    """``matrix ** steps @ vec`` by repeated squaring (O(log steps) products)."""
    while steps:
        if steps & 1:
            vec = matrix @ vec
        steps >>= 1
        if steps:
            matrix = matrix @ matrix
    return vec


def _expected_found(num_pairs: int, band: int, guesser: bool) -> tuple[float, float]:
    """``(E[pairs found], P(more than band found))`` of one policy (see below)."""
    p, n = num_pairs, 2 * num_pairs
    j = np.arange(min(band, p) + 1)  # pairs found so far (m = p - j left); row band + 1: more
    m = (p - j).astype(np.float64)
    size = len(j) + 1
    if guesser:  # one state per j; a turn finds a pair with probability 1 / (2m - 1)
        a = np.zeros((size, size))
        hit = np.where(m > 0, 1.0 / np.maximum(2 * m - 1, 1), 0.0)
        a[j, j] = 1.0 - hit
        a[j + 1, j] = hit
        a[-1, -1] = 1.0
        steps = 2 * p  # turns of two valid flips
    else:  # states (j, phase) at 2 j + phase: phase 1 = a card is face up
        a = np.zeros((2 * size, 2 * size))
        # 2j of the n cards are matched (n - 2m, written so to keep tiny entries exact)
        live, down, gone = m > 0, 2 * m, 2.0 * j
        s0, s1 = 2 * j, 2 * j + 1
        a[s1, s0] = np.where(live, down / n, 0.0)  # a valid first flip
        a[s0, s0] = np.where(live, gone / n, 1.0)  # a matched card
        a[s0 + 2, s1] = np.where(live, 1.0 / n, 0.0)  # the partner
        a[s0, s1] = np.where(live, (down - 2) / n, 0.0)  # another face-down card
        a[s1, s1] = np.where(live, (gone + 1) / n, 1.0)  # a matched card or the one face up
        a[-2, -2] = a[-1, -1] = 1.0
        steps = 4 * p
    vec = np.zeros(len(a))
    vec[0] = 1.0
    dist = _power_apply(a, steps, vec)
    if not guesser:
        dist = dist[0::2] + dist[1::2]
    return float(j @ dist[:-1]), float(dist[-1])


@functools.lru_cache(maxsize=256)
def concentration_returns(num_pairs: int) -> tuple[float, float]:
    """``(random, guesser)``: exact expected returns of two policies without memory.

    ``random`` flips uniformly among all ``2P`` cards (a matched card or the card already
    face up wastes the step); ``guesser`` flips uniformly among the face-down cards, so
    each turn finds a pair with probability ``1 / (2m - 1)`` (``m`` pairs left).
    Both are Markov chains over (pairs found, a card face up?), run for the ``4P`` steps
    by repeated squaring of the transition matrix (O(log P) products). They track only
    the first ``_BAND`` pairs found (policies without memory rarely find more than a few),
    doubling that until more are found with probability below ``_TAIL``, so the cost
    hardly grows with ``P``.
    """
    out = []
    for guesser in (False, True):
        band = _BAND
        found, tail = _expected_found(num_pairs, band, guesser)
        while tail > _TAIL and band < num_pairs:
            band *= 2
            found, tail = _expected_found(num_pairs, band, guesser)
        out.append(found / num_pairs)
    return out[0], out[1]


class Concentration(Task):
    """Batched dynamics of :class:`ConcentrationEnv`.

    State per row: the faces ``layout[N, 2P]`` (each of ``P`` values twice, shuffled) and
    each card's ``partner``, the ``matched`` mask, the card face up waiting for its pair
    (``up``, -1 if none), the card just flipped (``last``, -1 if none), pairs found and the
    step ``t``. Steps on finished rows change nothing.
    """

    def __init__(self, num_envs: int, num_pairs: int = 4) -> None:
        super().__init__(num_envs)
        self.num_pairs = check_int("num_pairs", num_pairs, 2)
        p, n = self.num_pairs, 2 * self.num_pairs
        # per card and row: the layout, the partners and the deck (int64), matched (bool),
        # and a reset's shuffle (a draw; pairing the cards then takes as much)
        self.check_memory(5 * p + 1, (3 * 8 + 1 + DRAW_BYTES) * n + 64, num_pairs=p)
        # [position of the card just flipped (2P), its face (P), matched cards (2P), a card
        #  is face up waiting for its pair]
        self.observation_space = spaces.Box(0.0, 1.0, (5 * p + 1,), np.float32)
        self.action_space = spaces.Discrete(n)
        #: Steps after which an episode is truncated: a perfect memory needs at most 4P - 2.
        self.time_limit = 4 * p
        self._r = np.arange(num_envs)
        self._cards = np.tile(np.repeat(np.arange(p), 2), (num_envs, 1))
        self.layout = np.zeros((num_envs, n), dtype=np.int64)
        self.partner = np.zeros((num_envs, n), dtype=np.int64)
        self.matched = np.zeros((num_envs, n), dtype=bool)
        self.up = np.full(num_envs, -1, dtype=np.int64)
        self.last = np.full(num_envs, -1, dtype=np.int64)
        self.found = np.zeros(num_envs, dtype=np.int64)
        self.t = np.zeros(num_envs, dtype=np.int64)
        self.done = np.ones(num_envs, dtype=bool)

    @property
    def random_return(self) -> float:  # type: ignore[override]
        """Exact random-policy return (a dynamic programme, computed on first use)."""
        return concentration_returns(self.num_pairs)[0]

    @property
    def memoryless_return(self) -> float:  # type: ignore[override]
        """Exact return of flipping uniformly among face-down cards (computed on first use)."""
        return concentration_returns(self.num_pairs)[1]

    def reset_rows(self, rows: np.ndarray) -> None:
        count = len(rows)
        layout = self.rng.permuted(self._cards[:count], axis=1)
        order = np.argsort(layout, axis=1, kind="stable")  # the two cards of each face, paired
        first, second = order[:, 0::2], order[:, 1::2]
        partner = np.zeros_like(layout)
        r = np.arange(count)[:, None]
        partner[r, first] = second
        partner[r, second] = first
        self.layout[rows] = layout
        self.partner[rows] = partner
        self.matched[rows] = False
        self.up[rows] = -1
        self.last[rows] = -1
        self.found[rows] = 0
        self.t[rows] = 0
        self.done[rows] = False

    def step(self, actions: np.ndarray):
        r, up = self._r, self.up
        live = ~self.done
        valid = live & ~self.matched[r, actions] & (actions != up)
        second = valid & (up >= 0)
        match = second & (self.partner[r, actions] == up)
        rows = r[match]
        self.matched[rows, actions[match]] = True
        self.matched[rows, up[match]] = True
        self.found += match
        self.up = np.where(valid, np.where(second, -1, actions), up)
        self.last = np.where(valid, actions, -1)
        self.t += live
        terminated = match & (self.found == self.num_pairs)
        truncated = live & (self.t >= self.time_limit) & ~terminated
        self.done |= terminated | truncated
        return score_reward(self.found, match, self.num_pairs), terminated, truncated

    def observe(self) -> np.ndarray:
        p, n = self.num_pairs, 2 * self.num_pairs
        obs = np.zeros((self.num_envs, 5 * p + 1), dtype=np.float32)
        shown = self.last >= 0
        rows = self._r[shown]
        obs[rows, self.last[shown]] = 1.0
        obs[rows, n + self.layout[rows, self.last[shown]]] = 1.0
        obs[:, n + p : 2 * n + p] = self.matched
        obs[:, 5 * p] = self.up >= 0
        return obs

    def success(self) -> np.ndarray:
        return self.found == self.num_pairs

    def oracle(self) -> np.ndarray:
        """Flip the first unmatched card, then its partner (reads the hidden faces)."""
        first = np.argmax(~self.matched, axis=1)
        return np.where(self.up >= 0, self.partner[self._r, np.maximum(self.up, 0)], first)

    def describe(self, row: int) -> str:
        cards = []
        for i in range(2 * self.num_pairs):
            if self.matched[row, i]:
                cards.append(" . ")
            elif i == self.up[row] or i == self.last[row]:
                cards.append(f"[{self.layout[row, i]}]")
            else:
                cards.append(" ? ")
        t, p = int(self.t[row]), self.num_pairs
        status = f"{self.found[row]}/{p} pairs"
        if self.done[row]:
            status += ", " + ("all found" if self.found[row] == p else "out of time")
        return f"Concentration t={t}/{self.time_limit}  {status}\n  " + "".join(cards)


class ConcentrationEnv(MemoryEnv):
    """Flip cards two at a time to find the pairs, remembering where each face was seen.

    ## Description
    `2 P` cards lie face down (`P = num_pairs`), each of `P` faces on exactly two cards, in
    random order. Each step the agent flips one card and sees its face. A turn is two
    flips: if the two cards show the same face they are matched and leave the game;
    otherwise both are turned face down again. Flipping a matched card, or the card that
    is already face up, wastes the step. To find the pairs quickly the agent must remember
    where it saw each face. Anchor: POPGym `Concentration`.

    ## Action Space
    `Discrete(2 * num_pairs)`: the card to flip.

    ## Observation Space
    `Box(0, 1, (5 * num_pairs + 1,), float32)`: the one-hot position of the card just
    flipped (`2P`) and its one-hot face (`P`), both zero after a wasted step and at the
    start; the matched cards (`2P`); and a flag set when one card is face up waiting for
    its pair. Faces seen earlier are not shown again.

    ## Rewards
    `1/P` for each pair found.

    ## Episode End
    Terminates when every pair is found. Truncated after `4 P` steps: enough for an agent
    with perfect memory, which flips every card at most once before it knows its partner
    and needs at most `2P - 1` turns (`4P - 2` steps). `info["success"]` is true when every
    pair was found.

    ## Arguments
    - `num_pairs` (int in [2, 10**8], default 4): how many pairs `P`.

    ## Optimal Return
    1.0: with perfect memory every pair is found within the time limit (flip an unseen
    card; flip its partner if it was seen, else another unseen card; flip known pairs).

    ## Random-policy Return
    0.257 with the defaults (a uniformly random card each step, wasting some steps on
    matched and face-up cards); computed exactly from the Markov chain over (pairs found,
    a card face up?). Memoryless return: 0.373 with the defaults, the exact return of
    flipping uniformly among the face-down cards, which finds a pair in a turn with
    probability `1/(2m - 1)` (`m` pairs left). That is an estimate, not a bound: a policy
    that sees only the current observation has no other way to know where a face lies,
    except tricks that use the card just shown as a one-step memory (flip it again and
    guess its partner elsewhere), which gain a little on small boards.

    ## Registered Configurations
    - `memenvs/Concentration-v0`: the defaults.
    - `memenvs/Concentration-Easy-v0`: `num_pairs=2`.
    - `memenvs/Concentration-Medium-v0`: `num_pairs=8`.
    - `memenvs/Concentration-Hard-v0`: `num_pairs=64`.

    ## Version History
    - v0: initial version.
    """

    task_cls = Concentration


class ConcentrationVectorEnv(MemoryVectorEnv):
    """Native vector version of :class:`ConcentrationEnv` (same dynamics, N rows)."""

    task_cls = Concentration
