"""Smoke tests of the command line (`python -m memenvs`), the demo and the env benchmark, and
bad input to memenvs-train / -evaluate / -enjoy (an error naming the flag, never a traceback)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from cli_helpers import usage_error
from gymnasium import spaces

from agents.cli import enjoy as enjoy_cli
from agents.cli import evaluate as evaluate_cli
from agents.cli import train as train_cli
from agents.runs import RunConfig, write_config
from memenvs.__main__ import CLIError, parse_action, parse_kw
from memenvs.evaluate import evaluate
from memenvs.registry import TASKS, all_ids

ROOT = Path(__file__).resolve().parents[1]
DR = "memenvs/DelayedRecall-v0"


def run(*args: str, stdin: str = "", timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, *args],
        input=stdin,
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=timeout,
    )


def cli(*args: str, stdin: str = "") -> subprocess.CompletedProcess:
    return run("-m", "memenvs", *args, stdin=stdin)


# ------------------------------------------------------------------------------ list
def test_list_shows_every_id_with_knobs():
    proc = cli("list")
    assert proc.returncode == 0, proc.stderr
    for env_id in all_ids():
        assert env_id in proc.stdout
    assert "delay=16" in proc.stdout


def test_list_markdown():
    proc = cli("list", "--markdown")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("| id | knobs |")
    assert f"| `{DR}` |" in proc.stdout


# --------------------------------------------------------------------------- rollout
def test_rollout_oracle_succeeds():
    proc = cli("rollout", DR, "--policy", "oracle", "--episodes", "20", "--kw", "delay=(3,7)")
    assert proc.returncode == 0, proc.stderr
    assert re.search(r"success rate:\s+1\.0", proc.stdout), proc.stdout
    assert re.search(r"mean return:\s+1\.0", proc.stdout), proc.stdout


@pytest.mark.parametrize(
    ("kw", "name"),
    [("delay=-1", "delay"), ("num_symbols=1", "num_symbols"), ("dely=5", "dely")],
)
def test_rollout_bad_knob_exits_2(kw, name):
    proc = cli("rollout", DR, "--episodes", "2", "--kw", kw)
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and name in lines[0], proc.stderr


@pytest.mark.parametrize("command", ["play", "rollout"])
@pytest.mark.parametrize("seed", ["-1", "x"])
def test_a_bad_seed_is_a_usage_error_naming_seed(command, seed):
    """play --seed -1 was a gymnasium traceback; rollout's message did not name --seed."""
    proc = cli(command, DR, "--seed", seed)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert f"argument --seed: must be an integer >= 0, got '{seed}'" in proc.stderr


def test_rollout_unknown_id_exits_2():
    proc = cli("rollout", "memenvs/NoSuchTask-v0")
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert "NoSuchTask" in proc.stderr


def test_cli_does_not_import_torch():
    code = (
        "import sys; from memenvs.__main__ import main; "
        f"main(['rollout', '{DR}', '--episodes', '3']); "
        "bad = [m for m in ('torch', 'stable_baselines3', 'agents') if m in sys.modules]; "
        "assert not bad, bad"
    )
    proc = run("-c", code)
    assert proc.returncode == 0, proc.stderr


# ------------------------------------------------------------------------------ play
def test_play_some_actions_then_eof():
    proc = cli("play", DR, "--seed", "0", stdin="1\nnot-an-action\n9\n2\n")
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr
    assert "invalid action 'not-an-action'" in proc.stdout
    assert "[0, 3]" in proc.stdout  # the allowed range is shown on bad input
    assert "obs:" in proc.stdout and "DelayedRecall t=" in proc.stdout
    assert "quit after 2 steps" in proc.stdout


def test_play_q_quits():
    proc = cli("play", DR, "--seed", "0", stdin="q\n")
    assert proc.returncode == 0 and "quit after 0 steps" in proc.stdout


def test_play_full_episode_by_reading_the_cue():
    # first look at the cue (one-hot in the first K entries of the printed observation)
    first = cli("play", DR, "--seed", "7", "--kw", "delay=1")
    obs = re.search(r"obs: \[([^\]]*)\]", first.stdout).group(1).split()
    cue = int(np.argmax([int(v) for v in obs[:4]]))
    # same seed, same episode: answer the query with the cue
    proc = cli("play", DR, "--seed", "7", "--kw", "delay=1", stdin=f"0\n0\n{cue}\n")
    assert proc.returncode == 0, proc.stderr
    assert "episode over after 3 steps: return 1, success True" in proc.stdout


