"""SB3 callbacks for run folders: periodic checkpoints, periodic evaluation, hparams.

Checkpoints and evaluations happen at the start of a rollout, after the previous update:
the saved model has trained on exactly its ``num_timesteps`` steps, so a resumed run
continues from a clean update boundary.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from stable_baselines3.common.callbacks import BaseCallback
from stable_baselines3.common.logger import HParam

from agents.checks import check_int
from agents.runs import BEST, EVALUATIONS, LATEST

HPARAM_METRICS = ("rollout/ep_rew_mean", "rollout/success_rate", "eval/success_rate")


def save_atomically(model: Any, path: Path) -> None:
    """``model.save`` to a temporary file, then rename: a kill never leaves half a zip."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.stem + ".tmp.zip")
    model.save(tmp)
    os.replace(tmp, path)


class _Periodic(BaseCallback):
    """Calls :meth:`_fire` at a rollout start once ``every`` steps passed since the last."""

    def __init__(self, every: int, last: int = 0) -> None:
        super().__init__()
        check_int("every", every, 1)
        self.every, self.last = every, last

    def _on_rollout_start(self) -> None:
        if self.num_timesteps - self.last >= self.every:
            self.last = self.num_timesteps
            self._fire()

    def _on_step(self) -> bool:
        return True

    def _fire(self) -> None:
        raise NotImplementedError


class LatestCheckpoint(_Periodic):
    """Every ``every`` steps (and at the end) save ``run_dir/checkpoints/latest.zip``,
    replacing the previous one."""

    def __init__(self, run_dir: str | Path, every: int, last: int = 0) -> None:
        super().__init__(every, last)
        self.path = Path(run_dir) / LATEST

    def _fire(self) -> None:
        save_atomically(self.model, self.path)

    def _on_training_end(self) -> None:
        save_atomically(self.model, self.path)


class EvalSuccess(_Periodic):
    """Every ``every`` steps: ``evaluate(model)`` -> ``eval/*`` in TensorBoard, a line in
    ``evaluations.jsonl``, and ``best_model.zip`` when the success rate (then the mean
    return) beats the best so far. Resumed runs read the best and the last step back."""

    def __init__(
        self, run_dir: str | Path, every: int, evaluate: Callable[[Any], dict[str, float]]
    ) -> None:
        self.log = Path(run_dir) / EVALUATIONS
        self.best_path = Path(run_dir) / BEST
        self.evaluate = evaluate
        rows = read_evaluations(self.log)
        self.best = max((_score(r) for r in rows), default=None)
        super().__init__(every, rows[-1]["num_timesteps"] if rows else 0)

    def _fire(self) -> None:
        result = self.evaluate(self.model)
        for key in ("success_rate", "mean_return"):
            self.logger.record(f"eval/{key}", result[key])
        row = {"num_timesteps": self.num_timesteps, **result}
        if self.best is None or _score(row) > self.best:
            self.best = _score(row)
            save_atomically(self.model, self.best_path)
        with self.log.open("a") as f:
            f.write(json.dumps(row) + "\n")


class LogHParams(BaseCallback):
    """Write the run's hyperparameters to TensorBoard's hparams tab at the training start."""

    def __init__(self, hparams: dict[str, bool | str | float]) -> None:
        super().__init__()
        self.hparams = hparams

    def _on_training_start(self) -> None:
        metrics = dict.fromkeys(HPARAM_METRICS, 0.0)
        self.logger.record(
            "hparams", HParam(self.hparams, metrics), exclude=("stdout", "log", "json", "csv")
        )

    def _on_step(self) -> bool:
        return True


def read_evaluations(path: Path) -> list[dict[str, Any]]:
    """The rows of an ``evaluations.jsonl`` (empty if there is none)."""
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def _score(row: dict[str, Any]) -> tuple[float, float]:
    return (row["success_rate"], row["mean_return"])
