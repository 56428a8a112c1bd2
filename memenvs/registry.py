"""The one table every registered id comes from.

Each task is registered as ``memenvs/<Task>-v0`` (its defaults) and
``memenvs/<Task>-<Preset>-v0`` for the difficulty presets below; any knob can be passed as a
keyword to ``gymnasium.make`` / ``gymnasium.make_vec``. The README's task table and each
env's "Registered Configurations" docstring section are checked against this table.
"""

from __future__ import annotations

import importlib
import inspect
from dataclasses import dataclass, field
from typing import Any

import gymnasium as gym

NAMESPACE = "memenvs"
PRESETS = ("Easy", "Medium", "Hard")


@dataclass(frozen=True)
class TaskEntry:
    """One task: where its classes live and its preset knobs."""

    name: str
    module: str
    summary: str
    presets: dict[str, dict[str, Any]] = field(default_factory=dict)

    @property
    def env_entry_point(self) -> str:
        return f"{self.module}:{self.name}Env"

    @property
    def vector_entry_point(self) -> str:
        return f"{self.module}:{self.name}VectorEnv"

    def env_class(self) -> type:
        return getattr(importlib.import_module(self.module), f"{self.name}Env")

    def knobs(self) -> dict[str, Any]:
        """The task's knobs and their defaults, read from the task's constructor."""
        task_cls = self.env_class().task_cls
        params = inspect.signature(task_cls.__init__).parameters
        return {k: p.default for k, p in params.items() if k not in ("self", "num_envs")}

    def configurations(self) -> dict[str, dict[str, Any]]:
        """``{env_id: kwargs}`` for the default id and every preset."""
        configs = {f"{NAMESPACE}/{self.name}-v0": {}}
        for preset in PRESETS:
            if preset in self.presets:
                configs[f"{NAMESPACE}/{self.name}-{preset}-v0"] = dict(self.presets[preset])
        return configs


