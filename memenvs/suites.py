"""Named suites: lists of registered ids, built from the registry table.

    >>> import memenvs.suites
    >>> memenvs.suites.TAPE
    ['memenvs/TapeCopy-v0', 'memenvs/TapeReverse-v0', ...]

- ``ALL``: every registered id (defaults and presets), in table order.
- ``DEFAULT``: every task's default id (``memenvs/<Task>-v0``).
- ``EASY``, ``MEDIUM``, ``HARD``: every task's preset of that difficulty.
- ``NTM``: the Neural Turing Machine tasks (Copy, RepeatCopy, AssociativeRecall,
  PrioritySort), default ids.
- ``TAPE``: the tape tasks with a moving read head (the gym "algorithmic" interfaces),
  default ids.
- ``POPGYM``, ``BSUITE``, ``CREDIT``: the tasks anchored in POPGym, in bsuite, and the
  long-term credit-assignment tasks (Hung et al. 2019), default ids.

``SUITES`` maps each name to its list and :func:`get` looks one up by name
(case-insensitive). Only registered tasks are listed, so every id here can be passed to
``gymnasium.make`` after ``import memenvs``.
"""

from __future__ import annotations

from memenvs.registry import NAMESPACE, TASKS, all_ids

_NTM_TASKS = ("Copy", "RepeatCopy", "AssociativeRecall", "PrioritySort")
_POPGYM_TASKS = ("RepeatPrevious", "CountRecall", "Concentration")
_BSUITE_TASKS = ("DelayedRecall", "MemorySize")
_CREDIT_TASKS = ("KeyToDoor", "PassiveVisualMatch")


def _defaults(names) -> list[str]:
    known = {entry.name for entry in TASKS}
    return [f"{NAMESPACE}/{name}-v0" for name in names if name in known]


def _preset(preset: str) -> list[str]:
    return [f"{NAMESPACE}/{e.name}-{preset}-v0" for e in TASKS if preset in e.presets]


ALL: list[str] = all_ids()
DEFAULT: list[str] = _defaults(entry.name for entry in TASKS)
EASY: list[str] = _preset("Easy")
MEDIUM: list[str] = _preset("Medium")
HARD: list[str] = _preset("Hard")
NTM: list[str] = _defaults(_NTM_TASKS)
TAPE: list[str] = _defaults(entry.name for entry in TASKS if entry.name.startswith("Tape"))
POPGYM: list[str] = _defaults(_POPGYM_TASKS)
BSUITE: list[str] = _defaults(_BSUITE_TASKS)
CREDIT: list[str] = _defaults(_CREDIT_TASKS)

SUITES: dict[str, list[str]] = {
    "all": ALL,
    "default": DEFAULT,
    "easy": EASY,
    "medium": MEDIUM,
    "hard": HARD,
    "ntm": NTM,
    "tape": TAPE,
    "popgym": POPGYM,
    "bsuite": BSUITE,
    "credit": CREDIT,
}


def get(name: str) -> list[str]:
    """The suite called ``name`` (case-insensitive), as a new list."""
    try:
        return list(SUITES[name.lower()])
    except KeyError:
        raise ValueError(f"unknown suite {name!r}; known suites: {sorted(SUITES)}") from None
