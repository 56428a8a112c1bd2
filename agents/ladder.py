"""Training within a budget: the benchmark's stop rule, and the delay curriculum.

The curriculum trains one model up a task's ladder of rungs (e.g. delays 16, 64, 256) within
one budget of env steps: at each rung but the last it moves on once ``advance_success`` of
the last ``STOP_WINDOW`` training episodes succeed, with the same model on a new env
(``model.set_env``); at the last rung it trains until the benchmark's stop rule or the
budget ends the run.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from typing import Any

SUCCESS = 0.95  # the success that counts as solved (frontier, curriculum rung)
STOP_SUCCESS = 0.99  # training success over the last STOP_WINDOW episodes that ends a run
STOP_WINDOW = 100


def progress_callback(curve: list[tuple[int, float]], stop_success: float = STOP_SUCCESS):
    """SB3 callback: appends ``(steps, training success)`` to ``curve`` after each rollout and
    stops training at the step where the last ``STOP_WINDOW`` training episodes reach
    ``stop_success`` (then its ``met`` attribute is True).

    The stop test counts the episodes that end at this very step (SB3 updates its
    ``ep_success_buffer`` only after ``on_step``). Stopping one step late would run one more
    PPO update, and that update can undo a solved memory policy (measured: GRU on TMaze 16
    went from 1.00 to 0.53 in one update), so the evaluated policy would not be the one that
    met the criterion.
    """
    import numpy as np
    from stable_baselines3.common.callbacks import BaseCallback

    if not 0.0 <= stop_success <= 1.0:
        raise ValueError(f"stop_success must be in [0, 1], got {stop_success!r}")

    class Progress(BaseCallback):
        def __init__(self) -> None:
            super().__init__()
            self.window: deque[float] = deque(maxlen=STOP_WINDOW)
            self.met = False

        def _on_rollout_end(self) -> None:
            buf = self.model.ep_success_buffer
            if len(buf) >= 20:
                curve.append((self.num_timesteps, float(sum(buf) / len(buf))))

        def _on_step(self) -> bool:
            infos, dones = self.locals["infos"], self.locals["dones"]
            ended = np.flatnonzero(dones)
            self.window.extend(float(infos[i].get("is_success", False)) for i in ended)
            full = len(self.window) == STOP_WINDOW
            self.met = full and sum(self.window) / STOP_WINDOW >= stop_success
            return not self.met

    return Progress()


def switch_env(model: Any, env: Any, rung: Any) -> None:
    """``model.set_env(env)`` after checking the spaces match (``ValueError`` naming both)."""
    for name in ("observation_space", "action_space"):
        old, new = getattr(model, name), getattr(env, name)
        if old != new:
            env.close()
            raise ValueError(
                f"curriculum: the {name} at rung {rung!r} is {new}, not {old} as at the rungs "
                f"before; a curriculum needs the same spaces at every rung"
            )
    model.get_env().close()
    model.set_env(env)
    model.ep_info_buffer.clear()  # training success from here on is this rung's
    model.ep_success_buffer.clear()


def train_ladder(
    model: Any,
    make_env: Callable[[Any], Any],
    rungs: list[Any],
    budget: int,
    curve: list[tuple[int, float]],
    advance_success: float = SUCCESS,
) -> list[list[Any]]:
    """Train ``model`` (built on rung ``rungs[0]``'s env) up ``rungs`` within ``budget`` steps.

    ``make_env(rung)`` builds the env of a later rung. Returns ``[[rung, env step reached],
    ...]`` for the rungs reached (the first at step 0); the last entry is not ``rungs[-1]``
    if the budget ran out first. One rung trains like a plain run with the stop rule.
    """
    reached: list[list[Any]] = []
    for i, rung in enumerate(rungs):
        if i > 0:
            switch_env(model, make_env(rung), rung)
        reached.append([rung, int(model.num_timesteps)])
        last = i == len(rungs) - 1
        progress = progress_callback(curve, STOP_SUCCESS if last else advance_success)
        model.learn(budget - model.num_timesteps, callback=progress, reset_num_timesteps=i == 0)
        if not progress.met or model.num_timesteps >= budget:
            break
    return reached
