"""Would a sampled-read NTM's policy use the right symbol if its read fetched it? (2026-12-04)

    OMP_NUM_THREADS=1 python oracle_reads.py CHECKPOINT_DIR LENGTH

Runs a ``stochastic-ntm`` run saved by ``probe_rl_copy.py --checkpoint`` with
``write_mode="sequential"`` (input symbol i is written to slot i) deterministically on 256
fresh Copy episodes of exactly ``LENGTH`` symbols, twice: with its own reads (the most
probable slot, as in evaluation) and with the reads forced to the oracle's slots (slot 0
through the input and the delimiter, slot j at output step j: the symbol now due), by
handing ``NTMCore._choose`` those slots as its replay. Prints the per-position accuracy of
both. If the oracle's column is high where the own one is low, only the read head is
missing; if it is low too, the action has learned to ignore the read at those positions,
and a read head that moved there would earn nothing. Output of the runs made:
oracle_reads.log.
"""

import sys

import numpy as np
import torch

import memenvs  # noqa: F401
from agents.checkpoint import load_checkpoint
from agents.cores.ntm import NTMCore
from agents.vec_env import make_vec_env

EPISODES = 256


def accuracy(model, length: int, oracle: bool) -> np.ndarray:
    """Per-position accuracy ``[length]`` on ``EPISODES`` fresh episodes (seed 123)."""
    kwargs = {"min_length": length, "max_length": length}
    env = make_vec_env("memenvs/Copy-v0", n_envs=EPISODES, seed=123, env_kwargs=kwargs)
    forced: list[int | None] = [None]
    choose = NTMCore._choose

    def oracle_choose(self, weights, mode, replay, extras, picks):
        if mode == "sample" and forced[0] is not None:
            replay = torch.full(weights.shape[:2], forced[0], dtype=torch.long)
        return choose(self, weights, mode, replay, extras, picks)

    NTMCore._choose = oracle_choose
    try:
        obs, state, starts = env.reset(), None, np.ones(EPISODES, bool)
        task = env.venv.venv.task  # the sequences drawn at the reset
        seqs = np.stack([task.sequence(i) for i in range(EPISODES)])
        actions = []
        for t in range(2 * length + 1):
            forced[0] = max(t - length - 1, 0) if oracle else None
            a, state = model.predict(obs, state=state, episode_start=starts, deterministic=True)
            actions.append(a.copy())
            obs, _, starts, _ = env.step(a)
    finally:
        NTMCore._choose = choose
    out = np.stack(actions[length + 1 :], 1)
    return (out == seqs).mean(0)


def main() -> None:
    torch.set_num_threads(1)
    model, length = load_checkpoint(sys.argv[1]), int(sys.argv[2])
    if getattr(model.policy.core, "write_mode", None) != "sequential":
        raise ValueError("oracle_reads.py needs a core with write_mode='sequential'")
    print("checkpoint", sys.argv[1], "env steps", model.num_timesteps, "length", length)
    for name, oracle in (("own reads", False), ("oracle reads", True)):
        acc = accuracy(model, length, oracle)
        print(f"{name:12s} mean {acc.mean():.3f}, per position", acc.round(2).tolist())


if __name__ == "__main__":
    main()
