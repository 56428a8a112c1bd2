"""Train a memory agent on any registered Gymnasium id and report its success rate.

    python scripts/train.py --agent ntm --env memenvs/DelayedRecall-v0 --env-kwargs '{"delay": 8}'

Runs are named ``{env}__{agent}__{seed}__{time}``; TensorBoard logs go to
``--logdir/<run>_1``, the model beside them as ``model.zip``.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
from dataclasses import dataclass, field

import torch

import memenvs  # noqa: F401  (registers memenvs/ ids)
from agents.training import AGENTS, evaluate_success, make_agent, run_name
from agents.vec_env import make_vec_env


@dataclass
class Args:
    agent: str = "ntm"
    """which agent: one of lstm, gru, ntm, stochastic-ntm, ppo, recurrent-ppo"""
    env: str = "memenvs/DelayedRecall-Easy-v0"
    """Gymnasium id; "module:id" imports the module that registers it"""
    env_kwargs: str = "{}"
    """JSON dict of env knobs, e.g. '{"delay": 8}'"""
    steps: int = 100_000
    """total env steps to train for"""
    n_envs: int = 16
    """parallel envs (memenvs ids run as one native numpy vector env)"""
    n_steps: int = 64
    """rollout length per env (also the BPTT window of memory agents)"""
    learning_rate: float = 1e-3
    """Adam learning rate"""
    ent_coef: float = 0.01
    """entropy bonus"""
    core_kwargs: str = "{}"
    """JSON dict passed to the memory core, e.g. '{"memory_slots": 32}'"""
    device: str = "cpu"
    """torch device: cpu or cuda (fails clearly where there is no GPU)"""
    seed: int = 0
    """random seed for the agent and the training envs"""
    logdir: str = "runs"
    """where TensorBoard logs and the saved model go"""
    eval_episodes: int = 200
    """fresh episodes for the final success rate"""
    threads: int = 1
    """torch CPU threads (1 is fastest for small recurrent nets on few cores)"""
    progress_bar: bool = True
    """show a progress bar"""
    name: str = field(default="")
    """run name (default: {env}__{agent}__{seed}__{time})"""


def parse_args(argv=None) -> Args:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    docs = _field_docs(Args)
    for f in dataclasses.fields(Args):
        flag = "--" + f.name.replace("_", "-")
        if f.type == "bool":
            parser.add_argument(
                flag, action=argparse.BooleanOptionalAction, default=f.default, help=docs[f.name]
            )
        else:
            parser.add_argument(flag, type=eval(f.type), default=f.default, help=docs[f.name])
    args = Args(**vars(parser.parse_args(argv)))
    if args.agent not in AGENTS:
        parser.error(f"--agent must be one of {list(AGENTS)}, got {args.agent!r}")
    return args


def _field_docs(cls) -> dict[str, str]:
    """The string literal under each dataclass field (CleanRL style)."""
    import ast
    import inspect

    tree = ast.parse(inspect.getsource(cls))
    body = tree.body[0].body
    docs = {}
    for node, nxt in zip(body, body[1:] + [None], strict=True):
        if isinstance(node, ast.AnnAssign) and isinstance(nxt, ast.Expr):
            docs[node.target.id] = nxt.value.value
    return docs


def main(argv=None) -> dict:
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    env_kwargs = json.loads(args.env_kwargs)
    name = args.name or run_name(args.env, args.agent, args.seed)
    env = make_vec_env(args.env, n_envs=args.n_envs, seed=args.seed, env_kwargs=env_kwargs)
    model = make_agent(
        args.agent,
        env,
        seed=args.seed,
        device=args.device,
        tensorboard_log=args.logdir,
        core_kwargs=json.loads(args.core_kwargs) or None,
        n_steps=args.n_steps,
        learning_rate=args.learning_rate,
        ent_coef=args.ent_coef,
    )
    model.learn(args.steps, tb_log_name=name, progress_bar=args.progress_bar)
    run_dir = model.logger.dir or os.path.join(args.logdir, name)  # TensorBoard's run folder
    os.makedirs(run_dir, exist_ok=True)
    path = os.path.join(run_dir, "model.zip")
    model.save(path)
    env_id = args.env.partition(":")[2] if ":" in args.env else args.env
    result = evaluate_success(model, env_id, env_kwargs, n_episodes=args.eval_episodes)
    result.update(
        agent=args.agent, env=args.env, env_kwargs=env_kwargs, steps=args.steps, model=path
    )
    print(json.dumps(result))
    return result


if __name__ == "__main__":
    main()
