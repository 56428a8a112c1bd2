"""Interval estimates over seeds, as rliable computes them (Agarwal et al. 2021), in numpy.

``iqm`` is the interquartile mean (``scipy.stats.trim_mean(x, 0.25)``: the mean after
dropping the lowest and highest quarter of the scores); ``stratified_bootstrap_ci`` resamples
runs with replacement within each task (stratum) and takes percentile bounds;
``probability_of_improvement`` is rliable's P(X > Y) (a run of X beats a run of Y, ties
count one half, averaged over tasks) with ``probability_of_improvement_ci`` its interval.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

MIN_SEEDS = 3  # fewer seeds than this get no interval estimate in reports


def iqm(scores: np.ndarray) -> float:
    """Interquartile mean of all scores (any shape): ``int(n / 4)`` cut from each end."""
    x = np.sort(np.asarray(scores, dtype=float).ravel())
    if x.size == 0:
        raise ValueError("iqm needs at least one score")
    if not np.isfinite(x).all():
        raise ValueError("scores must be finite")
    cut = int(0.25 * x.size)
    return float(x[cut : x.size - cut].mean())


def _runs_by_tasks(scores: np.ndarray, name: str = "scores") -> np.ndarray:
    """``scores`` as a finite float ``[runs, tasks]`` array (1-D: one task)."""
    x = np.asarray(scores, dtype=float)
    x = x[:, None] if x.ndim == 1 else x
    if x.ndim != 2 or x.shape[0] < 1 or x.shape[1] < 1:
        raise ValueError(f"{name} must be [runs, tasks] with at least one of each, got {x.shape}")
    if not np.isfinite(x).all():
        raise ValueError(f"{name} must be finite")
    return x


def _check_bootstrap(reps: int, confidence: float) -> None:
    if isinstance(reps, bool) or not isinstance(reps, int) or reps < 1:
        raise ValueError(f"reps must be an integer >= 1, got {reps!r}")
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must be in (0, 1), got {confidence!r}")


def _resample(x: np.ndarray, reps: int, rng: np.random.Generator) -> np.ndarray:
    """``reps`` stratified resamples of ``x[runs, tasks]``: ``[reps, runs, tasks]``, each
    task's runs drawn with replacement from that task's own runs."""
    runs, tasks = x.shape
    rows = rng.integers(0, runs, size=(reps, runs, tasks))
    return np.take_along_axis(x[None], rows, axis=1)


def _percentile_interval(values: np.ndarray, confidence: float) -> tuple[float, float]:
    tail = (1.0 - confidence) / 2
    low, high = np.quantile(values, [tail, 1.0 - tail])
    return float(low), float(high)


def stratified_bootstrap_ci(
    scores: np.ndarray,
    statistic: Callable[[np.ndarray], float] = iqm,
    reps: int = 2000,
    confidence: float = 0.95,
    seed: int = 0,
) -> tuple[float, float]:
    """Percentile bootstrap interval of ``statistic`` over ``scores[runs, tasks]``.

    Each replicate draws ``runs`` rows with replacement independently per task column
    (stratified by task), as rliable does. A 1-D ``scores`` is one task.
    """
    x = _runs_by_tasks(scores)
    _check_bootstrap(reps, confidence)
    samples = _resample(x, reps, np.random.default_rng(seed))
    return _percentile_interval(np.array([statistic(s) for s in samples]), confidence)


def probability_of_improvement(x: np.ndarray, y: np.ndarray) -> float:
    """P(X > Y) of rliable: for each task, the chance that a run of X scores above a run
    of Y (a tie counts one half), averaged over tasks.

    ``x[runs_x, tasks]`` and ``y[runs_y, tasks]`` share their tasks (columns) but may differ
    in runs; 1-D arrays are one task. Per task this is the Mann-Whitney U statistic
    divided by ``runs_x * runs_y``.
    """
    a, b = _runs_by_tasks(x, "x"), _runs_by_tasks(y, "y")
    if a.shape[1] != b.shape[1]:
        raise ValueError(f"x and y must have the same tasks, got {a.shape[1]} and {b.shape[1]}")
    return float(_improvement(a[None], b[None])[0])


def _improvement(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Probability of improvement for each of a batch ``a[k, m, t]``, ``b[k, n, t]``."""
    wins = np.sign(a[:, :, None, :] - b[:, None, :, :])  # [k, m, n, t]: 1, 0 (tie), -1
    return ((wins + 1) / 2).mean(axis=(1, 2, 3))  # equal tasks: mean over pairs, then tasks


def probability_of_improvement_ci(
    x: np.ndarray, y: np.ndarray, reps: int = 2000, confidence: float = 0.95, seed: int = 0
) -> tuple[float, float]:
    """Percentile bootstrap interval of :func:`probability_of_improvement`: each replicate
    resamples the runs of ``x`` and of ``y`` independently within each task, as rliable
    does for its probability-of-improvement intervals."""
    probability_of_improvement(x, y)  # the same checks
    _check_bootstrap(reps, confidence)
    rng = np.random.default_rng(seed)
    a = _resample(_runs_by_tasks(x), reps, rng)
    b = _resample(_runs_by_tasks(y), reps, rng)
    return _percentile_interval(_improvement(a, b), confidence)
