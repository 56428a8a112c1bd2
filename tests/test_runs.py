"""Run folders: config.json, knob-carrying names, hparams, evaluate/enjoy for every agent."""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest
import torch
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
from tensorboard.backend.event_processing.event_file_loader import EventFileLoader
from torch.utils.tensorboard import SummaryWriter

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
    # one rollout start after an update, then the end (the final model competes for best)
    assert [r["num_timesteps"] for r in rows] == [64, 128]
    for key in ("success_rate", "mean_return"):  # the result reuses the final evaluation
        assert result[key] == rows[-1][key]
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


def event_scalars(files: list[Path], tmp: Path) -> dict[str, list[tuple]]:
    """``{tag: [(step, value), ...]}`` as TensorBoard reads the run folder, its event files
    taken in the order the processes wrote them (``files``): copies named so, because files
    of one test process within one second may sort otherwise, unlike real restarts."""
    tmp.mkdir()
    for i, f in enumerate(files):
        (tmp / f"events.out.tfevents.{i:010d}.test").write_bytes(f.read_bytes())
    acc = EventAccumulator(str(tmp), size_guidance={"scalars": 0})  # purge_orphaned_data
    acc.Reload()
    return {t: [(e.step, e.value) for e in acc.Scalars(t)] for t in acc.Tags()["scalars"]}


def new_event_files(run_dir: Path, known: list[Path]) -> list[Path]:
    return known + sorted(set(run_dir.glob("events.out.tfevents.*")) - set(known))


def zip_tensors(path: Path) -> dict[str, torch.Tensor]:
    with zipfile.ZipFile(path) as z:
        return torch.load(io.BytesIO(z.read("policy.pth")), weights_only=True)


def test_eval_lands_in_tensorboard_at_its_own_step_and_changes_nothing_else(tmp_path, capsys):
    """eval/* at the step evaluations.jsonl records (not a rollout later); every other
    scalar at the same steps with the same values as a run without --eval-every, whose
    weights are bitwise the same; a clean resume goes on the same way."""
    ckpt = ("--checkpoint-every", "64")
    run = train_run(tmp_path, "lstm", *ckpt, "--eval-every", "32", "--name", "e", capsys=capsys)
    run = Path(run["run_dir"])
    plain = Path(train_run(tmp_path, "lstm", *ckpt, "--name", "p", capsys=capsys)["run_dir"])
    files = new_event_files(run, [])
    with_eval = event_scalars(files, tmp_path / "tb_e")
    without = event_scalars(new_event_files(plain, []), tmp_path / "tb_p")
    rows = [json.loads(x) for x in (run / "evaluations.jsonl").read_text().splitlines()]
    assert [s for s, _ in with_eval["eval/success_rate"]] == [64, 128]
    for key in ("success_rate", "mean_return"):
        assert with_eval[f"eval/{key}"] == [
            (r["num_timesteps"], pytest.approx(r[key])) for r in rows
        ]
    others = {t: v for t, v in with_eval.items() if not t.startswith("eval/")}
    assert set(others) == set(without) and "train/value_loss" in others
    for tag, points in others.items():
        assert [s for s, _ in points] == [s for s, _ in without[tag]], tag  # no step moved
        if tag != "time/fps":
            assert points == without[tag], tag
    a, b = zip_tensors(run / "model.zip"), zip_tensors(plain / "model.zip")
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)

    assert train.main(["--resume", str(run), "--steps", "256", "--no-progress-bar"]) == 0
    capsys.readouterr()
    after = event_scalars(new_event_files(run, files), tmp_path / "tb_r")
    rows = [json.loads(x) for x in (run / "evaluations.jsonl").read_text().splitlines()]
    assert [r["num_timesteps"] for r in rows] == [64, 128, 192, 256]
    assert [s for s, _ in after["eval/success_rate"]] == [64, 128, 192, 256]
    assert [s for s, _ in after["rollout/ep_rew_mean"]] == [64, 128, 192, 256]
    assert not list(run.glob("*discarded*"))  # nothing to discard after a clean finish


def zip_steps(path: Path) -> int:
    with zipfile.ZipFile(path) as z:
        return json.loads(z.read("data"))["num_timesteps"]


def copy_with_steps(src: Path, dst: Path, steps: int) -> None:
    """A copy of the saved model ``src`` that says it was saved at ``steps``."""
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w") as zout:
        for item in zin.infolist():
            blob = zin.read(item)
            if item.filename == "data":
                blob = json.dumps({**json.loads(blob), "num_timesteps": steps}).encode()
            zout.writestr(item, blob)


