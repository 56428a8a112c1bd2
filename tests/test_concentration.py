"""Concentration: a hand-computed game, wasted flips, a perfect-memory player, the returns."""

from __future__ import annotations

import numpy as np
import pytest
from montecarlo import random_returns

from memenvs.envs.concentration import (
    Concentration,
    ConcentrationEnv,
    ConcentrationVectorEnv,
    concentration_returns,
)


def set_layout(env: ConcentrationEnv, layout) -> None:
    """Overwrite row 0's faces (and partners) with a known layout."""
    layout = np.asarray(layout)
    env.task.layout[0] = layout
    for i, face in enumerate(layout):
        env.task.partner[0, i] = [j for j in np.flatnonzero(layout == face) if j != i][0]


def seen(obs: np.ndarray, p: int) -> tuple[int, int] | None:
    """(position, face) of the card shown in ``obs``, or None."""
    n = 2 * p
    if not obs[:n].any():
        return None
    return int(obs[:n].argmax()), int(obs[n : n + p].argmax())


def test_game_by_hand():
    env = ConcentrationEnv(num_pairs=2, render_mode="ansi")
    obs, _ = env.reset(seed=0)
    set_layout(env, [1, 0, 0, 1])
    np.testing.assert_array_equal(obs, np.zeros(11))
    obs, reward, terminated, truncated, _ = env.step(0)  # face 1, waiting for its pair
    assert seen(obs, 2) == (0, 1) and obs[10] == 1.0 and reward == 0.0
    obs, reward, *_ = env.step(0)  # the face-up card again: wasted
    assert seen(obs, 2) is None and obs[10] == 1.0 and reward == 0.0
    obs, reward, *_ = env.step(1)  # face 0: no pair, both go face down
    assert seen(obs, 2) == (1, 0) and obs[10] == 0.0 and reward == 0.0
    assert env.render().endswith(" ? [0] ?  ? ")
    env.step(1)
    obs, reward, *_ = env.step(2)  # 0 and 0: a pair
    assert reward == 0.5 and obs[6:10].tolist() == [0, 1, 1, 0]
    obs, reward, *_ = env.step(1)  # matched: wasted
    assert seen(obs, 2) is None and reward == 0.0
    env.step(3)
    obs, reward, terminated, truncated, info = env.step(0)
    assert (reward, terminated, truncated, info) == (0.5, True, False, {"success": True})
    assert env.task.t[0] == 8
    assert "2/2 pairs, all found" in env.render()


def test_time_limit():
    env = ConcentrationEnv(num_pairs=3)
    env.reset(seed=1)
    for step in range(1, 13):
        *_, terminated, truncated, info = env.step(0)  # flip card 0 over and over
        assert not terminated and truncated == (step == 12)
    assert info == {"success": False}


def perfect_memory_player(obs: np.ndarray, memory: dict, p: int) -> int:
    """Flip known pairs, else an unseen card, then its partner if seen, else another."""
    n = 2 * p
    card = seen(obs, p)
    if card is not None:
        memory["faces"][card[0]] = card[1]
    matched = obs[n + p : 2 * n + p] > 0
    faces = {i: f for i, f in memory["faces"].items() if not matched[i]}
    unseen = next((i for i in range(n) if i not in memory["faces"] and not matched[i]), 0)
    if obs[5 * p] > 0:  # one card is face up: flip its partner if known
        first, face = card
        partner = [i for i, f in faces.items() if f == face and i != first]
        return partner[0] if partner else unseen
    by_face: dict[int, list[int]] = {}
    for i, f in faces.items():
        by_face.setdefault(f, []).append(i)
    pairs = [cards for cards in by_face.values() if len(cards) == 2]
    return pairs[0][0] if pairs else unseen


@pytest.mark.parametrize("p", [2, 3, 6])
def test_perfect_memory_always_finishes_in_time(p):
    env = ConcentrationEnv(num_pairs=p)
    for seed in range(40):
        obs, _ = env.reset(seed=seed)
        memory: dict = {"faces": {}}
        total, steps = 0.0, 0
        while True:
            obs, reward, terminated, truncated, info = env.step(
                perfect_memory_player(obs, memory, p)
            )
            total += reward
            steps += 1
            if terminated or truncated:
                break
        assert total == pytest.approx(1.0) and info["success"] and steps <= 4 * p - 2


def test_returns_by_monte_carlo():
    n = 20_000
    venv = ConcentrationVectorEnv(num_envs=n, num_pairs=3)
    returns = random_returns(venv, seed=2)
    random_return, guesser = concentration_returns(3)
    assert abs(returns.mean() - random_return) < 4 * returns.std() / np.sqrt(n)
    assert guesser > random_return


def test_layout_pairs_and_ended_rows():
    task = Concentration(50, num_pairs=5)
    task.rng = np.random.default_rng(3)
    task.reset_rows(np.arange(50))
    for row in range(50):
        assert sorted(task.layout[row]) == sorted(list(range(5)) * 2)
        i = np.arange(10)
        assert np.all(task.layout[row, task.partner[row]] == task.layout[row])
        assert np.all(task.partner[row] != i)
    for _ in range(10):
        task.step(task.oracle())
    assert task.success().all() and task.done.all()
    reward, terminated, truncated = task.step(np.zeros(50, dtype=np.int64))
    assert not reward.any() and not terminated.any() and not truncated.any()


def test_bad_knobs():
    with pytest.raises(ValueError, match=r"num_pairs must be in \[2, 100000000\], got 1"):
        ConcentrationEnv(num_pairs=1)


# (random, guesser) from the former O(P**2) step-by-step dynamic programme
FORMER_RETURNS = {
    2: (0.504119873046875, 0.7530864197530864),
    3: (0.34221393369483866, 0.530838035665295),
    4: (0.2567245368779183, 0.3728319115136732),
    8: (0.12700201015729562, 0.14625386411067137),
    17: (0.059277533588382524, 0.06270830887809085),
    64: (0.015657212280019546, 0.015876101986759154),
    65: (0.015415844670036009, 0.015627942335941968),
    200: (0.00500330059736783, 0.005025221636494271),
    1000: (0.001000132046690469, 0.0010010017545567654),  # took 9 s, now milliseconds
}


@pytest.mark.parametrize("p", sorted(FORMER_RETURNS))
def test_returns_match_the_former_step_by_step_programme(p):
    np.testing.assert_allclose(concentration_returns(p), FORMER_RETURNS[p], rtol=0, atol=1e-14)
    task = Concentration(1, num_pairs=p)
    assert (task.random_return, task.memoryless_return) == concentration_returns(p)


@pytest.mark.parametrize("p", [3000, 30_000, 10**8])
def test_returns_at_large_boards_are_quick(p):
    """The former programme took hours at 30,000 pairs; now each needs O(log P) products."""
    random_return, guesser = concentration_returns(p)
    # each policy finds about one pair by chance: P * return is 1 + O(1/P), up to the
    # rounding of the O(1/P) transition probabilities over 4P steps (about P * 1e-16)
    slack = p * 1e-15
    assert 1.0 - slack < p * random_return < 1.0 + 1.0 / p + slack
    assert 1.0 - slack < p * guesser < 1.0 + 2.0 / p + slack
