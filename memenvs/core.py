"""The template every task is built from: batched dynamics written once, two thin views.

A :class:`Task` holds the state of ``num_envs`` episodes as numpy arrays and advances all
of them in one call. :class:`MemoryEnv` is the single Gymnasium env (a task with one row),
:class:`MemoryVectorEnv` the native vector env (a task with N rows). Both share every line
of the dynamics, so they agree step for step.

A task subclass implements:

* ``__init__(num_envs, **knobs)``: validate knobs (:func:`check_int` and friends: every
  integer knob is at most :data:`MAX_KNOB`), check the size with :meth:`Task.check_memory`,
  set ``observation_space``, ``action_space`` (single-env spaces) and allocate state arrays.
* ``reset_rows(rows)``: start new episodes in the given rows, drawing from ``self.rng``
  (the views call it through :meth:`Task.start`, which makes ``self.rng`` a
  :class:`RowRandom`: each row draws from its own counter-based stream). ``step`` must not use
  ``self.rng``; per-step noise comes from :func:`hash_ints` of a per-row key.
* ``step(actions) -> (reward, terminated, truncated)``: advance every row. A row whose
  episode already ended may be stepped too (the vector env discards that result and
  resets it), so ``step`` must not index out of bounds for such rows. A task that pays a
  share of 1 per right step pays it with :func:`score_reward` (then a perfect episode's
  rewards sum to exactly 1.0).
* ``observe() -> obs[N, ...]``, ``success() -> bool[N]`` (meaningful at episode end),
  ``oracle() -> actions[N]`` (the optimal action from the hidden state, for tests and
  demos) and ``describe(row) -> str`` (the ``ansi`` render).
"""

from __future__ import annotations

import numbers
from typing import Any, ClassVar

import gymnasium as gym
import numpy as np
from gymnasium import spaces
from gymnasium.error import ResetNeeded
from gymnasium.vector import AutoresetMode, VectorEnv
from gymnasium.vector.utils import batch_space

RENDER_MODES = ["ansi", "rgb_array"]


# --------------------------------------------------------------------------- validation
#: The largest value any integer knob may take (lengths, delays, counts, alphabet sizes):
#: far beyond the 10**4-10**5-step recalls the suite is for, and small enough that no
#: product of two knobs (a length times a repeat count, a step counter) overflows int64.
MAX_KNOB = 10**8
#: Bytes a task (all rows of its state, its tables and one observation batch) may take;
#: a configuration that needs more is refused with a ValueError naming its knobs. A module
#: global, read at construction, so a caller with more memory may raise it.
MEMORY_BUDGET = 2**31


def check_int(name: str, value: Any, low: int, high: int = MAX_KNOB) -> int:
    """Return ``value`` as an int in ``[low, high]`` or raise a ValueError naming ``name``.

    Python and numpy integers pass; bools, floats, ``np.timedelta64`` (an integer subclass
    in numpy) and everything else are refused. ``high`` defaults to :data:`MAX_KNOB`.
    """
    if isinstance(value, (bool, np.bool_, np.timedelta64)) or not isinstance(
        value, numbers.Integral
    ):
        raise ValueError(f"{name} must be an integer, got {value!r}")
    value = int(value)
    if value < low or value > high:
        raise ValueError(f"{name} must be in [{low}, {high}], got {value}")
    return value


def check_bool(name: str, value: Any) -> bool:
    """Return ``value`` as a bool or raise a ValueError naming ``name``."""
    if not isinstance(value, (bool, np.bool_)):
        raise ValueError(f"{name} must be a bool, got {value!r}")
    return bool(value)


