"""The whole-sequence NTM node (agents/fused_sequence.py) against the step-wise core."""

import pytest
import torch

from agents import fused_sequence, fused_step
from agents.cores.base import CoreExtras, StepCore
from agents.cores.ntm import NTMCore

pytestmark = pytest.mark.skipif(not fused_step.available(), reason="the C++ kernel does not build")

CONFIGS = [
    {},
    {"read_heads": 2, "shift_range": 2},
    {"write_heads": 2, "head_clip": None},
    {"write_mode": "sequential", "read_stay_bias": 2.0},
    {"write_mode": "sequential", "write_heads": 2, "controller_output": False},
]


def run(core, x, state, starts, stepwise, x_grad=True):
    """Outputs, final state and the gradients of a loss on both, to the parameters, ``x``
    (if ``x_grad``; a policy's flattened observations need none) and the incoming state."""
    x = x.clone().requires_grad_(x_grad)
    state = type(state)(*(t.clone().requires_grad_() for t in state))
    forward = StepCore.forward if stepwise else NTMCore.forward
    y, final = forward(core, x, state, starts)
    loss = y.square().sum() + sum((t * (k + 1)).sin().sum() for k, t in enumerate(final))
    inputs = [*core.parameters(), *([x] if x_grad else []), *state]
    grads = torch.autograd.grad(loss, inputs, allow_unused=True)
    grads = [torch.zeros_like(t) if g is None else g for t, g in zip(inputs, grads, strict=True)]
    return [y, *final, *grads]


@pytest.mark.parametrize("kwargs", CONFIGS)
def test_sequence_node_equals_the_stepwise_core(float64, kwargs):
    """Episode starts at t = 0 for some rows and mid-way for others, a non-initial incoming
    state: the same outputs, final state and gradients (parameters, inputs, incoming state)
    to float64 rounding."""
    torch.manual_seed(0)
    core = NTMCore(5, 12, 6, controller_size=16, fused=True, **kwargs)
    x = torch.randn(9, 3, 5) * 3
    starts = torch.zeros(9, 3)
    starts[0, 0] = 1
    starts[4, 1] = 1
    starts[6] = 1
    with torch.no_grad():  # a state from earlier steps, not the initial one
        _, state = core(torch.randn(4, 3, 5), core.initial_state(3), torch.eye(4, 3))
    assert fused_sequence.sequence_applies(core, x, None)
    ours = run(core, x, state, starts, stepwise=False)
    theirs = run(core, x, state, starts, stepwise=True)
    for a, b in zip(ours, theirs, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-9, atol=1e-10)


def test_sequence_node_matches_in_float32_at_training_size():
    """The benchmark's core (128 x 20, 64-unit controller), batch 16, 32 steps, float32,
    observations without gradient (as from a policy's flatten)."""
    torch.manual_seed(1)
    core = NTMCore(11, 128, 20, controller_size=64, fused=True)
    x = torch.randn(32, 16, 11)
    starts = torch.zeros(32, 16)
    starts[0] = 1
    starts[20, :5] = 1
    ours = run(core, x, core.initial_state(16), starts, stepwise=False, x_grad=False)
    theirs = run(core, x, core.initial_state(16), starts, stepwise=True, x_grad=False)
    for a, b in zip(ours, theirs, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-3, atol=1e-5)


@pytest.mark.parametrize(
    "kwargs, grad, extras",
    [
        ({"fused": False}, True, None),
        ({}, False, None),
        ({}, True, CoreExtras(trace={})),
        ({"read_mode": "sample"}, True, None),
        ({"controller": "mlp"}, True, None),
        ({"state_grad_clip": 1.0}, True, None),
        ({"fused_sequence": False}, True, None),
    ],
)
def test_sequence_node_runs_only_where_it_applies(kwargs, grad, extras):
    """The aten path, rollouts without gradient, traces, sampled reads, the MLP controller,
    the state gradient clip and ``fused_sequence=False`` run step by step."""
    core = NTMCore(5, 12, 6, controller_size=16, **kwargs)
    with torch.set_grad_enabled(grad):
        assert not fused_sequence.sequence_applies(core, torch.zeros(3, 2, 5), extras)
