"""A process pool whose workers die with the process that started them.

A worker asks the kernel for SIGKILL when its parent dies (Linux ``prctl(PR_SET_PDEATHSIG)``)
and also runs a watchdog thread that exits once its parent process id changes (any POSIX
system, and the case the signal misses: a parent that died before the call). So a runner
killed with ``kill -9`` leaves no training process behind.

Processes this one does not fork itself (the daemons and workers of a local Ray instance)
are covered by a reaper process (:func:`start_reaper`) that kills them once this one dies.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import multiprocessing
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

PR_SET_PDEATHSIG = 1
WATCHDOG_PERIOD_S = 0.5


def _die_with(parent: int) -> None:
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    except (OSError, AttributeError):
        pass  # not Linux: the watchdog below still ends the worker
    if os.getppid() != parent:
        os._exit(1)

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(WATCHDOG_PERIOD_S)
        os._exit(1)

    threading.Thread(target=watch, name="parent-watchdog", daemon=True).start()


def _init(parent: int, then: Callable[[], None] | None) -> None:
    _die_with(parent)
    if then is not None:
        then()


def worker_pool(jobs: int, initializer: Callable[[], None] | None = None) -> ProcessPoolExecutor:
    """``ProcessPoolExecutor`` of ``jobs`` workers that die with this process.

    Workers are forked where the system can (so they are this process's children and
    ``initializer`` may be any callable); elsewhere ``initializer`` must be picklable. It runs
    in each worker after the parent-death guard is set up.
    """
    if isinstance(jobs, bool) or not isinstance(jobs, int) or jobs < 1:
        raise ValueError(f"jobs must be an integer >= 1, got {jobs!r}")
    method = "fork" if "fork" in multiprocessing.get_all_start_methods() else None
    return ProcessPoolExecutor(
        max_workers=jobs,
        mp_context=multiprocessing.get_context(method),
        initializer=_init,
        initargs=(os.getpid(), initializer),
    )


def stop_pool(pool: ProcessPoolExecutor) -> None:
    """Cancel queued work and kill the running workers now (instead of waiting for them)."""
    processes = list(getattr(pool, "_processes", None) or {})  # pids; private but stable
    pool.shutdown(wait=False, cancel_futures=True)
    for pid in processes:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


# ------------------------------------------------------------------ orphans of a SIGKILL
def _start_time(pid: int) -> int | None:
    """Start time of ``pid`` in clock ticks since boot (``/proc/<pid>/stat`` field 22)."""
    try:
        return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[19])
    except (OSError, IndexError, ValueError):
        return None


def descendants(pid: int) -> dict[int, int]:
    """Every live descendant of ``pid`` as ``{pid: start time}`` (Linux ``/proc``)."""
    parents: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        parents.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    found: dict[int, int] = {}
    todo = [pid]
    while todo:
        for child in parents.get(todo.pop(), []):
            started = _start_time(child)
            if started is not None and child not in found:
                found[child] = started
                todo.append(child)
    return found


def _reap(parent: int, period: float) -> None:
    """Poll ``parent``'s descendants until it dies, then SIGKILL the last ones seen."""
    seen: dict[int, int] = {}
    first = True
    while os.getppid() == parent:
        seen = {p: t for p, t in descendants(parent).items() if p != os.getpid()}
        if first:  # start_reaper waits for this line
            print("watching", flush=True)
            first = False
        time.sleep(period)
    for pid, started in seen.items():
        if _start_time(pid) == started:  # the same process, not a reused pid
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)


def start_reaper(period: float = WATCHDOG_PERIOD_S) -> subprocess.Popen | None:
    """Start a process that kills this process's descendants if this process dies.

    For helpers that are not this process's own pool: the daemons and workers that
    ``ray.init()`` starts. Ray ends most of them when its driver dies, but not all (its
    dashboard and runtime-env agents outlive a ``kill -9`` of the driver). The reaper polls
    the process tree every ``period`` seconds and, once its parent is gone, SIGKILLs every
    descendant it last saw (checking start times, so a reused pid is spared). Call
    ``stop_reaper`` on a normal exit. Returns once the reaper has seen the tree; returns
    None where there is no ``/proc``.
    """
    if not Path("/proc/self/stat").exists():
        return None
    # this file alone (standard library only), not the agents package (torch: seconds)
    code = (
        "import importlib.util as u\n"
        f"spec = u.spec_from_file_location('_reaper', {str(Path(__file__).resolve())!r})\n"
        "module = u.module_from_spec(spec)\n"
        "spec.loader.exec_module(module)\n"
        f"module._reap({os.getpid()}, {float(period)!r})\n"
    )
    reaper = subprocess.Popen(
        [sys.executable, "-c", code], stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, text=True
    )
    if reaper.stdout.readline().strip() != "watching":
        reaper.wait()
        raise RuntimeError(f"the reaper process failed to start (exit status {reaper.returncode})")
    return reaper


def stop_reaper(reaper: subprocess.Popen | None) -> None:
    """End a reaper started by ``start_reaper`` (the normal exit: nothing to reap)."""
    if reaper is not None:
        reaper.kill()
        reaper.wait()
        reaper.stdout.close()
