"""Result headers: where a number was measured."""

import subprocess
from pathlib import Path

from agents.benchutil import machine

ROOT = Path(__file__).resolve().parents[1]


def test_machine_names_the_checkout_and_the_simd_level_from_any_directory(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # not a git repository
    record = machine()
    head = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True
    ).stdout.strip()
    assert record["commit"] == head and len(head) >= 7
    assert isinstance(record["uncommitted_changes"], bool)
    assert record["cpu_capability"] in {"DEFAULT", "VSX", "ZVECTOR", "AVX2", "AVX512", "SVE256"}