def test_play_bad_knob_exits_2():
    proc = cli("play", DR, "--kw", "noise=maybe", stdin="")
    assert proc.returncode == 2 and "noise" in proc.stderr and "Traceback" not in proc.stderr


# --------------------------------------------------------------------- helper units
def test_parse_kw_literals_and_strings():
    knobs = parse_kw(["delay=100", "span=(5, 10)", "noise=True", "name=abc", "x=-1.5"])
    assert knobs == {"delay": 100, "span": (5, 10), "noise": True, "name": "abc", "x": -1.5}
    with pytest.raises(CLIError):
        parse_kw(["novalue"])


def test_parse_action_discrete_and_multidiscrete():
    assert parse_action("2", spaces.Discrete(3)) == 2
    assert parse_action("3", spaces.Discrete(3)) is None
    assert parse_action("1 2", spaces.Discrete(3)) is None
    md = spaces.MultiDiscrete([3, 4])
    np.testing.assert_array_equal(parse_action("2 3", md), [2, 3])
    assert parse_action("2 4", md) is None
    assert parse_action("2", md) is None
    assert parse_action("a b", md) is None
    # past int64: an OverflowError traceback ended `play` (now asked again, like any bad action)
    assert parse_action("99999999999999999999999", spaces.Discrete(3)) is None
    assert parse_action("1 99999999999999999999", md) is None


@pytest.mark.parametrize("episodes", ["99999999999999999999", "10000000000000000000000000"])
def test_rollout_refuses_more_episodes_than_it_can_play(episodes):
    """10**20 ran until killed, 10**25 ended in np.full's OverflowError."""
    proc = cli("rollout", DR, "--episodes", episodes)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert f"--episodes must be in [1, 100000000], got {episodes}" in proc.stderr
    with pytest.raises(ValueError, match=r"episodes must be in \[1, 100000000\]"):
        evaluate(DR, "random", episodes=int(episodes))


def test_evaluate_counts_exact_episodes():
    res = evaluate(DR, "oracle", episodes=10, seed=0, max_envs=4, delay=(0, 5))
    assert res["episodes"] == 10 and len(res["returns"]) == 10
    assert res["success_rate"] == 1.0 and res["mean_return"] == 1.0
    rnd = evaluate(DR, "random", episodes=400, seed=0, num_symbols=2)
    assert 0.35 < rnd["success_rate"] < 0.65


# ---------------------------------------------- memenvs-train / -evaluate / -enjoy
def refused(main, argv: list[str], capsys) -> str:
    """Run a CLI's ``main`` that must refuse ``argv``; its one-line error (exit 2)."""
    return usage_error(main, argv, capsys).strip().splitlines()[-1]


@pytest.fixture(scope="module")
def ntm_run(tmp_path_factory) -> str:
    """A tiny trained NTM run folder (its memory weightings give enjoy heatmaps to save)."""
    log_dir = tmp_path_factory.mktemp("runs")
    argv = [
        *("--agent", "ntm", "--env", DR, "--env-kwargs", '{"delay": 1}', "--steps", "16"),
        *("--n-envs", "2", "--n-steps", "8", "--eval-episodes", "2", "--name", "tiny"),
        *("--core-kwargs", '{"memory_slots": 4, "memory_width": 4, "controller_size": 8}'),
        *("--log-dir", str(log_dir), "--no-progress-bar"),
    ]
    assert train_cli.main(argv) == 0
    return str(log_dir / "tiny")


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--env", "memenvs/Nope-v0"], "--env memenvs/Nope-v0: Environment `Nope` doesn't exist"),
        (["--env", "nosuchmod:X-v0"], "--env nosuchmod:X-v0: No module named 'nosuchmod'"),
        (["--env-kwargs", '{"bogus": 1}'], "--env-kwargs: DelayedRecall.__init__() got an unex"),
        (["--env", DR, "--env-kwargs", '{"delay": -1}'], "--env-kwargs: delay must be"),
    ],
)
def test_train_names_the_bad_env_flag(tmp_path, capsys, argv, message):
    line = refused(train_cli.main, [*argv, "--log-dir", str(tmp_path), "--steps", "16"], capsys)
    assert line.startswith(f"memenvs-train: error: {message}"), line
    assert not list(tmp_path.iterdir())  # no run folder for a rejected run