def check_range(name: str, value: Any, low: int, high: int = MAX_KNOB) -> tuple[int, int]:
    """Parse an int or a ``(min, max)`` pair into an inclusive range inside ``[low, high]``."""
    if isinstance(value, (tuple, list)):
        if len(value) != 2:
            raise ValueError(f"{name} must be an int or a (min, max) pair, got {value!r}")
        lo = check_int(f"{name}[0] (min)", value[0], low, high)
        hi = check_int(f"{name}[1] (max)", value[1], low, high)
        if lo > hi:
            raise ValueError(f"{name} must have min <= max, got ({lo}, {hi})")
        return lo, hi
    v = check_int(name, value, low, high)
    return v, v


def check_min_max(
    min_name: str, min_value: Any, max_name: str, max_value: Any, low: int, high: int = MAX_KNOB
) -> tuple[int, int]:
    """Validate a pair of knobs ``min_name <= max_name``, both in ``[low, high]``."""
    lo = check_int(min_name, min_value, low, high)
    hi = check_int(max_name, max_value, low, high)
    if lo > hi:
        raise ValueError(f"{min_name} must be <= {max_name}, got {min_name}={lo} > {max_name}={hi}")
    return lo, hi


def format_bytes(nbytes: float) -> str:
    """``nbytes`` in binary units, e.g. ``'364.0 TiB'``."""
    for unit in ("B", "KiB", "MiB", "GiB", "TiB", "PiB"):
        if nbytes < 1024 or unit == "PiB":
            return f"{nbytes:.1f} {unit}"
        nbytes /= 1024
    raise AssertionError  # pragma: no cover


def check_memory(nbytes: int, **knobs: Any) -> None:
    """Raise a ValueError naming ``knobs`` if ``nbytes`` exceeds :data:`MEMORY_BUDGET`."""
    if nbytes > MEMORY_BUDGET:
        names = ", ".join(f"{k}={v!r}" for k, v in knobs.items())
        raise ValueError(
            f"{names} would need about {format_bytes(nbytes)} of memory, over the budget of "
            f"{format_bytes(MEMORY_BUDGET)} (memenvs.core.MEMORY_BUDGET): make the knobs smaller"
        )


def check_options(options: Any) -> None:
    """Refuse ``reset`` options: no memenvs task takes any (None or ``{}`` pass)."""
    if options is None:
        return
    if not isinstance(options, dict):
        raise ValueError(f"options must be a dict or None, got {type(options).__name__}")
    if options:
        raise ValueError(
            f"unknown reset option(s) {sorted(map(str, options))}: memenvs tasks take no "
            "reset options (set knobs as keyword arguments of gymnasium.make instead)"
        )


def action_rows(actions: Any, shape: tuple[int, ...], space: Any) -> np.ndarray:
    """``actions`` as an array of ``shape`` (rows first), or a ValueError naming both shapes.

    Only a row's own trailing dimensions may differ, and only by size-1 axes or by how a
    row's values are nested (e.g. ``[N, 1]`` for ``Discrete`` actions of shape ``[N]``): an
    array with another number of rows is refused, never reshaped, since a reshape would move
    values from one row (or one action field) into another.
    """
    arr = np.asarray(actions)
    if arr.shape != shape:
        if arr.ndim == 0 or arr.shape[0] != shape[0] or arr.size != int(np.prod(shape)):
            raise ValueError(f"actions must have shape {shape} for {space}, got shape {arr.shape}")
        arr = arr.reshape(shape)
    return arr


def integer_actions(arr: np.ndarray, space: Any) -> np.ndarray:
    """``arr`` as int64, or a ValueError unless it holds integers for ``space``.

    Integer dtypes pass, and floats that are finite whole numbers (some callers send
    float arrays); bools, ``timedelta64``/``datetime64`` (numpy counts timedelta64 as an
    integer), complex, strings and objects are refused. Values too large for int64 are
    reported as outside ``space`` with their own value, never wrapped around.
    """
    kind = arr.dtype.kind
    if kind == "i":
        return arr.astype(np.int64, copy=False)
    if kind not in "uf":
        raise ValueError(f"actions must be integers for {space}, got dtype {arr.dtype}")
    if kind == "f" and not (np.isfinite(arr).all() and (arr == np.round(arr)).all()):
        raise ValueError(f"actions must be integers for {space}, got {arr.dtype} values {arr}")
    huge = np.abs(arr.astype(np.float64)) >= 2**62 if kind == "f" else arr >= 2**62
    if huge.any():
        raise ValueError(f"action {arr[huge][0]!r} is outside the action space {space}")
    return arr.astype(np.int64)


