"""What it costs to start the sweep engines: a local Ray instance against the process pool.

    python scripts/bench_sweep_start.py --repeats 5 --out benchmarks/results/sweep-start/README.md \
        --json benchmarks/results/sweep-start/results.json

Each repeat runs, in a fresh Python process per engine (imports included, as a sweep pays
them), the engine's start, one trivial trial round trip and its shutdown: Ray through
``agents.sweep.RaySession`` (a new local instance, as ``--engine ray`` starts it) and the
process pool through ``agents.workers.worker_pool``. Needs the ``sweep`` extra for Ray.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys

from agents.benchutil import check_output_paths, command_line, header, machine, write_results
from agents.cli.common import positive_int

# Each child prints the seconds from before the engine's import to after its shutdown.
CHILD = {
    "ray": """
import time; t0 = time.perf_counter()
from agents.sweep import RaySession, import_ray
with RaySession(jobs=2):
    ray = import_ray()
    assert ray.get(ray.remote(lambda: 1).remote()) == 1
print(time.perf_counter() - t0)
""",
    "process": """
import time; t0 = time.perf_counter()
from agents.workers import stop_pool, worker_pool
pool = worker_pool(2)
assert pool.submit(abs, -1).result() == 1
stop_pool(pool)
print(time.perf_counter() - t0)
""",
}


def time_engine(engine: str) -> float:
    """Seconds from import to shutdown of one engine, in a fresh process."""
    out = subprocess.run(
        [sys.executable, "-c", CHILD[engine]], capture_output=True, text=True, check=False
    )
    if out.returncode != 0:
        raise RuntimeError(f"the {engine} engine failed to start:\n{out.stderr[-2000:]}")
    return float(out.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=positive_int, default=5, help="rounds (default 5)")
    parser.add_argument("--out", default="", help="also write the table to this Markdown file")
    parser.add_argument("--json", default="", help="also write the times to this JSON file")
    args = parser.parse_args(argv)
    try:
        check_output_paths(out=args.out, json=args.json)
    except ValueError as err:
        parser.error(str(err))
    info = machine()
    times: dict[str, list[float]] = {"process": [], "ray": []}
    for i in range(args.repeats):  # alternate the engines so drifts in load hit both
        for engine in times:
            times[engine].append(time_engine(engine))
            print(f"round {i}: {engine} {times[engine][-1]:.2f} s", flush=True)
    rows = [
        f"| {engine} | {statistics.median(ts):.2f} | {min(ts):.2f}-{max(ts):.2f} |"
        for engine, ts in times.items()
    ]
    command = command_line("bench_sweep_start.py", argv)
    text = "\n".join(
        [
            "# Starting a sweep engine: local Ray against the process pool",
            "",
            header(command, info),
            "Seconds from the engine's import to its shutdown, with one trivial trial round "
            f"trip, each in a fresh process; {args.repeats} alternating rounds.",
            "",
            "| engine | median s | range s |",
            "| --- | --- | --- |",
            *rows,
            "",
        ]
    )
    data = {"command": command, "machine": info, "seconds": times}
    write_results(text, data, args.out, args.json)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
