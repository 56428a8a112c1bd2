"""memenvs-evaluate: success rate and mean return of a run's model on fresh episodes.

    memenvs-evaluate runs/<run> [--model best] [--episodes 500] [--env-kwargs '{"delay": 128}']

Env id, knobs and agent come from the run folder's config.json; prints one JSON line.
"""

from __future__ import annotations

import argparse
import json

import gymnasium as gym

from agents.cli.common import (
    add_run_arguments,
    check_device_flag,
    check_model_fits,
    env_errors,
    positive_int,
)
from agents.training import evaluate_success, load_run


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="memenvs-evaluate",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_run_arguments(parser)
    parser.add_argument("--episodes", type=positive_int, default=200, help="fresh episodes")
    parser.add_argument("--n-envs", type=positive_int, default=16, help="parallel envs")
    args = parser.parse_args(argv)
    check_device_flag(parser, args.device)
    try:
        config, model = load_run(args.run, args.model, args.device)
    except ValueError as err:
        parser.error(str(err))
    env_kwargs = {**config.env_kwargs, **args.env_kwargs}
    with env_errors(parser, config.env, "the run's env"):  # bad knobs before any episode
        env = gym.make(config.env, **env_kwargs)
    check_model_fits(parser, env, model)
    env.close()
    result = evaluate_success(
        model,
        config.env,
        env_kwargs,
        n_episodes=args.episodes,
        seed=args.seed,
        n_envs=args.n_envs,
        deterministic=not args.stochastic,
    )
    result.update(agent=config.agent, env=config.env, env_kwargs=env_kwargs, model=args.model)
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
