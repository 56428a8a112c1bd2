"""Read entropy and success per rollout: stochastic-episodic on DelayedRecall at delay 16
(the learning A/B's first rung, with its settings), seed S, critic_reads ARM, 100,000 env
steps.

python benchmarks/results/read-baseline/learning/entropy_diag.py 1 sampled > entropy-sampled-s1.log

read_entropy: the reads' mean entropy (nats) over every step of the last update;
success: the share of the last 100 episodes with return > 0.5.
"""

import json
import sys

import numpy as np
import torch
from stable_baselines3.common.callbacks import BaseCallback

from agents.training import make_agent
from agents.vec_env import make_vec_env


class PrintRollout(BaseCallback):
    def _on_rollout_end(self) -> None:
        values = self.model.logger.name_to_value
        episodes = self.model.ep_info_buffer
        row = {
            "steps": self.num_timesteps,
            "read_entropy": round(-float(values.get("train/internal_entropy_loss", "nan")), 3),
            "success": round(float(np.mean([e["r"] > 0.5 for e in episodes])), 3)
            if episodes
            else -1,
        }
        print(json.dumps(row), flush=True)

    def _on_step(self) -> bool:
        return True


def main() -> None:
    torch.set_num_threads(1)
    seed, arm = int(sys.argv[1]), sys.argv[2]
    env = make_vec_env(
        "memenvs/DelayedRecall-v0",
        n_envs=16,
        seed=seed,
        env_kwargs={"num_symbols": 4, "delay": 16},
    )
    model = make_agent(
        "stochastic-episodic", env, seed=seed, n_epochs=4, n_steps=64, learning_rate=1e-3,
        ent_coef=0.01, batch_size=256,
        core_kwargs={"max_memory": 1026, "heads": 1, "key_size": 8, "value_size": 8},
        policy_kwargs={"critic_reads": arm},
    )  # fmt: skip
    model.learn(100_000, callback=PrintRollout())


if __name__ == "__main__":
    main()