def sample_range(rng: np.random.Generator, bounds: tuple[int, int], size: int) -> np.ndarray:
    """Draw ``size`` ints uniformly from the inclusive range ``bounds``."""
    lo, hi = bounds
    if lo == hi:
        return np.full(size, lo, dtype=np.int64)
    return rng.integers(lo, hi + 1, size=size)


def strip_cells(count: int, cell: int, limit: int) -> tuple[int, int]:
    """``(group, pixels)``: how ``count`` cells fit in ``limit`` pixels along one axis.

    Cells are ``cell`` pixels while they fit, then narrower (``limit // count``, down to 1);
    past ``limit`` cells each pixel shows a group of ``ceil(count / limit)`` cells. So
    ``pixels * ceil(count / group) <= limit`` (the ``rgb_array`` renders' size cap).
    """
    group = -(-count // limit)
    return group, min(cell, max(limit // -(-count // group), 1))


def score_reward(count: np.ndarray, gained: np.ndarray, total: Any) -> np.ndarray:
    """The reward of a step that raised each row's score to ``count`` of ``total`` right steps
    (by ``gained``: 0 or 1), float64: ``count / total - (count - gained) / total``.

    So the float64 sum of a row's rewards is exactly ``count / total`` after every step, and a
    perfect episode's is exactly 1.0 (``1 / total`` a step can miss it by an ulp a step). By
    induction the sum so far is ``(count - gained) / total`` rounded; the two rounded
    quotients are within a factor of 2 of each other (or the first is 0), so their
    difference is exact (Sterbenz's lemma) and adding it lands on ``count / total`` rounded.
    """
    return count / total - (count - gained) / total


def one_hot_rows(out: np.ndarray, symbols: np.ndarray, mask: np.ndarray | None = None) -> None:
    """Set ``out[i, symbols[i]] = 1`` for every row ``i`` (where ``mask`` is true).

    ``out``: a C-contiguous ``[N, W]`` array, written by one flat index write: O(N) whatever
    the alphabet (a ``[K, K]`` lookup table of one-hot rows would cost O(K**2)).
    """
    if not out.flags.c_contiguous:
        raise ValueError(f"out must be C-contiguous (a flat view is written), got {out.strides}")
    n, width = out.shape
    flat = np.arange(0, n * width, width) + symbols
    out.reshape(-1)[flat if mask is None else flat[mask]] = 1.0


def one_hot(columns: np.ndarray, width: int, mask: np.ndarray | None = None) -> np.ndarray:
    """A new float32 ``[N, width]`` array with ``[i, columns[i]] = 1`` (where ``mask`` is true):
    the tasks' observations."""
    out = np.zeros((len(columns), width), dtype=np.float32)
    one_hot_rows(out, columns, mask)
    return out


# ---------------------------------------------------------------------------- randomness
_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_MIX = tuple(np.uint64(c) for c in (30, 0xBF58476D1CE4E5B9, 27, 0x94D049BB133111EB, 31))


def _mix64_inplace(z: np.ndarray) -> np.ndarray:
    """:func:`mix64` of a uint64 array, overwriting it (no temporaries but the shifts)."""
    s1, m1, s2, m2, s3 = _MIX
    with np.errstate(over="ignore"):
        z ^= z >> s1
        z *= m1
        z ^= z >> s2
        z *= m2
        z ^= z >> s3
    return z


def mix64(z: np.ndarray) -> np.ndarray:
    """The splitmix64 finaliser: a bijection of uint64 that mixes every bit into every bit."""
    return _mix64_inplace(np.array(z, dtype=np.uint64))  # a copy: the caller's z stays


def hash_bits(key: np.ndarray, counter: np.ndarray) -> np.ndarray:
    """64 random-looking bits from each ``(key, counter)`` pair (counter-based, stateless):
    ``mix64(key ^ mix64(counter * golden + golden))``, computed in place."""
    z = np.array(counter, dtype=np.uint64)  # broadcast against key below, so never a view
    with np.errstate(over="ignore"):
        z *= _GOLDEN
        z += _GOLDEN
    _mix64_inplace(z)
    z = z ^ np.asarray(key, dtype=np.uint64)  # may broadcast to a larger shape
    return _mix64_inplace(z)


def hash_ints(key: np.ndarray, counter: np.ndarray, high: int) -> np.ndarray:
    """Uniform ints in ``[0, high)`` from ``(key, counter)`` pairs, int64 (for ``step`` noise).

    One vectorised call for all rows; a row's values depend on its own key (drawn at reset)
    and counter only. The modulo bias is below ``high / 2**64``.
    """
    return (hash_bits(key, counter) % np.uint64(high)).astype(np.int64)


def seed_key(seed: int) -> np.uint64:
    """The stream key of a row seeded with ``seed`` (any int; the same in every view)."""
    return mix64(np.array(seed % 2**64, dtype=np.uint64) ^ np.uint64(0x5851F42D4C957F2D))[()]


#: The bytes per drawn element that a :class:`RowRandom` draw holds at its peak, its result
#: included (the counters, the hash's uint64 temporaries, the conversion): for the budget.
DRAW_BYTES = 24

#: The bytes per row and observation value that a vector env's batched Box observation
#: space holds at its peak: gymnasium's ``batch_space`` keeps ``[rows, obs]`` low, high and
#: two bound masks (10) and builds them through temporaries (19 at the peak; tracemalloc).
BATCHED_BOX_BYTES = 19


class RowRandom:
    """Random draws for a batch of rows, each row from its own counter-based stream.

    Row ``r``'s stream is ``hash_bits(keys[r], counters[r] + j)`` for ``j = 0, 1, ...``:
    its draws depend on its own key (from its seed) and how many it drew before, never on
    how many rows there are or which other rows reset with it (Gymnasium's vector seeding:
    row i from ``seed + i``). Mirrors the ``np.random.Generator`` methods tasks use,
    batched: the first axis of ``size`` (or of ``x``) runs over ``rows``.
    """

    def __init__(self, keys: np.ndarray, counters: np.ndarray, rows: np.ndarray) -> None:
        self.keys, self.counters, self.rows = keys, counters, np.asarray(rows, dtype=np.int64)

    def _bits(self, size: Any) -> np.ndarray:
        size = (int(size),) if np.ndim(size) == 0 else tuple(int(s) for s in size)
        if size[0] != len(self.rows):
            raise ValueError(f"size[0] must be the number of rows ({len(self.rows)}), got {size}")
        m = int(np.prod(size[1:], dtype=np.int64))
        start = self.counters[self.rows]
        self.counters[self.rows] = start + np.uint64(m)
        idx = start[:, None] + np.arange(m, dtype=np.uint64)[None, :]
        return hash_bits(self.keys[self.rows][:, None], idx).reshape(size)

    def random(self, size: Any = None) -> np.ndarray:
        """Uniform floats in ``[0, 1)`` (53 bits)."""
        return (self._bits(size) >> np.uint64(11)) * (1.0 / 2**53)

    def uniform(self, low: float = 0.0, high: float = 1.0, size: Any = None) -> np.ndarray:
        return low + (high - low) * self.random(size)

    def integers(self, low: int, high: int, size: Any = None, dtype=np.int64) -> np.ndarray:
        """Uniform ints in ``[low, high)`` (scalar bounds)."""
        span = int(high) - int(low)
        if span < 1:
            raise ValueError(f"integers needs low < high, got low={low}, high={high}")
        draws = (self._bits(size) % np.uint64(span)).astype(np.int64) + int(low)
        return draws.astype(dtype, copy=False)

    def permuted(self, x: np.ndarray, axis: int = 1) -> np.ndarray:
        """Each row of the 2-D ``x`` shuffled uniformly (``axis`` must be 1)."""
        if axis not in (1, -1) or np.ndim(x) != 2:
            raise ValueError(f"permuted shuffles each row of a 2-D array, got axis={axis}")
        order = np.argsort(self._bits(x.shape), axis=1, kind="stable")
        return np.take_along_axis(x, order, axis=1)


def row_keys(
    seed: Any, num_rows: int, old: np.ndarray | None, entropy: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """``(keys, counters)`` per row: row ``i`` from ``seed + i`` (or ``seed[i]``).

    A ``None`` seed (or entry) keeps the row's stream, or starts one from ``entropy`` if it
    has none yet. A seeded row starts its counter at 0.
    """
    if seed is None or isinstance(seed, (int, np.integer)) and not isinstance(seed, bool):
        seeds = [None if seed is None else int(seed) + i for i in range(num_rows)]
    elif isinstance(seed, (list, tuple)) and len(seed) == num_rows:
        seeds = list(seed)
    else:
        raise ValueError(f"seed must be an int, None or a list of {num_rows} seeds, got {seed!r}")
    fresh = old is None
    keys = np.zeros(num_rows, dtype=np.uint64) if fresh else old[0].copy()
    counters = np.zeros(num_rows, dtype=np.uint64) if fresh else old[1].copy()
    for i, s in enumerate(seeds):
        if s is not None:
            if isinstance(s, bool) or not isinstance(s, (int, np.integer)) or s < 0:
                raise ValueError(f"seed must be a non-negative int or None, got {s!r}")
            keys[i], counters[i] = seed_key(int(s)), 0
        elif fresh:
            keys[i] = entropy.integers(0, 2**64, dtype=np.uint64)
    return keys, counters


# --------------------------------------------------------------------------------- task
class Task:
    """Batched dynamics of one task over ``num_envs`` episodes (see the module docstring)."""

    observation_space: spaces.Box
    action_space: spaces.Space
    #: Expected return of a uniformly random policy under this configuration.
    random_return: float = 0.0
    #: What :meth:`check_memory` counted (None for tasks whose memory no knob sizes).
    memory_estimate: tuple[int, int, dict[str, Any]] | None = None
    #: Best expected return of any policy that sees only the current observation.
    memoryless_return: float = 0.0

    def __init__(self, num_envs: int) -> None:
        self.num_envs = check_int("num_envs", num_envs, 1)
        self.rng: Any = np.random.default_rng()
        #: Each row's random stream ``(keys, counters)``, set on reset (see :class:`RowRandom`).
        self.streams: tuple[np.ndarray, np.ndarray] | None = None

    def start(self, rows: np.ndarray) -> None:
        """Begin new episodes in ``rows``, each row drawing from its own random stream."""
        self.rng = RowRandom(*self.streams, rows)
        self.reset_rows(rows)

    def check_memory(
        self, obs_size: int, row_bytes: int, shared_bytes: int = 0, **knobs: Any
    ) -> None:
        """Refuse (ValueError naming ``knobs``) a configuration over :data:`MEMORY_BUDGET`.

        Call before allocating: ``obs_size`` floats per observation, ``row_bytes`` of state
        per row, ``shared_bytes`` of tables shared by all rows (Python ints, no overflow).
        Several rows are a vector env's, so its batched observation space is counted too
        (:meth:`MemoryVectorEnv.__init__` adds it for a vector env of one row).
        """
        n = self.num_envs
        total = n * (row_bytes + 4 * obs_size) + shared_bytes + 12 * obs_size
        if n > 1:
            total += BATCHED_BOX_BYTES * n * obs_size
        check_memory(total, num_envs=n, **knobs)
        self.memory_estimate = (total, obs_size, knobs)

    # subclasses implement these -------------------------------------------------------
    def reset_rows(self, rows: np.ndarray) -> None:
        raise NotImplementedError

    def step(self, actions: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        raise NotImplementedError

    def observe(self) -> np.ndarray:
        raise NotImplementedError

    def success(self) -> np.ndarray:
        raise NotImplementedError

    def oracle(self) -> np.ndarray:
        raise NotImplementedError

    def describe(self, row: int) -> str:
        raise NotImplementedError

    # shared helpers -------------------------------------------------------------------
    def check_actions(self, actions: Any) -> np.ndarray:
        """Return ``actions`` as an array of shape ``[N, *action_shape]`` or raise ValueError."""
        space = self.action_space
        arr = integer_actions(action_rows(actions, (self.num_envs, *space.shape), space), space)
        if isinstance(space, spaces.Discrete):
            fast = arr.dtype == np.int64 and space.start == 0  # one unsigned compare
            if fast and not (arr.view(np.uint64) >= space.n).any():
                return arr
            bad = (arr < space.start) | (arr >= space.start + space.n)
        elif isinstance(space, spaces.MultiDiscrete):
            bad = (arr < space.start) | (arr >= space.start + space.nvec)
        else:  # pragma: no cover - every task uses Discrete or MultiDiscrete
            raise TypeError(f"unsupported action space {space}")
        if bad.any():
            raise ValueError(
                f"action {arr[bad.nonzero()[0][0]]!r} is outside the action space {space}"
            )
        return arr

    #: ``rgb_array`` strips: the cell size in pixels, and the widest image.
    RENDER_CELL = 24
    RENDER_WIDTH = 4096

    def render_rgb(self, row: int) -> np.ndarray:
        """The observation of ``row`` as a strip of cells (white = 1), uint8 ``[24, W, 3]``.

        ``E`` entries get 24-pixel cells with a blue border while ``24 E <= 4096``; wider
        observations get narrower cells (borders down to 4 pixels), 4096 // E pixels each;
        past 4096 entries one pixel column shows the largest value of each group of
        ``ceil(E / 4096)`` entries (so a lone one-hot stays visible). So the image is at
        most 4096 pixels wide, and drawing it costs O(4096) memory besides ``observe()``.
        """
        obs = self.observe()[row].reshape(-1)
        space = self.observation_space
        low = float(space.low.min())
        span = max(float(space.high.max() - space.low.min()), 1.0)
        group, cell = strip_cells(obs.size, self.RENDER_CELL, self.RENDER_WIDTH)
        if group > 1:  # max before scaling: the scaling is monotone
            obs = np.maximum.reduceat(obs, np.arange(0, obs.size, group))
        values = np.clip((obs.astype(np.float64) - low) / span, 0.0, 1.0)
        pixels = np.repeat((values * 255).astype(np.uint8), cell)
        img = np.empty((self.RENDER_CELL, pixels.size, 3), dtype=np.uint8)
        img[...] = pixels[None, :, None]
        if cell >= 4:
            img[:, ::cell] = (64, 64, 200)  # cell borders
        return img


# --------------------------------------------------------------------------- single env
class LengthRangeTask(Task):
    """A task whose episode lengths a curriculum can move (:mod:`memenvs.curriculum`):
    subclasses keep ``length_range`` and implement ``_check_size(max_length)`` (refuse a
    length over the budget) and ``_grow(max_length)`` (size the arrays for it)."""

    length_range: tuple[int, int]

    def set_length_range(self, min_length: int, max_length: int) -> None:
        """Draw later episodes' lengths from ``[min_length, max_length]``.

        Rows in the middle of an episode keep theirs; arrays grow when needed. A refused
        range leaves the task as it was.
        """
        length_range = self.check_length_range(min_length, max_length)
        self._grow(length_range[1])
        self.length_range = length_range

    def check_length_range(self, min_length: int, max_length: int) -> tuple[int, int]:
        """Validate a length range and its memory (allocating nothing); return it."""
        length_range = check_min_max("min_length", min_length, "max_length", max_length, 1)
        self._check_size(length_range[1])
        return length_range

    def _check_size(self, max_length: int) -> None:
        raise NotImplementedError

    def _grow(self, max_length: int) -> None:
        raise NotImplementedError


class MemoryEnv(gym.Env):
    """A single-episode Gymnasium view of a :class:`Task` (one row)."""

    task_cls: ClassVar[type[Task]]
    metadata: ClassVar[dict[str, Any]] = {"render_modes": RENDER_MODES, "render_fps": 4}

    def __init__(self, render_mode: str | None = None, **knobs: Any) -> None:
        if render_mode is not None and render_mode not in RENDER_MODES:
            raise ValueError(
                f"render_mode must be one of {RENDER_MODES} or None, got {render_mode!r}"
            )
        self.render_mode = render_mode
        self.task = self.task_cls(1, **knobs)
        self.observation_space = self.task.observation_space
        self.action_space = self.task.action_space
        self._done = True
        self._started = False

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        """Start an episode; ``options`` must be None or ``{}`` (tasks take none)."""
        check_options(options)
        super().reset(seed=seed)
        task = self.task
        task.streams = row_keys(seed, 1, task.streams, self.np_random)
        task.start(np.zeros(1, dtype=np.int64))
        self._done = False
        self._started = True
        return self.task.observe()[0], {}

    def step(self, action):
        if not self._started:
            raise ResetNeeded("Cannot call step() before reset()")
        if self._done:
            raise ResetNeeded("The episode has ended: call reset() before step()")
        actions = self.task.check_actions(np.asarray(action)[None])
        reward, terminated, truncated = self.task.step(actions)
        done = bool(terminated[0] or truncated[0])
        info: dict[str, Any] = {}
        if done:
            info["success"] = bool(self.task.success()[0])
            self._done = True
        return (
            self.task.observe()[0],
            float(reward[0]),
            bool(terminated[0]),
            bool(truncated[0]),
            info,
        )

    def oracle_action(self):
        """The optimal action in the current state (reads the hidden state: a cheat)."""
        action = self.task.oracle()[0]
        return int(action) if np.ndim(action) == 0 else action

    def render(self):
        if self.render_mode == "ansi":
            return self.task.describe(0)
        if self.render_mode == "rgb_array":
            return self.task.render_rgb(0)
        return None


# --------------------------------------------------------------------------- vector env
class MemoryVectorEnv(VectorEnv):
    """A native numpy vector env over a :class:`Task` with ``num_envs`` rows.

    Autoreset follows Gymnasium 1.x: ``NEXT_STEP`` (default; a finished row is reset by the
    next ``step`` call, which returns its first observation with reward 0) or ``SAME_STEP``
    (the row resets inside the step that ended it; ``info["final_obs"]`` holds its last
    observation and ``info["final_info"]`` its final info).
    Infos: ``info["success"]`` with mask ``info["_success"]`` for rows whose episode ended.
    """

    task_cls: ClassVar[type[Task]]
    metadata: ClassVar[dict[str, Any]] = {
        "render_modes": RENDER_MODES,
        "render_fps": 4,
        "autoreset_mode": AutoresetMode.NEXT_STEP,
    }

    def __init__(
        self,
        num_envs: int = 1,
        render_mode: str | None = None,
        autoreset_mode: AutoresetMode | str = AutoresetMode.NEXT_STEP,
        **knobs: Any,
    ) -> None:
        if render_mode is not None and render_mode not in RENDER_MODES:
            raise ValueError(
                f"render_mode must be one of {RENDER_MODES} or None, got {render_mode!r}"
            )
        try:
            if isinstance(autoreset_mode, str) and autoreset_mode in AutoresetMode.__members__:
                autoreset_mode = AutoresetMode[autoreset_mode]  # by name, e.g. "SAME_STEP"
            mode = AutoresetMode(autoreset_mode)
        except ValueError:
            raise ValueError(
                f"autoreset_mode must be NEXT_STEP or SAME_STEP, got {autoreset_mode!r}"
            ) from None
        if mode not in (AutoresetMode.NEXT_STEP, AutoresetMode.SAME_STEP):
            raise ValueError(f"autoreset_mode must be NEXT_STEP or SAME_STEP, got {mode}")
        self.metadata = {**self.metadata, "autoreset_mode": mode}
        self.autoreset_mode = mode
        self.render_mode = render_mode
        self.task = self.task_cls(num_envs, **knobs)
        self.num_envs = self.task.num_envs
        if self.num_envs == 1 and self.task.memory_estimate is not None:  # see check_memory
            total, obs_size, checked = self.task.memory_estimate
            check_memory(total + BATCHED_BOX_BYTES * obs_size, num_envs=1, **checked)
        self.single_observation_space = self.task.observation_space
        self.single_action_space = self.task.action_space
        self.observation_space = batch_space(self.single_observation_space, self.num_envs)
        self.action_space = batch_space(self.single_action_space, self.num_envs)
        self._needs_reset = np.zeros(self.num_envs, dtype=bool)
        self._started = False

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        """Start every row; ``seed`` seeds row ``i`` with ``seed + i`` (or ``seed[i]``).

        So row ``i`` plays the same episodes as ``gymnasium.make(id).reset(seed=seed + i)``
        followed by unseeded resets, whatever ``num_envs`` is.
        """
        check_options(options)
        task = self.task
        if seed is None or isinstance(seed, (int, np.integer)):
            super().reset(seed=None if seed is None else int(seed))  # gymnasium wants an int
        task.streams = row_keys(seed, self.num_envs, task.streams, self.np_random)
        task.start(np.arange(self.num_envs))
        self._needs_reset[:] = False
        self._started = True
        return self.task.observe(), {}

    def step(self, actions):
        if not self._started:
            raise ResetNeeded("Cannot call step() before reset()")
        task = self.task
        reward, terminated, truncated = task.step(task.check_actions(actions))
        reward = reward.astype(np.float64, copy=False)
        info: dict[str, Any] = {}
        if self.autoreset_mode == AutoresetMode.NEXT_STEP:
            if self._needs_reset.any():
                rows = np.flatnonzero(self._needs_reset)
                task.start(rows)
                reward[rows] = 0.0
                terminated[rows] = False
                truncated[rows] = False
            done = terminated | truncated
            if done.any():
                info = {"success": task.success() & done, "_success": done}
            self._needs_reset = done
            return task.observe(), reward, terminated, truncated, info
        done = terminated | truncated
        if done.any():
            success = task.success() & done
            info = {
                "success": success,
                "_success": done,
                "final_obs": task.observe(),
                "_final_obs": done,
                "final_info": {"success": success, "_success": done},
                "_final_info": done,
            }
            task.start(np.flatnonzero(done))
        return task.observe(), reward, terminated, truncated, info

    def oracle_action(self) -> np.ndarray:
        """Optimal actions for every row from the hidden state (a cheat, for tests/demos)."""
        return self.task.oracle()

    def render(self):
        if self.render_mode == "ansi":
            return "\n".join(self.task.describe(i) for i in range(self.num_envs))
        if self.render_mode == "rgb_array":
            return tuple(self.task.render_rgb(i) for i in range(self.num_envs))
        return None