TASKS: tuple[TaskEntry, ...] = (
    TaskEntry(
        "DelayedRecall",
        "memenvs.envs.delayed_recall",
        "a cue among K symbols, D distractor steps, then a query",
        {
            "Easy": {"delay": 8},
            "Medium": {"delay": 64, "noise": True},
            "Hard": {"delay": 1024, "num_symbols": 8, "noise": True},
        },
    ),
    TaskEntry(
        "TMaze",
        "memenvs.envs.tmaze",
        "a cue at the start of a corridor of length L decides the arm at the end",
        {
            "Easy": {"length": 8},
            "Medium": {"length": 64},
            "Hard": {"length": 512, "active": True},
        },
    ),
    TaskEntry(
        "Copy",
        "memenvs.envs.copy",
        "read a sequence of L symbols, then write it back (NTM copy)",
        {
            "Easy": {"min_length": 1, "max_length": 5},
            "Medium": {"min_length": 5, "max_length": 20},
            "Hard": {"min_length": 100, "max_length": 200},
        },
    ),
    TaskEntry(
        "RepeatCopy",
        "memenvs.envs.repeat_copy",
        "read a sequence and a repeat count, write the sequence that many times",
        {
            "Easy": {"min_length": 1, "max_length": 3, "min_repeats": 1, "max_repeats": 3},
            "Medium": {"min_length": 2, "max_length": 10, "min_repeats": 1, "max_repeats": 10},
            "Hard": {"min_length": 50, "max_length": 100, "min_repeats": 2, "max_repeats": 5},
        },
    ),
    TaskEntry(
        "AssociativeRecall",
        "memenvs.envs.associative_recall",
        "a list of key-value items, then a key: name its value",
        {
            "Easy": {"num_symbols": 8, "min_items": 2, "max_items": 4},
            "Medium": {"num_symbols": 32, "min_items": 4, "max_items": 16},
            "Hard": {"num_symbols": 512, "min_items": 128, "max_items": 256},
        },
    ),
    TaskEntry(
        "RepeatPrevious",
        "memenvs.envs.repeat_previous",
        "at every step name the symbol seen k steps back",
        {
            "Easy": {"k": 2, "length": 32},
            "Medium": {"k": 16, "length": 128},
            "Hard": {"k": 256, "length": 1024},
        },
    ),
    TaskEntry(
        "TapeCopy",
        "memenvs.envs.tape_copy",
        "read a tape with a moving head, then write it out (gym Copy)",
        {
            "Easy": {"min_length": 2, "max_length": 4},
            "Medium": {"min_length": 8, "max_length": 16},
            "Hard": {"min_length": 100, "max_length": 200},
        },
    ),
    TaskEntry(
        "TapeReverse",
        "memenvs.envs.tape_reverse",
        "read a tape with a moving head, then write it out backwards (gym Reverse)",
        {
            "Easy": {"min_length": 2, "max_length": 4},
            "Medium": {"base": 4, "min_length": 8, "max_length": 16},
            "Hard": {"base": 4, "min_length": 100, "max_length": 200},
        },
    ),
    TaskEntry(
        "TapeDuplicatedInput",
        "memenvs.envs.tape_duplicated_input",
        "a tape of repeated symbols: write each one once (gym DuplicatedInput)",
        {
            "Easy": {"min_length": 1, "max_length": 3},
            "Medium": {"min_length": 8, "max_length": 16, "duplication": 3},
            "Hard": {"min_length": 100, "max_length": 200},
        },
    ),
    TaskEntry(
        "TapeRepeatCopy",
        "memenvs.envs.tape_repeat_copy",
        "read a tape, write it forwards, backwards, forwards (gym RepeatCopy)",
        {
            "Easy": {"min_length": 1, "max_length": 3},
            "Medium": {"min_length": 6, "max_length": 12},
            "Hard": {"min_length": 64, "max_length": 128},
        },
    ),
    TaskEntry(
        "TapeReversedAddition",
        "memenvs.envs.tape_reversed_addition",
        "read numbers digit by digit on a grid, then write their sum (gym ReversedAddition)",
        {
            "Easy": {"min_length": 1, "max_length": 3},
            "Medium": {"rows": 3, "min_length": 6, "max_length": 12},
            "Hard": {"rows": 3, "min_length": 100, "max_length": 200},
        },
    ),
    TaskEntry(
        "CountRecall",
        "memenvs.envs.count_recall",
        "at every step, how many times has the symbol shown been seen before?",
        {
            "Easy": {"num_symbols": 2, "length": 8},
            "Medium": {"num_symbols": 4, "length": 64},
            "Hard": {"num_symbols": 8, "length": 512},
        },
    ),
    TaskEntry(
        "MemorySize",
        "memenvs.envs.memory_size",
        "many bits shown at once, one queried after a short delay (bsuite memory_size)",
        {
            "Easy": {"num_bits": 3, "delay": 2},
            "Medium": {"num_bits": 32, "delay": 8},
            "Hard": {"num_bits": 256, "delay": 256},
        },
    ),
    TaskEntry(
        "PrioritySort",
        "memenvs.envs.priority_sort",
        "read items with priorities, write them out highest priority first (NTM)",
        {
            "Easy": {"min_length": 1, "max_length": 4},
            "Medium": {"min_length": 8, "max_length": 20},
            "Hard": {"num_symbols": 16, "min_length": 100, "max_length": 200},
        },
    ),
    TaskEntry(
        "Concentration",
        "memenvs.envs.concentration",
        "flip cards two at a time to find the pairs (POPGym Concentration)",
        {
            "Easy": {"num_pairs": 2},
            "Medium": {"num_pairs": 8},
            "Hard": {"num_pairs": 64},
        },
    ),
    TaskEntry(
        "KeyToDoor",
        "memenvs.envs.key_to_door",
        "pick up a coloured key, a distractor room, then open the door of its colour",
        {
            "Easy": {"delay": 2},
            "Medium": {"delay": 64},
            "Hard": {"delay": 500, "num_colors": 5},
        },
    ),
    TaskEntry(
        "PassiveVisualMatch",
        "memenvs.envs.passive_visual_match",
        "see a colour, a distractor room, then step onto the square of that colour",
        {
            "Easy": {"delay": 2},
            "Medium": {"delay": 64},
            "Hard": {"delay": 500, "num_colors": 5},
        },
    ),
    TaskEntry(
        "EndlessRecall",
        "memenvs.envs.endless_recall",
        "recall trials one after another with growing delays, until a mistake",
        {
            "Easy": {"num_queries": 4, "start_delay": 1, "delay_growth": 1},
            "Medium": {"num_queries": 8, "start_delay": 4, "delay_growth": 8},
            "Hard": {"num_queries": 6, "start_delay": 32, "delay_growth": 64},
        },
    ),
)


def all_ids() -> list[str]:
    """Every registered memenvs id, in table order."""
    return [env_id for entry in TASKS for env_id in entry.configurations()]


def entry_for(env_id: str) -> TaskEntry:
    """The table row behind a registered id (``memenvs/<Task>[-<Preset>]-v0``)."""
    for entry in TASKS:
        if env_id in entry.configurations():
            return entry
    raise ValueError(f"{env_id!r} is not a registered memenvs id; known: {all_ids()}")


def register_all() -> None:
    """Register every task and preset with Gymnasium (idempotent)."""
    for entry in TASKS:
        for env_id, kwargs in entry.configurations().items():
            if env_id in gym.registry:
                continue
            gym.register(
                id=env_id,
                entry_point=entry.env_entry_point,
                vector_entry_point=entry.vector_entry_point,
                kwargs=kwargs,
            )


def configurations_markdown() -> str:
    """The Markdown table of every registered id and its knobs (used by README and docs)."""
    lines = ["| id | knobs |", "| --- | --- |"]
    for entry in TASKS:
        defaults = entry.knobs()
        for env_id, kwargs in entry.configurations().items():
            knobs = {**defaults, **kwargs}
            text = ", ".join(f"`{k}={v!r}`" for k, v in knobs.items())
            lines.append(f"| `{env_id}` | {text} |")
    return "\n".join(lines)
