"""The probe scripts (probe_supervised_copy, probe_supervised_recall, probe_episodic_frontier,
probe_rl_copy): bad arguments are usage errors before any training, and their records say
how they were made (a shell-quoted command and the machine)."""

from __future__ import annotations

import json
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

COPY = "probe_supervised_copy"
RECALL = "probe_supervised_recall"
FRONTIER = "probe_episodic_frontier"
RL_COPY = "probe_rl_copy"


@pytest.mark.parametrize(
    "script, argv, named",
    [
        # each trained first, then failed (the run lost), or was a traceback, or ran on it
        (COPY, ["--agent", "lstm", "--eval-slots", "64"], "--eval-slots needs an NTM core"),
        (COPY, ["--eval-sizes", "100000000"], "--eval-sizes: 64 evaluation sequences"),
        (COPY, ["--eval-batch", "100000000000"], "--eval-batch: 100000000000 evaluation"),
        (COPY, ["--batch", "1000000000000"], "--batch 1000000000000 at size 20"),
        (COPY, ["--eval-slots", "100000000"], "--eval-slots: memory_slots must be"),
        (COPY, ["--core-kwargs", "{bad"], "argument --core-kwargs: must be a JSON object"),
        (COPY, ["--core-kwargs", '{"bogus": 1}'], "--core-kwargs: NTMCore"),
        (COPY, ["--agent", "nosuch"], "--agent: agent must be one of"),
        (COPY, ["--agent", "ppo"], "--agent must be a memory agent"),
        (COPY, ["--threads", "1000000000000"], "--threads must be in [1, "),
        (COPY, ["--seed", "-1"], "--seed must be in [0, 4294967295]"),
        (COPY, ["--lr", "inf"], "--lr must be > 0 and finite, got inf"),
        (COPY, ["--solved-lr", "nan"], "--solved-lr must be >= 0 and finite, got nan"),
        (COPY, ["--clip-norm", "nan"], "--clip-norm must be > 0 and finite"),
        (COPY, ["--seconds", "nan"], "--seconds must be > 0 (inf: no time limit), got nan"),
        (COPY, ["--init", "uniform", "--agent", "gru"], "--init uniform needs an NTM core"),
        (COPY, ["--sequences", "0"], "--sequences must be >= 1, got 0"),
        (RECALL, ["--delays", "1000000000000"], "--delays must be in [0, 32768]"),
        (RECALL, ["--seeds", "100000000000000000000"], "--seeds must be in [0, 4294967295]"),
        (RECALL, ["--seconds", "nan"], "--seconds must be > 0"),
        (RECALL, ["--steps", "0"], "--steps must be >= 1, got 0"),
        (FRONTIER, ["--eval-episodes", "0"], "--eval-episodes must be in [1, 100000000]"),
        (FRONTIER, ["--n-envs", "0"], "--n-envs must be in [1, 100000000], got 0"),
        (FRONTIER, ["--n-envs", "100000000"], "--ladder 16 with --n-envs 100000000"),
        (FRONTIER, ["--core-kwargs", "[1]"], "argument --core-kwargs: must be a JSON object"),
        (FRONTIER, ["--hyper", '{"bogus": 1}'], "--hyper: ['bogus'] are not MemoryPPO settings"),
        (FRONTIER, ["--core-kwargs", '{"bogus": 1}'], "are not EpisodicMemoryCore settings"),
        (FRONTIER, ["--hyper", '{"learning_rate": -1}'], "--hyper: learning_rate must be"),
        (FRONTIER, ["--eval", "10000000"], "--eval must be in [1, 9999998] for agent"),
        (FRONTIER, ["--agent", "ppo", "--core-kwargs", '{"a": 1}'], "--core-kwargs: agent"),
        (FRONTIER, ["--seeds", "-1"], "--seeds must be in [0, 4294967295]"),
        (RL_COPY, ["--eval", "0"], "--eval must be in [1, 100000000], got [0]"),
        (RL_COPY, ["--eval", "100000000"], "--eval 100000000 (32 envs): "),
        (RL_COPY, ["--eval-episodes", "0"], "--eval-episodes must be in [1, 100000000]"),
        (RL_COPY, ["--advance", "5"], "--advance must be in [0, 1], got 5.0"),
        (RL_COPY, ["--seconds", "nan"], "--seconds must be > 0 (inf: no time limit), got nan"),
        (RL_COPY, ["--budget", "0"], "--budget must be >= 1, got 0"),
        (RL_COPY, ["--hyper", '{"bogus": 1}'], "--hyper: ['bogus'] are not MemoryPPO settings"),
        (RL_COPY, ["--final-hyper", '{"learning_rate": -1}'], "or --final-hyper: learning_rate"),
        (RL_COPY, ["--core-kwargs", '{"memory_slots": 0}'], "--core-kwargs or --hyper: memory"),
        (RL_COPY, ["--agent", "lstm", "--eval-slots", "8"], "--eval-slots needs an NTM core"),
        (RL_COPY, ["--checkpoint-every", "nan"], "--checkpoint-every must be >= 0"),
        (RL_COPY, ["--num-symbols", "1"], "--num-symbols must be in [2, 100000000]"),
        (RL_COPY, ["--n-envs", "0"], "--n-envs must be in [1, 100000000], got 0"),
        (RL_COPY, ["--seed", "-5"], "--seed must be in [0, 4294967295], got -5"),
        (RL_COPY, ["--gate-length", "100000000"], "--gate-length 100000000 (32 envs): "),
    ],
)
def test_a_bad_argument_is_a_usage_error_before_any_training(
    load_script, monkeypatch, capsys, script, argv, named
):
    module = load_script(script)

    def train(*args, **kwargs):
        raise AssertionError("training started")

    # the copy probes train in run(); probe_supervised_recall in probe()
    monkeypatch.setattr(module, "probe" if script == RECALL else "run", train)
    with pytest.raises(SystemExit) as exit_:
        module.main(argv)
    err = capsys.readouterr().err
    assert exit_.value.code == 2 and named in err, err  # argparse's usage error, not exit 1
    assert "usage:" in err


