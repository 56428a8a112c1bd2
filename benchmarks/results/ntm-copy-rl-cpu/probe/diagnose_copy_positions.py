"""Which input does each output position of a Copy policy write? (diagnostics, 2026-12-03)

    OMP_NUM_THREADS=1 nice -n 10 python diagnose_copy_positions.py AGENT STEPS MAX_LENGTH [HYPER]
    python diagnose_copy_positions.py CHECKPOINT_DIR MAX_LENGTH

The second form evaluates a run saved by ``probe_rl_copy.py --checkpoint`` (no training).
For an NTM it also prints, for the first episode, the slot each head weights most at each
step (input phase, delimiter, output phase).

Trains AGENT (MemoryPPO with lr 1e-3, ent_coef 0.01, n_steps 64, batch_size 1024, n_epochs 4,
then the JSON HYPER over those) on Copy-v0 with lengths 1..MAX_LENGTH, 32 envs, seed 0, for
STEPS env steps; then on 256 fresh episodes of length MAX_LENGTH prints the accuracy at each
output position and how often output position j equals input symbol k (1/8 by chance).
Outputs of the runs made: diagnose_copy_positions.log.
"""

import json
import os
import sys

import numpy as np
import torch

import memenvs  # noqa: F401
from agents.checkpoint import load_checkpoint
from agents.training import make_agent
from agents.vec_env import make_vec_env


def trained(agent: str, steps: int, length: int, hyper: dict):
    kwargs = {"min_length": 1, "max_length": length}
    env = make_vec_env("memenvs/Copy-v0", n_envs=32, seed=0, env_kwargs=kwargs)
    hp = {"learning_rate": 1e-3, "ent_coef": 0.01, "n_steps": 64, "batch_size": 1024}
    model = make_agent(agent, env, seed=0, **{**hp, "n_epochs": 4, **hyper})
    model.learn(steps)
    print("train mean return", np.mean([i["r"] for i in model.ep_info_buffer]))
    return model


def main() -> None:
    torch.set_num_threads(1)
    if os.path.isdir(sys.argv[1]):
        model, length = load_checkpoint(sys.argv[1]), int(sys.argv[2])
        print("checkpoint", sys.argv[1], "env steps", model.num_timesteps)
    else:
        length = int(sys.argv[3])
        hyper = json.loads(sys.argv[4]) if len(sys.argv) > 4 else {}
        model = trained(sys.argv[1], int(sys.argv[2]), length, hyper)
    kwargs = {"min_length": length, "max_length": length}
    ev = make_vec_env("memenvs/Copy-v0", n_envs=256, seed=123, env_kwargs=kwargs)
    task = ev.venv.venv.task
    obs, state, starts = ev.reset(), None, np.ones(256, bool)
    seqs = np.stack([task.sequence(i) for i in range(256)])
    actions, slots = [], {"write": [], "read": []}
    for _ in range(2 * length + 1):
        a, state = model.predict(obs, state=state, episode_start=starts, deterministic=True)
        actions.append(a.copy())
        core = state[0]  # (actor core state, critic core state or None)
        if hasattr(core, "write_weights"):  # an NTM: where head 0 of episode 0 points
            slots["write"].append(int(core.write_weights[0, 0].argmax()))
            slots["read"].append(int(core.read_weights[0, 0].argmax()))
        obs, _, starts, _ = ev.step(a)
    out = np.stack(actions[length + 1 :], 1)
    print("per-position accuracy", (out == seqs).mean(0).round(2).tolist())
    for head, seq in slots.items():
        print(f"episode 0, {head} head 0: slot of the largest weight at each step", seq)
    for j in range(length):
        match = [round(float((out[:, j] == seqs[:, k]).mean()), 2) for k in range(length)]
        print("pos", j, "matches input pos", match)


if __name__ == "__main__":
    main()
