"""Time and peak memory of the episodic core against the length of the stored history.

    python scripts/bench_episodic.py --out benchmarks/results/episodic-memory/README.md \\
        --json benchmarks/results/episodic-memory/results.json

For each history length ``L`` (memory full: one episode of ``L`` entries per row) and the
core's defaults (2 heads, d_k = d_v = 16, embed 64, 1 hop) on DelayedRecall-sized inputs
(F = 6), in a fresh process per setting: the rollout step (``T = 1``, no gradient, 16 rows:
one step of 16 envs) and the update pass (``T = 64`` steps, 4 rows: a minibatch of 4 env
columns, forward + backward through the recomputed window). Each is timed as the median of
repeated calls (wall clock, and the process's CPU time, which a busy shared machine inflates
less); peak RSS is the process's high-water mark, and the ratio column compares
each setting's time with the first (shortest) one measured in the same run.

Each setting runs with the exact full read and with the chunked read (``attention=
"chunked"``, ``--chunk-size`` entries per chunk, the ``--top-k`` best chunks read); the
chunked columns are ratios against the full read of the same run (below 1: faster, smaller).
A setting whose worker fails (e.g. out of memory) is recorded as failed; ``--json`` writes
``{"command", "machine", "records"}``, one record per setting.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time

from agents.benchutil import (
    check_output_paths,
    command_line,
    header,
    machine,
    peak_rss_mb,
    provenance,
    run_worker,
    write_results,
)
from agents.cores.base import MAX_SIZE

F = 6


def worker(cfg: dict) -> dict:
    import torch

    from agents.cores import EpisodicMemoryCore

    torch.set_num_threads(1)
    torch.manual_seed(0)
    L, B, T = cfg["history"], cfg["rows"], cfg["T"]
    chunked = {"chunk_size": cfg["chunk_size"], "top_k_chunks": cfg["top_k"]}
    core = EpisodicMemoryCore(
        F,
        max_memory=L,
        attention=cfg["attention"],
        **(chunked if cfg["attention"] == "chunked" else {}),
    )
    with torch.no_grad():
        state = core.write(core.initial_state(B), torch.randn(L, B, F), _starts(L, B))
    rss0 = peak_rss_mb()
    x, no_start = torch.randn(T, B, F), torch.zeros(T, B, dtype=torch.bool)

    def call() -> None:
        if cfg["mode"] == "rollout":
            with torch.no_grad():
                core(x, state, no_start)
        else:
            y, _ = core(x, state, no_start)
            y.sum().backward()

    call()  # warm-up
    times, cpu = [], []
    for _ in range(cfg["repeats"]):
        t0, c0 = time.perf_counter(), time.process_time()
        call()
        times.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
    return {
        **cfg,
        "seconds": statistics.median(times),
        "cpu_seconds": statistics.median(cpu),
        "peak_rss_mb": peak_rss_mb(),
        "rss_before_mb": rss0,
    }


def _starts(T: int, B: int):
    import torch

    s = torch.zeros(T, B, dtype=torch.bool)
    s[0] = True
    return s


def failure(error: str) -> str:
    """A worker's error as one markdown table cell: its last line (the exception), with no
    newline and no unescaped ``|`` that would end the row."""
    lines = [line.strip() for line in error.strip().splitlines() if line.strip()]
    last = (lines or ["(no output)"])[-1][-200:]
    return "failed: " + last.replace("|", "\\|")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--history", nargs="+", type=int, default=[1000, 10_000, 100_000])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--chunk-size", type=int, default=128)
    parser.add_argument("--top-k", type=int, default=8)
    parser.add_argument("--out", default=None)
    parser.add_argument("--json", default=None)
    args = parser.parse_args(argv)
    if args.worker:
        print(json.dumps(worker(json.loads(args.worker))))
        return
    if min(args.history) < 1 or min(args.repeats, args.chunk_size, args.top_k) < 1:
        parser.error("--history, --repeats, --chunk-size and --top-k must be >= 1")
    if max(args.history) > MAX_SIZE:  # the core's own limit on max_memory
        parser.error(f"--history must be in [1, {MAX_SIZE:,}], got {max(args.history):,}")
    if args.chunk_size > min(args.history):
        parser.error("--chunk-size must be <= the smallest --history")
    try:
        check_output_paths(out=args.out, json=args.json)
    except ValueError as err:
        parser.error(str(err))
    command = command_line("bench_episodic.py", argv)
    script = os.path.abspath(__file__)
    load = os.getloadavg()[0]  # the machine is shared: say how busy it was
    records = []
    for mode, rows, T in (("rollout", 16, 1), ("update", 4, 64)):
        for L in args.history:
            for attention in ("full", "chunked"):
                cfg = {
                    "mode": mode,
                    "history": L,
                    "rows": rows,
                    "T": T,
                    "repeats": args.repeats,
                    "attention": attention,
                    "chunk_size": args.chunk_size,
                    "top_k": min(args.top_k, -(-L // args.chunk_size)),
                }
                records.append(run_worker(script, cfg))  # a failure (e.g. memory) is recorded
                print(json.dumps(records[-1]), flush=True)
    lines = [
        "# Episodic core: time and memory against stored history\n",
        header(command, machine()),
        f"Chunked read: chunks of {args.chunk_size} entries, the best {args.top_k} read "
        f"(at most {args.chunk_size * args.top_k} entries per query). Load average "
        f"(1 min) at start: {load:.1f}, at end: {os.getloadavg()[0]:.1f}.\n",
        "| pass | history L | rows x steps | full read | x shortest | peak RSS MiB "
        "| chunked read | chunked / full time | chunked / full CPU time "
        "| chunked / full peak RSS |",
        "| --- " * 10 + "|",
    ]
    base: dict[str, float] = {}
    for full, chunk in zip(records[::2], records[1::2], strict=True):
        cells = [full["mode"], f"{full['history']:,}", f"{full['rows']} x {full['T']}"]
        if "error" in full:
            cells += [failure(full["error"]), "", ""]
        else:  # full read
            base.setdefault(full["mode"], full["seconds"])
            cells += [
                f"{full['seconds'] * 1e3:.1f} ms",
                f"{full['seconds'] / base[full['mode']]:.1f}",
                f"{full['peak_rss_mb']:.0f}",
            ]
        if "error" in chunk:
            cells += [failure(chunk["error"]), "", "", ""]
        else:
            cells.append(f"{chunk['seconds'] * 1e3:.1f} ms")
            for key in ("seconds", "cpu_seconds", "peak_rss_mb"):
                cells.append("-" if "error" in full else f"{chunk[key] / full[key]:.2f}")
        lines.append("| " + " | ".join(cells) + " |")
    data = {**provenance(command), "records": records}
    write_results("\n".join(lines) + "\n", data, args.out, args.json)


if __name__ == "__main__":
    main()
