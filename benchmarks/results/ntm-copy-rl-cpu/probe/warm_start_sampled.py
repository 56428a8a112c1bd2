"""Is a sampled-read solution of Copy there, and does PPO keep it? (diagnostic, 2026-12-04)

    OMP_NUM_THREADS=1 python warm_start_sampled.py SOFT_CHECKPOINT_DIR [FINETUNE_STEPS]

Takes a soft-read NTM that solved Copy <= 20 by RL (a ``probe_rl_copy.py --checkpoint``
folder, e.g. ``checkpoints/ntm-g0-s2``) and copies its weights unchanged into the same core
with ``read_mode="sample"`` (the ``stochastic-ntm`` policy): every read head now reads the one
slot drawn from the weighting the soft head read with (argmax when deterministic). It scores
per-symbol accuracy (mean return) and success at lengths 5, 10 and 20 for the soft policy, the
sampled one deterministic, and the sampled one sampling (actions and slots), 128 episodes
each, and at length 10 the accuracy at each output position. If the soft head's weightings are
sharp, the sampled policy copies as well: then a sampled-read solution exists in this
parameterisation and the machinery (drawing, reading the drawn row) is right.
With ``FINETUNE_STEPS`` > 0 it then trains the sampled policy by
MemoryPPO on lengths 1-20 with the probe's settings (gamma 0, ``n_epochs`` 10, batch 256, the
run's own hyperparameters) and scores it again: does the policy gradient keep the solution,
or drift off it? Output: ``warm_start_sampled.log``.
"""

import json
import sys
import time

import numpy as np

import memenvs  # noqa: F401
from agents.checkpoint import load_checkpoint
from agents.training import evaluate_success, make_agent
from agents.vec_env import make_vec_env

ENV_ID = "memenvs/Copy-v0"
LENGTHS = (5, 10, 20)


def score(model, label: str, deterministic: bool = True) -> None:
    for length in LENGTHS:
        kwargs = {"num_symbols": 8, "min_length": length, "max_length": length}
        r = evaluate_success(
            model, ENV_ID, kwargs, n_episodes=128, n_envs=32, deterministic=deterministic
        )
        line = {"policy": label, "length": length, "deterministic": deterministic}
        print(json.dumps({**line, **{k: round(v, 3) for k, v in r.items()}}), flush=True)


def positions(model, label: str, length: int = 10, episodes: int = 128) -> None:
    """Accuracy at each output position (the step's reward is 1 / length when right)."""
    env = make_vec_env(
        ENV_ID,
        n_envs=episodes,
        seed=20_000,
        env_kwargs={"num_symbols": 8, "min_length": length, "max_length": length},
    )
    obs, state = env.reset(), None
    starts = np.ones(episodes, dtype=bool)
    rewards = []
    for _ in range(2 * length + 1):  # input, delimiter, output: every episode in step
        actions, state = model.predict(obs, state=state, episode_start=starts, deterministic=True)
        obs, reward, starts, _ = env.step(actions)
        rewards.append(reward)
    right = np.array(rewards[-length:]) > 0  # [length, episodes]
    print(json.dumps({"policy": label, "length": length, "accuracy_by_position": [
        round(float(a), 2) for a in right.mean(axis=1)]}), flush=True)  # fmt: skip
    env.close()


def main(folder: str, finetune_steps: int = 0) -> None:
    soft = load_checkpoint(folder)
    with open(f"{folder}/probe.json") as f:
        settings = json.load(f)["settings"]
    print(json.dumps({"checkpoint": folder, "steps": int(soft.num_timesteps), **settings}))
    score(soft, "soft")
    positions(soft, "soft")
    env = make_vec_env(
        ENV_ID,
        n_envs=settings["n_envs"],
        seed=settings["seed"] + 1,
        env_kwargs={"num_symbols": 8, "min_length": 1, "max_length": 20},
    )
    sampled = make_agent(
        "stochastic-ntm", env, seed=settings["seed"], core_kwargs=settings["core_kwargs"] or None,
        **settings["hyper"],
    )  # fmt: skip
    sampled.policy.load_state_dict(soft.policy.state_dict())
    score(sampled, "sampled")
    positions(sampled, "sampled")
    score(sampled, "sampled", deterministic=False)
    if finetune_steps:
        start = time.time()
        sampled.learn(finetune_steps)
        print(json.dumps({"finetuned_steps": finetune_steps, "seconds": time.time() - start}))
        score(sampled, "sampled, fine-tuned")
        positions(sampled, "sampled, fine-tuned")
        score(sampled, "sampled, fine-tuned", deterministic=False)


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]) if len(sys.argv) > 2 else 0)
