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
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMEXPR_NUM_THREADS"):
    os.environ[_var] = "1"

import argparse  # noqa: E402
import datetime  # noqa: E402
import json  # noqa: E402
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
from memenvs.evaluate import sample_actions  # noqa: E402
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


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def machine_info(pinned: int | None) -> dict[str, Any]:
    from importlib.metadata import PackageNotFoundError, version

    try:
        popgym_version = version("popgym")
    except PackageNotFoundError:  # popgym is optional
        popgym_version = None
    try:
        commit = subprocess.run(
            ["git", "describe", "--always", "--dirty"], capture_output=True, text=True, timeout=10
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        commit = ""
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
        "commit": commit or "unknown",
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
#: The largest knobs benchmarked per task: every delay/length knob at 10**6 or more (the
#: suite's goal is recall across 10**4-10**5 steps), alphabets of 4096 symbols, all within
#: memenvs.core.MEMORY_BUDGET for one env.
MAX_KNOBS: dict[str, dict[str, Any]] = {
    "DelayedRecall": {"delay": 10**8, "num_symbols": 10**6, "noise": True},
    "TMaze": {"length": 10**8, "active": True},
    "Copy": {"max_length": 10**6, "num_symbols": 4096},
    "RepeatCopy": {"max_length": 10**6, "max_repeats": 10**8, "num_symbols": 4096},
    "AssociativeRecall": {"num_symbols": 4096, "max_items": 4096},
    "RepeatPrevious": {"k": 10**6 - 1, "length": 10**6, "num_symbols": 4096},
    "TapeCopy": {"max_length": 10**6},
    "TapeReverse": {"max_length": 10**6},
    "TapeDuplicatedInput": {"max_length": 10**6, "duplication": 8},
    "TapeRepeatCopy": {"max_length": 10**6},
    "TapeReversedAddition": {"max_length": 10**6, "rows": 3},
    "CountRecall": {"length": 10**6, "num_symbols": 4096},
    "MemorySize": {"num_bits": 10**6, "delay": 10**8},
    "PrioritySort": {"max_length": 10**6, "num_symbols": 4096},
    "Concentration": {"num_pairs": 10**6},
    "KeyToDoor": {"delay": 10**8, "num_colors": 5},
    "PassiveVisualMatch": {"delay": 10**8, "num_colors": 5},
    "EndlessRecall": {
        "num_queries": 10**6,
        "start_delay": 10**8,
        "delay_growth": 10**8,
        "num_symbols": 4096,
    },
}


def make_reset_seconds(env_id: str, knobs: dict[str, Any], seed: int) -> float:
    """Best of 3: seconds for ``gymnasium.make(env_id, **knobs)`` plus one seeded reset."""
    best = float("inf")
    for _ in range(3):
        t0 = time.perf_counter()
        gym.make(env_id, **knobs).reset(seed=seed)
        best = min(best, time.perf_counter() - t0)
    return best


def make_reset_table(seed: int) -> str:
    """Markdown: make + reset time of every task at its defaults and at :data:`MAX_KNOBS`."""
    lines = [
        "| task | largest knobs | defaults (ms) | largest (ms) | ratio |",
        "| --- | --- | ---: | ---: | ---: |",
    ]
    for entry in TASKS:
        env_id, knobs = f"memenvs/{entry.name}-v0", MAX_KNOBS[entry.name]
        base = make_reset_seconds(env_id, {}, seed)
        big = make_reset_seconds(env_id, knobs, seed)
        text = ", ".join(f"`{k}={v}`" for k, v in knobs.items())
        lines.append(
            f"| {entry.name} | {text} | {base * 1e3:.2f} | {big * 1e3:.1f} | {big / base:.0f}x |"
        )
        print(lines[-1], flush=True)
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    defaults = [f"memenvs/{e.name}-v0" for e in TASKS]
    parser.add_argument("--ids", nargs="+", default=defaults, help="ids (default: every task)")
    parser.add_argument("--seconds", type=float, default=0.5, help="time per cell and repeat")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--no-pin", action="store_true", help="do not pin to one core")
    parser.add_argument("--no-popgym", action="store_true", help="skip the POPGym reference")
    parser.add_argument("--out", help="write the Markdown report here")
    parser.add_argument("--json", help="write the raw numbers here")
    parser.add_argument(
        "--make-reset",
        metavar="OUT.md",
        help="instead: time make + reset of every task at its largest knobs, write here",
    )
    args = parser.parse_args(argv)
    if args.make_reset:
        table = make_reset_table(args.seed)
        command = "python scripts/bench_envs.py " + shlex.join(argv or sys.argv[1:])
        os.makedirs(os.path.dirname(os.path.abspath(args.make_reset)), exist_ok=True)
        with open(args.make_reset, "w") as f:
            f.write(
                "# make + reset time at the largest knobs\n\n"
                f"`{command}` ({datetime.date.today()}, {cpu_model()}, a shared busy machine)."
                "\n\nBest of 3 of `gymnasium.make(id, **knobs)` plus `reset(seed=0)`, one env;"
                " ratio = largest / defaults in the same run. Every cost is O(size) now:"
                " before, CountRecall `length=30000` took 29 s, Concentration `num_pairs=1000`"
                " 21.6 s and TMaze `length=100000` over 120 s (issue 14).\n\n" + table + "\n"
            )
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
