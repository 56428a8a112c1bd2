"""Does an agent learn the NTM paper's Copy by RL? A length curriculum, then every length.

    nice -n 10 python scripts/probe_rl_copy.py --agent ntm --ladder 2 5 10 20 \\
        --budget 500000 --seconds 900 --eval 5 10 20 50 100 \\
        --json benchmarks/results/ntm-copy-rl-cpu/probe/ntm-seed0.json

``memenvs/Copy-v0`` (``--num-symbols``, ``min_length`` = ``--min-length``): the return of an
episode is the fraction of output symbols written right (per-symbol accuracy), success is
all of them right. One model (``--agent``, registry defaults plus ``--core-kwargs``,
MemoryPPO / RecurrentPPO settings ``--hyper`` over :data:`HYPER`) trains up ``--ladder``
(``max_length`` values; moves on once ``--advance`` of the last 100 training episodes
succeed, as :func:`agents.ladder.train_ladder`; stops at 99% success at the last rung) until
``--budget`` env steps or ``--seconds`` of training. Every rollout the mean training return
(last 100 episodes) is logged; at the end the deterministic policy is scored on fresh
episodes with ``min_length = max_length = L`` for each ``--eval`` length ``L``. An NTM keeps
its trained memory size unless ``--eval-slots`` gives a larger one for evaluation
(:meth:`NTMCore.with_memory_slots`).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from agents.benchutil import machine  # noqa: E402

ENV_ID = "memenvs/Copy-v0"
HYPER = {"learning_rate": 1e-3, "ent_coef": 0.01, "n_steps": 64, "batch_size": 1024, "n_epochs": 4}


def grow_memory(model, slots: int) -> None:
    """Give an NTM policy's core (and critic core) ``slots`` memory slots, in place."""
    policy = model.policy
    for name in ("core", "critic_core"):
        core = getattr(policy, name, None)
        if core is not None and hasattr(core, "with_memory_slots") and slots > core.N:
            setattr(policy, name, core.with_memory_slots(slots))


def run(args) -> dict:
    import numpy as np
    import torch
    from stable_baselines3.common.callbacks import BaseCallback

    torch.set_num_threads(1)
    import memenvs  # noqa: F401
    from agents.ladder import STOP_SUCCESS, progress_callback, switch_env
    from agents.training import evaluate_success, make_agent
    from agents.vec_env import make_vec_env

    fixed = {"num_symbols": args.num_symbols, "min_length": args.min_length}

    def make_env(rung):
        kwargs = {**fixed, "max_length": rung}
        return make_vec_env(ENV_ID, n_envs=args.n_envs, seed=args.seed, env_kwargs=kwargs)

    hyper = {**HYPER, **args.hyper}
    core = args.core_kwargs or None
    model = make_agent(
        args.agent, make_env(args.ladder[0]), seed=args.seed, core_kwargs=core, **hyper
    )
    start = time.perf_counter()
    log: list[dict] = []

    class Log(BaseCallback):
        def __init__(self, rung):
            super().__init__()
            self.rung, self.last_print = rung, 0

        def _on_rollout_end(self) -> None:
            infos = self.model.ep_info_buffer
            if len(infos) < 20:
                return
            entry = {
                "steps": int(self.num_timesteps),
                "seconds": round(time.perf_counter() - start, 1),
                "max_length": self.rung,
                "mean_return": float(np.mean([i["r"] for i in infos])),
                "success": float(np.mean(self.model.ep_success_buffer)),
            }
            log.append(entry)
            if self.num_timesteps - self.last_print >= args.print_every:
                self.last_print = self.num_timesteps
                print(json.dumps(entry), flush=True)

        def _on_step(self) -> bool:
            return time.perf_counter() - start < args.seconds

    reached: list = []
    curve: list = []
    for i, rung in enumerate(args.ladder):
        if i > 0:
            switch_env(model, make_env(rung), rung)
        reached.append([rung, int(model.num_timesteps), round(time.perf_counter() - start, 1)])
        print(json.dumps({"rung": rung, "steps": int(model.num_timesteps)}), flush=True)
        last = i == len(args.ladder) - 1
        progress = progress_callback(curve, STOP_SUCCESS if last else args.advance)
        model.learn(
            args.budget - model.num_timesteps,
            callback=[progress, Log(rung)],
            reset_num_timesteps=i == 0,
        )
        if not progress.met or model.num_timesteps >= args.budget:
            break
    train_s = time.perf_counter() - start
    if args.eval_slots:
        grow_memory(model, args.eval_slots)
    evals = {}
    for length in args.eval:
        kwargs = {**fixed, "min_length": length, "max_length": length}
        r = evaluate_success(model, ENV_ID, kwargs, n_episodes=args.eval_episodes, n_envs=32)
        evals[str(length)] = r
        print(json.dumps({"eval_length": length, **r}), flush=True)
    return {
        "agent": args.agent,
        "seed": args.seed,
        "env": ENV_ID,
        "fixed": fixed,
        "ladder": args.ladder,
        "advance": args.advance,
        "n_envs": args.n_envs,
        "hyperparameters": hyper,
        "core_kwargs": args.core_kwargs,
        "eval_slots": args.eval_slots,
        "eval_memory_slots": getattr(model.policy.core, "N", None)
        if hasattr(model.policy, "core")
        else None,
        "budget": args.budget,
        "seconds_limit": args.seconds,
        "steps_trained": int(model.num_timesteps),
        "train_s": train_s,
        "env_steps_per_s": model.num_timesteps / train_s,
        "curriculum": reached,
        "final_train": log[-1] if log else None,
        "eval": evals,
        "log": log,
        "machine": machine(),
    }


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--agent", default="ntm")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--ladder", nargs="+", type=int, default=[5])
    parser.add_argument("--advance", type=float, default=0.95, help="success to move on")
    parser.add_argument("--num-symbols", type=int, default=8)
    parser.add_argument("--min-length", type=int, default=1)
    parser.add_argument("--budget", type=int, default=300_000)
    parser.add_argument("--seconds", type=float, default=float("inf"))
    parser.add_argument("--n-envs", type=int, default=32)
    parser.add_argument("--hyper", type=json.loads, default={}, help=f"JSON over {HYPER}")
    parser.add_argument("--core-kwargs", type=json.loads, default={}, help="JSON")
    parser.add_argument("--eval", nargs="*", type=int, default=[5])
    parser.add_argument("--eval-episodes", type=int, default=128)
    parser.add_argument("--eval-slots", type=int, default=0)
    parser.add_argument("--print-every", type=int, default=20_000)
    parser.add_argument("--json", default="")
    args = parser.parse_args(argv)
    if min(args.ladder) < args.min_length:
        parser.error("--ladder values must be >= --min-length")
    record = run(args)
    argv_text = " ".join(argv if argv is not None else sys.argv[1:])
    record["command"] = f"python scripts/probe_rl_copy.py {argv_text}"
    if args.json:
        os.makedirs(os.path.dirname(args.json) or ".", exist_ok=True)
        with open(args.json, "w") as f:
            json.dump(record, f)
            f.write("\n")


if __name__ == "__main__":
    main()
