"""Research scripts refuse bad arguments before any work, record shell-quoted commands and
provenance, and do not report a task solved that never was."""

from __future__ import annotations

import json
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
from cli_helpers import usage_error as refused

ROOT = Path(__file__).resolve().parent.parent
SOLVED_COPY = (
    ROOT / "benchmarks/results/ntm-copy-rl-cpu/probe/checkpoints"
    / "stochastic-ntm-seq-n32-ig95-ro-c16-st-stay5-lr3e-4-g0-s1-solved"
)  # fmt: skip


def run(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, *args], cwd=cwd, capture_output=True, text=True, timeout=600
    )


# ------------------------------------------------------------------ probe_solved_update
def test_probe_solved_update_reports_an_unsolved_run_as_not_solved(tmp_path):
    """256 steps of TMaze 2 hold fewer than the stop rule's 100 episodes: the run cannot
    have met it, so no 'solved at' and no one-update comparison (it showed solved at the
    budget with 'before' at chance)."""
    out, js = tmp_path / "probe.md", tmp_path / "probe.json"
    argv = [
        *("--agents", "lstm", "--seeds", "0", "--env-kwargs", '{"length": 2, "active": false}'),
        *("--n-steps", "8", "--n-envs", "4", "--hidden", "8", "--budget", "256"),
        *("--episodes", "8", "--reps", "1", "--out", str(out), "--json", str(js)),
    ]
    proc = run(str(ROOT / "scripts" / "probe_solved_update.py"), *argv, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    data = json.loads(js.read_text())
    (record,) = data["records"]
    assert record["solved"] is False and record["solved_at"] is None
    assert record["steps_trained"] >= 256 and record["after"] == {}
    assert "| lstm | 0 | not solved (" in out.read_text()
    # provenance, and a command that pastes back (the JSON argument survives)
    assert shlex.split(data["command"])[2:] == argv and "commit" in data["machine"]
    assert f"Command: `{data['command']}`" in out.read_text()


@pytest.mark.parametrize(
    "args, match",
    [
        (["--agents", "lsmt"], "--agents ['lsmt'] not among the MemoryPPO agents"),
        (["--seeds", "-1"], "--seeds must be an integer in [0,"),
        (["--budget", "0"], "--budget must be an integer >= 1"),
        (["--n-steps", "1000000000000"], "--n-steps must be an integer in [1, 100000]"),
        (["--episodes", "1000000000000"], "--episodes must be an integer in [1, 1000000]"),
        (["--learning-rate", "nan"], "--learning-rate must be a number > 0"),
        (["--env-kwargs", "[1]"], "--env-kwargs must be a JSON object"),
        (["--env-kwargs", '{"length": -1}'], "--env-kwargs"),
        (["--json", "/proc/nope/x.json"], "--json: cannot create"),
    ],
)
def test_probe_solved_update_refuses_bad_arguments(load_script, capsys, monkeypatch, args, match):
    probe = load_script("probe_solved_update")
    monkeypatch.setattr(probe, "probe", lambda *a: pytest.fail("trained"))
    monkeypatch.setattr(sys, "argv", ["probe_solved_update.py", *args])
    assert match in refused(lambda _: probe.main(), [], capsys)


# --------------------------------------------------------------------- compare_defaults
def test_compare_defaults_trains_a_suite_with_episode_rollouts(load_script, tmp_path):
    """The smoke suite's "n_steps": "episode" is resolved as the benchmark resolves it (it
    was passed through to the model: ValueError); returns.json holds provenance."""
    compare = load_script("compare_defaults")
    out = tmp_path / "new" / "cd"
    compare.main(["--suite", "smoke", "--out", str(out), "--agents", "lstm", "--tasks", "Delayed"])
    data = json.loads((out / "returns.json").read_text())
    (record,) = data["records"]
    assert record["agent"] == "lstm" and record["steps_trained"] >= 1024
    assert record["hyperparameters"]["n_steps"] == 32  # DelayedRecall delay 2: 4-step episodes
    assert record["device"] == "cpu"
    assert shlex.split(data["command"])[2:] == [
        *("--suite", "smoke", "--out", str(out), "--agents", "lstm", "--tasks", "Delayed")
    ]
    assert "| lstm |" in (out / "README.md").read_text()


@pytest.mark.parametrize(
    "args, match",
    [
        (["--agents", "lsmt"], "--agents ['lsmt'] not in suite 'smoke', which has ['lstm'"),
        (["--tasks", "TMaze"], "--tasks ['TMaze'] not in suite 'smoke'"),
        (["--seeds", "7"], "--seeds [7] not in suite 'smoke', which has [0]"),
        (["--suite", "nope"], "suite 'nope' not found"),
    ],
)
def test_compare_defaults_refuses_what_the_suite_lacks(load_script, capsys, tmp_path, args, match):
    compare = load_script("compare_defaults")
    argv = ["--suite", "smoke", "--out", str(tmp_path / "cd"), *args]
    assert match in refused(compare.main, argv, capsys)
    assert not (tmp_path / "cd").exists()


def test_compare_defaults_refuses_an_unwritable_out(load_script, capsys):
    compare = load_script("compare_defaults")
    err = refused(compare.main, ["--suite", "smoke", "--out", "/proc/nope/cd"], capsys)
    assert "--out: cannot create" in err


# ------------------------------------------------------------------ probe_read_baseline
def test_probe_read_baseline_refuses_a_negative_seed(load_script, capsys, monkeypatch):
    probe = load_script("probe_read_baseline")
    monkeypatch.setattr(probe, "spread", lambda *a, **k: pytest.fail("ran"))
    err = refused(probe.main, ["--seeds", "-1"], capsys)
    assert "--seeds must be an integer in [0, 4294967295], got -1" in err


def test_probe_read_baseline_checks_out_before_the_run(load_script, capsys, monkeypatch):
    probe = load_script("probe_read_baseline")
    monkeypatch.setattr(probe, "spread", lambda *a, **k: pytest.fail("ran"))
    assert "--out: cannot create" in refused(probe.main, ["--out", "/proc/nope/rb.md"], capsys)


def test_probe_read_baseline_makes_the_out_folder(load_script, monkeypatch, tmp_path):
    probe = load_script("probe_read_baseline")
    monkeypatch.setattr(probe, "spread", lambda *a, **k: (0.0, 0.0))
    out = tmp_path / "newdir" / "rb.md"
    probe.main(["--seeds", "0", "--out", str(out)])
    text = out.read_text()
    assert f"Command: `python scripts/probe_read_baseline.py --seeds 0 --out {out}`" in text
    assert "Machine: " in text and "Commit " in text


# --------------------------------------------------------------------- diagnose_rl_copy
@pytest.mark.parametrize(
    "args, match",
    [
        (["--seed", "-5"], "--seed must be in [0, 4294967096] with --episodes 200"),
        (["--episodes", "1000000000000"], "--episodes must be >= 1 and <= 100000000"),
        (["--slots", "-3"], "--slots must be in [0, 10000000]"),
        (["--lengths", "1000000000"], "--lengths 1000000000: min_length must be in"),
        (["--json", "/proc/nope/d.json"], "--json: cannot create"),
    ],
)
def test_diagnose_rl_copy_refuses_before_playing(load_script, capsys, monkeypatch, args, match):
    diagnose = load_script("diagnose_rl_copy")
    monkeypatch.setattr(diagnose, "play", lambda *a: pytest.fail("played"))
    assert match in refused(diagnose.main, ["--checkpoint", str(SOLVED_COPY), *args], capsys)


def test_diagnose_rl_copy_json_has_provenance_in_a_new_folder(load_script, tmp_path):
    diagnose = load_script("diagnose_rl_copy")
    js = tmp_path / "nd2" / "d .json"  # a new folder; a space the command must quote
    argv = ["--checkpoint", str(SOLVED_COPY), "--lengths", "3", "--episodes", "2"]
    diagnose.main([*argv, "--json", str(js)])
    data = json.loads(js.read_text())
    assert shlex.split(data["command"]) == [
        "python",
        "scripts/diagnose_rl_copy.py",
        *argv,
        "--json",
        str(js),
    ]
    assert "commit" in data["machine"] and data["results"][0]["length"] == 3


# --------------------------------------------------------------------------------- demo
@pytest.mark.parametrize(
    "args, match",
    [
        (["--episodes", "0"], "--episodes must be in [1, 100000000], got 0"),
        (["--episodes", "1000000000000"], "--episodes must be in [1, 100000000]"),
        (["--seed", "-1"], "--seed must be in [0, 4294967295], got -1"),
        (["--train-steps", "-1"], "--train-steps must be in [0, 100000000], got -1"),
    ],
)
def test_demo_refuses_bad_arguments_before_the_task_list(load_script, capsys, args, match):
    demo = load_script("demo")
    with pytest.raises(SystemExit) as exit_:
        demo.main(args)
    out = capsys.readouterr()
    assert exit_.value.code == 2 and match in out.err and out.out == ""


# --------------------------------------------------------------------- memenvs-train
@pytest.mark.parametrize("threads", ["0", "1025", "1000000000000"])
def test_train_refuses_threads_out_of_range(capsys, threads):
    from agents.cli import train

    err = refused(train.main, ["--threads", threads, "--steps", "8"], capsys)
    assert "argument --threads: must be an integer" in err
    if int(threads) > 1024:  # 10**12 said only "Overflow when unpacking long"
        assert f"must be an integer in [1, 1024], got '{threads}'" in err
