"""KeyToDoor: pick up a coloured key, wait through a distractor room, open its door."""

from __future__ import annotations

import numpy as np

from memenvs.core import MemoryEnv, MemoryVectorEnv
from memenvs.envs.rooms import (
    FLOORS,
    LAST_STEPS,
    PALETTE,
    RIGHT,
    SIZE,
    START,
    UP,
    ThreeRoomTask,
    hit_probability,
    square_columns,
)

LEFT, DOWN = 2, 1
#: The cells a key can lie on: every floor cell but the start.
KEY_CELLS = np.array(
    [(x, y) for y in range(SIZE) for x in range(SIZE) if (x, y) != START], dtype=np.int64
)


class KeyToDoor(ThreeRoomTask):
    """Batched dynamics of :class:`KeyToDoorEnv`: a key to pick up in the first room."""

    name = "KeyToDoor"
    first_steps = 6  # enough to reach any key cell from the start

    def __init__(
        self, num_envs: int, delay: int = 8, num_colors: int = 3, flat: bool = False
    ) -> None:
        super().__init__(num_envs, delay, num_colors, flat)
        squares = tuple((int(col), 0) for col in square_columns(self.num_colors))
        picked = np.mean(
            [hit_probability(((int(x), int(y)),), self.first_steps) for x, y in KEY_CELLS]
        )
        self.random_return = picked * hit_probability(squares, LAST_STEPS) / self.num_colors
        self.memoryless_return = 1.0 / self.num_colors
        self.key_x = np.zeros(num_envs, dtype=np.int64)
        self.key_y = np.zeros(num_envs, dtype=np.int64)
        self.has_key = np.zeros(num_envs, dtype=bool)

    def reset_first(self, rows: np.ndarray) -> None:
        cell = KEY_CELLS[self.rng.integers(0, len(KEY_CELLS), size=len(rows))]
        self.key_x[rows] = cell[:, 0]
        self.key_y[rows] = cell[:, 1]
        self.has_key[rows] = False

    has_first_phase_step = True

    def first_phase_step(self, moved: np.ndarray) -> None:
        picked = moved & (self.x == self.key_x) & (self.y == self.key_y) & ~self.has_key
        if picked.any():
            self.has_key |= picked
            rows = np.flatnonzero(picked)
            self.rooms[rows, 0, :, self.key_y[rows] + 1, self.key_x[rows] + 1] = FLOORS[0]

    def first_phase_oracle(self) -> np.ndarray:
        dx, dy = self.key_x - self.x, self.key_y - self.y
        return np.where(
            dx > 0, RIGHT, np.where(dx < 0, LEFT, np.where(dy < 0, UP, np.where(dy > 0, DOWN, UP)))
        )

    def pays(self) -> np.ndarray:
        return self.has_key

    def draw_first(self, rows: np.ndarray) -> None:
        key = PALETTE[self.cue[rows]]
        self.rooms[rows, 0, :, self.key_y[rows] + 1, self.key_x[rows] + 1] = key

    def describe_first(self, row: int, grid: list[list[str]], phase: int) -> None:
        if phase == 0 and not self.has_key[row]:
            grid[self.key_y[row]][self.key_x[row]] = "RGBYM"[self.cue[row]]
        if self.has_key[row]:
            grid[0].append(f"  (holding the {'RGBYM'[self.cue[row]]} key)")


class KeyToDoorEnv(MemoryEnv):
    """Pick up a coloured key, wait through a distractor room, then open the door it fits.

    ## Description
    Three phases, each in its own `5 x 5` room (`memenvs.envs.rooms`). First (6 steps): a
    key of a random colour (one of `num_colors`) lies on a random cell; stepping onto it
    picks it up (it is not shown afterwards). Then a distractor phase of `delay` steps in
    an empty room. Last: the top wall holds `num_colors` doors, one of each colour in
    random order; the agent walks into one, and the episode ends. Only the door of the
    key's colour pays, and only if the agent picked the key up. The agent starts every
    phase at the bottom middle. The agent must both learn that picking up the key (long
    before any reward) matters, and remember its colour. Anchors: Hung et al. 2019
    (Key-to-Door); Ni et al. 2023 (a gridworld version). Here the doors are coloured, so
    that the task needs memory and not only credit assignment.

    ## Action Space
    `Discrete(4)`: 0 = up, 1 = down, 2 = left, 3 = right (into a wall: stay).

    ## Observation Space
    `Box(0, 255, (3, 7, 7), uint8)`: the current room as an RGB image, channel first,
    one pixel per cell: grey walls, the floor (black; brown in the distractor room), the
    key or the doors, and the agent (white). Whether the agent holds the key is not shown.
    With `flat=True`: `Box(0, 1, (147,), float32)`, the same image flattened and divided
    by 255.

    ## Rewards
    1 for walking into the door of the key's colour while holding the key, else 0.

    ## Episode End
    Terminates when the agent walks into a door in the last phase. Truncated if it has
    not after 8 steps of the last phase (`6 + delay + 8` steps in all).
    `info["success"]` is true when the right door was opened.

    ## Arguments
    - `delay` (int in [0, 10**8], default 8): steps in the distractor phase.
    - `num_colors` (int in [2, 5], default 3): key colours, and doors in the last phase.
    - `flat` (bool, default False): a flat float vector instead of an image.

    ## Optimal Return
    1.0 (walk to the key, then along the bottom row and up to its door).

    ## Random-policy Return
    0.00229 with the defaults: a random walk picks up the key within 6 steps with
    probability 0.143, reaches some door within the 8 steps of the last phase with
    probability 0.0482, and that door has the key's colour with probability 1/3 (all
    computed exactly). Memoryless return: 1/`num_colors` (0.333): the key can be fetched
    without memory, but the last room does not show its colour.

    ## Registered Configurations
    - `memenvs/KeyToDoor-v0`: the defaults.
    - `memenvs/KeyToDoor-Easy-v0`: `delay=2`.
    - `memenvs/KeyToDoor-Medium-v0`: `delay=64`.
    - `memenvs/KeyToDoor-Hard-v0`: `delay=500, num_colors=5`.

    ## Version History
    - v0: initial version.
    """

    task_cls = KeyToDoor


class KeyToDoorVectorEnv(MemoryVectorEnv):
    """Native vector version of :class:`KeyToDoorEnv` (same dynamics, N rows)."""

    task_cls = KeyToDoor
