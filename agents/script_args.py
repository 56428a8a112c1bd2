"""Argument checks the probe scripts (``scripts/probe_*.py``) share.

Each check raises ``ValueError`` naming the flag and the allowed range; a script runs its
checks inside :func:`usage_errors`, so that a bad value is refused before any training as
argparse's usage error (exit 2), not as a traceback after the run, a hang, or a NaN in a
results file.
"""

from __future__ import annotations

import argparse
import inspect
import math
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import Any

from agents.checks import allowed_range


@contextmanager
def usage_errors(parser: argparse.ArgumentParser) -> Iterator[None]:
    """Report a ``ValueError`` raised inside as ``prog: error: <message>`` (exit 2)."""
    try:
        yield
    except ValueError as err:
        parser.error(str(err))


def check_ints(flag: str, value: int | list[int], low: int, high: int | None = None) -> None:
    """An integer (or each of a list of them) in ``[low, high]`` (``>= low``: no ``high``)."""
    values = value if isinstance(value, list) else [value]
    bad = [v for v in values if v < low or (high is not None and v > high)]
    if bad:
        got = bad if isinstance(value, list) else bad[0]
        raise ValueError(f"{flag} must be {allowed_range(low, high)}, got {got}")


def check_float(
    flag: str,
    value: float,
    low: float,
    high: float | None = None,
    *,
    above: bool = False,
    inf: str = "",
) -> None:
    """A finite number ``>= low`` (``> low`` with ``above``) and ``<= high``. ``inf``, when
    given, says what an infinite value means (e.g. ``"no time limit"``): then ``inf`` passes."""
    in_range = (value > low if above else value >= low) and (high is None or value <= high)
    if not (in_range and (math.isfinite(value) or (inf and value == math.inf))):
        allowed = f"> {low}" if above else allowed_range(low, high)
        kind = f" (inf: {inf})" if inf else "" if high is not None else " and finite"
        raise ValueError(f"{flag} must be {allowed}{kind}, got {value}")


def check_keys(flag: str, value: dict[str, Any], allowed: Iterable[str], what: str) -> None:
    """Every key of the JSON object ``value`` is one of ``allowed`` (``what`` names them)."""
    allowed = sorted(allowed)
    unknown = sorted(set(value) - set(allowed))
    if unknown:
        raise ValueError(f"{flag}: {unknown} are not {what}; it takes {allowed}")


def init_parameters(cls: type, skip: Iterable[str] = ()) -> list[str]:
    """The keyword parameters of ``cls(...)`` (without ``self``, ``*args``, ``**kwargs`` and
    ``skip``; private ones, ``_name``, neither)."""
    params = inspect.signature(cls).parameters.values()
    kinds = (inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD)
    skip = set(skip)
    return [
        p.name
        for p in params
        if p.kind not in kinds and p.name not in skip and not p.name.startswith("_")
    ]


def check_agent(agent: str, hyper: dict[str, Any], core_kwargs: dict[str, Any]) -> Any:
    """The registry's spec of ``--agent``, once the keys of ``--hyper`` are settings of its
    algorithm (MemoryPPO, RecurrentPPO or PPO) and those of ``--core-kwargs`` of its core
    (a TypeError from deep inside the constructor otherwise, after the envs were built)."""
    from agents.registry import get_agent
    from agents.training import algorithm_class

    try:
        spec = get_agent(agent)
    except ValueError as err:
        raise ValueError(f"--agent: {err}") from None
    algo = algorithm_class(agent)
    skip = ("policy", "env", "seed", "device", "tensorboard_log")
    check_keys("--hyper", hyper, init_parameters(algo, skip), f"{algo.__name__} settings")
    if spec.is_memory_agent:
        params = init_parameters(spec.core_class, ("input_size",))
        check_keys("--core-kwargs", core_kwargs, params, f"{spec.core_class.__name__} settings")
    elif core_kwargs:
        raise ValueError(f"--core-kwargs: agent {agent!r} has no core (not a memory agent)")
    return spec
