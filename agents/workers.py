"""A process pool whose workers die with the process that started them.

A worker asks the kernel for SIGKILL when its parent dies (Linux ``prctl(PR_SET_PDEATHSIG)``)
and also runs a watchdog thread that exits once its parent process id changes (any POSIX
system, and the case the signal misses: a parent that died before the call). So a runner
killed with ``kill -9`` leaves no training process behind.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import multiprocessing
import os
import signal
import threading
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor

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
