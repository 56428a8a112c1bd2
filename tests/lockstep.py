"""Shared check: a single env and a 1-row SAME_STEP vector env agree step for step."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np


def assert_lockstep(
    single, vector, steps: int, extra_check: Callable[[], None] | None = None
) -> int:
    """Drive both with the same seed and actions; return how many episodes ended.

    Compares observations, rewards, terminations, final observations and success flags;
    ``extra_check`` runs after every step (e.g. to compare hidden state).
    """
    o_s, _ = single.reset(seed=11)
    o_v, _ = vector.reset(seed=11)
    np.testing.assert_array_equal(o_v[0], o_s)
    single.action_space.seed(5)
    episodes = 0
    for _ in range(steps):
        action = single.action_space.sample()
        o_s, r_s, te_s, tr_s, info_s = single.step(action)
        o_v, r_v, te_v, tr_v, info_v = vector.step(np.asarray(action)[None])
        assert (r_v[0], te_v[0], tr_v[0]) == (r_s, te_s, tr_s)
        if te_s or tr_s:
            episodes += 1
            np.testing.assert_array_equal(info_v["final_obs"][0], o_s)
            assert info_v["success"][0] == info_s["success"]
            o_s, _ = single.reset()
        if extra_check is not None:
            extra_check()
        np.testing.assert_array_equal(o_v[0], o_s)
    return episodes
