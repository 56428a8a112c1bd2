"""PassiveVisualMatch: see a colour, wait through a distractor room, pick the same colour."""

from __future__ import annotations

import numpy as np

from memenvs.core import MemoryEnv, MemoryVectorEnv
from memenvs.envs.rooms import LAST_STEPS, PALETTE, ThreeRoomTask, hit_probability, square_columns

CUE_CELL = (2, 0)  # (x, y): top middle of the first room


class PassiveVisualMatch(ThreeRoomTask):
    """Batched dynamics of :class:`PassiveVisualMatchEnv`: a cue square in the first room."""

    name = "PassiveVisualMatch"
    first_steps = 4

    def __init__(
        self, num_envs: int, delay: int = 8, num_colors: int = 3, flat: bool = False
    ) -> None:
        super().__init__(num_envs, delay, num_colors, flat)
        squares = tuple((int(col), 0) for col in square_columns(self.num_colors))
        self.random_return = hit_probability(squares, LAST_STEPS) / self.num_colors
        self.memoryless_return = 1.0 / self.num_colors

    def draw_first(self, rows: np.ndarray) -> None:
        self.rooms[rows, 0, :, CUE_CELL[1] + 1, CUE_CELL[0] + 1] = PALETTE[self.cue[rows]]

    def describe_first(self, row: int, grid: list[list[str]], phase: int) -> None:
        if phase == 0:
            grid[CUE_CELL[1]][CUE_CELL[0]] = "RGBYM"[self.cue[row]]


class PassiveVisualMatchEnv(MemoryEnv):
    """See a colour, wait through a distractor room, then step onto the square of that colour.

    ## Description
    Three phases, each in its own `5 x 5` room (`memenvs.envs.rooms`). First (4 steps): a
    square of a random colour (one of `num_colors`) is shown on the top wall; the agent
    need do nothing. Then a distractor phase of `delay` steps in an empty room. Last: the
    top wall holds `num_colors` squares, one of each colour in random order; the agent
    walks onto one, and the episode ends. Only the square of the first phase's colour
    pays. The agent starts every phase at the bottom middle. Anchors: Hung et al. 2019
    (Passive Visual Match); Ni et al. 2023 (a gridworld version).

    ## Action Space
    `Discrete(4)`: 0 = up, 1 = down, 2 = left, 3 = right (into a wall: stay).

    ## Observation Space
    `Box(0, 255, (3, 7, 7), uint8)`: the current room as an RGB image, channel first,
    one pixel per cell: grey walls, the floor (black; brown in the distractor room), the
    coloured squares and the agent (white). With `flat=True`:
    `Box(0, 1, (147,), float32)`, the same image flattened and divided by 255.

    ## Rewards
    1 for stepping onto the square of the first phase's colour, else 0.

    ## Episode End
    Terminates when the agent steps onto a square in the last phase. Truncated if it has
    not after 8 steps of the last phase (`4 + delay + 8` steps in all).
    `info["success"]` is true when the right square was chosen.

    ## Arguments
    - `delay` (int in [0, 10**8], default 8): steps in the distractor phase.
    - `num_colors` (int in [2, 5], default 3): colours, and squares in the last phase.
    - `flat` (bool, default False): a flat float vector instead of an image.

    ## Optimal Return
    1.0 (walk along the bottom row to the right column, then up to the square).

    ## Random-policy Return
    0.0161 with the defaults: a random walk reaches some square within the 8 steps of
    the last phase with probability 0.0482 (computed exactly), and that square has the
    right colour with probability 1/3. Memoryless return: 1/`num_colors` (0.333), since
    the last room does not show the colour to match.

    ## Registered Configurations
    - `memenvs/PassiveVisualMatch-v0`: the defaults.
    - `memenvs/PassiveVisualMatch-Easy-v0`: `delay=2`.
    - `memenvs/PassiveVisualMatch-Medium-v0`: `delay=64`.
    - `memenvs/PassiveVisualMatch-Hard-v0`: `delay=500, num_colors=5`.

    ## Version History
    - v0: initial version.
    """

    task_cls = PassiveVisualMatch


class PassiveVisualMatchVectorEnv(MemoryVectorEnv):
    """Native vector version of :class:`PassiveVisualMatchEnv` (same dynamics, N rows)."""

    task_cls = PassiveVisualMatch
