"""A policy loads from weights + JSON without unpickling anything (issue 14 item 10)."""

from __future__ import annotations

import base64
import json
import pickle
import zipfile

import numpy as np
import pytest

import memenvs  # noqa: F401
from agents import MemoryPPO, make_vec_env
from agents.safe_load import load_policy, save_policy


class RunsCode:
    """Unpickling this runs code: it creates the marker file."""

    def __init__(self, marker: str) -> None:
        self.marker = marker

    def __reduce__(self):
        return (exec, (f"open({self.marker!r}, 'w').close()",))


def crafted_zip(tmp_path, marker) -> str:
    payload = base64.b64encode(pickle.dumps(RunsCode(str(marker)))).decode()
    path = tmp_path / "evil.zip"
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("data", json.dumps({"policy_class": {":serialized:": payload}}))
        z.writestr("_stable_baselines3_version", "2.0.0")
    return str(path)


def test_crafted_zip_is_refused_and_runs_nothing(tmp_path):
    marker = tmp_path / "marker"
    path = crafted_zip(tmp_path, marker)
    with pytest.raises(ValueError, match="allow_pickle"):
        load_policy(path)
    assert not marker.exists()
    # the file is live: the unsafe path (SB3's load) runs its code
    with pytest.raises(Exception):  # noqa: B017 (the payload breaks SB3 after running)
        load_policy(path, allow_pickle=True)
    assert marker.exists()


@pytest.mark.parametrize(
    ("policy", "kwargs"),
    [
        ("MlpLstmPolicy", {"core_kwargs": {"hidden_size": 16}}),
        (
            "MlpStochasticNTMPolicy",
            {"core_kwargs": {"memory_slots": 8, "memory_width": 4}, "shared_core": False},
        ),
    ],
)
def test_round_trip_gives_identical_predictions(policy, kwargs, tmp_path):
    env = make_vec_env("memenvs/DelayedRecall-v0", n_envs=2, seed=0, env_kwargs={"delay": 2})
    model = MemoryPPO(policy, env, n_steps=8, seed=0, policy_kwargs=kwargs)
    model.learn(16)
    save_policy(model, tmp_path / "policy")
    loaded = load_policy(tmp_path / "policy")
    assert type(loaded) is type(model.policy)
    obs, starts = env.reset(), np.ones(2, dtype=bool)
    s1 = s2 = None
    for _ in range(6):
        a1, s1 = model.predict(obs, s1, starts, deterministic=True)
        a2, s2 = loaded.predict(obs, s2, starts, deterministic=True)
        np.testing.assert_array_equal(a1, a2)
        obs, _, starts, _ = env.step(a1)


def test_load_policy_rejects_bad_folders(tmp_path):
    with pytest.raises(ValueError, match="holds no"):
        load_policy(tmp_path)
    (tmp_path / "policy.json").write_text(json.dumps({"format": 1, "agent": "nope"}))
    (tmp_path / "weights.pt").write_bytes(b"")
    with pytest.raises(ValueError, match="agent must be one of"):
        load_policy(tmp_path)
