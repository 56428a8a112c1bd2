"""Vector env steps per second at 1,024 envs, best of 5 x 200 random-action steps.

    PYTHONPATH=<checkout> python hash_inplace_speed.py memenvs/AssociativeRecall-v0 ...

Run alternately from two checkouts (the code before and after a change) on one machine.
"""

import sys
import time

import gymnasium as gym
import numpy as np

import memenvs

out = {}
for env_id in sys.argv[1:]:
    env = gym.make_vec(env_id, num_envs=1024)
    env.reset(seed=0)
    acts = [np.array([env.single_action_space.sample() for _ in range(1024)]) for _ in range(8)]
    for i in range(30):
        env.step(acts[i % 8])
    best = 0.0
    for _ in range(5):
        t = time.perf_counter()
        for i in range(200):
            env.step(acts[i % 8])
        best = max(best, 200 * 1024 / (time.perf_counter() - t))
    out[env_id.split("/")[1]] = best / 1e6
print(memenvs.__file__.split("/")[2], {k: round(v, 2) for k, v in out.items()})
