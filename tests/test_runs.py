"""Run folders: config.json, knob-carrying names, hparams, evaluate/enjoy for every agent."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from tensorboard.backend.event_processing.event_file_loader import EventFileLoader

from agents.cli import enjoy, evaluate, train
from agents.runs import RunConfig, read_config, run_name, write_config
from agents.training import load_run

TINY = {
    "lstm": ["--core-kwargs", '{"hidden_size": 8}'],
    "ntm": ["--core-kwargs", '{"memory_slots": 4, "memory_width": 4, "controller_size": 8}'],
    "ppo": [],
    "recurrent-ppo": ["--algo-kwargs", '{"policy_kwargs": {"lstm_hidden_size": 8}}'],
}


def train_run(tmp_path: Path, agent: str, *extra: str, capsys=None) -> dict:
    argv = [
        *("--agent", agent, "--env", "memenvs/DelayedRecall-v0", "--env-kwargs", '{"delay": 3}'),
        *("--steps", "128", "--n-envs", "4", "--n-steps", "16", "--eval-episodes", "4"),
        *("--log-dir", str(tmp_path), "--no-progress-bar", *TINY[agent], *extra),
    ]
    assert train.main(argv) == 0
    return json.loads(capsys.readouterr().out.strip().splitlines()[-1])


def test_run_name_carries_the_knobs():
    a = run_name("memenvs/DelayedRecall-v0", "lstm", 0, {"delay": 4})
    b = run_name("memenvs/DelayedRecall-v0", "lstm", 0, {"delay": 64})
    assert a.startswith("memenvs-DelayedRecall-v0__delay4__lstm__seed0__")
    assert b.startswith("memenvs-DelayedRecall-v0__delay64__lstm__seed0__")
    assert run_name("gymnasium:CartPole-v1", "ppo", 3).startswith("CartPole-v1__ppo__seed3__")
    assert "/" not in run_name("x/y-v0", "ppo", 0, {"span": (3, 7), "p": "../a"})


def test_config_records_how_the_run_was_made(tmp_path, capsys):
    result = train_run(
        tmp_path, "lstm", "--seed", "5", "--memory-image-interval", "3", capsys=capsys
    )
    run_dir = Path(result["run_dir"])
    config = json.loads((run_dir / "config.json").read_text())
    assert config["env"] == "memenvs/DelayedRecall-v0" and config["env_kwargs"] == {"delay": 3}
    assert config["agent"] == "lstm" and config["seed"] == 5 and config["steps"] == 128
    assert config["core_kwargs"] == {"hidden_size": 8}
    assert config["algo_kwargs"]["n_steps"] == 16 and config["algo_kwargs"]["learning_rate"]
    assert load_run(run_dir)[1].memory_image_interval == 3
    assert set(config["versions"]) >= {"python", "torch", "stable-baselines3", "gymnasium"}
    assert config["versions"]["memenvs-agents"] != "not installed"
    assert config["date"] and config["command"]
    assert json.loads((run_dir / "result.json").read_text())["num_timesteps"] == 128
    (events,) = run_dir.glob("events.out.tfevents.*")
    tags = {v.tag for ev in EventFileLoader(str(events)).Load() for v in ev.summary.value}
    assert "_hparams_/experiment" in tags and "rollout/ep_rew_mean" in tags


@pytest.mark.parametrize("agent", ["ppo", "recurrent-ppo", "ntm"])
def test_evaluate_and_enjoy_need_only_the_run_folder(tmp_path, capsys, agent):
    run_dir = train_run(tmp_path, agent, capsys=capsys)["run_dir"]
    assert evaluate.main([run_dir, "--episodes", "6", "--n-envs", "2"]) == 0
    result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert result["episodes"] == 6 and result["env_kwargs"] == {"delay": 3}
    assert result["agent"] == agent
    assert enjoy.main([run_dir, "--env-kwargs", '{"delay": 1}']) == 0
    out = capsys.readouterr().out
    assert "query: which symbol was the cue?" in out and f"agent {agent}" in out
    assert "steps 3" in out  # delay 1 from the override: cue, one blank step, query
    assert ("read_weights (head 0)" in out) == (agent == "ntm")


def test_periodic_checkpoint_and_best_model(tmp_path, capsys):
    result = train_run(
        tmp_path, "lstm", "--checkpoint-every", "32", "--eval-every", "32", capsys=capsys
    )
    run_dir = Path(result["run_dir"])
    assert (run_dir / "checkpoints" / "latest.zip").exists()
    assert (run_dir / "best_model.zip").exists()
    rows = [json.loads(x) for x in (run_dir / "evaluations.jsonl").read_text().splitlines()]
    assert [r["num_timesteps"] for r in rows] == [64]  # one rollout start after an update
    assert evaluate.main([str(run_dir), "--model", "best", "--episodes", "2"]) == 0


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--env-kwargs", "[1]"], "argument --env-kwargs: must be a JSON object"),
        (["--steps", "0"], "argument --steps: must be an integer >= 1"),
        (["--agent", "ppo", "--core-kwargs", '{"a": 1}'], "--core-kwargs apply to memory"),
        (["--agent", "ppo", "--memory-image-interval", "2"], "--memory-image-interval applies"),
        (["--algo-kwargs", '{"seed": 1}'], "--algo-kwargs cannot set ['seed']"),
        (["--name", "../x"], "--name='../x' cannot be used as a folder name"),
        (["--core-kwargs", '{"colour": 1}'], "unexpected keyword argument 'colour'"),
        (["--resume", "nowhere"], "nowhere is not a run folder: no config.json"),
        (["--resume", "x", "--agent", "gru"], "--agent cannot be given with --resume"),
    ],
)
def test_train_rejects_bad_arguments_by_name(tmp_path, capsys, argv, message):
    with pytest.raises(SystemExit) as exc:
        train.main([*argv, "--log-dir", str(tmp_path), "--steps", "16"])
    assert exc.value.code == 2
    assert message in capsys.readouterr().err
    assert not list(tmp_path.iterdir())  # no run folder for a rejected run


def test_resume_without_checkpoint_and_bad_run_folders(tmp_path, capsys):
    write_config(tmp_path, RunConfig("memenvs/DelayedRecall-v0", "lstm", 0, 64, 2))
    assert read_config(tmp_path).agent == "lstm"
    with pytest.raises(SystemExit):
        train.main(["--resume", str(tmp_path)])
    assert "no checkpoint at" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        evaluate.main([str(tmp_path), "--model", "best"])
    assert "has no best model" in capsys.readouterr().err
    (tmp_path / "config.json").write_text('{"env": "x", "colour": 1}')
    with pytest.raises(ValueError, match=r"unknown keys \['colour'\]"):
        read_config(tmp_path)
