"""The shared dynamics of the tape tasks: a read head over an input tape, a write head.

The tape tasks (:mod:`memenvs.envs.tape_copy`, ``tape_reverse``, ``tape_duplicated_input``,
``tape_repeat_copy``, ``tape_reversed_addition``) are the interfaces of Zaremba & Sutskever
2015 and of the retired gym "algorithmic" envs. They differ only in how an episode's input
tape and target are laid out; everything else lives in :class:`TapeTask`:

* The input tape is a grid of ``rows x W`` symbols (``rows = 1``: a 1-D tape), surrounded
  by blank cells in every direction. The agent observes only the cell under its read head,
  which starts on the first cell ``(x, y) = (0, 0)``.
* Each step the agent picks ``(move, write, symbol)``. If ``write`` is 1 the symbol is
  checked against the next target symbol (the write head then advances); then the read head
  moves. As in the old gym envs a wrong symbol ends the episode, and the time limit
  is ``rows * W + T + 4`` steps (reading every input cell once, then writing the ``T``
  target symbols, plus 4 spare steps): an episode still running after them is truncated on
  the next step (the old gym rule ``time > time_limit``), whatever that step's action.
* Writes count only while the read head is off the input (on a blank cell) unless
  ``interleaved=True``: a write made while the head is on an input cell is ignored. So the
  agent must read the input, carry it in memory, and write the target after it.
  With ``interleaved=True`` writes count anywhere, the old gym rule, under which some tasks
  (TapeCopy: write the symbol under the head, move right) need no memory at all.

Rewards are the old gym rewards divided by ``T``: ``+1/T`` per right symbol, ``-0.5/T``
for a wrong one (which ends the episode), ``-1/T`` in place of the step's reward on the
step that runs out of time. A perfect episode returns exactly 1.0 (the ``+1/T`` shares are
paid by :func:`memenvs.core.score_reward`).

A subclass sets ``name`` and ``rows`` and implements :meth:`TapeTask.input_width`,
:meth:`TapeTask.target_capacity`, :meth:`TapeTask.make_input`,
:meth:`TapeTask.make_target` and :meth:`TapeTask.episode_shapes`. All state is one array
per quantity over the ``N`` rows, sized by the largest length of the current range;
:meth:`TapeTask.set_length_range` grows the arrays when a curriculum raises the length.
"""

from __future__ import annotations

import functools
import math
from typing import ClassVar

import numpy as np
from gymnasium import spaces

from memenvs.core import (
    DRAW_BYTES,
    LengthRangeTask,
    check_bool,
    check_int,
    check_min_max,
    one_hot,
    sample_range,
    score_reward,
    strip_cells,
)

MOVES_1D = ("left", "right")
MOVES_2D = ("left", "right", "up", "down")
LEFT, RIGHT, UP, DOWN = 0, 1, 2, 3
_DX = np.array([-1, 1, 0, 0], dtype=np.int64)
_DY = np.array([0, 0, -1, 1], dtype=np.int64)

#: The random-return dynamic programme counts right writes only for targets this short.
_KCAP = 40
#: ... and drops paths of less than this probability.
_TAIL = 1e-13


def time_limit(rows: int, width: int, target_len: int) -> int:
    """A tape episode's time limit: read every cell, write, 4 spare (then truncated)."""
    return rows * width + target_len + 4


def random_tape_outcome(
    base: int, rows: int, width: int, target_len: int, limit: int, interleaved: bool
) -> tuple[float, float, float]:
    """``(E[right writes], P(wrong write), P(time out))`` of the uniformly random policy.

    Exact dynamic programming over (read-head position, right writes so far), step by step.
    The random policy writes with probability 1/2 and then names the right symbol with
    probability ``1/base`` whatever the target, so only the head position (on the input or
    not) and the count of right writes matter. Two truncations, each dropping less than
    ``1e-13`` of probability: on a blank cell a step ends the episode with probability
    ``(1 - 1/base)/2``, so the head is never followed further than ``h`` blank cells from
    the input (``h`` steps off the input survive with probability < 1e-13); and the count
    of right writes is only tracked when the target has at most 40 symbols (the chance of
    40 right writes in a row is below ``(2 base)**-40``).
    """
    survive = 0.5 + 0.5 / base  # the chance of living through one step on a blank cell
    margin = math.ceil(math.log(_TAIL) / math.log(survive))
    return _random_tape_outcome(
        base, rows, width, min(target_len, _KCAP + 1), limit, bool(interleaved), margin
    )


