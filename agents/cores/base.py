"""The memory-core protocol every core implements, and a base class for step-wise cores.

A core is a ``torch.nn.Module`` with four things (see :class:`MemoryCore`):

* ``output_size`` (int): features per step of ``y``;
* ``internal_action_nvec`` (tuple of ints, default ``()``): one categorical internal
  decision per entry (e.g. a sampled memory slot), each with that many choices; such a core
  fills ``CoreExtras`` (the decisions, their log-probs and entropies, and when asked the
  expected output, the baseline of its decisions);
* ``initial_state(batch_size, device) -> State``: a nested (Named)tuple of tensors, batch on
  axis 0 (learned where the paper says so);
* ``forward(x[T, B, F], state, episode_starts[T, B], extras=None) -> (y[T, B, H], state)``:
  a start resets that row to ``initial_state`` *before* the step is processed.

Optionally ``diagnostics(trace, images) -> Diagnostics`` turns the per-step trace a core recorded
(``CoreExtras.trace``) into named scalars and images for TensorBoard; ``traces = True``
tells the trainer the core records one (otherwise it never reruns the core to ask).

A core that is defined by one time step subclasses :class:`StepCore` and writes ``step``;
the base runs the loop with resets. The README has a worked example.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import NamedTuple

import numpy as np
import torch
from torch import nn

from agents.checks import check_int, check_positive
from agents.cores.state import State, reset_where

__all__ = [
    "MAX_SIZE",
    "check_sequence",
    "CoreExtras",
    "Diagnostics",
    "MemoryCore",
    "StepCore",
    "StepOutput",
    "check_int",
    "check_positive",
]

# upper bound of a core's sizes (features, slots, widths, hidden units): far above any use,
# low enough that a typo (10**12) is a clear ValueError, not an allocator error
MAX_SIZE = 10**7


def check_sequence(x: torch.Tensor, episode_starts: torch.Tensor) -> None:
    """A core's inputs: ``x [T, B, F]`` and ``episode_starts [T, B]``, or a ValueError naming
    both shapes (a starts tensor of another shape could broadcast or index silently)."""
    if x.dim() != 3 or tuple(episode_starts.shape) != tuple(x.shape[:2]):
        raise ValueError(
            f"a core needs x [T, B, F] and episode_starts [T, B], got x {tuple(x.shape)} and "
            f"episode_starts {tuple(episode_starts.shape)}"
        )


@dataclass
class CoreExtras:
    """Optional inputs and outputs of ``MemoryCore.forward`` beyond ``(y, state)``.

    Inputs: ``replay`` (internal actions ``[T, B, R]`` to teacher-force instead of
    sampling), ``deterministic`` (argmax instead of sampling) and ``expected`` (also fill
    ``expected_y``). Outputs, filled by cores with internal stochastic decisions
    (``internal_action_nvec`` non-empty): ``actions [T, B, R]``, ``log_prob [T, B]``,
    ``entropy [T, B]``, and if asked ``expected_y [T, B, output_size]``: ``y`` with every
    sampled read replaced by its expectation under the weighting it was drawn from (weights
    detached), so a function of the state before step t's decisions only, a baseline for
    them that does not depend on them; and by any core when ``trace`` is a dict: per-step
    diagnostics (lists of tensors, e.g. read/write weightings ``[B, heads, N]``).
    """

    replay: torch.Tensor | None = None
    deterministic: bool = False
    actions: torch.Tensor | None = None
    log_prob: torch.Tensor | None = None
    entropy: torch.Tensor | None = None
    trace: dict[str, list[torch.Tensor]] | None = field(default=None)
    expected: bool = False
    expected_y: torch.Tensor | None = None


def run_in_time_blocks(
    forward: Callable[..., tuple[torch.Tensor, State]],
    x: torch.Tensor,
    state: State,
    episode_starts: torch.Tensor,
    extras: CoreExtras | None,
    steps: int,
) -> tuple[torch.Tensor, State]:
    """``forward(x, state, episode_starts, extras)`` over ``x [T, B, F]`` as consecutive
    blocks of ``steps`` steps, each from the state the previous one returned: ``(y [T, B,
    Y], state)``. ``extras``: each block replays its slice of ``replay``, appends to the
    same ``trace``, and the blocks' ``actions``, ``log_prob``, ``entropy`` (and
    ``expected_y``) are joined over time. One call where ``T <= steps``."""
    if x.shape[0] <= steps:
        return forward(x, state, episode_starts, extras)
    ys, outputs = [], []
    for a in range(0, x.shape[0], steps):
        part = None
        if extras is not None:
            replay = None if extras.replay is None else extras.replay[a : a + steps]
            part = CoreExtras(
                replay, extras.deterministic, trace=extras.trace, expected=extras.expected
            )
        y, state = forward(x[a : a + steps], state, episode_starts[a : a + steps], part)
        ys.append(y)
        if part is not None and part.actions is not None:
            outputs.append((part.actions, part.log_prob, part.entropy, part.expected_y))
    if outputs:
        extras.actions, extras.log_prob, extras.entropy, extras.expected_y = (
            None if o[0] is None else torch.cat(o) for o in zip(*outputs, strict=True)
        )
    return torch.cat(ys), state


@dataclass
class Diagnostics:
    """What a core hands the trainer to log: scalars and ``[H, W]`` uint8 images."""

    scalars: dict[str, float] = field(default_factory=dict)
    images: dict[str, np.ndarray] = field(default_factory=dict)


class MemoryCore(nn.Module):
    """A recurrent memory: ``forward(x[T, B, F], state, starts[T, B], extras) -> (y, state)``.

    ``y`` is ``[T, B, output_size]``. State is explicit (nested tuples of tensors, batch on
    axis 0); nothing hides in the module between calls, so a stored state replays exactly.
    An episode start resets that row to ``initial_state`` (``torch.where``, not ``* 0``)
    before the step. Cores with internal stochastic decisions set ``internal_action_nvec``
    and read ``extras.replay`` / fill ``extras.actions, log_prob, entropy`` (and
    ``expected_y`` when ``extras.expected`` asks: the reads' baseline, see CoreExtras).
    """

    output_size: int
    internal_action_nvec: tuple[int, ...] = ()
    traces: bool = False  # True if forward records per-step diagnostics into extras.trace

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

    def diagnostics(
        self, trace: dict[str, list[torch.Tensor]], images: bool = False
    ) -> Diagnostics:
        """Scalars (and images if asked) from a trace of one env column (default: nothing)."""
        return Diagnostics()

    def empty_output(self, x: torch.Tensor, extras: CoreExtras | None = None) -> torch.Tensor:
        """``y [T, B, output_size]`` (zeros) for a sequence with no step or no row (``x [T,
        B, F]``, ``T`` or ``B`` zero); the state passes unchanged, and a core with internal
        decisions gives ``extras`` empty ``actions [T, B, R]``, ``log_prob``, ``entropy``."""
        T, B = x.shape[:2]
        if extras is not None and self.internal_action_nvec:
            R = len(self.internal_action_nvec)
            extras.actions = torch.zeros(T, B, R, dtype=torch.long, device=x.device)
            extras.log_prob, extras.entropy = x.new_zeros(T, B), x.new_zeros(T, B)
        return x.new_zeros(T, B, self.output_size)


class StepOutput(NamedTuple):
    """One step of a :class:`StepCore`: ``y [B, H]``, the new state, and for cores with
    internal decisions ``actions [B, R]``, ``log_prob [B]``, ``entropy [B]`` and, when
    ``extras.expected`` asks for it, ``expected_y [B, H]`` (see :class:`CoreExtras`)."""

    y: torch.Tensor
    state: State
    actions: torch.Tensor | None = None
    log_prob: torch.Tensor | None = None
    entropy: torch.Tensor | None = None
    expected_y: torch.Tensor | None = None


class StepCore(MemoryCore):
    """A core defined by one time step; this base runs the time loop with resets.

    Subclasses write ``initial_state`` and ``step(x[B, F], state, replay[B, R] | None,
    extras) -> StepOutput``; ``trace_step(state)`` may return per-step tensors to trace.
    """

    def step(
        self, x: torch.Tensor, state: State, replay: torch.Tensor | None, extras: CoreExtras | None
    ) -> StepOutput:
        raise NotImplementedError

    def trace_step(self, state: State) -> dict[str, torch.Tensor]:
        """Tensors ``[B, ...]`` to record after each step when a trace is asked for."""
        return {}

    def forward(
        self,
        x: torch.Tensor,
        state: State,
        episode_starts: torch.Tensor,
        extras: CoreExtras | None = None,
    ) -> tuple[torch.Tensor, State]:
        check_sequence(x, episode_starts)
        T, B = x.shape[:2]
        if T == 0 or B == 0:
            return self.empty_output(x, extras), state
        initial = None  # built at the first start only (most rollout steps have none)
        starts = episode_starts.bool()
        replay = None if extras is None else extras.replay
        trace = None if extras is None else extras.trace
        any_start = starts.any(dim=1).tolist()  # one host sync per call, not one per step
        ys, outs = [], []
        for t in range(T):
            if any_start[t]:
                initial = self.initial_state(B, x.device) if initial is None else initial
                state = reset_where(state, initial, starts[t])
            out = self.step(x[t], state, None if replay is None else replay[t], extras)
            state = out.state
            ys.append(out.y)
            outs.append(out)
            if trace is not None:
                for name, value in self.trace_step(state).items():
                    trace.setdefault(name, []).append(value.detach())
        if extras is not None and self.internal_action_nvec:
            extras.actions = torch.stack([o.actions for o in outs])
            extras.log_prob = torch.stack([o.log_prob for o in outs])
            extras.entropy = torch.stack([o.entropy for o in outs])
            if extras.expected:
                extras.expected_y = torch.stack([o.expected_y for o in outs])
        return torch.stack(ys), state
