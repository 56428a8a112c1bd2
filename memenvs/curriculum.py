"""Length curricula: raise a task's sequence length once the agent solves the current one.

The retired gym "algorithmic" envs promoted their input length when the last 10 episodes
all came close to the best reward, but they kept that length in a class attribute, so
every env in the process (and every vector-env worker's copies) moved together. Here the
curriculum is a wrapper and its state lives in the wrapper instance:

* :class:`LengthCurriculum` wraps a single memenvs env (``gymnasium.make(...)``);
* :class:`VectorLengthCurriculum` wraps a native vector env (``gymnasium.make_vec(...)``):
  one curriculum for all its rows, fed by every row's finished episodes.

Both drive the task through ``task.set_length_range(min_length, max_length)``, which the
tasks with a length range implement (the tape tasks, PrioritySort); episodes already
running keep their length, new ones are drawn from the new range. The current level (the
longest length episodes are now drawn with) is in every ``info["curriculum_length"]`` (an
int; an array over rows for the vector wrapper), so any logger can plot it. With
stable-baselines3, for example, a callback can write it to TensorBoard::

    class CurriculumCallback(BaseCallback):
        def _on_step(self) -> bool:
            lengths = [i["curriculum_length"] for i in self.locals["infos"]
                       if "curriculum_length" in i]
            if lengths:
                self.logger.record("curriculum/length", max(lengths))
            return True

Example::

    env = LengthCurriculum(gym.make("memenvs/TapeCopy-v0", min_length=2, max_length=30))
    # episodes start with lengths in [2, 2]; after 10 solved episodes in a row [2, 3]; ...
    # up to [2, 30]. With spread=2 the range slides instead: [n - 2, n], like the old gym.
"""

from __future__ import annotations

from collections import deque
from typing import Any

import gymnasium as gym
import numpy as np

from memenvs.core import check_int


def _task_of(env: Any) -> Any:
    """The batched task behind a memenvs env or vector env (through any wrappers)."""
    inner = env
    while True:
        task = getattr(inner, "task", None)
        if task is not None:
            break
        nxt = getattr(inner, "env", None)
        if nxt is None or nxt is inner:
            raise TypeError(f"{env} is not a memenvs env: no task to set the length of")
        inner = nxt
    if not all(
        hasattr(task, a) for a in ("set_length_range", "check_length_range", "length_range")
    ):
        raise TypeError(
            f"{type(task).__name__} has no length range (set_length_range) for a curriculum: "
            "the tape tasks (memenvs.suites.TAPE) and PrioritySort have one"
        )
    return task


class LengthSchedule:
    """The promotion rule, shared by both wrappers.

    Levels run from ``start`` to ``stop`` in steps of ``increment``. At level ``n`` the task
    draws lengths from ``[min_length, n]`` (``min_length``: the task's own), or from
    ``[max(min_length, n - spread), n]`` when ``spread`` is given. After ``window``
    finished episodes in a row that all succeeded the level goes up and the record starts
    afresh (as in the old gym, which used a window of 10). A ``stop`` whose range the task
    cannot hold (its memory budget) is refused up front.
    """

    def __init__(
        self,
        task: Any,
        start: int | None = None,
        stop: int | None = None,
        window: int = 10,
        increment: int = 1,
        spread: int | None = None,
    ) -> None:
        self.task = task
        lo, hi = task.length_range
        self.min_length = lo
        start = lo if start is None else start
        if stop is None:  # the task's max_length: start must not pass it
            self.start = check_int("start", start, lo, hi)
            self.stop = hi
        else:
            self.start = check_int("start", start, lo)
            self.stop = check_int("stop", stop, self.start)
        self.window = check_int("window", window, 1)
        self.increment = check_int("increment", increment, 1)
        self.spread = None if spread is None else check_int("spread", spread, 0)
        self.length = self.start
        self.promotions = 0
        self.recent: deque[bool] = deque(maxlen=self.window)
        try:
            task.check_length_range(*self.range_at(self.stop))
        except ValueError as e:
            raise ValueError(f"stop={self.stop} is too long for this task: {e}") from e
        self.apply()

    def range_at(self, length: int) -> tuple[int, int]:
        """The range episodes are drawn from at level ``length``."""
        if self.spread is None:
            return self.min_length, length
        return max(self.min_length, length - self.spread), length

    def length_range(self) -> tuple[int, int]:
        """The range episodes are drawn from at the current level."""
        return self.range_at(self.length)

    def apply(self) -> None:
        self.task.set_length_range(*self.length_range())

    def record(self, success: bool) -> bool:
        """Count one finished episode; return True if that raised the level."""
        self.recent.append(bool(success))
        if len(self.recent) < self.window or not all(self.recent) or self.length >= self.stop:
            return False
        length = min(self.length + self.increment, self.stop)
        self.task.set_length_range(*self.range_at(length))  # may raise: then nothing changed
        self.length = length
        self.promotions += 1
        self.recent.clear()
        return True

    def state(self) -> dict[str, Any]:
        """The curriculum's state, for logging or checkpoints."""
        return {
            "length": self.length,
            "length_range": self.length_range(),
            "promotions": self.promotions,
            "recent_successes": list(self.recent),
        }


