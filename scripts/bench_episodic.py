"""Time and peak memory of the episodic core against the length of the stored history.

    python scripts/bench_episodic.py --out benchmarks/results/episodic-memory/README.md \\
        --json benchmarks/results/episodic-memory/results.json

For each history length ``L`` (memory full: one episode of ``L`` entries per row) and the
core's defaults (2 heads, d_k = d_v = 16, embed 64, 1 hop) on DelayedRecall-sized inputs
(F = 6), in a fresh process per setting: the rollout step (``T = 1``, no gradient, 16 rows:
one step of 16 envs) and the update pass (``T = 64`` steps, 4 rows: a minibatch of 4 env
columns, forward + backward through the recomputed window). Each is timed as the median of
repeated calls; peak RSS is the process's high-water mark, and the ratio column compares
each setting's time with the first (shortest) one measured in the same run.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time

from agents.benchutil import header, machine, peak_rss_mb, run_worker, write_results

F = 6


def worker(cfg: dict) -> dict:
    import torch

    from agents.cores import EpisodicMemoryCore

    torch.set_num_threads(1)
    torch.manual_seed(0)
    L, B, T = cfg["history"], cfg["rows"], cfg["T"]
    core = EpisodicMemoryCore(F, max_memory=L)
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
    times = []
    for _ in range(cfg["repeats"]):
        t0 = time.perf_counter()
        call()
        times.append(time.perf_counter() - t0)
    return {
        **cfg,
        "seconds": statistics.median(times),
        "peak_rss_mb": peak_rss_mb(),
        "rss_before_mb": rss0,
    }


def _starts(T: int, B: int):
    import torch

    s = torch.zeros(T, B, dtype=torch.bool)
    s[0] = True
    return s


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--history", nargs="+", type=int, default=[1000, 10_000, 100_000])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--out", default=None)
    parser.add_argument("--json", default=None)
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(worker(json.loads(args.worker))))
        return
    if min(args.history) < 1 or args.repeats < 1:
        parser.error("--history and --repeats must be >= 1")
    script = os.path.abspath(__file__)
    records = []
    for mode, rows, T in (("rollout", 16, 1), ("update", 4, 64)):
        for L in args.history:
            cfg = {"mode": mode, "history": L, "rows": rows, "T": T, "repeats": args.repeats}
            records.append(run_worker(script, cfg))  # a failure (e.g. memory) is recorded
            print(json.dumps(records[-1]), flush=True)
    lines = [
        "# Episodic core: time and memory against stored history\n",
        header("python scripts/bench_episodic.py " + " ".join(sys.argv[1:]), machine()),
        "| pass | history L | rows x steps | time per call | x shortest | peak RSS MiB |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    base: dict[str, float] = {}
    for r in records:
        if "error" in r:
            lines.append(
                f"| {r['mode']} | {r['history']:,} | - | failed: {r['error'][-200:]!r} | | |"
            )
            continue
        base.setdefault(r["mode"], r["seconds"])
        lines.append(
            f"| {r['mode']} | {r['history']:,} | {r['rows']} x {r['T']} | "
            f"{r['seconds'] * 1e3:.1f} ms | {r['seconds'] / base[r['mode']]:.1f} | "
            f"{r['peak_rss_mb']:.0f} |"
        )
    write_results("\n".join(lines) + "\n", records, args.out, args.json)


if __name__ == "__main__":
    main()
