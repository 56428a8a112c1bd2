"""TMaze: carry a cue along a corridor of length L, then pick the matching arm."""

from __future__ import annotations

import functools

import numpy as np
from gymnasium import spaces

from memenvs.core import MemoryEnv, MemoryVectorEnv, Task, check_bool, check_int

# active actions
FORWARD, BACK, UP, DOWN = 0, 1, 2, 3
ARM_NAMES = ("up", "down")


#: Above this length the random walk reaches the junction with probability below 1e-40.
_FAR = 200


@functools.lru_cache(maxsize=64)
def active_random_return(length: int) -> float:
    """Exact expected return of the uniformly random policy in the active maze.

    Dynamic programming over (step, position): ``p[x]`` is the probability that the
    episode is still running with the agent at cell ``x`` (``x == length`` is the junction).
    Beyond ``_FAR`` cells it is -3/4, every step wasted with probability 3/4 over the whole
    time limit: the walk (+1 or -1 with probability 1/4 each, held at 0) reaches the
    junction within ``T = 2L + 2`` steps with probability at most
    ``T**2 * 3**-L * (4/3)**T`` (a Chernoff bound on each of its ``T**2`` stretches), below
    1e-40 there, so the exact return differs from -3/4 by less than ``T`` times that.
    """
    n = length
    if n > _FAR:
        return -0.75
    limit = 2 * n + 2
    penalty = 1.0 / limit
    p = np.zeros(n + 1)
    p[0] = 1.0
    ret = 0.0
    for _ in range(limit):
        corridor, junction = p[:n], p[n]
        ret += 0.25 * junction  # the correct arm
        ret -= penalty * (0.75 * corridor.sum() + 0.5 * junction)  # back, arms / fwd, back
        new = np.zeros(n + 1)
        new[1:] += 0.25 * corridor  # forward (from cell n - 1 into the junction)
        new[:n] += 0.5 * corridor  # an arm chosen in the corridor: stay
        new[:n] += 0.25 * p[1:]  # back (from the junction to cell n - 1)
        new[0] += 0.25 * p[0]  # back at the start: stay
        new[n] += 0.25 * junction  # forward at the junction: stay
        p = new  # the other half of the junction mass chose an arm and ended
    return float(ret)


class TMaze(Task):
    """Batched dynamics of :class:`TMazeEnv`."""

    def __init__(self, num_envs: int, length: int = 16, active: bool = False) -> None:
        super().__init__(num_envs)
        self.length = check_int("length", length, 1)
        self.active = check_bool("active", active)
        n = self.length
        # [cue up, cue down, in corridor, at junction]
        self.observation_space = spaces.Box(0.0, 1.0, (4,), np.float32)
        self.action_space = spaces.Discrete(4 if self.active else 2)
        #: Steps after which an active episode is truncated (passive ones end after n + 1).
        self.time_limit = 2 * n + 2
        #: Cost of a wasted move in the active maze (a whole episode of them costs 1).
        self.penalty = 1.0 / self.time_limit
        self._penalty = np.float32(self.penalty)
        self.memoryless_return = 0.5
        self.cue = np.zeros(num_envs, dtype=np.int64)  # 0 = up arm, 1 = down arm
        self.pos = np.zeros(num_envs, dtype=np.int64)  # n = junction, n + 1 = in an arm
        self.t = np.zeros(num_envs, dtype=np.int64)
        self.correct = np.zeros(num_envs, dtype=bool)

    @property
    def random_return(self) -> float:  # type: ignore[override]
        """Exact random-policy return (active: a dynamic programme, computed on first use)."""
        return active_random_return(self.length) if self.active else 0.5

    def reset_rows(self, rows: np.ndarray) -> None:
        self.cue[rows] = self.rng.integers(0, 2, size=len(rows))
        self.pos[rows] = 0
        self.t[rows] = 0
        self.correct[rows] = False

    def step(self, actions: np.ndarray):
        n, pos = self.length, self.pos
        self.t += 1
        if not self.active:
            choose = pos == n  # carried along; the action only counts at the junction
            correct = choose & (actions == self.cue)
            pos += 1
            self.correct |= correct
            return correct.astype(np.float32), choose, np.zeros(self.num_envs, dtype=bool)
        forward = (actions == FORWARD) & (pos < n)
        choose = (actions >= UP) & (pos == n)
        correct = choose & (actions - UP == self.cue)
        pos -= (actions == BACK) & (pos > 0)
        pos += forward
        pos += choose  # into the arm: the episode is over
        self.correct |= correct
        reward = correct - self._penalty * ~(forward | choose)
        truncated = (self.t >= self.time_limit) & ~choose
        return reward, choose, truncated

    def observe(self) -> np.ndarray:
        obs = np.zeros((self.num_envs, 4), dtype=np.float32)
        first = self.t == 0
        obs[:, 0] = first & (self.cue == 0)
        obs[:, 1] = first & (self.cue == 1)
        obs[:, 2] = self.pos < self.length
        obs[:, 3] = self.pos == self.length
        return obs

    def success(self) -> np.ndarray:
        return self.correct.copy()

    def oracle(self) -> np.ndarray:
        if not self.active:
            return self.cue.copy()
        return np.where(self.pos < self.length, FORWARD, UP + self.cue)

    def describe(self, row: int) -> str:
        n, pos, t = self.length, int(self.pos[row]), int(self.t[row])
        kind = "active" if self.active else "passive"
        if pos > n:
            what = "episode over (" + ("correct" if self.correct[row] else "wrong") + " arm)"
        elif pos == n:
            what = "at the junction: up or down?"
        else:
            what = f"corridor cell {pos}/{n}"
        cue = f"  cue: {ARM_NAMES[self.cue[row]]}" if t == 0 else ""
        return f"TMaze ({kind}) t={t}  {what}{cue}"


