"""How much the critic's value V_t depends on the memory read sampled at step t.

A baseline for the sampled read at t must not depend on that read (else the read's expected
advantage is ~0 once the critic is accurate). For each sampled-read agent, with the critic on
the actor's core (``shared_core=True``, the default) seeing the sampled reads
(``critic_reads="sampled"``, the default) or an internal critic seeing their expectation
(``"expected"``), and with the critic on its own core, this collects one
rollout on DelayedRecall (delay 5, untrained agent), replays it with the read at step t = 4
set to each of three slots (the cue's entry, a blank step's, the step's own for the episodic
core; three slots for the NTM) and prints the largest spread of V_t (and of the internal
critic's value) over those reads.

python scripts/probe_read_baseline.py --out benchmarks/results/read-baseline/README.md
"""

from __future__ import annotations

import argparse

import torch

from agents import MemoryPPO, make_vec_env
from agents.benchutil import check_output_paths, command_line, header, machine
from agents.checks import MAX_SEED, check_int
from agents.registry import get_agent
from agents.script_args import usage_errors

CORE_KWARGS = {
    "stochastic-ntm": {"memory_slots": 16, "memory_width": 8, "controller_size": 32},
    "stochastic-episodic": {"max_memory": 32, "embed_size": 16, "key_size": 8, "value_size": 8},
}


def spread(
    agent: str, shared: bool, seed: int, t: int = 4, critic_reads: str = "sampled"
) -> tuple[float, float]:
    """Largest spread over reads at ``t`` of V_t and of the internal critic's value."""
    env = make_vec_env("memenvs/DelayedRecall-v0", n_envs=2, seed=seed, env_kwargs={"delay": 5})
    model = MemoryPPO(
        get_agent(agent).policy, env, n_steps=8, seed=seed, internal_gamma=0.5,
        policy_kwargs={
            "core_kwargs": CORE_KWARGS[agent], "shared_core": shared, "critic_reads": critic_reads,
        },
    )  # fmt: skip
    _, callback = model._setup_learn(model.n_steps * model.n_envs, None)
    model.collect_rollouts(model.env, callback, model.rollout_buffer, model.n_steps)
    buf, n = model.rollout_buffer, model.policy.internal_action_nvec[0]
    values = []
    for slot in (n - 5, n - 3, n - 1):
        internal = buf.internal.clone()
        internal[t, :, 0] = slot
        with torch.no_grad():
            ev = model.policy.evaluate_sequences(
                buf.obs.reshape(-1, *buf.obs.shape[2:]), buf.actions.reshape(-1),
                buf.states[0], buf.episode_starts, internal,
            )  # fmt: skip
        values.append(torch.stack([ev.values[t], ev.internal_values[t]]))
    v = torch.stack(values)  # [reads, 2, B]
    gap = (v.max(0).values - v.min(0).values).amax(-1)
    return float(gap[0]), float(gap[1])


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--out", help="write the Markdown table here too")
    args = parser.parse_args(argv)
    with usage_errors(parser):
        for seed in args.seeds:
            check_int("--seeds", seed, 0, MAX_SEED)
        check_output_paths(out=args.out)
    torch.set_num_threads(1)
    command = command_line("probe_read_baseline.py", argv)
    lines = [
        "# Does the critic's value depend on the read sampled at step t?",
        "",
        header(command, machine()),
        "Largest spread of V_t / of the internal critic's value over three reads at t = 4, "
        "per seed (untrained agents, DelayedRecall delay 5; 0 means the baseline does not "
        "depend on the read).",
        "",
        "| agent | critic | " + " | ".join(f"seed {s}" for s in args.seeds) + " |",
        "| --- | --- | " + " | ".join("---" for _ in args.seeds) + " |",
    ]
    critics = {  # row label -> (shared_core, critic_reads)
        "shared core, sampled reads (default)": (True, "sampled"),
        "shared core, expected reads": (True, "expected"),
        "own core": (False, "sampled"),
    }
    for agent in CORE_KWARGS:
        for critic, (shared, reads) in critics.items():
            cells = [spread(agent, shared, s, critic_reads=reads) for s in args.seeds]
            row = " | ".join(f"{a:.4f} / {b:.4f}" for a, b in cells)
            lines.append(f"| {agent} | {critic} | {row} |")
    text = "\n".join(lines) + "\n"
    print(text)
    if args.out:
        with open(args.out, "w") as f:
            f.write(text)


if __name__ == "__main__":
    main()
