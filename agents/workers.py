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
import select
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
REAPER_ENV = "MEMENVS_REAPER"  # marks every process started while a reaper watches


def _marked(marker: str) -> list[int]:
    """Live processes whose environment holds ``REAPER_ENV=marker`` (Linux ``/proc``)."""
    needle = f"{REAPER_ENV}={marker}".encode()
    found = []
    for environ in Path("/proc").glob("[0-9]*/environ"):
        try:
            if needle in environ.read_bytes().split(b"\0"):
                found.append(int(environ.parent.name))
        except OSError:  # gone, or not ours to read
            continue
    return found


def _start_time(pid: int) -> int | None:
    """Start time of ``pid`` in clock ticks since boot (``/proc/<pid>/stat`` field 22)."""
    try:
        return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[19])
    except (OSError, IndexError, ValueError):
        return None


def descendants(*pids: int) -> dict[int, int]:
    """Every live descendant of the given processes as ``{pid: start time}`` (Linux
    ``/proc``)."""
    parents: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            parent = int(stat.read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        parents.setdefault(parent, []).append(int(stat.parent.name))
    found: dict[int, int] = {}
    todo = list(pids)
    while todo:
        for child in parents.get(todo.pop(), []):
            started = _start_time(child)
            if started is not None and child not in found:
                found[child] = started
                todo.append(child)
    return found


def _reap(marker: str, parent: int) -> None:
    """Until EOF on stdin, note ``parent``'s descendants every ``WATCHDOG_PERIOD_S``; then,
    unless told ``stop``, SIGKILL what :func:`_targets` finds. Ignores SIGINT: a Ctrl-C
    that reaches it must not leave the parent's helpers to outlive the parent."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    print("watching", flush=True)
    seen: dict[int, int] = {}
    while not select.select([sys.stdin], [], [], WATCHDOG_PERIOD_S)[0]:
        tree = descendants(parent)
        if os.getppid() == parent:  # else it died mid-walk: the tree was already orphaned
            seen = {p: started for p, started in tree.items() if p != os.getpid()}  # not me
    if sys.stdin.read().strip() == "stop":
        return
    killed, noted = set(), len(seen)
    for _ in range(2):  # a second pass for anything started while the first one ran
        for pid in _targets(seen, marker) - killed:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
                killed.add(pid)
        time.sleep(WATCHDOG_PERIOD_S)
    print(
        f"reaper: process {parent} died; killed {len(killed)} process(es) it had started "
        f"(of {noted} noted)",
        file=sys.stderr,
    )


def _targets(seen: dict[int, int], marker: str) -> set[int]:
    """What the reaper kills once its parent is gone: the noted processes still alive (same
    start time: no reused pid), whatever they started since the last note (a daemon may
    restart one of its agents between notes, and an agent that rewrote its title carries
    no readable marker), and every marked process. Adds the newly found ones to ``seen``."""
    alive = {p: started for p, started in seen.items() if _start_time(p) == started}
    alive.update(descendants(*alive))
    seen.update(alive)
    return set(alive) | set(_marked(marker))


def start_reaper() -> subprocess.Popen | None:
    """Start a process that kills everything this process starts from now on, if this
    process dies before :func:`stop_reaper`.

    For helpers that are not this process's own pool: the daemons and workers that
    ``ray.init()`` starts. Ray ends most of them when its driver dies, but not all (its
    dashboard and runtime-env agents outlive a ``kill -9`` of the driver). This process's
    environment gets ``REAPER_ENV`` set to a marker that every process started afterwards
    inherits (Ray's workers too, started by its raylet), whoever its parent is by then; and
    the reaper notes this process's descendants twice a second (a process that rewrites its
    title with setproctitle can blank its environment in ``/proc``). The reaper holds the
    read end of a pipe whose write end only this process has: on EOF (this process is gone)
    it SIGKILLs the descendants it last noted (if their start times match: no reused pid),
    whatever those started since the last note, and every process carrying the marker.
    The reaper runs in a session of its own (a Ctrl-C or hangup of this process's group
    does not end it) and ignores SIGINT. Returns once the reaper is watching; returns None
    where there is no ``/proc``.
    """
    if not Path("/proc/self/environ").exists():
        return None
    marker = f"{os.getpid()}-{time.time_ns()}"
    # this file alone (standard library only), not the agents package (torch: seconds)
    code = (
        "import importlib.util as u\n"
        f"spec = u.spec_from_file_location('_reaper', {str(Path(__file__).resolve())!r})\n"
        "module = u.module_from_spec(spec)\n"
        "spec.loader.exec_module(module)\n"
        f"module._reap({marker!r}, {os.getpid()})\n"
    )
    env = {k: v for k, v in os.environ.items() if k != REAPER_ENV}  # it must not kill itself
    reaper = subprocess.Popen(
        [sys.executable, "-c", code],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        env=env,
        text=True,
        start_new_session=True,  # out of the terminal's process group: Ctrl-C, hangup
    )
    if reaper.stdout.readline().strip() != "watching":
        reaper.wait()
        raise RuntimeError(f"the reaper process failed to start (exit status {reaper.returncode})")
    os.environ[REAPER_ENV] = marker
    return reaper


def stop_reaper(reaper: subprocess.Popen | None) -> None:
    """End a reaper started by :func:`start_reaper` without it killing anything."""
    if reaper is None:
        return
    os.environ.pop(REAPER_ENV, None)
    with contextlib.suppress(BrokenPipeError):
        reaper.stdin.write("stop\n")
        reaper.stdin.close()
    reaper.wait()
    reaper.stdout.close()
