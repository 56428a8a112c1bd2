"""Random-action throughput of every memenvs task, against POPGym's single envs.

    python scripts/bench_envs.py [--ids ID ...] [--seconds 0.5] [--out README.md] [--json r.json]

For each id: env-steps/s of the single env from ``gymnasium.make`` (with the wrappers it
adds), of its ``.unwrapped`` env, and of the native vector env from
``gymnasium.make_vec(id, num_envs=N)`` at N = 1, 64, 1024 (vector env-steps/s = N * calls/s).
The reference is POPGym's ``RepeatFirstEasy`` and ``RepeatPreviousEasy`` single envs,
measured in the same run. Actions are sampled before the timed loop; each cell runs for
about ``--seconds`` per repeat and reports the best of ``--repeats``, the repeats taken
round-robin over all cells so that a burst of load elsewhere spoils few of them. Threads
are pinned to one (OMP/OPENBLAS/MKL) and the process to one core where the OS allows it.
Timings on a shared, busy machine are noisy: run it on a quiet one.

    python scripts/bench_envs.py --max-knobs DIR [--knob-cap N] [--ids ID ...] [--timeout 120]

instead times ``make`` + ``reset(seed=0)`` of every task with each integer size knob at the
largest value that passes validation (``MAX_KNOB`` and ``MEMORY_BUDGET``; ``--knob-cap`` for a
smaller ceiling), single env and a 4-row vector env, each cell in its own process with a
timeout, and writes DIR/README.md (table with command, machine and date) and DIR/results.json.
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMEXPR_NUM_THREADS"):
    os.environ[_var] = "1"

import argparse  # noqa: E402
import datetime  # noqa: E402
import json  # noqa: E402
import math  # noqa: E402
import platform  # noqa: E402
import shlex  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from collections.abc import Callable  # noqa: E402
from itertools import cycle, islice  # noqa: E402
from typing import Any  # noqa: E402

import gymnasium as gym  # noqa: E402
import numpy as np  # noqa: E402

import memenvs  # noqa: E402
import memenvs.core  # noqa: E402
from memenvs.evaluate import sample_actions  # noqa: E402
from memenvs.provenance import checkout_commit, cpu_model  # noqa: E402
from memenvs.registry import TASKS  # noqa: E402

NUM_ENVS = (1, 64, 1024)
POPGYM_REFS = {
    "RepeatFirstEasy": "popgym.envs.repeat_first",
    "RepeatPreviousEasy": "popgym.envs.repeat_previous",
}
POOL_CALLS = 512  # distinct pre-sampled action batches, cycled through in the timed loop


# --------------------------------------------------------------------------- timing core
class Cell:
    """One table cell: a runner ``run(k)`` doing k calls of ``per_call`` env steps each."""

    def __init__(self, key: tuple[str, str], run: Callable[[int], None], per_call: int) -> None:
        self.key, self.run, self.per_call = key, run, per_call
        self.calls = 1
        self.best = 0.0

    def calibrate(self, seconds: float) -> None:
        """Pick the number of calls so that one timed repeat takes about ``seconds``."""
        k = 1
        while True:
            t0 = time.perf_counter()
            self.run(k)
            elapsed = time.perf_counter() - t0
            if elapsed >= min(0.05, seconds / 4) or k >= 1 << 30:
                break
            k *= 4
        self.calls = max(1, round(k * seconds / max(elapsed, 1e-9)))

    def measure(self) -> float:
        t0 = time.perf_counter()
        self.run(self.calls)
        rate = self.calls * self.per_call / (time.perf_counter() - t0)
        self.best = max(self.best, rate)
        return rate


def single_runner(env: gym.Env, seed: int) -> Callable[[int], None]:
    rng = np.random.default_rng(seed)
    raw = sample_actions(env.action_space, (POOL_CALLS,), rng)
    pool = [int(a) for a in raw] if raw.ndim == 1 else list(raw)
    env.reset(seed=seed)
    step, reset = env.step, env.reset

    def run(k: int) -> None:
        for action in islice(cycle(pool), k):
            _, _, terminated, truncated, _ = step(action)
            if terminated or truncated:
                reset()

    return run


def vector_runner(env: gym.vector.VectorEnv, seed: int) -> Callable[[int], None]:
    rng = np.random.default_rng(seed)
    pool = list(sample_actions(env.single_action_space, (POOL_CALLS, env.num_envs), rng))
    env.reset(seed=seed)
    step = env.step

    def run(k: int) -> None:
        for actions in islice(cycle(pool), k):
            step(actions)

    return run


# ------------------------------------------------------------------------------ measuring
def id_cells(env_id: str, seed: int) -> list[Cell]:
    env = gym.make(env_id)
    cells = [
        Cell((env_id, "single_make"), single_runner(env, seed), 1),
        Cell((env_id, "single_unwrapped"), single_runner(gym.make(env_id).unwrapped, seed), 1),
    ]
    for n in NUM_ENVS:
        venv = gym.make_vec(env_id, num_envs=n)
        cells.append(Cell((env_id, f"vec_{n}"), vector_runner(venv, seed), n))
    return cells


def popgym_cells(seed: int) -> list[Cell]:
    import importlib

    cells = []
    for name, module in POPGYM_REFS.items():
        try:
            env = getattr(importlib.import_module(module), name)()
        except ImportError as err:
            print(f"popgym reference {name} unavailable: {err}", file=sys.stderr)
            continue
        cells.append(Cell(("popgym", name), single_runner(env, seed), 1))
    return cells


def run_cells(cells: list[Cell], seconds: float, repeats: int) -> None:
    """Calibrate every cell, then time them round-robin ``repeats`` times, keeping the best.

    Interleaving the repeats spreads any burst of load from other processes over many cells
    instead of spoiling every repeat of one cell.
    """
    for cell in cells:
        cell.calibrate(seconds)
    for r in range(repeats):
        for cell in cells:
            rate = cell.measure()
            print(
                f"round {r + 1}/{repeats} {cell.key[0]} {cell.key[1]}: {human(rate)}/s",
                file=sys.stderr,
            )


# ----------------------------------------------------------------------------- reporting
def human(rate: float | None) -> str:
    if rate is None:
        return "–"
    for scale, suffix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if rate >= scale:
            return f"{rate / scale:.3g}{suffix}"
    return f"{rate:.3g}"


def markdown_table(results: dict[str, dict[str, float]], refs: dict[str, float | None]) -> str:
    ref = refs.get("RepeatFirstEasy")
    cols = ["single make", "single unwrapped", *(f"vec@{n}" for n in NUM_ENVS)]
    lines = [
        "| id | " + " | ".join(cols) + " | vec@1024 / POPGym RepeatFirstEasy |",
        "| --- |" + " ---: |" * (len(cols) + 1),
    ]
    for env_id, row in results.items():
        cells = [row["single_make"], row["single_unwrapped"], *(row[f"vec_{n}"] for n in NUM_ENVS)]
        ratio = f"{row[f'vec_{NUM_ENVS[-1]}'] / ref:.0f}x" if ref else "–"
        lines.append(f"| `{env_id}` | " + " | ".join(human(c) for c in cells) + f" | {ratio} |")
    for name, rate in refs.items():
        blank = " | ".join(["–"] * len(NUM_ENVS))
        lines.append(f"| POPGym `{name}` (reference) | – | {human(rate)} | {blank} | – |")
    return "\n".join(lines)


def machine_info(pinned: int | None) -> dict[str, Any]:
    from importlib.metadata import PackageNotFoundError, version

    try:
        popgym_version = version("popgym")
    except PackageNotFoundError:  # popgym is optional
        popgym_version = None
    commit, dirty = checkout_commit(memenvs.__file__)  # whatever the working directory
    exe = os.path.relpath(sys.executable) if sys.executable.startswith(os.getcwd()) else "python"
    return {
        "platform": platform.platform(),
        "cpu": cpu_model(),
        "cores": os.cpu_count(),
        "pinned_core": pinned,
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "python": platform.python_version(),
        "numpy": np.__version__,
        "gymnasium": gym.__version__,
        "memenvs": memenvs.__version__,
        "commit": commit + ("-dirty" if dirty else ""),
        "popgym": popgym_version,
        "command": shlex.join([exe, *sys.argv]),
    }


def report(info: dict[str, Any], table: str, seconds: float, repeats: int) -> str:
    return "\n".join(
        [
            "# memenvs environment throughput",
            "",
            f"Random-action env-steps per second, best of {repeats} repeats of ~{seconds:g} s",
            "per cell (repeats taken round-robin over all cells), actions pre-sampled outside",
            "the timed loop, one thread, one core. *single make*: `gymnasium.make(id)` with its",
            "default wrappers; *single unwrapped*: its `.unwrapped` env; *vec@N*: the native",
            "vector env `gymnasium.make_vec(id, num_envs=N)`, counted as N env steps per call.",
            "The POPGym rows are its single envs (no wrappers), the reference for the goal",
            "vec@1024 >= 100x POPGym `RepeatFirstEasy` single-env steps/s.",
            "",
            f"- command: `{info['command']}`",
            f"- date: {info['date']}; commit {info['commit']}",
            f"- machine: {info['platform']}; {info['cpu']}; {info['cores']} cores"
            f" (pinned to core {info['pinned_core']})",
            f"- versions: python {info['python']}, numpy {info['numpy']}, gymnasium "
            f"{info['gymnasium']}, memenvs {info['memenvs']}, popgym {info['popgym']}",
            "",
            table,
            "",
        ]
    )


def idle_ticks() -> dict[int, int]:
    """Idle + iowait jiffies per core from /proc/stat (empty where unavailable)."""
    ticks: dict[int, int] = {}
    try:
        with open("/proc/stat") as f:
            for line in f:
                if line.startswith("cpu") and line[3].isdigit():
                    parts = line.split()
                    ticks[int(parts[0][3:])] = int(parts[4]) + int(parts[5])
    except (OSError, ValueError, IndexError):
        pass
    return ticks


def pin_one_core() -> int | None:
    """Pin this process to the allowed core that was idlest over the last 0.2 s."""
    if not hasattr(os, "sched_setaffinity"):
        return None
    try:
        allowed = sorted(os.sched_getaffinity(0))
        before = idle_ticks()
        time.sleep(0.2)
        after = idle_ticks()
        core = max(allowed, key=lambda c: after.get(c, 0) - before.get(c, 0))
        os.sched_setaffinity(0, {core})
        return core
    except OSError:
        return None


# ------------------------------------------------------------------- make + reset at max
#: Rows of the vector env timed at each task's largest knobs (its knobs are searched again
#: for this many rows: the memory budget covers all rows of a task together).
MAX_KNOB_ROWS = 4
#: A make + reset slower than this at the largest knobs is reported as a defect.
MAX_KNOB_SECONDS = 2.0
#: ... and so is a time that grows more than this from a tenth of the knob to all of it
#: (10x is linear; the tenth is timed in the same process, after the imports), where the
#: larger time is at least :data:`GROWTH_FLOOR` seconds (below it, constant costs dominate).
MAX_KNOB_GROWTH = 20.0
GROWTH_FLOOR = 0.1
#: ... and so is a peak RSS (less the imports') more than this times ``MEMORY_BUDGET``.
RSS_SLACK = 1.1
#: Knobs bounded by another knob move together: ``{(task, knob): lambda v: {other: ...}}``.
COMPANIONS: dict[tuple[str, str], Callable[[int], dict[str, int]]] = {
    ("RepeatPrevious", "k"): lambda v: {"length": v + 1},  # length must be > k
    ("AssociativeRecall", "max_items"): lambda v: {"num_symbols": v},  # keys are distinct
    ("TapeReversedAddition", "rows"): lambda v: {"base": v},  # a carry fits in one digit
}


class _Fits(Exception):
    """Raised by the patched budget check: the knobs passed validation up to the budget."""


def fits(task_cls: type, num_envs: int, knobs: dict[str, Any]) -> bool:
    """Whether ``task_cls(num_envs, **knobs)`` passes validation within the memory budget.

    Nothing big is allocated: :func:`memenvs.core.check_memory` is patched to stop the
    constructor (with :class:`_Fits`) as soon as the budget check passes. A task that never
    checks its budget (state independent of its knobs) is simply built.
    """
    original = memenvs.core.check_memory

    def probe(nbytes: int, **names: Any) -> None:
        original(nbytes, **names)
        raise _Fits

    memenvs.core.check_memory = probe
    try:
        task_cls(num_envs, **knobs)
    except _Fits:
        return True
    except ValueError:
        return False
    finally:
        memenvs.core.check_memory = original
    return True


def size_knobs(entry: Any) -> list[str]:
    """The task's integer knobs, less the ``min_*`` ones (their largest is the ``max_*``)."""
    return [
        name
        for name, default in entry.knobs().items()
        if isinstance(default, int) and not isinstance(default, bool)
        if not name.startswith("min_")
    ]


