"""Argument checks for the agents package: one place, one message format.

Every check raises ``ValueError`` naming the argument and the allowed range. Integers may
be Python or numpy integers (never bools); numbers may be any real Python/numpy scalar.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Iterator
from typing import Any

import numpy as np
import torch


def allowed_range(low: float, high: float | None) -> str:
    """How a check's message states its range: ``>= low`` or ``in [low, high]``."""
    if low == -math.inf and high is None:
        return "(any finite value)"
    return f">= {low}" if high is None else f"in [{low}, {high}]"


def check_int(name: str, value: Any, low: int, high: int | None = None) -> int:
    """Return ``int(value)`` if it is an integer (not a bool) in ``[low, high]``."""
    if (
        isinstance(value, (bool, np.bool_))
        or not isinstance(value, (int, np.integer))
        or value < low
        or (high is not None and value > high)
    ):
        raise ValueError(f"{name} must be an integer {allowed_range(low, high)}, got {value!r}")
    return int(value)


#: Seeds numpy's legacy global seeding (which SB3's set_random_seed calls) accepts.
MAX_SEED = 2**32 - 1


def check_seed(seed: Any) -> int | None:
    """``seed`` if None or an integer in ``[0, 2**32 - 1]`` (numpy's error otherwise came from
    inside SB3's seeding, or a TypeError for a string)."""
    return None if seed is None else check_int("seed", seed, 0, MAX_SEED)


def check_positive(name: str, value: Any) -> int:
    return check_int(name, value, 1)


def _is_real(value: Any) -> bool:
    """A Python or numpy real number, not a bool."""
    return isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(
        value, (bool, np.bool_)
    )


def check_number(name: str, value: Any, low: float, high: float | None = None) -> float:
    """Return ``float(value)`` if it is a finite real number in ``[low, high]``."""
    if (
        not _is_real(value)
        or not math.isfinite(value)
        or value < low
        or (high is not None and value > high)
    ):
        raise ValueError(f"{name} must be a number {allowed_range(low, high)}, got {value!r}")
    return float(value)


def check_positive_number(
    name: str, value: Any, *, schedule: bool = False, allow_inf: bool = False
) -> Any:
    """Return ``value`` if it is a real number > 0 (finite unless ``allow_inf``), or, with
    ``schedule``, a callable (an SB3 schedule of the progress remaining)."""
    if schedule and callable(value):
        return value
    if not _is_real(value) or not value > 0 or (math.isinf(value) and not allow_inf):
        what = " or a schedule" if schedule else ""
        raise ValueError(f"{name} must be a number > 0{what}, got {value!r}")
    return value


def check_optional_positive(name: str, value: Any) -> Any:
    """Return ``value`` if it is ``None`` (switched off) or a real number ``> 0`` (not a
    bool): a clip bound."""
    if value is not None and not (_is_real(value) and value > 0):
        raise ValueError(f"{name} must be a number > 0 or None, got {value!r}")
    return value


def check_bool(name: str, value: Any) -> bool:
    """Return ``bool(value)`` if it is a bool (Python or numpy; not ``0``/``1`` or a string)."""
    if not isinstance(value, (bool, np.bool_)):
        raise ValueError(f"{name} must be one of (True, False), got {value!r}")
    return bool(value)


def check_choice(name: str, value: Any, choices: tuple) -> Any:
    if value not in choices:
        raise ValueError(f"{name} must be one of {choices}, got {value!r}")
    return value


DEVICE_FORMS = "'cpu', 'cuda', 'cuda:N', 'mps' or 'auto'"  # what check_device takes
_ACCELERATOR = {"cuda": "CUDA GPU", "mps": "MPS (Apple GPU) device"}


def check_device(device: str | torch.device) -> str | torch.device:
    """``device`` if it names a torch device this machine has, else ``ValueError``: a string
    ``torch.device`` cannot parse (``"auto"``, SB3's own, is the CUDA GPU if there is one,
    else the CPU), or an accelerator that is not here (no CUDA GPU, no ``cuda:N`` with that
    index, no MPS), instead of a ``RuntimeError`` deep inside or a silent CPU run."""
    if isinstance(device, str) and device == "auto":
        return device
    try:
        parsed = torch.device(device)
    except (RuntimeError, TypeError, ValueError):
        raise ValueError(f"device must be {DEVICE_FORMS}, got {device!r}") from None
    kind = parsed.type
    if kind == "cpu":
        return device
    what = _ACCELERATOR.get(kind, f"{kind} device")
    module = torch.backends.mps if kind == "mps" else getattr(torch, kind, None)
    is_available = getattr(module, "is_available", None)
    if not (callable(is_available) and is_available()):
        raise ValueError(f"device={device!r} was asked for but no {what} is available here")
    device_count = getattr(module, "device_count", None)
    count = device_count() if callable(device_count) else 1
    if parsed.index is not None and parsed.index >= count:
        raise ValueError(
            f"device={device!r} was asked for but this machine has {count} {what}(s), "
            f"{kind}:0 to {kind}:{count - 1}"
        )
    return device


@contextlib.contextmanager
def reading(path: Any, errors: tuple[type[BaseException], ...] = (Exception,)) -> Iterator[None]:
    """Turn ``errors`` raised inside into a ``ValueError`` naming the file: ``cannot read
    '<path>': <type>: <message>`` (a truncated, changed or foreign file)."""
    try:
        yield
    except errors as err:
        raise ValueError(f"cannot read {str(path)!r}: {type(err).__name__}: {err}") from err
