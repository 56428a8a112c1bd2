"""Alphabet knobs (``num_symbols``, ``base``) cost O(K), not O(K**2) (issue 14).

The tasks used to turn codes into observations through one-hot tables of shape ``[K, K]``
(and budgeted ``4 (K + 1)**2`` bytes for them), so make + reset took seconds and the 2 GiB
budget at K ~ 23,000. They now write the ones straight into each observation batch.

* The trajectories (observations, rewards, terminated, truncated) of every task with an
  alphabet knob, at small K, single env and 3-row vector env, hash to the values recorded
  from the table-based code (commit 32f39f6): the rewrite changed no observation bit.
* At K = 200,000 (about 9 times the old largest valid K), make + reset allocates O(K):
  nothing of K**2 size, checked with tracemalloc, not by wall time.
"""

from __future__ import annotations

import hashlib
import tracemalloc

import gymnasium as gym
import numpy as np
import pytest
from gymnasium import spaces

import memenvs  # noqa: F401
from memenvs import core
from memenvs.registry import TASKS

STEPS = 300

#: ``(case id, env id, knobs)`` at two small alphabets each.
CASES = [
    ("DelayedRecall-K2", "memenvs/DelayedRecall-v0", {"num_symbols": 2, "delay": 5}),
    (
        "DelayedRecall-K7-noise",
        "memenvs/DelayedRecall-v0",
        {"num_symbols": 7, "delay": (0, 6), "noise": True},
    ),
    ("Copy-K2", "memenvs/Copy-v0", {"num_symbols": 2, "max_length": 4}),
    ("Copy-K9", "memenvs/Copy-v0", {"num_symbols": 9, "min_length": 2, "max_length": 7}),
    ("RepeatCopy-K2", "memenvs/RepeatCopy-v0", {"num_symbols": 2, "max_length": 3}),
    ("RepeatCopy-K6", "memenvs/RepeatCopy-v0", {"num_symbols": 6, "max_repeats": 3}),
    ("AssociativeRecall-K3", "memenvs/AssociativeRecall-v0", {"num_symbols": 3, "max_items": 3}),
    ("AssociativeRecall-K11", "memenvs/AssociativeRecall-v0", {"num_symbols": 11}),
    ("RepeatPrevious-K2", "memenvs/RepeatPrevious-v0", {"num_symbols": 2, "k": 2, "length": 20}),
    ("RepeatPrevious-K9", "memenvs/RepeatPrevious-v0", {"num_symbols": 9, "length": 30}),
    ("CountRecall-K2", "memenvs/CountRecall-v0", {"num_symbols": 2, "length": 12}),
    ("CountRecall-K7", "memenvs/CountRecall-v0", {"num_symbols": 7}),
    ("PrioritySort-K2", "memenvs/PrioritySort-v0", {"num_symbols": 2}),
    ("PrioritySort-K9", "memenvs/PrioritySort-v0", {"num_symbols": 9, "max_length": 8}),
    ("EndlessRecall-K2", "memenvs/EndlessRecall-v0", {"num_symbols": 2, "num_queries": 5}),
    ("EndlessRecall-K6", "memenvs/EndlessRecall-v0", {"num_symbols": 6, "delay_growth": 1}),
    ("TapeCopy-B2", "memenvs/TapeCopy-v0", {"base": 2}),
    ("TapeCopy-B7", "memenvs/TapeCopy-v0", {"base": 7, "interleaved": True}),
    ("TapeReverse-B2", "memenvs/TapeReverse-v0", {"base": 2}),
    ("TapeReverse-B6", "memenvs/TapeReverse-v0", {"base": 6}),
    ("TapeDuplicatedInput-B2", "memenvs/TapeDuplicatedInput-v0", {"base": 2}),
    ("TapeDuplicatedInput-B7", "memenvs/TapeDuplicatedInput-v0", {"base": 7}),
    ("TapeRepeatCopy-B2", "memenvs/TapeRepeatCopy-v0", {"base": 2}),
    ("TapeRepeatCopy-B6", "memenvs/TapeRepeatCopy-v0", {"base": 6}),
    ("TapeReversedAddition-B3", "memenvs/TapeReversedAddition-v0", {"base": 3}),
    ("TapeReversedAddition-B5", "memenvs/TapeReversedAddition-v0", {"base": 5, "rows": 3}),
]

