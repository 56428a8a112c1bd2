"""Helpers shared by the benchmark scripts: isolated worker runs and result headers."""

from __future__ import annotations

import json
import os
import platform
import resource
import shlex
import subprocess
import sys
import time
from typing import Any


def machine() -> dict[str, Any]:
    """Where a number was measured: CPU model, the SIMD level torch's CPU kernels use, cores,
    library versions, git commit and whether tracked files differed from it.

    A training run repeats bitwise on one machine. Across machines float rounding can differ
    (torch picks its CPU kernels by SIMD level) and training amplifies it: Copy probe curves
    made on two session machines agree for ~10,000 env steps, then drift apart."""
    import gymnasium
    import numpy
    import stable_baselines3
    import torch

    from memenvs.provenance import checkout_commit, cpu_model

    commit, dirty = checkout_commit(__file__)  # this package's checkout, whatever the cwd
    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else None
    return {
        "cpu": cpu_model(),
        "cpu_capability": torch.backends.cpu.get_cpu_capability(),
        "cores": os.cpu_count(),
        "gpu": gpu,
        "python": platform.python_version(),
        "torch": torch.__version__,
        "numpy": numpy.__version__,
        "gymnasium": gymnasium.__version__,
        "stable_baselines3": stable_baselines3.__version__,
        "commit": commit,
        "uncommitted_changes": dirty,
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
    }


def kernel_isa() -> str | None:
    """Which build of the fused NTM kernel ran in this process ('avx2+fma' or 'generic'),
    or None if no NTM loaded it (asking never builds it)."""
    step = sys.modules.get("agents.fused_step")
    if step is None or step.load.cache_info().currsize == 0:
        return None
    return step.load().kernel_isa()


def peak_rss_mb() -> float:
    """Peak resident memory of this process so far, in MiB."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def run_worker(script: str, config: dict[str, Any], timeout: float = 1800) -> dict[str, Any]:
    """Run ``python script --worker JSON`` in a fresh process; return its last JSON line.

    A fresh process per measurement keeps peak memory and thread settings independent.
    """
    env = {**os.environ, "OMP_NUM_THREADS": str(config.get("threads", 1))}
    proc = subprocess.run(
        [sys.executable, script, "--worker", json.dumps(config)],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
    )
    lines = [line for line in proc.stdout.splitlines() if line.startswith("{")]
    if proc.returncode != 0 or not lines:
        return {**config, "error": (proc.stderr or proc.stdout)[-2000:]}
    return json.loads(lines[-1])


def command_line(script: str, argv: list[str] | None = None) -> str:
    """The command that ran ``scripts/<script>`` with ``argv`` (default ``sys.argv[1:]``),
    shell-quoted so that it can be pasted back into a shell (JSON arguments included)."""
    args = sys.argv[1:] if argv is None else argv
    return shlex.join(["python", f"scripts/{script}", *args])


def header(command: str, info: dict[str, Any]) -> str:
    """Markdown provenance block: command, machine, versions, commit (marked when tracked
    files differed from it), date."""
    gpu = f", GPU {info['gpu']}" if info.get("gpu") else ""
    dirty = " with uncommitted changes" if info.get("uncommitted_changes") else ""
    return (
        f"Command: `{command}`\n\n"
        f"Machine: {info['cpu']}, {info['cores']} cores{gpu}. Python {info['python']}, "
        f"torch {info['torch']}, numpy {info['numpy']}, gymnasium {info['gymnasium']}, "
        f"SB3 {info['stable_baselines3']}. Commit {info['commit']}{dirty}, {info['date']}.\n"
    )


def provenance(command: str) -> dict[str, Any]:
    """What a JSON results file records beside its data: ``{"command", "machine"}``, the
    machine as :func:`machine` gives it (commit, uncommitted changes and date included)."""
    return {"command": command, "machine": machine()}


def check_output_paths(**paths: str | None) -> None:
    """Before any work: make the folders of the given output files and check that files can
    be written there; else ``ValueError`` naming the flag and the path. Keywords name the
    flags (``out=`` for ``--out``, ``json=`` for ``--json``); ``None`` paths are skipped."""
    for name, path in paths.items():
        if not path:
            continue
        flag = "--" + name.replace("_", "-")
        folder = os.path.dirname(os.path.abspath(path))
        try:
            os.makedirs(folder, exist_ok=True)
        except OSError as err:
            raise ValueError(f"{flag}: cannot create {folder} ({err.strerror or err})") from None
        if os.path.isdir(path) or not os.access(folder, os.W_OK | os.X_OK):
            raise ValueError(f"{flag}: cannot write {path}")


def write_results(text: str, data: Any, out: str | None, json_path: str | None) -> None:
    """Print a markdown report; save it to ``out`` and ``data`` as JSON to ``json_path``."""
    print(text)
    if out:
        _write(out, text)
    if json_path:
        _write(json_path, json.dumps(data, indent=1))


def _write(path: str, content: str) -> None:
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with open(path, "w") as f:
        f.write(content)
