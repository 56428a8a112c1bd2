"""The installed console commands, run outside the checkout: train, kill -9, resume,
evaluate and enjoy from the run folder alone."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import zipfile
from pathlib import Path

BIN = Path(sys.executable).parent
TOTAL = 2048


def command(name: str) -> str:
    path = BIN / name
    assert path.exists(), f"{path} is missing: run `pip install -e .` to install the commands"
    return str(path)


def run(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    proc = subprocess.run(args, cwd=cwd, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc


def checkpoint_steps(path: Path) -> int:
    with zipfile.ZipFile(path) as z:
        return json.loads(z.read("data"))["num_timesteps"]


def test_train_kill_resume_evaluate_enjoy_outside_the_checkout(tmp_path):
    run_dir = tmp_path / "runs" / "killed"
    latest = run_dir / "checkpoints" / "latest.zip"
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    train = subprocess.Popen(
        [
            command("memenvs-train"),
            *("--agent", "lstm", "--env", "memenvs/DelayedRecall-v0"),
            *("--env-kwargs", '{"delay": 2}', "--core-kwargs", '{"hidden_size": 8}'),
            *("--steps", str(TOTAL), "--n-envs", "4", "--n-steps", "16"),
            *("--checkpoint-every", "128", "--eval-episodes", "8"),
            *("--log-dir", "runs", "--name", "killed", "--no-progress-bar"),
        ],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    deadline = time.monotonic() + 120
    while not latest.exists() and train.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    train.send_signal(signal.SIGKILL)
    train.wait(timeout=30)
    assert train.returncode == -signal.SIGKILL, train.stderr.read().decode()[-2000:]
    assert not (run_dir / "model.zip").exists()
    killed_at = checkpoint_steps(latest)
    assert 0 < killed_at < TOTAL

    proc = run(
        command("memenvs-train"), "--resume", "runs/killed", "--no-progress-bar", cwd=tmp_path
    )
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert result["resumed_from"] == killed_at  # the step count continues from the checkpoint
    assert result["num_timesteps"] == TOTAL == checkpoint_steps(run_dir / "model.zip")
    assert len(list(run_dir.glob("events.out.tfevents.*"))) == 2  # one per process

    proc = run(command("memenvs-evaluate"), "runs/killed", "--episodes", "8", cwd=tmp_path)
    evaluation = json.loads(proc.stdout.strip().splitlines()[-1])
    assert evaluation["env_kwargs"] == {"delay": 2} and evaluation["episodes"] == 8
    proc = run(command("memenvs-enjoy"), "runs/killed", cwd=tmp_path)
    assert "query: which symbol was the cue?" in proc.stdout and "agent lstm" in proc.stdout
