"""Explicit recurrent state: nested tuples (NamedTuples included) of tensors, batch on axis 0.

The trainer treats a core's state as an opaque structure it can map over, index by batch
row, store and restore; these helpers are all it needs.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch

State = Any  # a Tensor, or a (Named)tuple / list of States


def tree_map(fn: Callable[..., torch.Tensor], state: State, *others: State) -> State:
    """Apply ``fn`` leaf-wise over one or more states of the same structure."""
    if isinstance(state, torch.Tensor):
        return fn(state, *others)
    if isinstance(state, tuple) and hasattr(state, "_fields"):  # NamedTuple
        return type(state)(*(tree_map(fn, *leaves) for leaves in zip(state, *others, strict=True)))
    if isinstance(state, (tuple, list)):
        return type(state)(tree_map(fn, *leaves) for leaves in zip(state, *others, strict=True))
    if state is None:
        return None
    raise TypeError(f"state leaves must be tensors, got {type(state).__name__}")


def tree_leaves(state: State) -> list[torch.Tensor]:
    """The tensors of a state, in a fixed order."""
    if isinstance(state, torch.Tensor):
        return [state]
    if state is None:
        return []
    return [leaf for sub in state for leaf in tree_leaves(sub)]


def reset_where(state: State, initial: State, mask: torch.Tensor) -> State:
    """Rows where ``mask[B]`` is true take the initial state: ``torch.where``, never ``* 0``."""

    def pick(current: torch.Tensor, init: torch.Tensor) -> torch.Tensor:
        m = mask.view(-1, *([1] * (current.dim() - 1)))
        return torch.where(m, init, current)

    return tree_map(pick, state, initial)


def index_rows(state: State, rows: torch.Tensor | slice) -> State:
    """The sub-state of the given batch rows."""
    return tree_map(lambda t: t[rows], state)


def cat_rows(states: list[State]) -> State:
    """Concatenate states along the batch axis."""
    return tree_map(lambda *ts: torch.cat(ts, dim=0), *states)


def detach(state: State) -> State:
    return tree_map(lambda t: t.detach(), state)
