"""First-run demo: list the memenvs tasks, then score a random and an oracle policy on each.

    python scripts/demo.py [--episodes 64] [--seed 0] [--train-steps 30000]

The oracle reads the hidden state (a cheat) and should reach return 1.0 and success 1.0
everywhere; the random policy shows how hard guessing is. Runs on the native vector envs.
Then (unless ``--train-steps 0``) it trains a MemoryPPO LSTM agent and SB3's memoryless
MLP PPO on DelayedRecall (delay 4) with the same budget and prints their success rates.
"""

from __future__ import annotations

import argparse
import time

import memenvs  # noqa: F401  (registers the ids)
from memenvs.core import MAX_KNOB, check_int
from memenvs.evaluate import evaluate
from memenvs.registry import TASKS

MAX_SEED = 2**32 - 1  # what the training demo's seeding (numpy's legacy global seed) takes


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--episodes", type=int, default=64, help="episodes per policy and task")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--train-steps", type=int, default=30_000, help="0 skips the training demo")
    args = parser.parse_args(argv)
    try:  # before the task list: 10**12 episodes or seed -1 failed inside the first task
        check_int("--episodes", args.episodes, 1, MAX_KNOB)
        check_int("--seed", args.seed, 0, MAX_SEED)
        check_int("--train-steps", args.train_steps, 0)
    except ValueError as err:
        parser.error(str(err))
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
    if args.train_steps > 0:
        train_demo(args.train_steps, args.seed)
    print(f"\ndone in {time.perf_counter() - start:.2f} s")
    return 0


def train_demo(steps: int, seed: int) -> None:
    """Memory versus no memory on DelayedRecall(delay=4): chance is 1/K = 0.25."""
    import torch

    from agents.training import evaluate_success, make_agent
    from agents.vec_env import make_vec_env

    torch.set_num_threads(1)
    env_id, knobs = "memenvs/DelayedRecall-v0", {"delay": 4}
    print(f"\nTraining on {env_id} {knobs} for {steps} env steps each (chance: 0.25):")
    # nn.LSTM (fused: False): for a 20-second run, building the C++ LSTM sequence kernel
    # (about a minute, once per machine) would cost more than it saves
    for agent, core_kwargs in (("lstm", {"hidden_size": 32, "fused": False}), ("ppo", None)):
        t0 = time.perf_counter()
        env = make_vec_env(env_id, n_envs=16, seed=seed, env_kwargs=knobs)
        # the settings of tests/test_learning.py's CI check: for MemoryPPO 4 epochs, each
        # over a quarter of the rollout (with the defaults, 10 epochs of 128-step batches,
        # the LSTM stopped at 0.81 here)
        schedule = {"n_epochs": 4, "batch_size": None} if agent == "lstm" else {}
        model = make_agent(
            agent,
            env,
            seed=seed,
            core_kwargs=core_kwargs,
            n_steps=32,
            learning_rate=1e-3,
            ent_coef=0.01,
            **schedule,
        )
        model.learn(steps)
        result = evaluate_success(model, env_id, knobs, n_episodes=200)
        name = "MemoryPPO + LSTMCore" if agent == "lstm" else "SB3 PPO (MLP, no memory)"
        print(
            f"  {name:26s} success {result['success_rate']:.2f}  ({time.perf_counter() - t0:.0f} s)"
        )


if __name__ == "__main__":
    raise SystemExit(main())
