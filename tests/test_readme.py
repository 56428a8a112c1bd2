"""The README quotes results files and commands: they must exist in the repository."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text()


def test_every_quoted_results_file_is_committed():
    paths = set(re.findall(r"benchmarks/results/[\w\-./]+\.(?:md|json|jsonl|png)", README))
    assert paths, "the README quotes no results files"
    missing = sorted(p for p in paths if not (ROOT / p).is_file())
    assert not missing, f"README quotes results files that do not exist: {missing}"


def test_every_quoted_script_and_suite_exists():
    scripts = set(re.findall(r"scripts/[\w\-]+\.(?:py|sh)", README))
    assert not sorted(s for s in scripts if not (ROOT / s).is_file())
    suites = set(re.findall(r"--suite ([\w\-./]+)", README)) - {"NAME"}
    assert suites
    paths = [  # a shipped suite's name, or a suite file's path
        ROOT / s if s.endswith(".json") else ROOT / "benchmarks/suites" / f"{s}.json"
        for s in suites
    ]
    assert not sorted(str(p) for p in paths if not p.is_file())