@functools.lru_cache(maxsize=1024)
def _random_tape_outcome(
    base: int,
    rows: int,
    width: int,
    target_len: int,
    limit: int,
    interleaved: bool,
    margin: int,
) -> tuple[float, float, float]:
    b, big_t = base, target_len
    counting = big_t <= _KCAP  # count right writes only for short targets
    kc = big_t if counting else 1
    # the box: the input plus `margin` blank cells on every side (only left/right in 1-D)
    xs = np.arange(-margin, width + margin)
    ys = np.arange(-margin, rows + margin) if rows > 1 else np.zeros(1, dtype=np.int64)
    inside = ((ys >= 0) & (ys < rows))[:, None] & ((xs >= 0) & (xs < width))[None, :]
    scorable = (np.ones_like(inside) if interleaved else ~inside).astype(np.float64)
    n_moves = 4 if rows > 1 else 2
    p = np.zeros((kc, len(ys), len(xs)))
    p[0, int(np.flatnonzero(ys == 0)[0]), margin] = 1.0
    right = wrong = timeout = 0.0
    for step in range(1, limit + 2):
        alive = p.sum()
        if alive < _TAIL:
            break
        if step == limit + 1:
            timeout = alive
            break
        writes = 0.5 * p * scorable
        hit = writes / b  # writes the right symbol
        right += hit.sum()
        wrong += writes.sum() - hit.sum()
        q = p - writes
        if counting:
            q[1:] += hit[:-1]  # hit[-1] completes the target: those episodes end
        else:
            q += hit  # no count kept: right writes go on

        # then the head moves left / right (and up / down on a grid), uniformly
        moved = np.zeros_like(q)
        moved[:, :, 1:] += q[:, :, :-1]
        moved[:, :, :-1] += q[:, :, 1:]
        if rows > 1:
            moved[:, 1:, :] += q[:, :-1, :]
            moved[:, :-1, :] += q[:, 1:, :]
        p = moved / n_moves
    return float(right), float(wrong), float(timeout)


#: Symbol colours: grey levels 230 down to 30 while there are at most this many symbols ...
_GREYS = 201
#: ... else colours with every channel in 0 .. 230 (never white), this many of them.
_COLOURS = 231**3