class _Scheduled:
    """What both curriculum wrappers share: a :class:`LengthSchedule` over the wrapped task."""

    def __init__(
        self,
        env,
        start: int | None = None,
        stop: int | None = None,
        window: int = 10,
        increment: int = 1,
        spread: int | None = None,
    ) -> None:
        vector, vector_wrapper = (
            isinstance(env, gym.vector.VectorEnv),
            isinstance(self, gym.vector.VectorWrapper),
        )
        if vector and not vector_wrapper:
            raise TypeError(
                "LengthCurriculum wraps a single env; for a vector env use "
                "VectorLengthCurriculum (a native memenvs vector env) or "
                "gymnasium.make_vec(..., wrappers=[LengthCurriculum])"
            )
        if vector_wrapper and not vector:
            raise TypeError(
                "VectorLengthCurriculum wraps a native memenvs vector env; for a single env "
                "use LengthCurriculum"
            )
        super().__init__(env)
        self.schedule = LengthSchedule(_task_of(env), start, stop, window, increment, spread)

    @property
    def curriculum_length(self) -> int:
        return self.schedule.length


class LengthCurriculum(_Scheduled, gym.Wrapper):
    """Raise the wrapped task's length when the agent's recent episodes are all solved.

    Args:
        env: a memenvs env whose task has a length range (``min_length``/``max_length``).
        start: the first level (the longest length drawn at first); default: the task's
            ``min_length``.
        stop: the last level; default: the task's ``max_length`` as configured. Refused
            (ValueError) if the task's memory budget cannot hold that length.
        window: how many finished episodes in a row must succeed to go up a level.
        increment: how much the level goes up each time.
        spread: if given, draw lengths from ``[level - spread, level]`` (a sliding range,
            like the old gym's ``[n, n + 2]``) instead of ``[min_length, level]``.

    ``info["curriculum_length"]`` (every reset and step) is the current level: on the step
    that ends an episode it already counts that episode. ``self.schedule.state()`` has the
    rest (range, promotions, the recent record). Each wrapper instance has its own state.
    """

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        obs, info = self.env.reset(seed=seed, options=options)
        return obs, {**info, "curriculum_length": self.schedule.length}

    def step(self, action):
        obs, reward, terminated, truncated, info = self.env.step(action)
        if terminated or truncated:
            self.schedule.record(bool(info.get("success", False)))
        return (
            obs,
            reward,
            terminated,
            truncated,
            {**info, "curriculum_length": self.schedule.length},
        )


class VectorLengthCurriculum(_Scheduled, gym.vector.VectorWrapper):
    """:class:`LengthCurriculum` for a native memenvs vector env: one level for all rows.

    Every row's finished episodes feed the same record (in the order of the rows within a
    step). Rows that finish after a promotion start their next episode in the new range
    (``NEXT_STEP`` autoreset: on the next step; ``SAME_STEP``: rows reset within the step
    that raised the level keep the old range for that one episode).
    ``info["curriculum_length"]`` is an int array over the rows (mask
    ``info["_curriculum_length"]``, all true). Arguments as for :class:`LengthCurriculum`.
    """

    def _with_length(self, info: dict) -> dict:
        n = self.num_envs
        return {
            **info,
            "curriculum_length": np.full(n, self.schedule.length, dtype=np.int64),
            "_curriculum_length": np.ones(n, dtype=bool),
        }

    def reset(self, *, seed: int | list[int] | None = None, options: dict | None = None):
        obs, info = self.env.reset(seed=seed, options=options)
        return obs, self._with_length(info)

    def step(self, actions):
        obs, reward, terminated, truncated, info = self.env.step(actions)
        done = np.asarray(terminated) | np.asarray(truncated)
        if done.any():
            success = np.asarray(info.get("success", np.zeros(self.num_envs, dtype=bool)))
            for row in np.flatnonzero(done):
                self.schedule.record(bool(success[row]))
        return obs, reward, terminated, truncated, self._with_length(info)
