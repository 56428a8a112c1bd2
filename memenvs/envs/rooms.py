"""The shared dynamics of the three-room tasks: KeyToDoor and PassiveVisualMatch.

Both follow Hung et al. 2019 ("Optimizing agent behavior over long time scales by
transporting value") as simplified gridworlds by Ni et al. 2023 ("When do transformers
shine in RL?"): an episode is three phases, each in its own small room.

1. **First phase** (``first_steps`` steps): something is shown (a coloured cue square, or
   a coloured key to pick up).
2. **Distractor phase** (``delay`` steps): an empty room; nothing the agent does matters.
3. **Last phase** (at most ``LAST_STEPS`` steps): ``num_colors`` coloured squares along the
   top wall, in random order; stepping onto one ends the episode, and what was seen in
   the first phase decides whether it pays.

Each room is a ``5 x 5`` floor inside a wall, drawn as a ``7 x 7`` RGB image, channel
first, ``uint8``; with ``flat=True`` the same image comes flattened and scaled to [0, 1]
(float32). The agent (white) starts every phase at the bottom middle and moves up, down,
left or right (into a wall: stays). A subclass sets ``first_steps`` and implements the
first phase (:meth:`ThreeRoomTask.draw_first`, :meth:`ThreeRoomTask.first_phase_step`,
:meth:`ThreeRoomTask.first_phase_oracle`) and who wins (:meth:`ThreeRoomTask.pays`).
"""

from __future__ import annotations

import functools
from typing import ClassVar

import numpy as np
from gymnasium import spaces

from memenvs.core import Task, check_bool, check_int

SIZE = 5  # floor cells per side
START = (2, 4)  # (x, y): bottom middle
LAST_STEPS = 8  # the last phase's time limit (the oracle needs at most 6)
UP, DOWN, LEFT, RIGHT = 0, 1, 2, 3
_DX = np.array([0, 0, -1, 1], dtype=np.int64)
_DY = np.array([-1, 1, 0, 0], dtype=np.int64)
_CLAMP = np.clip(np.arange(-1, SIZE + 1), 0, SIZE - 1)  # _CLAMP[v + 1]: v kept in the room
#: Square colours: red, green, blue, yellow, magenta.
PALETTE = np.array(
    [[230, 40, 40], [40, 200, 40], [50, 80, 240], [230, 220, 40], [220, 50, 220]], dtype=np.uint8
)
WALL = (110, 110, 110)
FLOORS = ((0, 0, 0), (45, 35, 20), (0, 0, 0))  # first, distractor, last phase
AGENT = (255, 255, 255)


def square_columns(num_colors: int) -> np.ndarray:
    """The floor columns of the last phase's coloured squares (top row), spread out."""
    return np.round(np.linspace(0, SIZE - 1, num_colors)).astype(np.int64)


def _walk(p: np.ndarray) -> np.ndarray:
    """One uniformly random move of a position distribution ``p[y, x]`` (walls: stay)."""
    new = np.zeros_like(p)
    new[:-1, :] += p[1:, :] / 4  # up
    new[0, :] += p[0, :] / 4
    new[1:, :] += p[:-1, :] / 4  # down
    new[-1, :] += p[-1, :] / 4
    new[:, :-1] += p[:, 1:] / 4  # left
    new[:, 0] += p[:, 0] / 4
    new[:, 1:] += p[:, :-1] / 4  # right
    new[:, -1] += p[:, -1] / 4
    return new


@functools.lru_cache(maxsize=64)
def hit_probability(target: tuple[tuple[int, int], ...], steps: int) -> float:
    """P(a uniformly random walk from ``START`` steps onto a ``target`` cell within ``steps``)."""
    p = np.zeros((SIZE, SIZE))
    p[START[1], START[0]] = 1.0
    hit = 0.0
    cells = tuple(np.array(target).T[::-1])  # (ys, xs)
    for _ in range(steps):
        p = _walk(p)
        hit += p[cells].sum()
        p[cells] = 0.0
    return float(hit)


