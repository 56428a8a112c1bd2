"""Named suites: every listed id is registered, and the lists follow the registry."""

from __future__ import annotations

import gymnasium as gym
import pytest

import memenvs  # noqa: F401  (registers the ids)
from memenvs import suites
from memenvs.registry import TASKS, all_ids


@pytest.mark.parametrize("name", sorted(suites.SUITES))
def test_every_listed_id_is_registered(name):
    ids = suites.get(name)
    assert ids, f"suite {name} is empty"
    assert len(set(ids)) == len(ids)
    for env_id in ids:
        assert env_id in gym.registry
        assert env_id in all_ids()


def test_suites_follow_the_registry():
    assert all_ids() == suites.ALL
    assert [f"memenvs/{e.name}-v0" for e in TASKS] == suites.DEFAULT
    for preset, ids in [("Easy", suites.EASY), ("Medium", suites.MEDIUM), ("Hard", suites.HARD)]:
        assert len(ids) == len(TASKS)
        assert all(f"-{preset}-v0" in i for i in ids)
    assert all(i.startswith("memenvs/Tape") for i in suites.TAPE)
    assert "memenvs/TapeReversedAddition-v0" in suites.TAPE
    assert {"memenvs/Copy-v0", "memenvs/PrioritySort-v0"} <= set(suites.NTM)
    assert set(suites.TAPE).isdisjoint(suites.NTM)


def test_get():
    assert suites.get("TAPE") == suites.TAPE
    assert suites.get("tape") is not suites.TAPE  # a copy
    with pytest.raises(ValueError, match="unknown suite 'nope'"):
        suites.get("nope")
