"""The memory-core protocol every core implements."""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import nn

from agents.cores.state import State, reset_where


@dataclass
class CoreExtras:
    """Optional inputs and outputs of ``MemoryCore.forward`` beyond ``(y, state)``.

    Inputs: ``replay`` (internal actions ``[T, B, R]`` to teacher-force instead of
    sampling) and ``deterministic`` (argmax instead of sampling). Outputs, filled by cores
    that make internal stochastic decisions: ``actions [T, B, R]``, ``log_prob [T, B]``,
    ``entropy [T, B]``; and by any core when ``trace`` is a dict: per-step diagnostics
    (lists of tensors, e.g. read/write weightings ``[B, heads, N]``).
    """

    replay: torch.Tensor | None = None
    deterministic: bool = False
    actions: torch.Tensor | None = None
    log_prob: torch.Tensor | None = None
    entropy: torch.Tensor | None = None
    trace: dict[str, list[torch.Tensor]] | None = field(default=None)


class MemoryCore(nn.Module):
    """A recurrent memory: ``forward(x[T, B, F], state, starts[T, B]) -> (y[T, B, H], state)``.

    State is explicit (nested tuples of tensors, batch on axis 0); an episode start resets
    that row to ``initial_state`` before the step is processed. Cores with internal
    stochastic decisions set ``internal_action_dims`` (one categorical choice per entry,
    sizes in ``internal_action_nvec``) and read/write a :class:`CoreExtras`.
    """

    output_size: int
    internal_action_nvec: tuple[int, ...] = ()

    def initial_state(self, batch_size: int, device: torch.device | str | None = None) -> State:
        raise NotImplementedError

    def forward(
        self,
        x: torch.Tensor,
        state: State,
        episode_starts: torch.Tensor,
        extras: CoreExtras | None = None,
    ) -> tuple[torch.Tensor, State]:
        raise NotImplementedError

    def reset_where(self, state: State, starts: torch.Tensor) -> State:
        """Reset the rows of ``state`` where ``starts[B]`` is true to the initial state."""
        return reset_where(state, self.initial_state(starts.shape[0], starts.device), starts)


def check_int(name: str, value: int, low: int) -> int:
    """Return ``value`` if it is an int (not a bool) ``>= low``, else raise ValueError."""
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        raise ValueError(f"{name} must be an integer >= {low}, got {value!r}")
    return value


def check_positive(name: str, value: int) -> int:
    return check_int(name, value, 1)
