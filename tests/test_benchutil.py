"""Result headers: where a number was measured."""

import subprocess
from pathlib import Path

from agents.benchutil import machine
from memenvs.provenance import checkout_commit, cpu_model

ROOT = Path(__file__).resolve().parents[1]


def head() -> str:
    """This checkout's commit, abbreviated as git does."""
    return subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True
    ).stdout.strip()


def test_machine_names_the_checkout_and_the_simd_level_from_any_directory(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # not a git repository
    record = machine()
    assert record["commit"] == head() and len(head()) >= 7
    assert isinstance(record["uncommitted_changes"], bool)
    assert record["cpu_capability"] in {"DEFAULT", "VSX", "ZVECTOR", "AVX2", "AVX512", "SVE256"}


def test_bench_envs_names_the_memenvs_checkout_from_any_directory(
    tmp_path, monkeypatch, load_script
):
    """The env benchmark's torch-free header (memenvs.provenance) names the same checkout."""
    bench_envs = load_script("bench_envs")
    monkeypatch.chdir(tmp_path)  # not a git repository
    assert bench_envs.machine_info(None)["commit"].startswith(head())


def test_checkout_commit_reads_any_checkout_and_says_when_files_differ(tmp_path):
    """A file or folder inside a checkout gives its commit and whether tracked files differ;
    outside any checkout the answer is unknown, not an error."""
    assert checkout_commit(tmp_path) == ("unknown", None)
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@t", "-C", str(tmp_path)]
    (tmp_path / "a.py").write_text("x = 1\n")
    subprocess.run([*git, "init", "-q"], check=True)
    subprocess.run([*git, "add", "a.py"], check=True)
    subprocess.run([*git, "commit", "-q", "-m", "c"], check=True)
    commit = subprocess.run(
        [*git, "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=True
    ).stdout.strip()
    assert checkout_commit(tmp_path / "a.py") == (commit, False)
    (tmp_path / "a.py").write_text("x = 2\n")
    assert checkout_commit(tmp_path) == (commit, True)


def test_cpu_model_names_a_cpu():
    assert cpu_model() and cpu_model() != "unknown"


def test_a_recorded_command_pastes_back_into_a_shell():
    """JSON and spaces survive: shlex splits the recorded line into the same arguments."""
    import shlex

    from agents.benchutil import command_line

    argv = ["--core-kwargs", '{"heads": 1, "key_size": 8}', "--out", "a b.md"]
    line = command_line("probe_episodic_frontier.py", argv)
    assert shlex.split(line) == ["python", "scripts/probe_episodic_frontier.py", *argv]


def test_the_header_says_when_tracked_files_differed_from_the_commit():
    from agents.benchutil import header

    info = {**machine(), "commit": "abc1234", "uncommitted_changes": False}
    assert "Commit abc1234, " in header("python x", info)
    info["uncommitted_changes"] = True
    assert "Commit abc1234 with uncommitted changes, " in header("python x", info)


def test_output_paths_are_checked_before_any_work(tmp_path):
    import pytest

    from agents.benchutil import check_output_paths

    check_output_paths(out=str(tmp_path / "new" / "r.md"), json=None)
    assert (tmp_path / "new").is_dir()  # made, so a run's end can write there
    (tmp_path / "file").write_text("")
    with pytest.raises(ValueError, match=r"^--json: cannot create .*file"):
        check_output_paths(json=str(tmp_path / "file" / "r.json"))
    with pytest.raises(ValueError, match=r"^--out: cannot write .*new"):
        check_output_paths(out=str(tmp_path / "new"))
