"""First-run demo: list the memenvs tasks, then score a random and an oracle policy on each.

    python scripts/demo.py [--episodes 64] [--seed 0]

The oracle reads the hidden state (a cheat) and should reach return 1.0 and success 1.0
everywhere; the random policy shows how hard guessing is. Runs on the native vector envs.
"""

from __future__ import annotations

import argparse
import time

import memenvs  # noqa: F401  (registers the ids)
from memenvs.evaluate import evaluate
from memenvs.registry import TASKS


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--episodes", type=int, default=64, help="episodes per policy and task")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    start = time.perf_counter()

    print("memenvs tasks (`python -m memenvs list` shows every preset):\n")
    for entry in TASKS:
        try:
            knobs = ", ".join(f"{k}={v!r}" for k, v in entry.knobs().items())
        except ImportError as err:
            knobs = f"unavailable: {err}"
        print(f"  memenvs/{entry.name}-v0: {entry.summary}\n      knobs: {knobs}")

    header = ["id", "random return", "random success", "oracle return", "oracle success"]
    rows = []
    for entry in TASKS:
        env_id = f"memenvs/{entry.name}-v0"
        try:
            rnd = evaluate(env_id, "random", args.episodes, args.seed)
            orc = evaluate(env_id, "oracle", args.episodes, args.seed)
        except ImportError as err:
            rows.append([f"`{env_id}`", f"unavailable ({err})", "", "", ""])
            continue
        rows.append(
            [
                f"`{env_id}`",
                f"{rnd['mean_return']:.3f} ± {rnd['std_return']:.3f}",
                f"{rnd['success_rate']:.2f}",
                f"{orc['mean_return']:.3f} ± {orc['std_return']:.3f}",
                f"{orc['success_rate']:.2f}",
            ]
        )

    print(f"\n{args.episodes} episodes per policy, seed {args.seed}:\n")
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    print("| " + " | ".join(h.ljust(w) for h, w in zip(header, widths, strict=True)) + " |")
    print("| " + " | ".join("-" * w for w in widths) + " |")
    for row in rows:
        print("| " + " | ".join(str(c).ljust(w) for c, w in zip(row, widths, strict=True)) + " |")
    print(f"\ndone in {time.perf_counter() - start:.2f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
