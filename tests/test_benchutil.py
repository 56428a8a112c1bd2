"""Result headers: where a number was measured."""

import subprocess
from pathlib import Path

from agents.benchutil import machine

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
    """The env benchmark's torch-free header (its own reader) names the same checkout."""
    bench_envs = load_script("bench_envs")
    monkeypatch.chdir(tmp_path)  # not a git repository
    assert bench_envs.machine_info(None)["commit"].startswith(head())
