"""Shared check: the returns of uniformly random actions, one episode per vector-env row."""

from __future__ import annotations

import numpy as np


def random_returns(venv, seed: int) -> np.ndarray:
    """Run every row of ``venv`` through one episode of random actions; return ``[N]``."""
    venv.action_space.seed(seed)
    venv.reset(seed=seed)
    returns, done = np.zeros(venv.num_envs), np.zeros(venv.num_envs, dtype=bool)
    while not done.all():
        _, reward, terminated, truncated, _ = venv.step(venv.action_space.sample())
        returns += reward * ~done
        done |= terminated | truncated
    return returns