def test_train_names_a_log_dir_that_is_a_file(tmp_path, capsys):
    not_a_dir = tmp_path / "file"
    not_a_dir.write_text("")
    argv = ["--agent", "ppo", "--env", DR, "--steps", "16", "--log-dir", str(not_a_dir)]
    line = refused(train_cli.main, argv, capsys)
    assert line.startswith(f"memenvs-train: error: --log-dir {not_a_dir}: "), line
    assert "Not a directory" in line


def test_train_refuses_a_log_dir_with_resume(tmp_path, capsys):
    write_config(tmp_path, RunConfig(DR, "lstm", 0, 64, 2))  # resume reads this first
    argv = ["--resume", str(tmp_path), "--log-dir", str(tmp_path / "other")]
    line = refused(train_cli.main, argv, capsys)
    assert "--log-dir cannot be given with --resume" in line, line
    assert not (tmp_path / "other").exists()


@pytest.mark.parametrize("main", [evaluate_cli.main, enjoy_cli.main], ids=["evaluate", "enjoy"])
@pytest.mark.parametrize(
    ("knobs", "cause"), [('{"bogus": 1}', "bogus"), ('{"delay": -1}', "delay must be")]
)
def test_evaluate_and_enjoy_name_bad_env_kwargs(ntm_run, capsys, main, knobs, cause):
    line = refused(main, [ntm_run, "--env-kwargs", knobs], capsys)
    assert re.match(r"memenvs-(evaluate|enjoy): error: --env-kwargs: ", line), line
    assert cause in line


@pytest.mark.parametrize("main", [evaluate_cli.main, enjoy_cli.main], ids=["evaluate", "enjoy"])
def test_evaluate_and_enjoy_refuse_knobs_that_change_the_spaces(ntm_run, capsys, main):
    """num_symbols 8 for a model trained on 4 ended in SB3's "Unexpected observation
    shape" traceback."""
    line = refused(main, [ntm_run, "--env-kwargs", '{"num_symbols": 8}'], capsys)
    assert line.startswith("memenvs-"), line
    assert "--env-kwargs: the env's spaces" in line and "not the model's" in line, line


def test_enjoy_names_a_png_it_cannot_write(ntm_run, tmp_path, capsys):
    png = tmp_path / "no" / "such" / "dir" / "heat.png"
    line = refused(enjoy_cli.main, [ntm_run, "--png", str(png)], capsys)
    assert line.startswith(f"memenvs-enjoy: error: --png {png}: "), line
    assert enjoy_cli.main([ntm_run, "--png", str(tmp_path / "heat.png")]) == 0
    assert list(tmp_path.glob("heat_*.png"))


@pytest.mark.parametrize("where", ["missing", "a file", "read-only"])
def test_enjoy_refuses_an_unwritable_png_before_the_episode(
    ntm_run, tmp_path, capsys, monkeypatch, where
):
    """The episode used to run and print before --png failed."""
    folder = tmp_path / "heatmaps"
    if where == "a file":
        folder.write_text("")
    elif where == "read-only":
        folder.mkdir(mode=0o500)
        if os.geteuid() == 0:  # root may write there: refuse as the kernel would anyone else

            def refuse(*args, **kwargs):
                raise PermissionError(13, "Permission denied", str(folder))

            monkeypatch.setattr(enjoy_cli.tempfile, "TemporaryFile", refuse)
    png = folder / "heat.png"
    message = {
        "missing": f"its folder {folder} does not exist",
        "a file": f"its folder {folder} is not a folder",
        "read-only": f"cannot write to its folder {folder} (Permission denied)",
    }[where]

    def no_episode(*args, **kwargs):
        pytest.fail("the episode ran before --png was checked")

    monkeypatch.setattr(enjoy_cli, "play_episode", no_episode)
    line = refused(enjoy_cli.main, [ntm_run, "--png", str(png)], capsys)
    assert line == f"memenvs-enjoy: error: --png {png}: {message}", line
    assert [p.name for p in tmp_path.iterdir()] == ([] if where == "missing" else ["heatmaps"])


def test_enjoy_without_matplotlib_refuses_png_before_the_episode(
    ntm_run, tmp_path, capsys, monkeypatch
):
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # import matplotlib: ImportError
    monkeypatch.setattr(enjoy_cli, "play_episode", lambda *a, **k: pytest.fail("episode ran"))
    png = tmp_path / "heat.png"
    line = refused(enjoy_cli.main, [ntm_run, "--png", str(png)], capsys)
    assert line == (
        f"memenvs-enjoy: error: --png {png}: the heatmap images need matplotlib: "
        "pip install 'memenvs-agents[bench]'"
    ), line