@pytest.mark.parametrize(
    "solved_lr, dropped_at, says, not_says",
    [
        (0.0, None, "stayed fixed (no --solved-lr)", "never sequences"),
        (1e-4, None, "never solved there, so it stayed fixed", "never sequences"),
        (1e-4, 2048, "set to 0.0001 once solved on training batches: at 2,048 sequences", "never"),
    ],
)
def test_probe_supervised_copy_reports_whether_the_lr_dropped(
    load_script, solved_lr, dropped_at, says, not_says
):
    text = load_script(COPY).lr_drop({"solved_lr": solved_lr, "lr_dropped_at": dropped_at})
    assert says in text and not_says not in text


def run(script: str, *args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(ROOT / "scripts" / f"{script}.py"), *args],
        cwd=cwd, capture_output=True, text=True, timeout=600,
    )  # fmt: skip


@pytest.mark.parametrize(
    "script, argv, records",
    [
        (
            COPY,
            ["--sequences", "16", "--eval-every", "16", "--eval-batch", "2", "--eval-sizes", "2"]
            + ["--core-kwargs", '{"memory_slots": 8, "controller_size": 8}'],
            lambda data: [data],
        ),
        (
            RECALL,
            # delay 0 (the query right after the cue; the core still carries it a step)
            ["--cores", "lstm", "--delays", "0", "--steps", "1"],
            lambda data: data["results"],
        ),
        (
            FRONTIER,
            ["--agent", "gru", "--core-kwargs", '{"hidden_size": 8}', "--hyper", '{"n_steps": 32}']
            + ["--ladder", "2", "--eval", "2", "--budget", "64", "--n-envs", "2"]
            + ["--eval-episodes", "2"],
            lambda data: data["results"],
        ),
        (
            RL_COPY,
            ["--agent", "lstm", "--core-kwargs", '{"hidden_size": 8}', "--ladder", "2"]
            + ["--n-envs", "4", "--hyper", '{"n_steps": 16, "batch_size": 64}', "--eval", "2"]
            + ["--eval-episodes", "2", "--budget", "64"],
            lambda data: [data],
        ),
    ],
)
def test_probe_json_records_a_command_that_pastes_back_and_the_machine(
    tmp_path, script, argv, records
):
    """The command was argv joined by spaces (a JSON argument did not survive a paste back
    into a shell); the recall and frontier files were bare lists with no command at all."""
    js = tmp_path / "with space" / "out.json"
    proc = run(script, *argv, "--json", str(js), cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    data = json.loads(js.read_text(), parse_constant=pytest.fail)  # no NaN nor Infinity
    argv = [*argv, "--json", str(js)]
    assert shlex.split(data["command"]) == ["python", f"scripts/{script}.py", *argv]
    assert data["machine"]["commit"] and "uncommitted_changes" in data["machine"]
    assert len(records(data)) == 1
    if script == RL_COPY:  # the default --seconds inf: no limit, written as null
        assert data["seconds_limit"] is None
