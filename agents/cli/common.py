"""Argument types and options the commands share."""

from __future__ import annotations

import argparse
import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import gymnasium as gym

from agents.checks import DEVICE_FORMS, check_device
from agents.runs import MODELS


def json_dict(text: str) -> dict[str, Any]:
    """An argparse type: a JSON object such as ``'{"delay": 8}'``."""
    try:
        value = json.loads(text)
    except json.JSONDecodeError as err:
        raise argparse.ArgumentTypeError(f"must be a JSON object, got {text!r} ({err})") from None
    if not isinstance(value, dict):
        raise argparse.ArgumentTypeError(f"must be a JSON object, got {text!r}")
    return value


def nonnegative_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be an integer >= 0, got {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be an integer >= 0, got {text!r}")
    return value


def positive_int(text: str) -> int:
    value = nonnegative_int(text)
    if value == 0:
        raise argparse.ArgumentTypeError(f"must be an integer >= 1, got {text!r}")
    return value


@contextmanager
def flag_errors(
    parser: argparse.ArgumentParser, flag: str, *errors: type[Exception]
) -> Iterator[None]:
    """Report ``errors`` raised inside as ``prog: error: FLAG: cause`` (exit 2)."""
    try:
        yield
    except errors as err:
        parser.error(f"{flag}: {err}")


@contextmanager
def env_errors(
    parser: argparse.ArgumentParser, env_id: str, env_flag: str = "--env"
) -> Iterator[None]:
    """Wrap building an env: an id Gymnasium does not know or a module that does not import
    is an error of ``env_flag``; knobs the env refuses are errors of ``--env-kwargs``."""
    with (
        flag_errors(parser, f"{env_flag} {env_id}", ImportError, gym.error.Error),
        flag_errors(parser, "--env-kwargs", TypeError, ValueError),
    ):
        yield


def check_device_flag(parser: argparse.ArgumentParser, device: str) -> None:
    """A device torch does not know, or an accelerator this machine lacks, is a ``--device``
    error (exit 2), before anything is loaded, built or written."""
    with flag_errors(parser, "--device", ValueError):
        check_device(device)


def check_model_fits(parser: argparse.ArgumentParser, env: gym.Env, model: Any) -> None:
    """The env must have the model's spaces, else a ``--env-kwargs`` error (knobs such as
    ``num_symbols`` change them). Observations are compared by flat size, which SB3's
    channel-first transposition of image observations keeps."""
    obs, act = env.observation_space, env.action_space
    if gym.spaces.flatdim(obs) != gym.spaces.flatdim(model.observation_space) or (
        act != model.action_space
    ):
        parser.error(
            f"--env-kwargs: the env's spaces ({obs}, {act}) are not the model's "
            f"({model.observation_space}, {model.action_space}): knobs that change them need "
            "a model trained with them"
        )


def add_run_arguments(parser: argparse.ArgumentParser) -> None:
    """The run folder and which of its models to load (evaluate and enjoy)."""
    parser.add_argument("run", help="a run folder written by memenvs-train (has config.json)")
    parser.add_argument(
        "--model",
        choices=list(MODELS),
        default="final",
        help="which saved model: final (model.zip; the latest checkpoint if the run did not "
        "finish), best (best_model.zip of --eval-every) or latest (checkpoints/latest.zip)",
    )
    parser.add_argument(
        "--env-kwargs",
        type=json_dict,
        default={},
        help="JSON dict of env knobs that override the run's own (e.g. a longer delay)",
    )
    parser.add_argument("--seed", type=nonnegative_int, default=10_000, help="episode seed")
    parser.add_argument("--stochastic", action="store_true", help="sample actions, not argmax")
    parser.add_argument(
        "--device", default="cpu", help=f"torch device to load the model on: {DEVICE_FORMS}"
    )