def symbol_colors(symbols: np.ndarray, base: int) -> np.ndarray:
    """One colour per symbol, uint8 ``[..., 3]``: never white, which is the blank (``base``).

    Up to 201 symbols: greys from 230 (symbol 0) down to 30 (symbol ``base - 1``), one level
    apart at least. More: symbol ``s`` takes colour number ``s (231**3 - 1) // (base - 1)``
    of the ``231**3`` colours whose channels are all in ``0 .. 230`` (its base-231 digits),
    so the colours stay distinct up to ``base = 231**3`` (12.3M symbols; past that, 24-bit
    colour cannot tell all symbols apart and neighbours may share one).
    """
    s = np.asarray(symbols, dtype=np.int64)
    if base <= _GREYS:
        grey = 230 - s * 200 // max(base - 1, 1)
        out = np.repeat(grey[..., None], 3, axis=-1)
    else:
        code = s * (_COLOURS - 1) // (base - 1)
        out = np.stack([code // 231**2, code // 231 % 231, code % 231], axis=-1)
    out[s == base] = 255
    return out.astype(np.uint8)


def memoryless_tape_bound(base: int, target_len: int, independent: int) -> float:
    """An upper bound on the return of any memoryless policy (writes off the input only).

    A policy that sees only the current cell sees the blank whenever a write can count, so
    it names symbols from one fixed distribution, independent of the tape. The first
    ``independent`` targets are independent and uniform, so the first ``k`` writes are all
    right with probability at most ``base ** -min(k, independent)``; the return is at most
    ``sum_k P(first k right) / T`` (penalties only lower it).
    """
    k = np.arange(1, target_len + 1)
    return float(np.sum(float(base) ** -np.minimum(k, independent)) / target_len)


class TapeTask(LengthRangeTask):
    """Batched dynamics shared by the tape tasks (see the module docstring).

    State per row: the input tape ``tape[N, rows, Wcap]`` (blank code ``base`` beyond the
    row's width ``W``), the target ``target[N, Tcap]`` and its length ``T``, the read head
    ``(x, y)``, the write head ``k`` (right writes so far), the step count ``t``, the time
    limit, and flags ``done`` / ``solved``. Steps on finished rows change nothing.
    """

    #: The task's name (shown by ``describe``).
    name: ClassVar[str] = "Tape"

    def __init__(
        self,
        num_envs: int,
        base: int,
        min_length: int,
        max_length: int,
        rows: int = 1,
        interleaved: bool = False,
    ) -> None:
        super().__init__(num_envs)
        self.base = check_int("base", base, 2)
        self.length_range = check_min_max("min_length", min_length, "max_length", max_length, 1)
        self.interleaved = check_bool("interleaved", interleaved)
        self.rows = rows
        b = self.base
        self._check_size(self.length_range[1])
        self.moves = MOVES_1D if rows == 1 else MOVES_2D
        # the symbol under the read head: one-hot over base symbols and the blank
        self.observation_space = spaces.Box(0.0, 1.0, (b + 1,), np.float32)
        self.action_space = spaces.MultiDiscrete([len(self.moves), 2, b])
        n = self.num_envs
        self._r = np.arange(n)
        self.x = np.zeros(n, dtype=np.int64)
        self.y = np.zeros(n, dtype=np.int64)
        self.t = np.zeros(n, dtype=np.int64)
        self.k = np.zeros(n, dtype=np.int64)
        self.length = np.ones(n, dtype=np.int64)
        self.width = np.ones(n, dtype=np.int64)
        self.target_len = np.ones(n, dtype=np.int64)
        self.limit = np.ones(n, dtype=np.int64)
        self.inv_t = np.ones(n, dtype=np.float64)
        self.done = np.ones(n, dtype=bool)
        self.solved = np.zeros(n, dtype=bool)
        self.tape = np.full((n, rows, 0), b, dtype=np.int64)
        self.target = np.zeros((n, 0), dtype=np.int64)
        self._grow(self.length_range[1])
        self._bounds: dict[tuple[int, int], tuple[float, float]] = {}

    # layout: subclasses implement these ---------------------------------------------------
    def input_width(self, lengths: np.ndarray) -> np.ndarray:
        """The input width ``W`` (columns) for episodes of the given lengths."""
        return lengths

    def target_capacity(self, length: int) -> int:
        """The longest target an episode of ``length`` can have."""
        return length

    def make_input(self, symbols: np.ndarray, lengths: np.ndarray) -> np.ndarray:
        """The input cells ``[n, rows, input_width(max_length)]`` from uniform ``symbols``
        ``[n, rows, max_length]``; cells beyond a row's width are set blank by the caller."""
        return symbols

    def make_target(
        self, symbols: np.ndarray, lengths: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """The targets ``[n, target_capacity(max_length)]`` and their lengths ``[n]``."""
        raise NotImplementedError

    def episode_shapes(self, length: int) -> list[tuple[float, int, int, int]]:
        """``(probability, W, T, u)`` for an episode of ``length``: input width, target
        length, and how many leading targets are independent uniform symbols."""
        raise NotImplementedError

    # curriculum -----------------------------------------------------------------------------
    def _check_size(self, max_length: int) -> None:
        """Refuse a ``max_length`` whose tapes and reset temporaries overflow the budget."""
        m, r = max_length, self.rows
        wcap = int(self.input_width(np.array([m]))[0])
        # per row: the tape and the target (int64), and what a reset holds at its peak: the
        # symbols' draw, or else the symbols, make_input's cells and their blanked copy
        # (int64), the beyond-the-width mask and make_target's peak
        state = 8 * (r * wcap + self.target_capacity(m))
        build = 8 * r * m + 16 * r * wcap + wcap + self.target_bytes(m)
        knobs = {"base": self.base, "max_length": m, **self.size_knobs()}
        self.check_memory(self.base + 1, state + max(DRAW_BYTES * r * m, build) + 128, **knobs)

    def target_bytes(self, max_length: int) -> int:
        """The bytes :meth:`make_target` holds per row at its peak, its result included (for
        the memory budget; by default the int64 result alone)."""
        return 8 * self.target_capacity(max_length)

    def size_knobs(self) -> dict[str, int]:
        """The knobs besides ``base`` and ``max_length`` that size the tapes, for errors."""
        return {"rows": self.rows} if self.rows > 1 else {}

    def _grow(self, max_length: int) -> None:
        wcap = int(self.input_width(np.array([max_length]))[0])
        tcap = self.target_capacity(max_length)
        n, rows, old_w = self.tape.shape
        if wcap > old_w:
            tape = np.full((n, rows, wcap), self.base, dtype=np.int64)
            tape[:, :, :old_w] = self.tape
            self.tape = tape
        if tcap > self.target.shape[1]:
            target = np.zeros((n, tcap), dtype=np.int64)
            target[:, : self.target.shape[1]] = self.target
            self.target = target

    # returns --------------------------------------------------------------------------------
    def _returns(self) -> tuple[float, float]:
        key = self.length_range
        if key not in self._bounds:
            lo, hi = key
            rand = bound = 0.0
            for length in range(lo, hi + 1):
                for prob, width, tlen, indep in self.episode_shapes(length):
                    limit = time_limit(self.rows, width, tlen)
                    right, wrong, late = random_tape_outcome(
                        self.base, self.rows, width, tlen, limit, self.interleaved
                    )
                    rand += prob * (right - 0.5 * wrong - late) / tlen
                    bound += prob * memoryless_tape_bound(self.base, tlen, indep)
            count = hi - lo + 1
            bound = 1.0 if self.interleaved else bound / count
            self._bounds[key] = (rand / count, bound)
        return self._bounds[key]

    @property
    def random_return(self) -> float:  # type: ignore[override]
        """Exact expected return of the uniformly random policy (see ``random_tape_outcome``)."""
        return self._returns()[0]

    @property
    def memoryless_return(self) -> float:  # type: ignore[override]
        """An upper bound on any memoryless policy's return (1.0 when ``interleaved``)."""
        return self._returns()[1]

    # dynamics -------------------------------------------------------------------------------
    def reset_rows(self, rows: np.ndarray) -> None:
        n, b = len(rows), self.base
        lo, hi = self.length_range
        lengths = sample_range(self.rng, self.length_range, n)
        symbols = self.rng.integers(0, b, size=(n, self.rows, hi))
        cells = self.make_input(symbols, lengths)
        width = self.input_width(lengths)
        beyond = np.arange(cells.shape[2])[None, None, :] >= width[:, None, None]
        cells = np.where(beyond, b, cells)
        target, tlen = self.make_target(symbols, lengths)
        self.tape[rows] = b
        self.tape[rows, :, : cells.shape[2]] = cells
        self.target[rows] = 0
        self.target[rows, : target.shape[1]] = target
        self.length[rows] = lengths
        self.width[rows] = width
        self.target_len[rows] = tlen
        self.limit[rows] = time_limit(self.rows, width, tlen)
        self.inv_t[rows] = 1.0 / tlen
        self.x[rows] = 0
        self.y[rows] = 0
        self.t[rows] = 0
        self.k[rows] = 0
        self.done[rows] = False
        self.solved[rows] = False

    def on_input(self) -> np.ndarray:
        """Whether each row's read head is on an input cell."""
        inside = (self.x >= 0) & (self.x < self.width)
        if self.rows > 1:
            inside = inside & (self.y >= 0) & (self.y < self.rows)
        return inside

    def _wanted(self) -> np.ndarray:
        """The next target symbol of every row (the last one once all are written)."""
        tcap = self.target.shape[1]
        return self.target.take(self._r * tcap + np.minimum(self.k, tcap - 1))

    def step(self, actions: np.ndarray):
        # (plain binary operations: on small arrays they beat in-place ones with casts)
        live = ~self.done
        writing = (actions[:, 1] == 1) & live
        if not self.interleaved:
            writing = writing & ~self.on_input()  # writes on the input are ignored
        correct = (actions[:, 2] == self._wanted()) & writing
        wrong = writing ^ correct
        self.k = self.k + correct
        complete = (self.k == self.target_len) & correct
        step = _DX[actions[:, 0]] * live
        self.x = self.x + step
        if self.rows > 1:
            self.y = self.y + _DY[actions[:, 0]] * live
        self.t = self.t + live
        timeout = (self.t > self.limit) & live
        reward = score_reward(self.k, correct, self.target_len) - 0.5 * wrong * self.inv_t
        terminated = wrong | complete
        if timeout.any():
            reward[timeout] = -self.inv_t[timeout]
            terminated = terminated & ~timeout
        self.solved = self.solved | (complete & terminated)
        self.done = self.done | terminated | timeout
        return reward, terminated, timeout

    def observe(self) -> np.ndarray:
        inside = self.on_input()
        _, rows, wcap = self.tape.shape
        flat = self._r * (rows * wcap) + self.x
        if rows > 1:
            flat += self.y * wcap
        cell = self.tape.take(np.where(inside, flat, 0))
        return one_hot(np.where(inside, cell, self.base), self.base + 1)  # base: the blank

    def success(self) -> np.ndarray:
        return self.solved.copy()

    def oracle(self) -> np.ndarray:
        """Read every input cell (left to right, zigzagging down and up the columns of a
        grid), step off the input to the right, then write the target moving right."""
        inside = self.on_input()
        if self.rows == 1:
            path = np.full(self.num_envs, RIGHT)
        else:
            down = self.x % 2 == 0
            path = np.where(
                down,
                np.where(self.y < self.rows - 1, DOWN, RIGHT),
                np.where(self.y > 0, UP, RIGHT),
            )
        move = np.where(inside, path, RIGHT)
        write = (~inside & ~self.done).astype(np.int64)
        return np.stack([move, write, self._wanted()], axis=1)

    # views ----------------------------------------------------------------------------------
    def input_rows(self, row: int) -> np.ndarray:
        """The input tape of ``row``, ``[rows, W]``."""
        return self.tape[row, :, : self.width[row]].copy()

    def target_of(self, row: int) -> np.ndarray:
        """The target of ``row`` (length ``T``)."""
        return self.target[row, : self.target_len[row]].copy()

    def describe(self, row: int) -> str:
        t, k, big_t = int(self.t[row]), int(self.k[row]), int(self.target_len[row])
        x, y = int(self.x[row]), int(self.y[row])
        lines = [f"{self.name} t={t}/{int(self.limit[row])}  head=({x},{y})"]
        tape = self.input_rows(row)
        for j in range(self.rows):
            cells = [str(s) for s in tape[j]]
            text = " ".join(
                f"[{c}]" if (i == x and j == y) else f" {c} " for i, c in enumerate(cells)
            )
            if y == j and not 0 <= x < len(cells):
                text += "  (head off the tape)"
            lines.append(f"  input {j}: {text}")
        written = " ".join(str(s) for s in self.target_of(row)[:k])
        status = ""
        if self.done[row]:
            status = "  solved" if self.solved[row] else "  failed"
        lines.append(f"  written {k}/{big_t}: {written}{status}")
        return "\n".join(lines)

    def render_rgb(self, row: int) -> np.ndarray:
        """The input tape as coloured cells (:func:`symbol_colors`; white = blank, one blank
        cell all round), the read head in red, and a green bar below for the written fraction
        of the target.

        Cells are 16 pixels (the head outlined) while they fit in ``RENDER_WIDTH`` (4096)
        pixels each way, then narrower (the head filled in); past 4096 cells one pixel shows
        a group of cells, with the lowest symbol among them (blank only if all are blank), as
        :meth:`Task.render_rgb` groups entries. So the image is at most 4096 pixels wide and
        4096 + 16 high.
        """
        cell = 16
        tape = self.input_rows(row)
        rows, width = tape.shape
        codes = np.full((rows + 2, width + 2), self.base, dtype=np.int64)
        codes[1:-1, 1:-1] = tape
        gx, px = strip_cells(width + 2, cell, self.RENDER_WIDTH)
        gy, py = strip_cells(rows + 2, cell, self.RENDER_WIDTH)
        if gx > 1:
            codes = np.minimum.reduceat(codes, np.arange(0, width + 2, gx), axis=1)
        if gy > 1:
            codes = np.minimum.reduceat(codes, np.arange(0, rows + 2, gy), axis=0)
        grid = np.repeat(np.repeat(symbol_colors(codes, self.base), py, axis=0), px, axis=1)
        img = np.full((grid.shape[0] + cell, grid.shape[1], 3), 255, dtype=np.uint8)
        img[: grid.shape[0]] = grid
        if px >= 4:  # a white line between cells
            img[: grid.shape[0], ::px] = img[: grid.shape[0], px - 1 :: px] = 255
        if py >= 4:
            img[: grid.shape[0] : py] = img[py - 1 : grid.shape[0] : py] = 255
        hx = (min(max(int(self.x[row]), -1), width) + 1) // gx
        hy = (min(max(int(self.y[row]), -1), rows) + 1) // gy
        head = img[hy * py : (hy + 1) * py, hx * px : (hx + 1) * px]
        if min(px, py) >= 6:
            head[:2] = head[-2:] = head[:, :2] = head[:, -2:] = (200, 0, 0)
        else:
            head[...] = (200, 0, 0)
        done = int(img.shape[1] * self.k[row] / max(int(self.target_len[row]), 1))
        img[-cell + 4 : -4, :done] = (0, 160, 0)
        return img
