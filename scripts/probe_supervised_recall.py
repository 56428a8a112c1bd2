"""Can the cores carry a cue across the delay at all? DelayedRecall as supervised learning.

    python scripts/probe_supervised_recall.py \\
        --out benchmarks/results/supervised-recall/README.md \\
        --json benchmarks/results/supervised-recall/results.json

The RL frontier (``frontier-cpu``, ``frontier-budget``) mixes two questions: can the memory
core hold the cue for ``delay`` steps under BPTT, and can PPO's reward signal teach it to.
This probe asks the first alone: each core (the frontier suites' sizes) plus a linear head
reads whole DelayedRecall episodes and is trained with cross-entropy on the cue at the query
step, 16 fresh episodes per Adam step (lr 1e-3, gradient norm clipped at 0.5, as in PPO),
for at most ``--steps`` Adam steps or ``--seconds`` of training. It reports the Adam steps
(and episodes) needed to reach 95% accuracy on 512 fresh episodes. For scale: a
``frontier-cpu`` run that solved delay 16 took about 70k env steps, i.e. ~120 rollouts x 40
minibatch steps = ~4,800 Adam steps over ~3,900 episodes.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from agents.benchutil import (  # noqa: E402
    check_output_paths,
    command_line,
    header,
    machine,
    provenance,
    write_results,
)
from agents.checks import MAX_SEED  # noqa: E402
from agents.script_args import check_float, check_ints, usage_errors  # noqa: E402

CORES = {  # the frontier suites' sizes
    "lstm": ("LSTMCore", {"hidden_size": 128}),
    "lstm-chrono": ("LSTMCore", {"hidden_size": 128, "chrono_max": 1024}),
    "gru": ("GRUCore", {"hidden_size": 128}),
    "gru-chrono": ("GRUCore", {"hidden_size": 128, "chrono_max": 1024}),
    "ntm": ("NTMCore", {"memory_slots": 32, "memory_width": 16, "controller_size": 64}),
    "episodic": ("EpisodicMemoryCore", {}),  # max_memory = the episode length (delay + 2)
}
NUM_SYMBOLS, BATCH, EVAL = 4, 16, 512
# The probe holds whole episodes: the observations of EVAL test episodes and the BPTT graph
# of BATCH training ones grow with the delay (measured at delay 60,000, 2 Adam steps: peak
# RSS 5.3 GB for the episodic core, 19 GB for the LSTM); longer delays than 2**15 (room for
# MemUP's 20,000) are refused before any training, not by a failed allocation mid-run
# (10**12 was a traceback).
MAX_DELAY = 2**15


def episodes(task, count: int):
    """Observations ``[T, B, F]`` of ``count`` fresh episodes and their cues ``[B]``."""
    import numpy as np
    import torch

    task.reset_rows(np.arange(count))
    cue = task.oracle()
    steps = []
    for _ in range(int(task.delay[0]) + 2):
        steps.append(task.observe())
        task.step(cue)
    return torch.as_tensor(np.stack(steps)), torch.as_tensor(cue)


def probe(
    core_name: str, delay: int, seed: int, max_steps: int, max_seconds: float, noise: bool = False
) -> dict:
    import numpy as np
    import torch
    from torch import nn

    import agents.cores as cores
    from memenvs.envs.delayed_recall import DelayedRecall

    torch.manual_seed(seed)
    cls_name, kwargs = CORES[core_name]
    if cls_name == "EpisodicMemoryCore":
        kwargs = {**kwargs, "max_memory": delay + 2}
    core = getattr(cores, cls_name)(NUM_SYMBOLS + 2, **kwargs)
    head = nn.Linear(core.output_size, NUM_SYMBOLS)
    params = [*core.parameters(), *head.parameters()]
    opt = torch.optim.Adam(params, lr=1e-3)
    train = DelayedRecall(BATCH, NUM_SYMBOLS, delay, noise=noise)
    test = DelayedRecall(EVAL, NUM_SYMBOLS, delay, noise=noise)
    train.rng, test.rng = np.random.default_rng(seed), np.random.default_rng(seed + 10_000)

    def logits(obs):
        starts = torch.zeros(obs.shape[:2], dtype=torch.bool)
        starts[0] = True
        state = core.initial_state(obs.shape[1])
        if hasattr(core, "write"):  # episodic: write the prefix, read only at the query step
            state = core.write(state, obs[:-1], starts[:-1])
            obs, starts = obs[-1:], starts[-1:]
        y, _ = core(obs, state, starts)
        return head(y[-1])

    def accuracy() -> float:
        obs, cue = episodes(test, EVAL)
        with torch.no_grad():  # in slices of 64 episodes: bounded memory at long delays
            pred = torch.cat([logits(obs[:, i : i + 64]).argmax(-1) for i in range(0, EVAL, 64)])
            return float((pred == cue).float().mean())

    steps, solved_at, acc = 0, None, accuracy()
    start = time.perf_counter()
    while steps < max_steps and time.perf_counter() - start < max_seconds:
        obs, cue = episodes(train, BATCH)
        loss = nn.functional.cross_entropy(logits(obs), cue)
        opt.zero_grad()
        loss.backward()
        nn.utils.clip_grad_norm_(params, 0.5)
        opt.step()
        steps += 1
        if steps % 25 == 0:
            acc = accuracy()
            if acc >= 0.95:
                solved_at = steps
                break
    return {
        "core": core_name,
        "delay": delay,
        "noise": noise,
        "seed": seed,
        "steps_to_95": solved_at,
        "steps": steps,
        "episodes": steps * BATCH,
        "accuracy": acc,
        "wall_time_s": time.perf_counter() - start,
    }


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cores", nargs="+", default=list(CORES), choices=list(CORES))
    parser.add_argument(
        "--delays",
        nargs="+",
        type=int,
        default=[16, 64, 256],
        help=f"steps between cue and query, in [0, {MAX_DELAY}] (0: the query right after the "
        "cue, which the core still has to carry one step)",
    )
    parser.add_argument("--seeds", nargs="+", type=int, default=[0])
    parser.add_argument("--noise", action="store_true", help="noisy distractors (random symbols)")
    parser.add_argument("--steps", type=int, default=3000, help="most Adam steps per run")
    parser.add_argument("--seconds", type=float, default=300, help="most training time per run")
    parser.add_argument("--out", default=None, help="write the markdown table here")
    parser.add_argument("--json", default=None, help="write the records here")
    args = parser.parse_args(argv)
    with usage_errors(parser):
        check_ints("--delays", args.delays, 0, MAX_DELAY)
        check_ints("--seeds", args.seeds, 0, MAX_SEED)
        check_ints("--steps", args.steps, 1)
        check_float("--seconds", args.seconds, 0, above=True, inf="no time limit")
        check_output_paths(out=args.out, json=args.json)
    command = command_line("probe_supervised_recall.py", argv)
    import torch

    torch.set_num_threads(1)
    records = []
    for core in args.cores:
        for delay in args.delays:
            for seed in args.seeds:
                records.append(probe(core, delay, seed, args.steps, args.seconds, args.noise))
                print(json.dumps(records[-1]), flush=True)
    lines = [
        "# DelayedRecall as supervised learning: can each core carry the cue?\n",
        header(command, machine()),
        f"K = {NUM_SYMBOLS} symbols (chance 0.25), noise={args.noise}; "
        "cores as in the frontier suites "
        f"({', '.join(f'{k}: {v[1]}' for k, v in CORES.items())}) plus a linear head; "
        f"cross-entropy on the cue at the query step, {BATCH} fresh episodes per Adam step, "
        f"at most {args.steps:,} steps or {args.seconds:.0f} s a run; accuracy on {EVAL} fresh "
        "episodes, checked every 25 steps.\n",
        "| core | delay | seed | Adam steps to 95% (episodes) | accuracy at stop | steps run "
        "| wall s |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for r in records:
        n = r["steps_to_95"]
        solved = f"{n:,} ({n * BATCH:,})" if n else "not reached"
        lines.append(
            f"| {r['core']} | {r['delay']} | {r['seed']} | {solved} | {r['accuracy']:.2f} | "
            f"{r['steps']:,} | {r['wall_time_s']:.0f} |"
        )
    data = {**provenance(command), "results": records}
    write_results("\n".join(lines) + "\n", data, args.out, args.json)


if __name__ == "__main__":
    main()
