"""The benchmark scripts refuse bad arguments before any work (argparse's usage error, exit 2,
naming the flag), survive failed cells, and record commands that paste back into a shell."""

from __future__ import annotations

import json
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
from cli_helpers import usage_error as refused

ROOT = Path(__file__).resolve().parent.parent
DR = "memenvs/DelayedRecall-v0"


def run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, *args], cwd=ROOT, capture_output=True, text=True, timeout=600
    )


def pasted_back(command: str, script: str) -> list[str]:
    """The argv a recorded command gives when pasted into a shell."""
    words = shlex.split(command)
    assert words[:2] == ["python", f"scripts/{script}"]
    return words[2:]


# ------------------------------------------------------------------------------ bench_envs
QUICK = ["--ids", DR, "--no-popgym", "--no-pin", "--seconds", "0.01", "--repeats", "1"]


@pytest.mark.parametrize(
    "argv,match",
    [
        (["--ids", "memenvs/Nope-v0", "--no-popgym", "--no-pin"], "--ids: Environment `Nope`"),
        ([*QUICK, "--seconds", "nan"], "--seconds: must be a finite number in (0, 3600]"),
        ([*QUICK, "--seconds", "-1"], "--seconds: must be a finite number in (0, 3600]"),
        ([*QUICK, "--repeats", "0"], "--repeats: must be an integer >= 1"),
        ([*QUICK, "--seed", "-1"], "--seed: must be an integer >= 0"),
        (["--max-knobs", "{tmp}", "--ids", DR, "--knob-cap", "-5"], "--knob-cap: must be an"),
        (["--max-knobs", "{tmp}", "--ids", DR, "--timeout", "0"], "--timeout: must be a finite"),
        (["--max-knobs", "{tmp}", "--ids", "memenvs/Nope-v0"], "--ids: Environment `Nope`"),
        (["--max-knobs", "{tmp}", "--ids", "CartPole-v1"], "--max-knobs times memenvs tasks"),
    ],
)
def test_bench_envs_refuses_bad_arguments_before_any_cell(
    load_script, capsys, tmp_path, argv, match
):
    bench = load_script("bench_envs")
    argv = [a.replace("{tmp}", str(tmp_path / "mk")) for a in argv]
    assert match in refused(bench.main, argv, capsys)
    assert not (tmp_path / "mk").exists()


def test_bench_envs_max_knobs_reports_cells_that_all_timed_out(tmp_path):
    proc = run("scripts/bench_envs.py", "--max-knobs", str(tmp_path), "--ids", DR,
               "--timeout", "0.001")  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-2000:]
    readme = (tmp_path / "README.md").read_text()
    results = json.loads((tmp_path / "results.json").read_text())["results"]
    assert results and all(r["verdict"].startswith("DEFECT: timeout") for r in results)
    assert f"Defects: {len(results)} of {len(results)} cells." in readme


# ----------------------------------------------------------------------------- bench_train
TINY_TRAIN = ["--agents", "ppo", "--n-envs", "2", "--n-steps", "8", "--steps", "16"]
TINY_TRAIN += ["--batch-size", "16", "--n-epochs", "1"]


@pytest.mark.parametrize(
    "argv,match",
    [
        (["--threads", "0"], "--threads must be >= 1, got 0"),
        (["--threads", "1", "-3"], "--threads must be >= 1, got -3"),
        (["--bptt"], "--bptt: expected at least one argument"),
        (["--bptt", "64", "0"], "--bptt must be >= 1, got 0"),
        (["--core-kwargs", "[1]"], "--core-kwargs: must be a JSON object"),
    ],
)
def test_bench_train_refuses_bad_arguments_before_any_worker(
    load_script, capsys, monkeypatch, argv, match
):
    bench = load_script("bench_train")
    monkeypatch.setattr(bench, "run_worker", lambda *a, **k: pytest.fail("a worker ran"))
    assert match in refused(bench.main, [*TINY_TRAIN, *argv], capsys)


def test_bench_train_says_so_and_exits_1_when_its_measurements_failed(tmp_path):
    js = tmp_path / "r.json"
    agents = ["--agents", 'lstm:{"hidden_size": 0}']  # the worker's core refuses it
    argv = [*TINY_TRAIN, *agents, "--threads", "1", "--json", str(js)]
    proc = run("scripts/bench_train.py", *argv)
    assert proc.returncode == 1
    assert "1 of 1 measurements failed: ValueError: hidden_size" in proc.stderr
    assert "1 of 1 measurements failed" in proc.stdout  # the report says so too
    data = json.loads(js.read_text())
    assert "error" in data["results"][0]
    assert pasted_back(data["command"], "bench_train.py") == argv


# -------------------------------------------------------------------------- bench_episodic
def test_bench_episodic_refuses_a_history_over_the_cores_limit(load_script, capsys, monkeypatch):
    bench = load_script("bench_episodic")
    monkeypatch.setattr(bench, "run_worker", lambda *a, **k: pytest.fail("a worker ran"))
    err = refused(bench.main, ["--history", "1000", "1000000000000"], capsys)
    assert "--history must be in [1, 10,000,000], got 1,000,000,000,000" in err