def knob_set(entry: Any, knob: str, value: int) -> dict[str, int]:
    """``{knob: value}`` plus the knobs that must move with it (:data:`COMPANIONS`)."""
    return {knob: value, **COMPANIONS.get((entry.name, knob), lambda v: {})(value)}


def largest_knobs(entry: Any, knob: str, num_envs: int, cap: int | None = None) -> dict[str, int]:
    """The largest ``knob`` <= ``cap`` (with its companions) that :func:`fits`, by bisection."""
    task_cls = entry.env_class().task_cls

    def knobs(v: int) -> dict[str, int]:
        return knob_set(entry, knob, v)

    lo = entry.knobs()[knob]
    hi = max(lo, min(memenvs.core.MAX_KNOB, cap or memenvs.core.MAX_KNOB))
    if not fits(task_cls, num_envs, knobs(lo)):
        raise ValueError(f"{entry.name}: {knobs(lo)} does not fit with {num_envs} rows")
    while lo < hi:  # invariant: lo fits; everything above hi does not
        mid = (lo + hi + 1) // 2
        lo, hi = (mid, hi) if fits(task_cls, num_envs, knobs(mid)) else (lo, mid - 1)
    return knobs(lo)


def peak_rss_mib() -> float:
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def measure_make_reset(spec: dict[str, Any]) -> dict[str, Any]:
    """Child process: time ``make`` + ``reset(seed=0)`` of ``spec``; print nothing else.

    ``spec``: ``id``, ``knobs``, ``rows`` (0 = the single env from ``gymnasium.make``, else
    ``gymnasium.make_vec`` with that many rows) and ``tenth_knobs`` (knobs to time first,
    for the growth; or None). One untimed make + reset at the defaults first loads the
    task's module. Peak RSS is the process's, so it is the larger run's.
    """
    gym.make(spec["id"]).reset(seed=0)
    result: dict[str, Any] = {"rss_import_mib": peak_rss_mib()}
    runs = [("tenth_seconds", spec["tenth_knobs"])] if spec["tenth_knobs"] else []
    for label, knobs in [*runs, ("seconds", spec["knobs"])]:
        t0 = time.perf_counter()
        if spec["rows"]:
            env = gym.make_vec(spec["id"], num_envs=spec["rows"], **knobs)
        else:
            env = gym.make(spec["id"], **knobs)
        env.reset(seed=0)
        result[label] = time.perf_counter() - t0
        env.close()
        del env
    result["rss_mib"] = peak_rss_mib()
    return result