class ThreeRoomTask(Task):
    """Batched dynamics shared by the three-room tasks (see the module docstring).

    State per row: the step ``t`` and the phase it implies, the agent's cell ``(x, y)``,
    the cue colour, the order of the last phase's colours ``order[N, C]``, the outcome,
    and the images of the row's three rooms without the agent (drawn at reset, so an
    observation is one gather plus the agent).
    """

    #: The task's name (shown by ``describe``).
    name: ClassVar[str] = "ThreeRooms"
    #: Steps in the first phase.
    first_steps: ClassVar[int] = 4

    def __init__(self, num_envs: int, delay: int, num_colors: int, flat: bool) -> None:
        super().__init__(num_envs)
        self.delay = check_int("delay", delay, 0)
        self.num_colors = check_int("num_colors", num_colors, 2, len(PALETTE))
        self.flat = check_bool("flat", flat)
        c = self.num_colors
        side = SIZE + 2
        self.check_memory(3 * side * side, 9 * side * side + 8 * (c + 8), delay=self.delay)
        if self.flat:
            self.observation_space = spaces.Box(0.0, 1.0, (3 * side * side,), np.float32)
        else:
            self.observation_space = spaces.Box(0, 255, (3, side, side), np.uint8)
        self.action_space = spaces.Discrete(4)
        #: Steps in the whole episode at most.
        self.time_limit = self.first_steps + self.delay + LAST_STEPS
        self._last_start = self.first_steps + self.delay
        self._columns = square_columns(c)
        self._square_at = np.full(SIZE, -1, dtype=np.int64)
        self._square_at[self._columns] = np.arange(c)
        self._rooms = np.zeros((3, 3, side, side), dtype=np.uint8)  # phase, channel, y, x
        for phase, floor in enumerate(FLOORS):
            self._rooms[phase] = np.asarray(WALL, dtype=np.uint8)[:, None, None]
            self._rooms[phase, :, 1:-1, 1:-1] = np.asarray(floor, dtype=np.uint8)[:, None, None]
        self._r = np.arange(num_envs)
        self._perm = np.tile(np.arange(c), (num_envs, 1))
        self.t = np.zeros(num_envs, dtype=np.int64)
        self.x = np.full(num_envs, START[0], dtype=np.int64)
        self.y = np.full(num_envs, START[1], dtype=np.int64)
        self.cue = np.zeros(num_envs, dtype=np.int64)  # the colour that pays
        self.order = np.zeros((num_envs, c), dtype=np.int64)  # colour of square j
        self.done = np.ones(num_envs, dtype=bool)
        self.won = np.zeros(num_envs, dtype=bool)
        #: Each row's three rooms without the agent, ``uint8 [N, phase, 3, 7, 7]``.
        self.rooms = np.zeros((num_envs, 3, 3, side, side), dtype=np.uint8)

    # the first phase: subclasses implement these ---------------------------------------
    def reset_first(self, rows: np.ndarray) -> None:
        """Draw the first phase's hidden state for ``rows`` (after the cue is drawn)."""

    def draw_first(self, rows: np.ndarray) -> None:
        """Draw the first phase's items into the first room of ``rows``,
        ``self.rooms[rows, 0]``."""

    #: Whether the subclass implements :meth:`first_phase_step`.
    has_first_phase_step: ClassVar[bool] = False

    def first_phase_step(self, moved: np.ndarray) -> None:
        """Called after each move with the mask of rows that moved in the first phase."""

    def first_phase_oracle(self) -> np.ndarray:
        """The oracle's first-phase move for every row."""
        return np.full(self.num_envs, UP)

    def pays(self) -> np.ndarray:
        """Whether reaching the square of the cue colour pays, per row."""
        return np.ones(self.num_envs, dtype=bool)

    # dynamics ------------------------------------------------------------------------------
    def phase(self) -> np.ndarray:
        """0 (first), 1 (distractor) or 2 (last) per row."""
        return (self.t >= self.first_steps).astype(np.int64) + (self.t >= self._last_start)

    def reset_rows(self, rows: np.ndarray) -> None:
        n = len(rows)
        self.cue[rows] = self.rng.integers(0, self.num_colors, size=n)
        self.order[rows] = self.rng.permuted(self._perm[:n], axis=1)
        self.t[rows] = 0
        self.x[rows] = START[0]
        self.y[rows] = START[1]
        self.done[rows] = False
        self.won[rows] = False
        self.rooms[rows] = self._rooms
        for j, col in enumerate(self._columns):
            self.rooms[rows, 2, :, 1, col + 1] = PALETTE[self.order[rows, j]]
        self.reset_first(rows)
        self.draw_first(rows)

    def step(self, actions: np.ndarray):
        live = ~self.done
        phase = self.phase()
        # a move, kept inside the room by a lookup (index -1 .. SIZE -> 0 .. SIZE - 1)
        self.x = _CLAMP[self.x + _DX[actions] * live + 1]
        self.y = _CLAMP[self.y + _DY[actions] * live + 1]
        if self.has_first_phase_step:
            self.first_phase_step(live & (phase == 0))
        # the last phase: stepping onto a square ends the episode
        square = self._square_at[self.x]  # index of the square in this column, or -1
        on_square = live & (phase == 2) & (self.y == 0) & (square >= 0)
        win = on_square & (self.order[self._r, square] == self.cue) & self.pays()
        self.won |= win
        self.t = self.t + live
        # a new phase starts in the start cell
        moved_on = live & ((self.t == self.first_steps) | (self.t == self._last_start))
        if moved_on.any():
            self.x = np.where(moved_on, START[0], self.x)
            self.y = np.where(moved_on, START[1], self.y)
        truncated = live & ~on_square & (self.t >= self.time_limit)
        self.done |= on_square | truncated
        return win.astype(np.float64), on_square, truncated

    def image(self) -> np.ndarray:
        """The current room of every row, ``uint8 [N, 3, 7, 7]``."""
        img = self.rooms[self._r, self.phase()]  # a copy
        img[self._r, :, self.y + 1, self.x + 1] = AGENT
        return img

    def observe(self) -> np.ndarray:
        img = self.image()
        if self.flat:
            return img.reshape(self.num_envs, -1).astype(np.float32) / 255.0
        return img

    def success(self) -> np.ndarray:
        return self.won.copy()

    def oracle(self) -> np.ndarray:
        """First phase: the subclass's move. Then walk along the bottom row to the column of
        the square that pays, and up to it (the other squares are in the top row only)."""
        target = self._columns[np.argmax(self.order == self.cue[:, None], axis=1)]
        last = np.where(self.x < target, RIGHT, np.where(self.x > target, LEFT, UP))
        phase = self.phase()
        return np.where(phase == 0, self.first_phase_oracle(), np.where(phase == 1, UP, last))

    def render_rgb(self, row: int) -> np.ndarray:
        """The room of ``row`` as an ``[H, W, 3]`` image, 24 pixels per cell."""
        img = self.image()[row].transpose(1, 2, 0)
        return np.repeat(np.repeat(img, 24, axis=0), 24, axis=1)

    def describe(self, row: int) -> str:
        t, phase = int(self.t[row]), int(self.phase()[row])
        names = ["first phase", "distractor phase", "last phase"]
        lines = [f"{self.name} t={t}/{self.time_limit}  {names[phase]}"]
        grid = [["." for _ in range(SIZE)] for _ in range(SIZE)]
        if phase == 2:
            for j, col in enumerate(self._columns):
                grid[0][col] = "rgbym"[self.order[row, j]]
        self.describe_first(row, grid, phase)
        grid[self.y[row]][self.x[row]] = "@"
        lines += ["  " + " ".join(line) for line in grid]
        if self.done[row]:
            lines.append("  episode over (" + ("won" if self.won[row] else "no reward") + ")")
        return "\n".join(lines)

    def describe_first(self, row: int, grid: list[list[str]], phase: int) -> None:
        """Mark the first phase's items on the text ``grid`` of ``row``."""