@pytest.mark.parametrize("kept_best", ["unbeaten", "beaten"])
def test_resume_after_a_kill_forgets_what_the_killed_process_did_after_its_checkpoint(
    tmp_path, capsys, kept_best
):
    """Simulated kill: a run checkpointed at C = 128 whose process went on to 256 before
    dying: it logged TensorBoard scalars, evaluated (at C, kept, then at 192 and 256 with
    scores nothing real reaches) and saved best_model.zip at 192. --resume from C drops all
    of that after C: TensorBoard shows one value per step, evaluations.jsonl holds the kept
    rows and the resumed run's, and best_model.zip is never the discarded run's."""
    C, SENTINEL = 128, -999.0
    argv = ("--checkpoint-every", "64", "--eval-every", "32", "--name", "k")
    run = Path(train_run(tmp_path, "lstm", *argv, capsys=capsys)["run_dir"])
    assert zip_steps(run / "checkpoints" / "latest.zip") == C
    files = new_event_files(run, [])
    # what the killed process left: rows at C (kept) and after C, its best model, its scalars
    row64, _ = [json.loads(x) for x in (run / "evaluations.jsonl").read_text().splitlines()]
    at_c = {"success_rate": 1.0, "mean_return": 1e6} if kept_best == "unbeaten" else {}
    at_c = {"num_timesteps": C, "success_rate": -1.0, "mean_return": -1e6, **at_c}
    if kept_best == "beaten":  # the resumed run's first evaluation beats every kept row
        row64.update(success_rate=-1.0, mean_return=-1e6)
    later = [{"num_timesteps": s, "success_rate": 2.0, "mean_return": 2e6} for s in (192, 256)]
    lines = [json.dumps(r) + "\n" for r in (row64, at_c, *later)]
    (run / "evaluations.jsonl").write_text("".join(lines))
    copy_with_steps(run / "checkpoints" / "latest.zip", run / "best_model.zip", 192)
    for leftover in ("model.zip", "result.json"):  # a killed process writes neither
        (run / leftover).unlink()
    with SummaryWriter(str(run)) as w:  # (the run's own final evaluation wrote eval/* at C)
        for step in (192, 256):
            w.add_scalar("eval/success_rate", 2.0, step)
            w.add_scalar("rollout/ep_rew_mean", SENTINEL, step)
            w.add_scalar("train/value_loss", SENTINEL, step)
    files = new_event_files(run, files)

    assert train.main(["--resume", str(run), "--steps", "256", "--no-progress-bar"]) == 0
    result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert result["resumed_from"] == C and result["num_timesteps"] == 256

    rows = [json.loads(x) for x in (run / "evaluations.jsonl").read_text().splitlines()]
    assert [r["num_timesteps"] for r in rows] == [64, C, 192, 256]  # again at 192, the end
    assert rows[:2] == [row64, at_c] and rows[2]["success_rate"] <= 1.0
    discarded = (run / "evaluations.discarded.jsonl").read_text().splitlines()
    assert [json.loads(x) for x in discarded] == later
    assert zip_steps(run / "best_model.discarded.zip") == 192
    if kept_best == "unbeaten":  # the kept best's model is gone: no best model until beaten
        assert not (run / "best_model.zip").exists()
        with pytest.raises(SystemExit) as exc:
            evaluate.main([str(run), "--model", "best", "--episodes", "2"])
        assert exc.value.code == 2 and "has no best model" in capsys.readouterr().err
    else:  # the resumed run's evaluations beat the kept rows: the better one's model is best
        best = max(rows[2:], key=lambda r: (r["success_rate"], r["mean_return"]))  # first wins
        assert zip_steps(run / "best_model.zip") == best["num_timesteps"]
        assert evaluate.main([str(run), "--model", "best", "--episodes", "2"]) == 0

    tb = event_scalars(new_event_files(run, files), tmp_path / "tb")
    for tag in ("rollout/ep_rew_mean", "train/value_loss", "eval/success_rate"):
        steps = [s for s, _ in tb[tag]]
        assert steps == sorted(set(steps)), (tag, steps)  # one value per step
        assert all(v not in (SENTINEL, 2.0) for _, v in tb[tag]), (tag, tb[tag])
    assert [s for s, _ in tb["rollout/ep_rew_mean"]] == [64, C, 192, 256]
    points = [(r["num_timesteps"], pytest.approx(r["success_rate"])) for r in rows]
    assert tb["eval/success_rate"][2:] == points[2:]  # the kept rows' scores were edited
    assert [s for s, _ in tb["eval/success_rate"]] == [64, C, 192, 256]