#: sha256 of each case's trajectories, recorded from the table-based code (commit 32f39f6).
#: The tasks that pay a share of 1 per right step then switched to memenvs.core.score_reward
#: (a perfect episode sums to exactly 1.0): only the rewards' last float64 bits changed, and
#: with rewards hashed as float32 every case gave the same hash before and after.
EXPECTED = {
    "DelayedRecall-K2": "210eeab398da724a9f8f82d12deeaa3b2b78343bcea13a78cac664fee8a27432",
    "DelayedRecall-K7-noise": "3034d1d22bf00a6ff39615b7c31f9195995a72c8de07b09f1b02a087f0770ded",
    "Copy-K2": "30fdd289542147117e7608891d11fa22f9afac739660b56e8457d0f75bc56986",
    "Copy-K9": "99c4b92c10ea6a2166fbfa1c838e95981cb7d7979338eac87d323faeaf07647d",
    "RepeatCopy-K2": "704d52695ec7648ec8f748e527c4f03506cfff65a97139e889a553f0def8791c",
    "RepeatCopy-K6": "23a4287a29fbe49c056458706894ac9fac40c28815fb4715ee523384ef88ad8d",
    "AssociativeRecall-K3": "5a06880c372947c407a79e4159a2efee2493d414fd44fa724914caab1669d2cb",
    "AssociativeRecall-K11": "7b115359b9fd15ab209bbf2cf6d3235c8e7aece637d770aa6437cd493137aee0",
    # RepeatPrevious's rewards became float64 (1 / (length - k), was float32): only their
    # bytes changed; hashed as float32 they give the former c8f634fb... and 5eee57b5...
    "RepeatPrevious-K2": "dd2d38a2f914bfe2768dd35866aa67217cb9bbeba3fa5fc0f66991b91c9d1359",
    "RepeatPrevious-K9": "b49d07bede7f376034f30de8f5ab600633ba322996a2a4bcad04b59874fb2d91",
    "CountRecall-K2": "446a9dbb4dca6fc339a2c2595e1e845e7490fc793349c048b5b217978b5d1fc0",
    "CountRecall-K7": "38b7786122d4c5000cb41d60245416dcdb6c03abb638e275ad63e4f25e7649a3",
    "PrioritySort-K2": "7ac24db637056fbb8cca770ff5a4400fdaa0bb5395427856f37d540b3028d4ed",
    "PrioritySort-K9": "3e317952c46c6b5f07994da83ef63da68223ddf49a3b7de6d27f038c8103b4b0",
    "EndlessRecall-K2": "84a78063c8a26e0cbbdaf5a55075492a8cad9161eee066cfac3923c46a577ea7",
    "EndlessRecall-K6": "cd20f71cc228446b55df6672bdbbc7c0ca6863ecba6438b6bfb6014784b4cd70",
    "TapeCopy-B2": "5207aaf68cff91b08cceb7e693baa2bd5278a0b9bac60a164c8fca0ace5effdd",
    "TapeCopy-B7": "ad084592737357e1506336fccc54b92b3a3c217c775f5a68c37719a4b120d147",
    "TapeReverse-B2": "32d39aa9367e087dfa8292f07789308ecd482da418876ef81430f028ee9f1779",
    "TapeReverse-B6": "80c29bdc49dfaf6b56cf7c347e6e2dd4a0ad062d66e8012382435954946c493d",
    "TapeDuplicatedInput-B2": "5308e49fd002b8e35b1602e0dded515a88cdcf5dfd8b342c6170272232d79aa5",
    "TapeDuplicatedInput-B7": "2d4766ae8941e675ed873549e49687d1b8eb0fca0d27e341731303bbfd2ca12c",
    "TapeRepeatCopy-B2": "cbd00891a70081646e3aacdf94abe24eb9d4669c61b58667d808a3b637061e7e",
    "TapeRepeatCopy-B6": "0a27992b0c68c8fd1e9767085b54e53596e231a572fdf273342d5fadc2ff390b",
    "TapeReversedAddition-B3": "244649202d2d5cf22d58acef4253d3de241486a1e478c828c4f731d3081ade72",
    "TapeReversedAddition-B5": "57f3efc333d85017930f898d365cc28ec9d87a8d0e6c0b711a72a9de2d57fb6b",
}


def random_actions(rng: np.random.Generator, space: spaces.Space, size: int) -> np.ndarray:
    """``size`` uniform actions of ``space`` (Discrete or MultiDiscrete), from ``rng`` alone."""
    if isinstance(space, spaces.Discrete):
        return rng.integers(space.start, space.start + space.n, size=size)
    return rng.integers(space.start, space.start + space.nvec, size=(size, len(space.nvec)))


def policy(rng: np.random.Generator, task: core.Task) -> np.ndarray:
    """Per row, the oracle's action or (half the time) a random one: long, varied episodes."""
    oracle = np.asarray(task.oracle())
    noise = random_actions(rng, task.action_space, task.num_envs).reshape(oracle.shape)
    pick = rng.random(task.num_envs) < 0.5
    return np.where(pick.reshape(-1, *[1] * (oracle.ndim - 1)), oracle, noise)