def run_child(spec: dict[str, Any], timeout: float) -> dict[str, Any]:
    """:func:`measure_make_reset` in a fresh process, killed after ``timeout`` seconds."""
    cmd = [sys.executable, os.path.abspath(__file__), "--measure-one", json.dumps(spec)]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return {"error": f"timeout: over {timeout:g} s"}
    if proc.returncode != 0:
        last = (proc.stderr.strip().splitlines() or [f"exit {proc.returncode}"])[-1]
        return {"error": last}
    return json.loads(proc.stdout.strip().splitlines()[-1])


def max_knob_specs(families: list[str], cap: int | None = None) -> list[dict[str, Any]]:
    """One spec per (task, size knob, single env | vector env) at the largest knobs."""
    specs = []
    for entry in TASKS:
        if entry.name not in families:
            continue
        default = entry.knobs()
        for knob in size_knobs(entry):
            for rows in (0, MAX_KNOB_ROWS):
                knobs = largest_knobs(entry, knob, max(rows, 1), cap)
                # the tenth: only for a knob that can grow by 10x from its default
                grows = rows == 0 and knobs[knob] >= 10 * default[knob] and knobs[knob] >= 1000
                tenth = knob_set(entry, knob, knobs[knob] // 10)
                specs.append(
                    {
                        "task": entry.name,
                        "knob": knob,
                        "id": f"memenvs/{entry.name}-v0",
                        "knobs": knobs,
                        "rows": rows,
                        "tenth_knobs": tenth if grows else None,
                    }
                )
    return specs


def judge(result: dict[str, Any]) -> str:
    """``ok`` or what is wrong with one measured spec."""
    if "error" in result:
        return "DEFECT: " + result["error"]
    faults = []
    if result.get("growth", 0) > MAX_KNOB_GROWTH and result["seconds"] >= GROWTH_FLOOR:
        faults.append(f"super-linear ({result['growth']:.0f}x for 10x)")
    if result["seconds"] > MAX_KNOB_SECONDS:
        faults.append(f"over {MAX_KNOB_SECONDS:g} s")
    allocated = (result["rss_mib"] - result["rss_import_mib"]) * 2**20
    if allocated > RSS_SLACK * memenvs.core.MEMORY_BUDGET:
        faults.append("RSS over the budget")
    return "DEFECT: " + ", ".join(faults) if faults else "ok"


def max_knobs_table(results: list[dict[str, Any]]) -> str:
    lines = [
        "| task | knobs | env | make + reset (s) | at a tenth (s) | growth | peak RSS (MiB)"
        " | verdict |",
        "| --- | --- | --- | ---: | ---: | ---: | ---: | --- |",
    ]
    for r in results:
        knobs = ", ".join(f"`{k}={v:,}`" for k, v in r["knobs"].items())
        env = f"vector, {r['rows']} rows" if r["rows"] else "single"
        seconds = f"{r['seconds']:.3f}" if "seconds" in r else "–"
        tenth = f"{r['tenth_seconds']:.3f}" if "tenth_seconds" in r else "–"
        growth = f"{r['growth']:.1f}x" if "growth" in r else "–"
        rss = f"{r['rss_mib']:.0f}" if "rss_mib" in r else "–"
        lines.append(
            f"| {r['task']} | {knobs} | {env} | {seconds} | {tenth} | {growth} | {rss}"
            f" | {r['verdict']} |"
        )
    return "\n".join(lines)


def max_knobs_report(info: dict[str, Any], results: list[dict[str, Any]], cap: int | None) -> str:
    defects = [r for r in results if r["verdict"] != "ok"]
    imports = [r["rss_import_mib"] for r in results if "rss_import_mib" in r]
    # every cell may have failed or timed out: then nothing measured the imports
    rss = f" (the imports alone take about {min(imports):.0f} MiB)" if imports else ""
    return "\n".join(
        [
            "# make + reset time at the largest knobs",
            "",
            f"- command: `{info['command']}`",
            f"- date: {info['date']}; commit {info['commit']}",
            f"- machine: {info['platform']}; {info['cpu']}; {info['cores']} cores",
            f"- versions: python {info['python']}, numpy {info['numpy']}, gymnasium "
            f"{info['gymnasium']}, memenvs {info['memenvs']}",
            "",
            "For every task and every integer size knob (the `min_*` knobs move with their"
            " `max_*`), the knob is set to the largest value that passes validation: at most"
            f" `MAX_KNOB` = {memenvs.core.MAX_KNOB:,}"
            + (f" (capped here at `--knob-cap {cap}`)" if cap else "")
            + f" and within `memenvs.core.MEMORY_BUDGET` ="
            f" {memenvs.core.format_bytes(memenvs.core.MEMORY_BUDGET)} for all rows (found by"
            " bisection on the constructor's own checks), the other knobs at their defaults; a"
            " knob bounded by another moves it along (`length = k + 1`, `num_symbols ="
            " max_items`, `base = rows`). Each cell is one fresh process timing"
            " `gymnasium.make(id, **knobs)` (*single*) or"
            f" `gymnasium.make_vec(id, num_envs={MAX_KNOB_ROWS}, **knobs)` (*vector*, the knob"
            f" searched again for {MAX_KNOB_ROWS} rows) plus `reset(seed=0)`, once, after an"
            " untimed make + reset at the defaults; killed after the timeout. *At a tenth*:"
            " the same with the knob at a tenth, timed first in the same process; *growth* ="
            f" the ratio (10x is linear). Peak RSS is the process's peak{rss}. Marked a"
            f" defect: *super-linear* (growth over"
            f" {MAX_KNOB_GROWTH:g}x where the time is {GROWTH_FLOOR:g} s or more), *over"
            f" {MAX_KNOB_SECONDS:g} s*, *RSS over the budget* (peak RSS less the imports more"
            f" than {RSS_SLACK:g} x `MEMORY_BUDGET`: the budget check underestimates what make +"
            " reset allocates)."
            " One run on a shared machine: expect noise of a few tens of percent.",
            "",
            f"Defects: {len(defects)} of {len(results)} cells.",
            "",
            max_knobs_table(results),
            "",
        ]
    )


def run_max_knobs(args: argparse.Namespace) -> None:
    families = [family(env_id) for env_id in args.ids]
    results = []
    for spec in max_knob_specs(families, args.knob_cap):
        result = {**spec, **run_child(spec, args.timeout)}
        if "tenth_seconds" in result and "seconds" in result:
            result["growth"] = result["seconds"] / max(result["tenth_seconds"], 1e-9)
        result["verdict"] = judge(result)
        results.append(result)
        print(max_knobs_table([result]).splitlines()[-1], file=sys.stderr, flush=True)
    info = machine_info(None)
    os.makedirs(args.max_knobs, exist_ok=True)
    with open(os.path.join(args.max_knobs, "README.md"), "w") as f:
        f.write(max_knobs_report(info, results, args.knob_cap))
    with open(os.path.join(args.max_knobs, "results.json"), "w") as f:
        payload = {**info, "timeout_s": args.timeout, "knob_cap": args.knob_cap}
        json.dump({**payload, "results": results}, f, indent=2)
        f.write("\n")


#: The longest ``--seconds`` per cell and repeat (an hour; more is a typo, not a benchmark).
MAX_SECONDS = 3600.0


def int_at_least(low: int) -> Callable[[str], int]:
    """An argparse type: an integer >= ``low`` (this script stays torch-free, so it does not
    import ``agents.cli.common``)."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            value = low - 1
        if value < low:
            raise argparse.ArgumentTypeError(f"must be an integer >= {low}, got {text!r}")
        return value

    return parse


def seconds_up_to(high: float) -> Callable[[str], float]:
    """An argparse type: a finite number of seconds in ``(0, high]``."""

    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            value = math.nan
        if not (0 < value <= high and math.isfinite(value)):
            allowed = "> 0" if high == math.inf else f"in (0, {high:g}]"
            raise argparse.ArgumentTypeError(f"must be a finite number {allowed}, got {text!r}")
        return value

    return parse


def check_ids(parser: argparse.ArgumentParser, ids: list[str], max_knobs: bool) -> None:
    """Every ``--ids`` entry must be a registered id (``--max-knobs``: a memenvs task's),
    checked before any cell runs."""
    tasks = {entry.name for entry in TASKS}
    for env_id in ids:
        try:
            gym.spec(env_id)
        except gym.error.Error as err:
            parser.error(f"--ids: {err}")
        if max_knobs and family(env_id) not in tasks:
            parser.error(f"--ids: --max-knobs times memenvs tasks only, got {env_id!r}")


def family(env_id: str) -> str:
    """The task name of a memenvs id: ``memenvs/DelayedRecall-v0`` -> ``DelayedRecall``."""
    return env_id.split("/", 1)[-1].rsplit("-v", 1)[0].split("-")[0]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    defaults = [f"memenvs/{e.name}-v0" for e in TASKS]
    parser.add_argument("--ids", nargs="+", default=defaults, help="ids (default: every task)")
    parser.add_argument(
        "--seconds",
        type=seconds_up_to(MAX_SECONDS),
        default=0.5,
        help=f"time per cell and repeat, in (0, {MAX_SECONDS:g}]",
    )
    parser.add_argument("--repeats", type=int_at_least(1), default=3)
    parser.add_argument("--seed", type=int_at_least(0), default=0)
    parser.add_argument("--no-pin", action="store_true", help="do not pin to one core")
    parser.add_argument("--no-popgym", action="store_true", help="skip the POPGym reference")
    parser.add_argument("--out", help="write the Markdown report here")
    parser.add_argument("--json", help="write the raw numbers here")
    parser.add_argument(
        "--max-knobs",
        metavar="DIR",
        help="instead: time make + reset of every task at its largest knobs (one process per"
        " cell), write DIR/README.md and DIR/results.json",
    )
    parser.add_argument(
        "--timeout",
        type=seconds_up_to(math.inf),
        default=120.0,
        help="seconds per --max-knobs cell (> 0)",
    )
    parser.add_argument(
        "--knob-cap",
        type=int_at_least(1),
        help="--max-knobs: no knob above this, >= 1 (default: MAX_KNOB, i.e. the largest"
        " valid; a knob whose default is above it stays at its default)",
    )
    parser.add_argument("--measure-one", help=argparse.SUPPRESS)  # a --max-knobs child
    args = parser.parse_args(argv)
    if args.measure_one:
        print(json.dumps(measure_make_reset(json.loads(args.measure_one))))
        return 0
    check_ids(parser, args.ids, bool(args.max_knobs))
    if args.max_knobs:
        run_max_knobs(args)
        return 0

    pinned = None if args.no_pin else pin_one_core()
    info = machine_info(pinned)
    cells = [] if args.no_popgym else popgym_cells(args.seed)
    for env_id in args.ids:
        cells += id_cells(env_id, args.seed)
    run_cells(cells, args.seconds, args.repeats)
    refs: dict[str, float | None] = (
        {name: None for name in POPGYM_REFS} if not args.no_popgym else {}
    )
    results: dict[str, dict[str, float]] = {env_id: {} for env_id in args.ids}
    for cell in cells:
        group, name = cell.key
        if group == "popgym":
            refs[name] = cell.best
        else:
            results[group][name] = cell.best

    table = markdown_table(results, refs)
    print(table)
    if args.out:
        os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
        with open(args.out, "w") as f:
            f.write(report(info, table, args.seconds, args.repeats))
    if args.json:
        os.makedirs(os.path.dirname(os.path.abspath(args.json)), exist_ok=True)
        payload = {
            **info,
            "seconds": args.seconds,
            "repeats": args.repeats,
            "unit": "env-steps/s",
            "num_envs": list(NUM_ENVS),
            "popgym_reference": refs,
            "results": results,
        }
        with open(args.json, "w") as f:
            json.dump(payload, f, indent=2)
            f.write("\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
