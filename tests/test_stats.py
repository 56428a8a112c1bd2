"""IQM, stratified bootstrap CIs and probability of improvement (rliable's estimates) against
hand computations."""

from __future__ import annotations

import numpy as np
import pytest

from agents.stats import (
    iqm,
    probability_of_improvement,
    probability_of_improvement_ci,
    stratified_bootstrap_ci,
)


@pytest.mark.parametrize(
    ("scores", "expected"),
    [
        ([1, 2, 3, 4, 5, 6, 7, 8], 4.5),  # drop 2 from each end: mean(3, 4, 5, 6)
        ([10, 1, 2, 3], 2.5),  # sorted 1 2 3 10, drop 1 each end
        ([0.2, 0.5, 0.9], 1.6 / 3),  # n=3: int(0.75) = 0 cut, the plain mean
        ([[0, 100], [1, 2]], 1.5),  # all scores of a [runs, tasks] array
    ],
)
def test_iqm_by_hand(scores, expected):
    assert iqm(np.array(scores)) == pytest.approx(expected)


@pytest.mark.parametrize("scores", [[0.1, 0.2, np.nan], [0.1, 0.2, 0.3, np.nan], [np.inf]])
def test_iqm_rejects_scores_that_are_not_finite(scores):
    with pytest.raises(ValueError, match="scores must be finite"):  # not nan, nor 0.25
        iqm(np.array(scores))


def test_bootstrap_is_stratified_by_task():
    """Task 0 scores all 0, task 1 all 1: every stratified resample keeps 4 runs of each
    task, so the mean is exactly 0.5 every time; resampling the pooled runs would not."""
    scores = np.array([[0.0, 1.0]] * 4)
    assert stratified_bootstrap_ci(scores, np.mean) == (0.5, 0.5)


def test_bootstrap_percentiles_match_the_exact_resampling_distribution():
    """Mean of 2 draws from {0, 1}: 0 w.p. 1/4, 0.5 w.p. 1/2, 1 w.p. 1/4, so a 40% interval
    (the 30th and 70th percentiles) is [0.5, 0.5] and a 95% one [0, 1]."""
    scores = np.array([0.0, 1.0])
    assert stratified_bootstrap_ci(scores, np.mean, reps=4000, confidence=0.4) == (0.5, 0.5)
    assert stratified_bootstrap_ci(scores, np.mean, reps=4000) == (0.0, 1.0)
    low, high = stratified_bootstrap_ci(np.array([0.2, 0.5, 0.9, 0.95]))
    assert 0.2 <= low <= iqm(np.array([0.2, 0.5, 0.9, 0.95])) <= high <= 0.95


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"scores": np.zeros((0, 1))}, "at least one"),
        ({"scores": np.array([np.nan, 1.0])}, "finite"),
        ({"scores": np.ones(3), "reps": 0}, "reps"),
        ({"scores": np.ones(3), "confidence": 1.0}, "confidence"),
    ],
)
def test_bad_input_is_rejected(kwargs, message):
    with pytest.raises(ValueError, match=message):
        stratified_bootstrap_ci(**kwargs)


# ------------------------------------------------------------ probability of improvement
@pytest.mark.parametrize(
    ("x", "y", "expected"),
    [
        ([1.0, 0.5], [0.5, 0.5], 0.75),  # pairs: win, win, tie, tie
        ([0.2], [0.9, 0.1, 0.2], 0.5),  # lose, win, tie
        ([1.0, 1.0], [0.0], 1.0),
        ([0.0], [1.0, 1.0], 0.0),
        # two tasks, averaged: task 0 X wins all four pairs (1); task 1 (X 0, 0.5 against
        # Y 0.5, 0.8) three losses and a tie (0.5 / 4)
        ([[1.0, 0.0], [0.9, 0.5]], [[0.0, 0.5], [0.1, 0.8]], (1.0 + 0.5 / 4) / 2),
    ],
)
def test_probability_of_improvement_by_hand(x, y, expected):
    assert probability_of_improvement(np.array(x), np.array(y)) == pytest.approx(expected)


def test_probability_of_improvement_is_one_minus_the_reverse():
    rng = np.random.default_rng(1)
    x, y = rng.random((5, 3)), rng.random((4, 3))
    x[0, 0] = y[0, 0]  # a tie counts one half both ways
    forward, backward = probability_of_improvement(x, y), probability_of_improvement(y, x)
    assert forward + backward == pytest.approx(1.0)


def test_probability_of_improvement_ci_matches_the_exact_resampling_distribution():
    """X = two runs {0, 1}, Y = one run 0.5: P(X > Y) of a resample is the fraction of ones
    drawn, 0 w.p. 1/4, 0.5 w.p. 1/2, 1 w.p. 1/4 (Y resamples to itself)."""
    x, y = np.array([0.0, 1.0]), np.array([0.5])
    assert probability_of_improvement_ci(x, y, reps=4000, confidence=0.4) == (0.5, 0.5)
    assert probability_of_improvement_ci(x, y, reps=4000) == (0.0, 1.0)
    assert probability_of_improvement_ci(np.ones(3), np.zeros(4)) == (1.0, 1.0)


def test_probability_of_improvement_ci_is_stratified_by_task():
    """Task 0: X always wins; task 1: X always loses. Every stratified resample keeps both
    tasks, so the estimate is exactly 0.5; pooling runs across tasks would not be."""
    x, y = np.array([[1.0, 0.0]] * 3), np.array([[0.0, 1.0]] * 3)
    assert probability_of_improvement_ci(x, y) == (0.5, 0.5)


@pytest.mark.parametrize(
    ("x", "y", "message"),
    [
        (np.ones((3, 2)), np.ones((3, 3)), "same tasks"),
        (np.zeros((0, 1)), np.ones((3, 1)), "x must be"),
        (np.ones(3), np.array([np.inf]), "y must be finite"),
    ],
)
def test_probability_of_improvement_rejects_bad_input(x, y, message):
    with pytest.raises(ValueError, match=message):
        probability_of_improvement(x, y)
    with pytest.raises(ValueError, match=message):
        probability_of_improvement_ci(x, y)
