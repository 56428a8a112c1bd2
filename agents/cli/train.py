"""memenvs-train: train an agent on any Gymnasium id, in a run folder that remembers how.

    memenvs-train --agent lstm --env memenvs/DelayedRecall-v0 --env-kwargs '{"delay": 64}'
    memenvs-train --resume runs/<run>          # continue a killed run from its checkpoint

The run folder ``<log-dir>/<env>__<knobs>__<agent>__seed<seed>__<time>/`` gets config.json
(env, knobs, agent, hyperparameters, seed, versions, command, date), TensorBoard events
(with an hparams summary), checkpoints/latest.zip every --checkpoint-every steps,
best_model.zip and evaluations.jsonl every --eval-every steps and at the end (so the final
model competes for best_model.zip; result.json reuses that evaluation), model.zip and
result.json at the end. memenvs-evaluate and memenvs-enjoy need only that folder.

--resume continues from the step of checkpoints/latest.zip and sets aside what a killed
process did after it: TensorBoard hides its later scalars, its later evaluations move to
evaluations.discarded.jsonl and a best_model.zip it saved after the checkpoint to
best_model.discarded.zip (the run has no best model until an evaluation beats the kept best).
--steps with --resume is the run's new budget, at least the checkpoint's step. A resumed run
plays new episodes (its envs are reseeded with the seed plus the checkpoint's step), so its
numbers differ from an uninterrupted run's (agents.checkpoint resumes bit for bit).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import torch
from stable_baselines3.common.base_class import BaseAlgorithm
from stable_baselines3.common.logger import (
    Logger,
    TensorBoardOutputFormat,
    configure,
    make_output_format,
)
from torch.utils.tensorboard import SummaryWriter

from agents.callbacks import EvalSuccess, LatestCheckpoint, LogHParams, save_atomically
from agents.checks import DEVICE_FORMS
from agents.cli.common import (
    check_device_flag,
    env_errors,
    flag_errors,
    json_dict,
    nonnegative_int,
    positive_int,
)
from agents.registry import AGENTS, get_agent
from agents.runs import (
    FINAL,
    LATEST,
    RESULT,
    RunConfig,
    hparams,
    new_run_dir,
    read_config,
    run_name,
    stamp_config,
    write_config,
)
from agents.suite import path_component
from agents.training import evaluate_success, load_agent, make_agent
from agents.vec_env import make_vec_env

FLAG_KWARGS = ("n_steps", "learning_rate", "ent_coef")  # algorithm keywords with own flags
RESERVED = ("seed", "device", "tensorboard_log", "env", "policy")
# what a run folder fixes: these cannot be given again with --resume
RUN_DEFINING = (
    "agent",
    "env",
    "env_kwargs",
    "core_kwargs",
    "algo_kwargs",
    "n_envs",
    "seed",
    "name",
    "memory_image_interval",
    "eval_episodes",
    "checkpoint_every",
    "eval_every",
    *FLAG_KWARGS,
)
MAX_THREADS = 1024  # torch.set_num_threads overflowed on 10**12 ("Overflow when unpacking long")


def agent_name(text: str) -> str:
    """An ``--agent`` value: a registered name or ``module:name`` (the module registers it)."""
    try:
        get_agent(text)
    except ValueError as err:
        raise argparse.ArgumentTypeError(str(err)) from None
    return text


def threads_arg(text: str) -> int:
    """A ``--threads`` value: torch CPU threads, an integer in ``[1, MAX_THREADS]``."""
    value = positive_int(text)
    if value > MAX_THREADS:
        raise argparse.ArgumentTypeError(f"must be an integer in [1, {MAX_THREADS}], got {text!r}")
    return value


def build_parser() -> argparse.ArgumentParser:
    agents = "\n".join(f"  {name:20s} {spec.summary}" for name, spec in AGENTS.items())
    agents += "\n  module:name          an agent that your module registers (register_agent)"
    p = argparse.ArgumentParser(
        prog="memenvs-train",
        description=__doc__,
        epilog=f"agents:\n{agents}",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add = p.add_argument
    add("--agent", type=agent_name, default="ntm", help="which agent (listed below)")
    add("--env", default="memenvs/DelayedRecall-Easy-v0", help='Gymnasium id ("module:id" ok)')
    add("--env-kwargs", type=json_dict, default={}, help="""env knobs, e.g. '{"delay": 8}'""")
    add("--core-kwargs", type=json_dict, default={}, help="memory core knobs (memory agents)")
    add("--algo-kwargs", type=json_dict, default={}, help="other algorithm keywords (JSON)")
    add("--steps", type=positive_int, default=None, help="total env steps (default 100000)")
    add("--n-envs", type=positive_int, default=16, help="parallel envs")
    add("--n-steps", type=positive_int, default=64, help="rollout length per env (BPTT window)")
    add("--learning-rate", type=float, default=1e-3, help="Adam learning rate")
    add("--ent-coef", type=float, default=0.01, help="entropy bonus")
    add("--seed", type=nonnegative_int, default=0, help="seed of the agent and training envs")
    add("--device", default="cpu", help=f"torch device: {DEVICE_FORMS}")
    add(
        "--log-dir",
        "--logdir",
        dest="log_dir",
        default="runs",
        help="where run folders go (not with --resume)",
    )
    add("--name", default="", help="run folder name (default: env__knobs__agent__seed__time)")
    add("--eval-episodes", type=positive_int, default=200, help="episodes per evaluation")
    add(
        "--checkpoint-every",
        type=nonnegative_int,
        default=0,
        help="steps between checkpoints (0: none; keeps the latest)",
    )
    add(
        "--eval-every",
        type=nonnegative_int,
        default=0,
        help="steps between evaluations (0: none; keeps the best)",
    )
    add(
        "--memory-image-interval",
        type=nonnegative_int,
        default=0,
        help="rollouts between memory heatmaps in TensorBoard (memory agents; 0: none)",
    )
    add("--resume", default="", help="continue this run folder from its latest checkpoint")
    add("--threads", type=threads_arg, default=1, help="torch CPU threads")
    add("--progress-bar", action=argparse.BooleanOptionalAction, default=True)
    add("--verbose", action="store_true", help="also print SB3's training log")
    return p


def new_config(args: argparse.Namespace) -> RunConfig:
    """The config of a new run from its arguments (``ValueError`` naming a bad one)."""
    spec = get_agent(args.agent)
    clash = sorted(set(args.algo_kwargs) & {*FLAG_KWARGS, *RESERVED})
    if clash:
        raise ValueError(f"--algo-kwargs cannot set {clash}: use their own flags")
    if args.core_kwargs and not spec.is_memory_agent:
        raise ValueError(f"--core-kwargs apply to memory agents only, not {args.agent!r}")
    if args.memory_image_interval and not spec.is_memory_agent:
        raise ValueError(f"--memory-image-interval applies to memory agents, not {args.agent!r}")
    if args.name:
        path_component("--name", args.name)
    algo = {**spec.algo_kwargs, **{k: getattr(args, k) for k in FLAG_KWARGS}, **args.algo_kwargs}
    if args.memory_image_interval:
        algo["memory_image_interval"] = args.memory_image_interval
    core = {**spec.core_kwargs, **args.core_kwargs} if spec.is_memory_agent else {}
    return RunConfig(
        env=args.env,
        agent=args.agent,
        seed=args.seed,
        steps=args.steps or 100_000,
        n_envs=args.n_envs,
        env_kwargs=args.env_kwargs,
        core_kwargs=core,
        algo_kwargs=algo,
        eval_episodes=args.eval_episodes,
        checkpoint_every=args.checkpoint_every,
        eval_every=args.eval_every,
        name=args.name or run_name(args.env, args.agent, args.seed, args.env_kwargs),
    )


def resumed_config(args: argparse.Namespace, parser: argparse.ArgumentParser) -> RunConfig:
    changed = [k for k in RUN_DEFINING if getattr(args, k) != parser.get_default(k)]
    if changed:
        flags = ", ".join("--" + k.replace("_", "-") for k in changed)
        raise ValueError(f"{flags} cannot be given with --resume: the run's config.json fixes it")
    config = read_config(args.resume)
    if args.log_dir != parser.get_default("log_dir"):  # the run folder is where it is
        raise ValueError(f"--log-dir cannot be given with --resume: the run stays in {args.resume}")
    if args.steps:
        config.steps = args.steps
    return config


class _ResumedTensorBoard(TensorBoardOutputFormat):
    """SB3's TensorBoard output with a writer that starts with a restart marker at
    ``purge_step``: TensorBoard then hides what earlier event files of the folder hold at
    steps >= ``purge_step``."""

    def __init__(self, folder: str, purge_step: int) -> None:  # as the parent, plus purge
        self.writer = SummaryWriter(log_dir=folder, purge_step=purge_step)
        self._is_closed = False


def resumed_logger(run_dir: Path, resumed_from: int, verbose: bool = False) -> Logger:
    """The logger of a run resumed from its checkpoint at ``resumed_from``: TensorBoard
    (and stdout with ``--verbose``) as a new run's, its new event file starting with a
    restart marker at ``resumed_from + 1``, so that what a process killed after that
    checkpoint logged later (which the resumed run logs again, differently) is hidden.
    What was logged up to the checkpoint's step is history the resumed run shares and
    does not log again, so it stays."""
    folder = str(run_dir)
    outputs = [_ResumedTensorBoard(folder, purge_step=resumed_from + 1)]
    if verbose:
        outputs.append(make_output_format("stdout", folder))
    return Logger(folder=folder, output_formats=outputs)


def _start(
    args: argparse.Namespace, parser: argparse.ArgumentParser
) -> tuple[RunConfig, BaseAlgorithm, Path]:
    """Check the arguments, build (or load) the model and create the run folder (or find
    the resumed one): the config, the model and the folder. Nothing is written before the
    checks pass."""
    check_device_flag(parser, args.device)
    config = resumed_config(args, parser) if args.resume else new_config(args)
    torch.set_num_threads(args.threads)
    with env_errors(parser, config.env, "the run's env" if args.resume else "--env"):
        env = make_vec_env(
            config.env, n_envs=config.n_envs, seed=config.seed, env_kwargs=config.env_kwargs
        )
    if args.resume:
        run_dir = Path(args.resume)
        checkpoint = run_dir / LATEST
        if not checkpoint.is_file():
            raise ValueError(f"--resume {run_dir}: no checkpoint at {checkpoint}")
        model = load_agent(config.agent, checkpoint, env=env, device=args.device)
        if args.steps is not None and args.steps < model.num_timesteps:
            raise ValueError(
                f"--steps {args.steps} is below the step of the run's checkpoint, "
                f"{model.num_timesteps} ({checkpoint}): the run would claim a budget of "
                f"{args.steps} steps for a model trained {model.num_timesteps}; give "
                f"--steps >= {model.num_timesteps}"
            )
        model.set_random_seed(config.seed + model.num_timesteps)  # new episodes, not replays
    else:
        try:
            model = make_agent(
                config.agent,
                env,
                seed=config.seed,
                device=args.device,
                core_kwargs=config.core_kwargs or None,
                **config.algo_kwargs,
            )
        except TypeError as err:  # an unknown keyword in --core-kwargs or --algo-kwargs
            raise ValueError(f"--core-kwargs / --algo-kwargs: {err}") from None
        with flag_errors(parser, f"--log-dir {args.log_dir}", OSError):
            run_dir = new_run_dir(args.log_dir, config.name)  # the last step: nothing fails after
    return config, model, run_dir


def train(args: argparse.Namespace, parser: argparse.ArgumentParser) -> dict[str, Any]:
    """Build or resume the run, train to ``config.steps``, save, evaluate; the result.

    A ``ValueError`` before the run starts (a new run's folder is created, a resumed run's
    config rewritten) is a usage error (exit 2); one raised later, while training or
    evaluating, is no bad flag and propagates."""
    try:
        config, model, run_dir = _start(args, parser)
    except ValueError as err:
        parser.error(str(err))
    if args.resume:
        write_config(run_dir, config)  # a new --steps is remembered
        callbacks = []
    else:
        write_config(run_dir, stamp_config(config))
        callbacks = [LogHParams(hparams(config))]
    resumed_from = model.num_timesteps
    if args.resume:
        model.set_logger(resumed_logger(run_dir, resumed_from, verbose=args.verbose))
    else:
        model.set_logger(configure(str(run_dir), ["tensorboard"] + ["stdout"] * args.verbose))
    if config.checkpoint_every:
        callbacks.append(LatestCheckpoint(run_dir, config.checkpoint_every, resumed_from))
    evaluate = lambda m: evaluate_success(  # noqa: E731
        m, config.env, config.env_kwargs, n_episodes=config.eval_episodes
    )
    periodic = None
    if config.eval_every:
        rewind_to = resumed_from if args.resume else None
        periodic = EvalSuccess(run_dir, config.eval_every, evaluate, rewind_to)
        callbacks.append(periodic)
    if config.steps > model.num_timesteps:
        model.learn(
            config.steps - model.num_timesteps,
            callback=callbacks,
            reset_num_timesteps=not args.resume,
            progress_bar=args.progress_bar,
        )
    save_atomically(model, run_dir / FINAL)
    final = periodic.final if periodic is not None else None  # evaluated at the end
    result = {
        **(final if final is not None else evaluate(model)),
        "agent": config.agent,
        "env": config.env,
        "env_kwargs": config.env_kwargs,
        "steps": config.steps,
        "num_timesteps": model.num_timesteps,
        "resumed_from": resumed_from if args.resume else None,
        **update_counts(model),
        "run_dir": str(run_dir),
        "model": str(run_dir / FINAL),
    }
    (run_dir / RESULT).write_text(json.dumps(result, indent=2) + "\n")
    return result


def update_counts(model) -> dict[str, int]:
    """MemoryPPO's minibatch updates tried and skipped for a non-finite loss or gradient
    (``{}`` for the SB3 agents, which do not skip)."""
    if not hasattr(model, "skipped_updates"):
        return {}
    return {"skipped_updates": model.skipped_updates, "minibatch_steps": model.minibatch_steps}


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    print(json.dumps(train(args, parser)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