# ------------------------------------------- Dict observations; usage errors only before the run
DICT_RECALL, NAN_AT_3 = "tests/DictRecall-v0", "tests/NaNObservationAtStep3-v0"


def _dict_recall(**kwargs) -> gym.Env:
    """DelayedRecall with its observation under a Dict's key "obs"."""
    env = gym.make("memenvs/DelayedRecall-v0", **kwargs)
    space = gym.spaces.Dict({"obs": env.observation_space})
    return gym.wrappers.TransformObservation(env, lambda o: {"obs": o}, space)


class NaNObservationAtStep3(gym.Env):
    """A NaN observation at step 3 of each episode: MemoryPPO raises a ValueError then."""

    observation_space = gym.spaces.Box(-1.0, 1.0, (2,), np.float32)
    action_space = gym.spaces.Discrete(2)

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.t = 0
        return np.zeros(2, np.float32), {}

    def step(self, action):
        self.t += 1
        obs = np.full(2, np.nan if self.t == 3 else 0.0, np.float32)
        return obs, 0.0, self.t >= 5, False, {}


for _id, _entry in ((DICT_RECALL, _dict_recall), (NAN_AT_3, NaNObservationAtStep3)):
    if _id not in gym.registry:
        gym.register(_id, entry_point=_entry)


def small_run(tmp_path: Path, agent: str, env: str, *extra: str) -> list[str]:
    return [
        *("--agent", agent, "--env", env, "--steps", "32", "--n-envs", "2", "--n-steps", "16"),
        *("--eval-episodes", "2", "--log-dir", str(tmp_path), "--no-progress-bar", *extra),
    ]


@pytest.mark.parametrize("agent", ["lstm", "ppo", "recurrent-ppo"])
def test_train_on_dict_observations(tmp_path, capsys, agent):
    """lstm and recurrent-ppo exited 1 with a traceback mid-training, after writing a run
    folder; ppo was refused (MlpPolicy)."""
    argv = small_run(tmp_path, agent, DICT_RECALL, "--env-kwargs", '{"delay": 1}', *TINY[agent])
    assert train.main(argv) == 0
    result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    _, model = load_run(result["run_dir"])
    assert type(model.policy).__name__.startswith(("MultiInput", "RecurrentMultiInput"))


def test_train_takes_policy_kwargs_null(tmp_path):
    """It raised a TypeError ('NoneType' object is not iterable) for memory agents."""
    argv = small_run(tmp_path, "lstm", "memenvs/DelayedRecall-v0")
    assert train.main([*argv, "--algo-kwargs", '{"policy_kwargs": null}']) == 0


@pytest.mark.parametrize(
    ("agent", "argv", "message"),
    [
        ("ppo", ["--ent-coef", "nan"], "ent_coef must be a number (any finite value), got nan"),
        ("ppo", ["--learning-rate", "inf"], "learning_rate must be a number > 0"),
        ("ppo", ["--algo-kwargs", '{"n_epochs": 0}'], "n_epochs must be an integer >= 1, got 0"),
        (
            "recurrent-ppo",
            ["--algo-kwargs", '{"gamma": 2}'],
            "gamma must be a number in [0.0, 1.0]",
        ),
    ],
)
def test_train_refuses_bad_sb3_hyperparameters_before_the_run_folder(
    tmp_path, capsys, agent, argv, message
):
    """Each trained (gamma 2 silently) or failed mid-training, leaving a run folder."""
    with pytest.raises(SystemExit) as exc:
        train.main([*small_run(tmp_path, agent, "memenvs/DelayedRecall-v0"), *argv])
    assert exc.value.code == 2
    assert f"memenvs-train: error: {message}" in capsys.readouterr().err
    assert not list(tmp_path.iterdir())


def test_a_failure_during_training_is_no_usage_error(tmp_path, capsys):
    """A ValueError raised while training was reported as a bad flag (usage, exit 2)."""
    argv = small_run(tmp_path, "lstm", NAN_AT_3, *TINY["lstm"])
    with pytest.raises(ValueError, match="non-finite observation at step 3"):
        train.main(argv)
    assert "usage:" not in capsys.readouterr().err
    assert len(list(tmp_path.iterdir())) == 1  # the run had started