@pytest.mark.parametrize(
    ("agent", "core_kwargs", "traced"),
    [
        ("episodic", '{"max_memory": 16}', "read_age:"),
        ("stochastic-episodic", '{"max_memory": 16}', "read_age:"),
        ("stochastic-ntm", '{"memory_slots": 4, "memory_width": 4}', "read_weights (head 0):"),
    ],
)
def test_enjoy_shows_what_each_memory_core_traces(tmp_path, capsys, agent, core_kwargs, traced):
    """The episodic cores trace one value per step ([B]), not a weighting ([B, H, N]):
    enjoy stopped with an IndexError on their runs."""
    argv = [
        *("--agent", agent, "--env", DR, "--env-kwargs", '{"delay": 1}', "--steps", "16"),
        *("--n-envs", "2", "--n-steps", "8", "--eval-episodes", "2", "--name", "tiny"),
        *("--core-kwargs", core_kwargs, "--log-dir", str(tmp_path), "--no-progress-bar"),
    ]
    assert train_cli.main(argv) == 0
    capsys.readouterr()
    png = tmp_path / "trace.png"
    assert enjoy_cli.main([str(tmp_path / "tiny"), "--png", str(png)]) == 0
    out = capsys.readouterr().out
    assert f"\n{traced}\n" in out, out
    assert "t=   0 |" in out and "t=   2 |" in out  # delay 1: 3 steps, one row each
    assert list(tmp_path.glob("trace_*.png"))


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_enjoy_on_cuda(tmp_path):
    """play_episode built its episode-start flags on the CPU for a policy on the GPU."""
    argv = [
        *("--agent", "lstm", "--env", DR, "--env-kwargs", '{"delay": 1}', "--steps", "16"),
        *("--n-envs", "2", "--n-steps", "8", "--eval-episodes", "2", "--name", "tiny"),
        *("--device", "cuda", "--log-dir", str(tmp_path), "--no-progress-bar"),
    ]
    assert train_cli.main(argv) == 0
    assert enjoy_cli.main([str(tmp_path / "tiny"), "--device", "cuda"]) == 0


def test_enjoy_text_of_a_per_step_value():
    text = enjoy_cli.series_text(np.array([1.0, 3.0, 2.0]), width=4)
    assert text.splitlines() == [
        "min 1  max 3",
        "t=   0 |    | 1",
        "t=   1 |####| 3",
        "t=   2 |##  | 2",
    ]
    assert "|    | 5" in enjoy_cli.series_text(np.array([5.0, 5.0]), width=4)  # constant


def test_enjoy_png_check_leaves_no_file_behind(tmp_path):
    enjoy_cli.check_writable(str(tmp_path / "heat.png"))
    assert not list(tmp_path.iterdir())


# --------------------------------------------------------------------------- scripts
def test_demo_prints_table():
    proc = run("scripts/demo.py", "--episodes", "8", "--train-steps", "0")
    assert proc.returncode == 0, proc.stderr
    assert "| id" in proc.stdout and "oracle success" in proc.stdout
    for entry in TASKS:
        assert f"`memenvs/{entry.name}-v0`" in proc.stdout


def test_bench_envs_small(tmp_path):
    out, js = tmp_path / "bench.md", tmp_path / "bench.json"
    proc = run(
        "scripts/bench_envs.py",
        "--ids",
        DR,
        "--seconds",
        "0.05",
        "--out",
        str(out),
        "--json",
        str(js),
    )
    assert proc.returncode == 0, proc.stderr
    assert f"| `{DR}` |" in proc.stdout and "vec@1024" in proc.stdout
    assert "command:" in out.read_text() and "vec@1024" in out.read_text()
    data = json.loads(js.read_text())
    assert set(data["results"][DR]) == {
        "single_make",
        "single_unwrapped",
        "vec_1",
        "vec_64",
        "vec_1024",
    }
    assert all(v > 0 for v in data["results"][DR].values())