def update(digest, obs, reward, terminated, truncated) -> None:
    obs = np.asarray(obs)
    assert obs.dtype == np.float32
    digest.update(np.ascontiguousarray(obs).tobytes())
    digest.update(np.asarray(reward, dtype=np.float64).tobytes())
    digest.update(np.asarray(terminated, dtype=bool).tobytes())
    digest.update(np.asarray(truncated, dtype=bool).tobytes())


def trajectory_hash(env_id: str, knobs: dict) -> str:
    """sha256 over ``STEPS`` steps of the single env (seed 0) and a 3-row vector env (seed 5)."""
    digest = hashlib.sha256()
    rng = np.random.default_rng(1234)
    env = gym.make(env_id, **knobs).unwrapped
    obs, _ = env.reset(seed=0)
    update(digest, obs, 0.0, False, False)
    for _ in range(STEPS):
        action = policy(rng, env.task)[0]
        obs, reward, terminated, truncated, _ = env.step(action)
        update(digest, obs, reward, terminated, truncated)
        if terminated or truncated:
            obs, _ = env.reset()
            update(digest, obs, 0.0, False, False)
    venv = gym.make_vec(env_id, num_envs=3, **knobs)
    obs, _ = venv.reset(seed=5)
    update(digest, obs, np.zeros(3), np.zeros(3, bool), np.zeros(3, bool))
    for _ in range(STEPS):
        obs, reward, terminated, truncated, _ = venv.step(policy(rng, venv.unwrapped.task))
        update(digest, obs, reward, terminated, truncated)
    return digest.hexdigest()


def test_every_task_with_an_alphabet_knob_is_covered():
    alphabet = {e.name for e in TASKS if {"num_symbols", "base"} & set(e.knobs())}
    covered = {env_id.split("/")[1].rsplit("-v", 1)[0] for _, env_id, _ in CASES}
    assert alphabet <= covered


@pytest.mark.parametrize("case, env_id, knobs", CASES, ids=[c for c, _, _ in CASES])
def test_trajectories_are_unchanged(case, env_id, knobs):
    assert trajectory_hash(env_id, knobs) == EXPECTED[case]


# --------------------------------------------------------------------- large alphabets
LARGE_K = 200_000  # the old O(K**2) tables refused K over about 23,000 (13,000 for AR)
#: Bytes make + reset + one step may allocate per observation element and row (plus one row
#: for the single observation space): the tasks take 18-40 for a single env and 20-37 a row
#: for a 4-row vector env (AssociativeRecall the most: its reset shuffles all K symbols),
#: gymnasium's spaces and checker included; a [K, K] float32 table took 4 K = 800,000.
BYTES_PER_ELEMENT = 64
#: ``{task: its alphabet knob}``
ALPHABET = {e.name: k for e in TASKS for k in ("num_symbols", "base") if k in e.knobs()}


@pytest.mark.parametrize("num_envs", [None, 4], ids=["single", "vector"])
@pytest.mark.parametrize("task", sorted(ALPHABET))
def test_make_and_reset_at_a_large_alphabet_allocate_o_of_k(task, num_envs):
    env_id, knobs = f"memenvs/{task}-v0", {ALPHABET[task]: LARGE_K}
    gym.make(env_id).reset(seed=0)  # imports and caches outside the measurement
    tracemalloc.start()
    try:
        if num_envs is None:
            env = gym.make(env_id, **knobs)
        else:
            env = gym.make_vec(env_id, num_envs=num_envs, **knobs)
        obs, _ = env.reset(seed=0)
        env.step(env.action_space.sample())
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert env.observation_space.contains(obs)
    rows = num_envs or 1
    width = env.unwrapped.task.observation_space.shape[0]
    assert LARGE_K <= width <= LARGE_K + 3
    assert peak <= BYTES_PER_ELEMENT * width * (rows + 1), f"{peak / 2**20:.0f} MiB"
    for name, value in vars(env.unwrapped.task).items():  # no array of K**2 entries
        if isinstance(value, np.ndarray):
            assert value.size <= 4 * rows * width, (name, value.shape)


if __name__ == "__main__":  # print the table of hashes (to record it from a given commit)
    for case, env_id, knobs in CASES:
        print(f'    "{case}": "{trajectory_hash(env_id, knobs)}",')


def test_one_hot_rows_refuses_an_array_it_cannot_write_in_place():
    from memenvs.core import one_hot_rows

    out = np.zeros((3, 8), dtype=np.float32)
    one_hot_rows(out[:, :4].copy(), np.array([0, 1, 2]))  # a contiguous copy is fine
    with pytest.raises(ValueError, match="C-contiguous"):
        one_hot_rows(out[:, :4], np.array([0, 1, 2]))  # a strided view: the write would be lost
    one_hot_rows(out, np.array([0, 7, 3]), np.array([True, False, True]))
    assert out.sum() == 2 and out[0, 0] == 1 and out[2, 3] == 1
