"""SB3 callbacks for run folders: periodic checkpoints, periodic evaluation, hparams.

Checkpoints and evaluations happen at the start of a rollout, after the previous update:
the saved model has trained on exactly its ``num_timesteps`` steps, so a resumed run
continues from a clean update boundary.
"""

from __future__ import annotations

import json
import os
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from stable_baselines3.common.callbacks import BaseCallback
from stable_baselines3.common.logger import DISABLED, HParam, KVWriter, Logger

from agents.checks import check_int
from agents.runs import BEST, EVALUATIONS, LATEST

DISCARDED_EVALUATIONS = "evaluations.discarded.jsonl"
DISCARDED_BEST = "best_model.discarded.zip"

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
    """Every ``every`` steps and at the end of training: ``evaluate(model)`` -> ``eval/*``
    in TensorBoard, a line in ``evaluations.jsonl``, and ``best_model.zip`` when the success
    rate (then the mean return) beats the best so far, so the final model competes for it
    too (``final``: its result, for the caller to reuse). Resumed runs read the best and the
    last step back.

    ``eval/*`` is written at once at the evaluation's step (``num_timesteps``, the step of
    its ``evaluations.jsonl`` row), on its own: the scalars the algorithm has recorded for
    its next dump (``train/*`` of the update just made) stay for that dump, so every other
    scalar lands at the same step with or without evaluations.

    ``resumed_from`` (a resumed run: the step of the checkpoint it continues from) first
    rewinds the evaluations to that step: rows after it, made by a process killed after its
    last checkpoint, are moved to ``evaluations.discarded.jsonl``, and so is
    ``best_model.zip`` (to ``best_model.discarded.zip``) if that process saved it after the
    checkpoint. The last step and the best then come from the kept rows only, so the
    resumed run evaluates on schedule from the checkpoint. A ``best_model.zip`` moved aside
    leaves the run without one (the kept best row's model was overwritten by the killed
    process) until an evaluation beats the kept best: ``best_model.zip`` is the model of
    the best row of ``evaluations.jsonl`` or absent, never a model of a discarded history
    (``memenvs-evaluate --model best`` then says the run has no best model).
    """

    def __init__(
        self,
        run_dir: str | Path,
        every: int,
        evaluate: Callable[[Any], dict[str, float]],
        resumed_from: int | None = None,
    ) -> None:
        self.log = Path(run_dir) / EVALUATIONS
        self.best_path = Path(run_dir) / BEST
        self.evaluate = evaluate
        if resumed_from is None:
            rows = read_evaluations(self.log)
        else:
            rows = rewind_evaluations(run_dir, resumed_from)
        self.best = max((_score(r) for r in rows), default=None)
        self.final: dict[str, float] | None = None  # the result at the end of training
        super().__init__(every, rows[-1]["num_timesteps"] if rows else 0)

    def _on_training_end(self) -> None:
        # the last periodic evaluation came at the last rollout's start, before its update
        if self.num_timesteps > self.last:
            self.last = self.num_timesteps
            self.final = self._fire()

    def _fire(self) -> dict[str, float]:
        result = self.evaluate(self.model)
        row = {"num_timesteps": self.num_timesteps, **result}
        if self.best is None or _score(row) > self.best:
            self.best = _score(row)
            save_atomically(self.model, self.best_path)
        with self.log.open("a") as f:
            f.write(json.dumps(row) + "\n")
        # last: a kill before this leaves no TensorBoard point without its row
        scalars = {f"eval/{key}": result[key] for key in ("success_rate", "mean_return")}
        write_now(self.logger, scalars, self.num_timesteps)
        return result


def write_now(logger: Logger, scalars: dict[str, float], step: int) -> None:
    """Write ``scalars`` at ``step`` to the logger's outputs now, as ``logger.dump(step)``
    would, but without flushing (and moving to ``step``) what is already recorded for the
    logger's next dump."""
    if logger.level == DISABLED:
        return
    excluded: dict[str, tuple[str, ...]] = dict.fromkeys(scalars, ())
    for output in logger.output_formats:
        if isinstance(output, KVWriter):
            output.write(scalars, excluded, step)


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


def rewind_evaluations(run_dir: str | Path, step: int) -> list[dict[str, Any]]:
    """Forget the evaluations made after ``step`` (a resumed run's checkpoint): their rows
    are appended to ``evaluations.discarded.jsonl`` and removed from ``evaluations.jsonl``
    (rewritten atomically), and a ``best_model.zip`` saved after ``step`` is moved to
    ``best_model.discarded.zip`` (replacing an older one). Moved aside, not deleted: they
    are what the killed process measured, for a user who wants to look; nothing reads
    them. Kept rows stay as they were written. Returns them, as :func:`read_evaluations`
    would read them now."""
    run_dir = Path(run_dir)
    log, best = run_dir / EVALUATIONS, run_dir / BEST
    rows = []
    if log.exists():
        lines = [line for line in log.read_text().splitlines() if line.strip()]
        kept, discarded = [], []
        for line in lines:
            row = json.loads(line)
            if row["num_timesteps"] <= step:
                kept.append(line)
                rows.append(row)
            else:
                discarded.append(line)
        if discarded:
            # the discarded rows first: a kill between the two writes duplicates them in
            # the discarded file at worst, never loses them
            with (run_dir / DISCARDED_EVALUATIONS).open("a") as f:
                f.write("".join(line + "\n" for line in discarded))
            tmp = log.with_name(log.name + ".tmp")
            tmp.write_text("".join(line + "\n" for line in kept))
            os.replace(tmp, log)
    if best.is_file() and saved_at(best) > step:
        os.replace(best, run_dir / DISCARDED_BEST)
    return rows


def saved_at(path: Path) -> int:
    """The ``num_timesteps`` a model saved with SB3's ``save`` had (read from its zip)."""
    with zipfile.ZipFile(path) as z:
        return json.loads(z.read("data"))["num_timesteps"]


def _score(row: dict[str, Any]) -> tuple[float, float]:
    return (row["success_rate"], row["mean_return"])