class TMazeEnv(MemoryEnv):
    """Walk a corridor, then turn into the arm the cue at its start pointed to.

    ## Description
    A T-shaped maze: a corridor of `length` cells (L) ends in a junction with an up arm and
    a down arm. The cue, up or down, is shown only in the very first observation. At the
    junction the agent picks an arm and the episode ends; the arm matching the cue pays 1.
    In the passive maze (`active=False`) the agent is carried one cell per step, so it
    reaches the junction after L steps and only its action there counts. In the active
    maze (`active=True`) it must walk there itself, and every move that does not bring it
    closer to the end costs a little. Anchors: Bakker 2002; Ni et al. 2023 (Passive and
    Active T-Maze, lengths up to 1500).

    ## Action Space
    Passive: `Discrete(2)`: 0 = up arm, 1 = down arm (ignored before the junction).
    Active: `Discrete(4)`: 0 = forward, 1 = back, 2 = up arm, 3 = down arm.

    ## Observation Space
    `Box(0, 1, (4,), float32)`: `[cue up, cue down, in corridor, at junction]`. The cue
    channels are set only in the first observation of the episode; the agent's position
    in the corridor is not observed, only whether it stands at the junction. After an arm
    is chosen the observation is all zeros.

    ## Rewards
    1 for choosing the arm that matches the cue, 0 for the other arm. Active maze only: a
    wasted move costs `1 / (2L + 2)` (one over the time limit, so a whole episode of them
    costs 1). Wasted moves are: back (even at the start, where the agent stays put), an
    arm chosen before the junction, and forward at the junction. The optimal path (L
    forward moves, then the cued arm) has no wasted move.

    ## Episode End
    Terminates when an arm is chosen: after exactly `L + 1` steps in the passive maze. The
    active maze is truncated after `2L + 2` steps if no arm was chosen by then.

    ## Arguments
    - `length` (int in [1, 10**8], default 16): corridor length L.
    - `active` (bool, default False): the agent walks (4 actions) instead of being carried.

    ## Optimal Return
    1.0 (passive: name the cue at the junction; active: L forward moves, then the cued
    arm, L + 1 steps).

    ## Random-policy Return
    Passive: 0.5 (a fair coin at the junction). Active: about -0.75, as the random walk
    wastes three moves in four and almost never reaches the junction before the time
    limit. Computed exactly by dynamic programming over (step, position) (-3/4 beyond
    `length=200`, where the junction is out of reach but for a chance below 1e-40) and
    checked by Monte Carlo: -0.75 for `length=16` (-0.74997) and `length=512`
    (`memenvs/TMaze-Hard-v0`); -0.714 for `length=4`, -0.455 for `length=1`. Memoryless
    return: 0.5 at best in both variants, since the junction observation carries no
    information about the cue.

    ## Registered Configurations
    - `memenvs/TMaze-v0`: the defaults (passive, `length=16`).
    - `memenvs/TMaze-Easy-v0`: `length=8`.
    - `memenvs/TMaze-Medium-v0`: `length=64`.
    - `memenvs/TMaze-Hard-v0`: `length=512, active=True`.

    ## Version History
    - v0: initial version.
    """

    task_cls = TMaze


class TMazeVectorEnv(MemoryVectorEnv):
    """Native vector version of :class:`TMazeEnv` (same dynamics, N rows)."""

    task_cls = TMaze