def test_bench_episodic_failures_are_one_line_cells_and_json_has_provenance(
    load_script, monkeypatch, tmp_path, capsys
):
    bench = load_script("bench_episodic")
    error = 'Traceback (most recent call last):\n  File "x.py", line 1\nMemoryError: a | b\n'
    monkeypatch.setattr(bench, "run_worker", lambda script, cfg: {**cfg, "error": error})
    out, js = tmp_path / "a b" / "r.md", tmp_path / "r.json"
    argv = ["--history", "100", "--chunk-size", "8", "--out", str(out), "--json", str(js)]
    bench.main(argv)
    rows = [line for line in out.read_text().splitlines() if line.startswith("| rollout")]
    rows += [line for line in out.read_text().splitlines() if line.startswith("| update")]
    assert len(rows) == 2
    for row in rows:
        assert "\\n" not in row and "Traceback" not in row
        assert row.count("failed: MemoryError: a \\| b") == 2
        assert row.count(" | ") == 9  # ten cells: the escaped | does not split one
    data = json.loads(js.read_text())
    assert set(data) == {"command", "machine", "records"} and len(data["records"]) == 4
    assert pasted_back(data["command"], "bench_episodic.py") == argv


# ---------------------------------------------------------------- bench_ntm_kernel, profile_ntm
def test_bench_ntm_kernel_checks_the_base_revision_before_building(
    load_script, capsys, monkeypatch
):
    bench = load_script("bench_ntm_kernel")
    monkeypatch.setattr(bench.fused_step, "load", lambda: pytest.fail("built before the check"))
    err = refused(bench.main, ["--base", "nosuchrev"], capsys)
    assert "--base: 'nosuchrev' is not a commit" in err


def test_bench_ntm_kernel_records_a_command_that_pastes_back(load_script, monkeypatch, tmp_path):
    bench = load_script("bench_ntm_kernel")
    monkeypatch.setattr(bench, "build_base", lambda *a: bench.fused_step.load())  # no build
    js = tmp_path / "a b" / "r.json"
    argv = ["--base", "HEAD", "--batch", "2", "--rounds", "1", "--calls", "1", "--json", str(js)]
    bench.main(argv)
    assert pasted_back(json.loads(js.read_text())["command"], "bench_ntm_kernel.py") == argv


@pytest.mark.parametrize(
    "argv,match",
    [
        (["--step-wise"], "--step-wise needs --fused"),
        (["--step-wise", "--fused", "--read-mode", "sample"], "--step-wise needs --fused"),
        (["--compile", "--fused"], "--compile takes neither --fused"),
    ],
)
def test_profile_ntm_refuses_flags_that_would_do_nothing_or_fail(
    load_script, capsys, monkeypatch, argv, match
):
    bench = load_script("profile_ntm")
    monkeypatch.setattr(bench, "profile", lambda *a, **k: pytest.fail("profiled"))
    assert match in refused(bench.main, ["--batch", "2", "--steps", "3", *argv], capsys)


def test_profile_ntm_records_a_command_that_pastes_back(load_script, tmp_path):
    bench = load_script("profile_ntm")
    js = tmp_path / "a b" / "r.json"
    argv = ["--batch", "2", "--steps", "3", "--fused", "--step-wise", "--json", str(js)]
    bench.main(argv)
    data = json.loads(js.read_text())
    assert data["results"][0]["step_wise"] and "machine" in data
    assert pasted_back(data["command"], "profile_ntm.py") == argv


# ------------------------------------------------------- bench_rnn_sequence, bench_sweep_start
def test_bench_rnn_sequence_records_a_command_that_pastes_back(load_script, tmp_path):
    bench = load_script("bench_rnn_sequence")
    js = tmp_path / "a b" / "r.json"
    argv = ["--cores", "gru", "--batch", "2", "--steps", "4", "--hidden", "4", "--rounds", "1"]
    bench.main([*argv, "--json", str(js)])
    command = json.loads(js.read_text())["command"]
    assert pasted_back(command, "bench_rnn_sequence.py") == [*argv, "--json", str(js)]


def test_bench_sweep_start_records_a_command_that_pastes_back(load_script, tmp_path, monkeypatch):
    bench = load_script("bench_sweep_start")
    monkeypatch.setattr(bench, "time_engine", lambda engine: 1.0)
    out, js = tmp_path / "a b" / "r.md", tmp_path / "r.json"
    argv = ["--repeats", "1", "--out", str(out), "--json", str(js)]
    assert bench.main(argv) == 0
    data = json.loads(js.read_text())
    assert pasted_back(data["command"], "bench_sweep_start.py") == argv
    assert f"Command: `{data['command']}`" in out.read_text()


@pytest.mark.parametrize("script", ["bench_sweep_start", "bench_rnn_sequence", "profile_ntm"])
def test_scripts_check_output_paths_before_any_work(load_script, capsys, tmp_path, script):
    blocker = tmp_path / "file"
    blocker.write_text("")
    bench = load_script(script)
    err = refused(bench.main, ["--out", str(blocker / "r.md")], capsys)
    assert "--out: cannot create" in err