# ----------------------------------------- --device, minibatches, --steps on --resume
@pytest.mark.parametrize("agent", ["lstm", "ppo", "recurrent-ppo"])
@pytest.mark.parametrize("device", ["foo", "cuda:x"])
def test_train_names_a_device_torch_does_not_know(tmp_path, capsys, agent, device):
    """torch.device's RuntimeError used to end the command in a traceback."""
    argv = ["--agent", agent, "--env", DR, "--steps", "32", "--n-envs", "2", "--device", device]
    line = refused(train_cli.main, [*argv, "--log-dir", str(tmp_path)], capsys)
    assert line == (
        "memenvs-train: error: --device: device must be 'cpu', 'cuda', 'cuda:N', 'mps' or "
        f"'auto', got {device!r}"
    ), line
    assert not list(tmp_path.iterdir())


@pytest.mark.parametrize("main", [evaluate_cli.main, enjoy_cli.main], ids=["evaluate", "enjoy"])
@pytest.mark.parametrize("device", ["foo", "mps:7"])
def test_evaluate_and_enjoy_name_a_device_they_cannot_use(ntm_run, capsys, main, device):
    line = refused(main, [ntm_run, "--device", device], capsys)
    assert re.match(r"memenvs-(evaluate|enjoy): error: --device: ", line), line
    if device == "foo":
        assert line.endswith("device must be 'cpu', 'cuda', 'cuda:N', 'mps' or 'auto', got 'foo'")
    else:  # parsed, but no such accelerator here (this machine has no 8 MPS devices)
        assert "device='mps:7' was asked for but " in line, line


@pytest.mark.parametrize(
    ("agent", "batch_size", "cause"),
    [
        ("recurrent-ppo", 1, "batch_size must be an integer >= 2, got 1"),
        ("ppo", 0, "batch_size must be an integer >= 2, got 0"),
        ("recurrent-ppo", 15, "batch_size=15 leaves RecurrentPPO a last minibatch of one step"),
    ],
)
def test_train_refuses_a_minibatch_of_one_before_the_run_folder(
    tmp_path, capsys, agent, batch_size, cause
):
    """recurrent-ppo with batch_size 1 died mid-training on NaN logits and left a run
    folder behind; ppo with batch_size 0 ended in SB3's bare AssertionError."""
    argv = [
        *("--agent", agent, "--env", DR, "--steps", "32", "--n-envs", "2", "--n-steps", "8"),
        *("--algo-kwargs", json.dumps({"batch_size": batch_size}), "--log-dir", str(tmp_path)),
    ]
    line = refused(train_cli.main, [*argv, "--no-progress-bar"], capsys)
    assert line.startswith(f"memenvs-train: error: {cause}"), line
    assert not list(tmp_path.iterdir())  # no half-made run folder


@pytest.fixture
def checkpointed_run(tmp_path, capsys) -> Path:
    """A tiny LSTM run whose checkpoints/latest.zip is at step 32."""
    argv = [
        *("--agent", "lstm", "--env", DR, "--env-kwargs", '{"delay": 1}', "--steps", "32"),
        *("--n-envs", "2", "--n-steps", "8", "--eval-episodes", "2", "--name", "r1"),
        *("--core-kwargs", '{"hidden_size": 8}', "--checkpoint-every", "16"),
        *("--log-dir", str(tmp_path), "--no-progress-bar"),
    ]
    assert train_cli.main(argv) == 0
    capsys.readouterr()
    return tmp_path / "r1"


def test_resume_refuses_steps_below_the_checkpoint(checkpointed_run, capsys):
    """--steps 16 on a run at step 32 was taken silently and config.json then claimed a
    16-step budget for a model trained 32 steps."""
    run_dir = checkpointed_run
    before = (run_dir / "config.json").read_text()
    line = refused(train_cli.main, ["--resume", str(run_dir), "--steps", "16"], capsys)
    assert line.startswith(
        "memenvs-train: error: --steps 16 is below the step of the run's checkpoint, 32"
    ), line
    assert "give --steps >= 32" in line, line
    assert (run_dir / "config.json").read_text() == before  # still its 32-step budget
    # as many steps as the checkpoint's: nothing to train, accepted
    assert train_cli.main(["--resume", str(run_dir), "--steps", "32", "--no-progress-bar"]) == 0
    result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert result["num_timesteps"] == result["resumed_from"] == 32
    assert json.loads((run_dir / "config.json").read_text())["steps"] == 32
    # MemoryPPO's update counts, carried over by the checkpoint: none skipped
    assert result["skipped_updates"] == 0 and result["minibatch_steps"] > 0
    assert (
        json.loads((run_dir / "result.json").read_text())["minibatch_steps"]
        == (result["minibatch_steps"])
    )
