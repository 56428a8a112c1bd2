"""Where does a stochastic-episodic read land at the answer step, at delays 64 and 1,024?

    python benchmarks/results/frontier-long/rerun-xeon/read-age-diagnosis.py 1

(from the repository root; the argument is the seed). Trains like
``scripts/probe_episodic_frontier.py --agent stochastic-episodic --hyper '{"n_epochs": 10}'``
(curriculum 16 -> 64, 16 envs, budget 200,000), then plays 4 episodes per delay and prints
the mean age of head 0's read at the last 3 steps (the answer is the last).
"""

import sys

sys.path[:0] = [".", "scripts"]

import gymnasium as gym  # noqa: E402
import probe_episodic_frontier as probe  # noqa: E402
import torch  # noqa: E402

from agents.cli.enjoy import play_episode  # noqa: E402
from agents.ladder import train_ladder  # noqa: E402
from agents.training import make_agent  # noqa: E402
from agents.vec_env import make_vec_env  # noqa: E402

torch.set_num_threads(1)
seed = int(sys.argv[1])
core = {"max_memory": 10002, "heads": 1, "key_size": 8, "value_size": 8}


def make_env(rung):
    kwargs = {"num_symbols": 4, "delay": rung}
    return make_vec_env("memenvs/DelayedRecall-v0", n_envs=16, seed=seed, env_kwargs=kwargs)


model = make_agent(
    "stochastic-episodic", make_env(16), seed=seed, core_kwargs=core,
    **{**probe.HYPER, "n_epochs": 10},
)  # fmt: skip
reached = train_ladder(model, make_env, [16, 64], 200_000, [])
print("reached", reached, model.num_timesteps, flush=True)
for delay in (64, 1024):
    env = gym.make("memenvs/DelayedRecall-v0", num_symbols=4, delay=delay)
    for ep in range(4):
        total, _, steps, trace = play_episode(model, env, 1000 + ep, True, show=lambda *a: None)
        ages = [float(a[0]) for a in trace["read_age"]][-3:]
        print(f"delay {delay} ep {ep}: return {total:.2f} steps {steps} read age at last 3 {ages}")
