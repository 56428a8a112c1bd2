"""Where a number was measured: the CPU and the checkout, for benchmark result headers.

Needs only the standard library, so the env benchmark (``scripts/bench_envs.py``, no torch)
and the agents' headers (:func:`agents.benchutil.machine`) share one reader.
"""

from __future__ import annotations

import platform
import subprocess
from pathlib import Path

__all__ = ["checkout_commit", "cpu_model"]


def cpu_model() -> str:
    """The CPU's model name from ``/proc/cpuinfo``, else ``platform.processor()``."""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def checkout_commit(path: str | Path) -> tuple[str, bool | None]:
    """``(abbreviated commit, tracked files differ from it)`` of the git checkout holding
    ``path`` (a file or folder of a package, so the answer does not depend on the working
    directory); ``("unknown", None)`` outside a checkout or without git."""
    path = Path(path).resolve()
    git = {"cwd": path if path.is_dir() else path.parent, "text": True, "timeout": 10}
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], **git, capture_output=True, check=True
        ).stdout.strip()
        status = subprocess.run(["git", "diff", "--quiet", "HEAD"], **git).returncode
    except (OSError, subprocess.SubprocessError):
        return "unknown", None
    return commit, {0: False, 1: True}.get(status)  # git diff: 0 same, 1 differs, else error
