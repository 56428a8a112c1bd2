"""Where an NTM policy on RL Copy goes wrong: its read head's slot against the action.

    python scripts/diagnose_rl_copy.py --checkpoint DIR --lengths 5 10 --episodes 200

``DIR`` is a ``scripts/probe_rl_copy.py --checkpoint`` folder (its ``probe.json`` gives the
alphabet). For each length ``L`` the deterministic policy plays ``--episodes`` episodes of
exactly ``L`` symbols, one env. In memenvs' Copy the symbol ``j`` is shown at step ``j``,
the delimiter at ``L``, and the action at step ``L + 1 + j`` must name symbol ``j``. The
NTM's heads act at every step: the write weighting's slot at step ``j`` is where symbol
``j`` went, and the read weighting's slot at step ``L + 1 + j`` is what the policy read for
it (the argmax, i.e. the drawn slot for sampled heads).

Reported per length:
- per input step and the delimiter, how often the read head is on the first symbol's slot
  (a head that reads in order holds it until the output phase starts: the NTM's initial
  read weighting is focused on slot 0, where the sequential write puts the first symbol);
- per output position, how often the read slot is the slot symbol ``j`` was written to, and
  how often the action is right;
- the action's accuracy when that slot was read and when another was;
- a histogram of read slot minus written slot. With ``write_mode="sequential"`` an offset of
  ``L`` means reading the slot written at the step before: the read head follows the write
  head.

``--slots`` gives the core more memory first, as the probe's ``--eval-slots`` does: a
sequential write wraps after ``N`` steps.
"""

from __future__ import annotations

import argparse
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from agents.benchutil import check_output_paths, command_line, provenance  # noqa: E402
from agents.checks import MAX_SEED  # noqa: E402
from agents.cores.base import MAX_SIZE  # noqa: E402
from agents.script_args import usage_errors  # noqa: E402
from memenvs.core import MAX_KNOB as MAX_EPISODES  # noqa: E402

ENV_ID = "memenvs/Copy-v0"


def play(model, length: int, num_symbols: int, episodes: int, seed: int) -> dict:
    """Per-position read-slot and action accuracy of ``episodes`` episodes of ``length``."""
    import gymnasium as gym
    import numpy as np

    import memenvs  # noqa: F401

    env = gym.make(ENV_ID, num_symbols=num_symbols, min_length=length, max_length=length)
    slot_ok, act_ok = np.zeros(length), np.zeros(length)
    given = {"slot_right": [0, 0], "slot_wrong": [0, 0]}  # [actions right, output steps]
    offsets: dict[int, int] = {}
    held = np.zeros(length + 1)  # read head on the first symbol's slot at input step / delimiter
    for episode in range(episodes):
        obs, _ = env.reset(seed=seed + episode)
        state, start, done = None, np.array([True]), False
        symbols, writes, reads, actions = [], [], [], []
        while not done:
            if len(symbols) < length:
                symbols.append(int(np.argmax(obs[:num_symbols])))
            action, state = model.policy.predict(obs[None], state, start, deterministic=True)
            core_state = state[0]
            if not hasattr(core_state, "read_weights"):
                raise ValueError(
                    f"diagnose_rl_copy needs an NTM core's state, got {type(core_state).__name__}"
                )
            writes.append(int(core_state.write_weights[0, 0].argmax()))
            reads.append(int(core_state.read_weights[0, 0].argmax()))
            actions.append(int(action[0]))
            obs, _, terminated, truncated, _ = env.step(actions[-1])
            start, done = np.array([False]), terminated or truncated
        held += np.array(reads[: length + 1]) == writes[0]
        for j in range(length):
            t = length + 1 + j
            right_slot, right_action = reads[t] == writes[j], actions[t] == symbols[j]
            slot_ok[j] += right_slot
            act_ok[j] += right_action
            key = "slot_right" if right_slot else "slot_wrong"
            given[key][0] += right_action
            given[key][1] += 1
            offsets[reads[t] - writes[j]] = offsets.get(reads[t] - writes[j], 0) + 1
    return {
        "length": length,
        "episodes": episodes,
        "read_on_first_slot_by_input_step": (held / episodes).round(3).tolist(),
        "read_slot_right_by_position": (slot_ok / episodes).round(3).tolist(),
        "action_right_by_position": (act_ok / episodes).round(3).tolist(),
        "action_right_when_slot_right": given["slot_right"],
        "action_right_when_slot_wrong": given["slot_wrong"],
        "read_minus_written_slot": {str(k): v for k, v in sorted(offsets.items())},
    }


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--checkpoint", required=True, help="a probe_rl_copy.py checkpoint")
    parser.add_argument("--lengths", nargs="+", type=int, default=[5, 10])
    parser.add_argument("--episodes", type=int, default=200)
    parser.add_argument("--seed", type=int, default=1000, help="first episode's reset seed")
    parser.add_argument("--slots", type=int, default=0, help="grow the memory to this first")
    parser.add_argument("--json", default="")
    args = parser.parse_args(argv)
    if not 1 <= args.episodes <= MAX_EPISODES:
        parser.error(f"--episodes must be >= 1 and <= {MAX_EPISODES}, got {args.episodes}")
    if any(n < 1 for n in args.lengths):
        parser.error(f"--lengths must be >= 1, got {args.lengths}")
    last_seed = MAX_SEED - args.episodes + 1  # episode k resets with seed + k
    if not 0 <= args.seed <= last_seed:
        parser.error(f"--seed must be in [0, {last_seed}] with --episodes {args.episodes}")
    if not 0 <= args.slots <= MAX_SIZE:
        parser.error(f"--slots must be in [0, {MAX_SIZE}] (0: as trained), got {args.slots}")
    with usage_errors(parser):
        check_output_paths(json=args.json)
    probe = os.path.join(args.checkpoint, "probe.json")
    if not os.path.isfile(probe):
        parser.error(f"--checkpoint {args.checkpoint!r} has no probe.json")
    import gymnasium as gym
    import torch

    import memenvs  # noqa: F401
    from agents.checkpoint import load_checkpoint

    torch.set_num_threads(1)
    with open(probe) as f:
        num_symbols = json.load(f)["settings"]["num_symbols"]
    for length in args.lengths:  # Copy's own limits, before the checkpoint loads
        try:
            gym.make(ENV_ID, num_symbols=num_symbols, min_length=length, max_length=length)
        except ValueError as err:
            parser.error(f"--lengths {length}: {err}")
    model = load_checkpoint(args.checkpoint)
    if args.slots:
        sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
        from probe_rl_copy import grow_memory

        grow_memory(model, args.slots)
    results = []
    for length in args.lengths:
        results.append(play(model, length, num_symbols, args.episodes, args.seed))
        print(json.dumps(results[-1]), flush=True)
    if args.json:
        data = {
            **provenance(command_line("diagnose_rl_copy.py", argv)),
            "checkpoint": args.checkpoint,
            "results": results,
        }
        with open(args.json, "w") as f:
            json.dump(data, f)


if __name__ == "__main__":
    main()
