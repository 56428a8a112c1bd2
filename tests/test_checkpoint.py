"""A checkpoint is written atomically and its files are checked against each other on load."""

from __future__ import annotations

import shutil

import pytest
import torch
from sb3_contrib import RecurrentPPO

import agents.checkpoint as checkpoint
import memenvs  # noqa: F401
from agents import MemoryPPO, make_vec_env
from agents.checkpoint import load_checkpoint, save_checkpoint


def make_model(policy: str = "MlpLstmPolicy") -> MemoryPPO:
    env = make_vec_env("memenvs/DelayedRecall-v0", n_envs=2, seed=0, env_kwargs={"delay": 2})
    kwargs = {"core_kwargs": {"hidden_size": 8}}
    return MemoryPPO(policy, env, n_steps=8, seq_len=8, seed=0, policy_kwargs=kwargs)


def params(model) -> list[torch.Tensor]:
    return [p.detach().clone() for p in model.policy.parameters()]


def test_an_interrupted_save_leaves_the_previous_checkpoint(monkeypatch, tmp_path):
    folder = tmp_path / "ckpt"
    model = make_model()
    model.learn(16)
    save_checkpoint(model, folder)
    (folder / "probe.json").write_text("{}")  # a caller's own file in the folder
    at_16 = params(model)
    model.learn(32, reset_num_timesteps=False)
    real = torch.save

    def killed(obj, f, *args, **kwargs):  # model.zip is written, then resume.pt fails
        if str(f).endswith("resume.pt"):
            raise KeyboardInterrupt("simulated kill")
        return real(obj, f, *args, **kwargs)

    monkeypatch.setattr(checkpoint.torch, "save", killed)
    with pytest.raises(KeyboardInterrupt):
        save_checkpoint(model, folder)
    monkeypatch.setattr(checkpoint.torch, "save", real)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ckpt"]  # no temporary folder left
    loaded = load_checkpoint(folder)
    assert loaded.num_timesteps == 16
    for a, b in zip(at_16, params(loaded), strict=True):
        assert torch.equal(a, b)
    # a save that completes replaces it, and keeps the caller's files
    save_checkpoint(model, folder)
    assert load_checkpoint(folder).num_timesteps == 48
    assert (folder / "probe.json").read_text() == "{}"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ckpt"]


def test_a_save_killed_while_swapping_folders_leaves_the_old_one(tmp_path):
    model = make_model()
    model.learn(16)
    folder = save_checkpoint(model, tmp_path / "ckpt")
    # killed after moving the old checkpoint aside, before moving the new one in
    folder.rename(tmp_path / ".ckpt.old-1-abcd")
    assert load_checkpoint(folder).num_timesteps == 16


@pytest.mark.parametrize("manifest", [True, False])
def test_files_of_different_saves_are_refused(manifest, tmp_path):
    model = make_model()
    model.learn(16)
    save_checkpoint(model, tmp_path / "a")
    model.learn(32, reset_num_timesteps=False)
    save_checkpoint(model, tmp_path / "b")
    shutil.copy(tmp_path / "b" / "model.zip", tmp_path / "a" / "model.zip")
    if not manifest:
        (tmp_path / "a" / "checkpoint.json").unlink()
    match = (
        r"model\.zip does not match checkpoint\.json"
        if manifest
        else r"model\.zip and resume\.pt do not belong together \(step 16 in resume\.pt, 48"
    )
    with pytest.raises(ValueError, match=match):
        load_checkpoint(tmp_path / "a")


@pytest.mark.parametrize("manifest", [True, False])
def test_a_gru_model_with_an_lstm_state_is_refused(manifest, tmp_path):
    lstm, gru = make_model("MlpLstmPolicy"), make_model("MlpGruPolicy")
    lstm.learn(16)
    gru.learn(16)
    save_checkpoint(lstm, tmp_path / "lstm")
    save_checkpoint(gru, tmp_path / "gru")
    shutil.copy(tmp_path / "gru" / "model.zip", tmp_path / "lstm" / "model.zip")
    if not manifest:  # a checkpoint saved before manifests: resume.pt as it was then
        (tmp_path / "lstm" / "checkpoint.json").unlink()
        extra = torch.load(tmp_path / "lstm" / "resume.pt", weights_only=False)
        extra = {k: extra[k] for k in ("algorithm", "last_state", "rng")}
        torch.save(extra, tmp_path / "lstm" / "resume.pt")
    match = (
        r"model\.zip does not match checkpoint\.json"
        if manifest
        else r"recurrent state in resume\.pt does not fit the policy in model\.zip"
    )
    with pytest.raises(ValueError, match=match):
        load_checkpoint(tmp_path / "lstm")


@pytest.mark.parametrize("name", ["model.zip", "resume.pt", "env.pkl"])
@pytest.mark.parametrize("manifest", [True, False])
def test_a_truncated_file_is_named(name, manifest, tmp_path):
    model = make_model()
    model.learn(16)
    folder = save_checkpoint(model, tmp_path / "ckpt")
    data = (folder / name).read_bytes()
    (folder / name).write_bytes(data[: len(data) // 2])
    if not manifest:
        (folder / "checkpoint.json").unlink()
    match = rf"{name}.*does not match" if manifest else rf"cannot read .*{name}"
    with pytest.raises(ValueError, match=match):
        load_checkpoint(folder)


def test_a_checkpoint_without_a_manifest_still_loads(tmp_path):
    model = make_model()
    model.learn(16)
    folder = save_checkpoint(model, tmp_path / "ckpt")
    (folder / "checkpoint.json").unlink()
    assert load_checkpoint(folder).learn(8, reset_num_timesteps=False).num_timesteps == 32


@pytest.mark.parametrize("device", ["gpu", "cuda:99"])
def test_load_checkpoint_refuses_a_device_this_machine_lacks(device, tmp_path):
    """RecurrentPPO's load ran on the CPU when asked for a CUDA GPU the machine lacks."""
    kwargs = {"lstm_hidden_size": 8, "net_arch": [8]}
    env = make_vec_env("memenvs/DelayedRecall-v0", n_envs=2, seed=0, env_kwargs={"delay": 2})
    model = RecurrentPPO("MlpLstmPolicy", env, n_steps=8, batch_size=16, policy_kwargs=kwargs)
    folder = save_checkpoint(model, tmp_path / "ckpt")
    with pytest.raises(ValueError, match=f"device.*{device}"):
        load_checkpoint(folder, device=device)
