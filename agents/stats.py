"""Interval estimates over seeds, as rliable computes them (Agarwal et al. 2021), in numpy.

``iqm`` is the interquartile mean (``scipy.stats.trim_mean(x, 0.25)``: the mean after
dropping the lowest and highest quarter of the scores); ``stratified_bootstrap_ci`` resamples
runs with replacement within each task (stratum) and takes percentile bounds.
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
    cut = int(0.25 * x.size)
    return float(x[cut : x.size - cut].mean())


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
    x = np.asarray(scores, dtype=float)
    x = x[:, None] if x.ndim == 1 else x
    if x.ndim != 2 or x.shape[0] < 1 or x.shape[1] < 1:
        raise ValueError(f"scores must be [runs, tasks] with at least one of each, got {x.shape}")
    if not np.isfinite(x).all():
        raise ValueError("scores must be finite")
    if isinstance(reps, bool) or not isinstance(reps, int) or reps < 1:
        raise ValueError(f"reps must be an integer >= 1, got {reps!r}")
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must be in (0, 1), got {confidence!r}")
    rng = np.random.default_rng(seed)
    runs, tasks = x.shape
    rows = rng.integers(0, runs, size=(reps, runs, tasks))
    samples = np.take_along_axis(x[None], rows, axis=1)  # [reps, runs, tasks]
    values = np.array([statistic(s) for s in samples])
    tail = (1.0 - confidence) / 2
    low, high = np.quantile(values, [tail, 1.0 - tail])
    return float(low), float(high)
