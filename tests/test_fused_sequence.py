"""The whole-sequence NTM node (agents/fused_sequence.py) against the step-wise core."""

import gc
import weakref

import pytest
import torch
from torch.utils.checkpoint import checkpoint

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
    {"read_content": False, "read_heads": 2},
]


def run(core, x, state, starts, stepwise, x_grad=True, replay=None, expected=False):
    """Outputs, final state and the gradients of a loss on both, to the parameters, ``x``
    (if ``x_grad``; a policy's flattened observations need none) and the incoming state; with
    ``replay`` (sampled reads) also the log-probabilities and entropies (and with
    ``expected`` the expected reads' output), in the loss too."""
    x = x.clone().requires_grad_(x_grad)
    state = type(state)(*(t.clone().requires_grad_() for t in state))
    extras = CoreExtras(replay=replay, expected=expected)
    forward = StepCore.forward if stepwise else NTMCore.forward
    y, final = forward(core, x, state, starts, extras)
    loss = y.square().sum() + sum((t * (k + 1)).sin().sum() for k, t in enumerate(final))
    sampled = [] if replay is None else [extras.log_prob, extras.entropy]
    sampled += [extras.expected_y] if expected else []
    loss = loss + sum((t * (k + 2)).cos().sum() for k, t in enumerate(sampled))
    inputs = [*core.parameters(), *([x] if x_grad else []), *state]
    grads = torch.autograd.grad(loss, inputs, allow_unused=True)
    grads = [torch.zeros_like(t) if g is None else g for t, g in zip(inputs, grads, strict=True)]
    return [y, *final, *sampled, *grads]


SAMPLED_CONFIGS = [
    {},
    {"read_heads": 2, "shift_range": 2, "straight_through": True},
    {"write_mode": "sequential", "straight_through": True, "read_stay_bias": 1.0},
    {"write_mode": "sequential", "memory_slots": 32, "controller_output": False,
     "straight_through": True},
    {"write_mode": "sequential", "straight_through": True, "read_content": False},
]  # fmt: skip


def sequence_case(kwargs):
    """A small fused core, 9 steps of 3 rows with episode starts at t = 0 for one row, mid-way
    for another and at t = 6 for all, and a non-initial incoming state."""
    torch.manual_seed(0)
    core = NTMCore(5, kwargs.pop("memory_slots", 12), 6, controller_size=16, fused=True, **kwargs)
    x = torch.randn(9, 3, 5) * 3
    starts = torch.zeros(9, 3)
    starts[0, 0] = 1
    starts[4, 1] = 1
    starts[6] = 1
    with torch.no_grad():  # a state from earlier steps, not the initial one
        warm = CoreExtras()
        _, state = core(torch.randn(4, 3, 5), core.initial_state(3), torch.eye(4, 3), warm)
    return core, x, state, starts


@pytest.mark.parametrize("kwargs", CONFIGS)
def test_sequence_node_equals_the_stepwise_core(float64, kwargs, row_blocks):
    """The same outputs, final state and gradients (parameters, inputs, incoming state) to
    float64 rounding, in one call and in blocks of rows."""
    core, x, state, starts = sequence_case(dict(kwargs))
    assert fused_sequence.sequence_applies(core, x, None)
    ours = run(core, x, state, starts, stepwise=False)
    theirs = run(core, x, state, starts, stepwise=True)
    for a, b in zip(ours, theirs, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-9, atol=1e-10)


@pytest.mark.parametrize("expected", [False, True])
@pytest.mark.parametrize("kwargs", SAMPLED_CONFIGS)
def test_sequence_node_replays_sampled_reads_as_the_stepwise_core(
    float64, kwargs, expected, row_blocks
):
    """Sampled reads, replaying slots drawn step by step: the same outputs, state,
    log-probabilities, entropies (and expected reads, CoreExtras.expected) and gradients
    through all of them (with and without straight-through) to float64 rounding."""
    core, x, state, starts = sequence_case({"read_mode": "sample", **kwargs})
    drawn = CoreExtras()
    with torch.no_grad():
        core(x, state, starts, drawn)
    assert drawn.actions.unique().numel() > 1  # the draws moved between slots
    assert fused_sequence.sequence_applies(core, x, CoreExtras(replay=drawn.actions))
    ours = run(core, x, state, starts, stepwise=False, replay=drawn.actions, expected=expected)
    theirs = run(core, x, state, starts, stepwise=True, replay=drawn.actions, expected=expected)
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


REPLAY = torch.zeros(3, 2, 2, dtype=torch.long)


@pytest.mark.parametrize(
    "kwargs, grad, extras",
    [
        ({"fused": False}, True, None),
        ({}, False, None),
        ({}, True, CoreExtras(trace={})),
        ({"read_mode": "sample"}, True, None),  # sampling: nothing to replay
        ({"read_mode": "sample", "write_mode": "sample"}, True, CoreExtras(replay=REPLAY)),
        ({"controller": "mlp"}, True, None),
        ({"state_grad_clip": 1.0}, True, None),
        ({"fused_sequence": False}, True, None),
    ],
)
def test_sequence_node_runs_only_where_it_applies(kwargs, grad, extras):
    """The aten path, rollouts without gradient, traces, sampled reads not replayed, sampled
    writes, the MLP controller, the state gradient clip and ``fused_sequence=False`` run step
    by step."""
    core = NTMCore(5, 12, 6, controller_size=16, **kwargs)
    with torch.set_grad_enabled(grad):
        assert not fused_sequence.sequence_applies(core, torch.zeros(3, 2, 5), extras)


@pytest.mark.parametrize("kwargs", [{}, {"read_mode": "sample", "write_mode": "sequential"}])
def test_sequence_node_leaves_the_incoming_state_untouched(kwargs):
    """Resets write only the started rows, in place where no one else holds the tensor: the
    caller's state (reset at t = 0 for row 0 here) must come back unchanged."""
    core, x, state, starts = sequence_case(dict(kwargs))
    before = [t.clone() for t in state]
    core(x, state, starts, CoreExtras())
    for got, want in zip(state, before, strict=True):
        assert torch.equal(got, want)


def test_pooled_step_and_sequence_buffers_never_alias_live_outputs(float64):
    """The sequence's buffers and every step's outputs come from the buffer pool: a result
    still held (here a whole forward + backward's) is never written over by later calls, and
    the same shapes again reuse the freed blocks instead of growing the pool."""
    ext = fused_step.load()
    core, x, state, starts = sequence_case({})
    ext.release_pool()
    kept = run(core, x, state, starts, stepwise=False)
    copies = [t.clone() for t in kept]
    run(core, x * 0.5, state, starts, stepwise=False)
    free_after_one = ext.pooled_free_bytes()
    assert free_after_one > 0
    for _ in range(3):
        run(core, x * 0.5, state, starts, stepwise=False)
    assert ext.pooled_free_bytes() == free_after_one
    for got, want in zip(kept, copies, strict=True):
        torch.testing.assert_close(got, want, rtol=0, atol=0)
    for got, want in zip(kept, run(core, x, state, starts, stepwise=True), strict=True):
        torch.testing.assert_close(got, want, rtol=1e-10, atol=1e-12)
    ext.release_pool()


def test_sequence_node_rejects_inputs_and_states_of_the_wrong_shape():
    """x with too few features used to run with misaligned read weights, and a state with
    fewer rows than x was read past its end."""
    core, x, state, starts = sequence_case({})
    with pytest.raises(ValueError, match=r"w_ih must have shape \[64, 10\]"):
        fused_sequence.ntm_sequence(core, x[..., :4], state, starts)
    short = type(state)(*(t[:2] for t in state))
    with pytest.raises(ValueError, match=r"h must have shape \[3, 16\], got \[2, 16\]"):
        fused_sequence.ntm_sequence(core, x, short, starts)


def test_sequence_node_rejects_starts_of_the_wrong_shape():
    """The loops read the starts by pointer: a [T, B] mismatch must fail, not read past."""
    core, x, state, starts = sequence_case({})
    for bad in (starts[:-1], starts[:, :2], starts.reshape(-1)):
        with pytest.raises(RuntimeError, match=r"starts must be bool \[T, B\]"):
            fused_sequence.ntm_sequence(core, x, state, bad)


def test_a_sequence_runs_in_one_block_per_thread_of_at_least_min_block_rows():
    threads = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        assert fused_step.row_blocks(256) == 1
        torch.set_num_threads(2)
        assert fused_step.row_blocks(64) == 2
        assert fused_step.row_blocks(2 * fused_step.MIN_BLOCK_ROWS - 1) == 1
        torch.set_num_threads(3)
        assert fused_step.row_blocks(2 * fused_step.MIN_BLOCK_ROWS) == 2
    finally:
        torch.set_num_threads(threads)


def test_blocks_at_training_size_match_one_call_in_float32(monkeypatch):
    """The benchmark's core, batch 64 in 2 and 4 blocks against one call: float rounding only
    (each block sums its own weight gradients)."""
    torch.manual_seed(2)
    core = NTMCore(11, 128, 20, controller_size=64, fused=True)
    x = torch.randn(16, 64, 11)
    starts = (torch.rand(16, 64, generator=torch.Generator().manual_seed(3)) < 0.1).float()
    starts[0] = 1
    results = {}
    for k in (1, 2, 4):
        monkeypatch.setattr(fused_step, "row_blocks", lambda batch, k=k: k)
        results[k] = run(core, x, core.initial_state(64), starts, stepwise=False, x_grad=False)
    for k in (2, 4):
        for a, b in zip(results[1], results[k], strict=True):
            torch.testing.assert_close(b, a, rtol=1e-3, atol=1e-5)


def test_blocks_reject_states_of_the_wrong_rows_and_a_bad_block_count(monkeypatch):
    core, x, state, starts = sequence_case({})
    monkeypatch.setattr(fused_step, "row_blocks", lambda batch: 3)
    short = type(state)(*(t[:2] for t in state))
    with pytest.raises(ValueError, match=r"h must have B = 3 rows \(x's batch\)"):
        fused_sequence.ntm_sequence(core, x, short, starts)
    with pytest.raises(RuntimeError, match=r"starts must be bool \[T, B\]"):
        fused_sequence.ntm_sequence(core, x, state, starts[:, :2])
    monkeypatch.setattr(fused_step, "row_blocks", lambda batch: 4)
    with pytest.raises(ValueError, match=r"blocks must be in \[1, B = 3\], got 4"):
        fused_sequence.ntm_sequence(core, x, state, starts)


def test_checkpointing_sees_and_frees_every_saved_tensor(monkeypatch):
    """Under saved-tensor hooks (bptt_checkpoint's checkpointing) every tensor the sequence
    keeps for its backward passes the hooks, in one call and in blocks: each block's 6 and
    its 13 per step (they once stayed in C++ out of the hooks' sight, so checkpointing the NTM
    freed nothing). A hook that drops them frees all but the caller's own: x and the weights."""
    core, x, state, starts = sequence_case({})
    T, counts = x.shape[0], {}
    for blocks in (1, 3):
        monkeypatch.setattr(fused_step, "row_blocks", lambda batch, k=blocks: k)
        packed = []
        hooks = torch.autograd.graph.saved_tensors_hooks
        with hooks(lambda t, p=packed: p.append(weakref.ref(t)), lambda _: None):
            out = fused_sequence.ntm_sequence(core, x.requires_grad_(), state, starts)
        gc.collect()
        alive = {id(ref()) for ref in packed if ref() is not None}
        lstm = core.controller
        assert alive == {id(t) for t in (x, lstm.weight_ih, lstm.weight_hh, core.head_proj.weight)}
        counts[blocks] = len(packed)
        del out
    assert counts[3] - counts[1] == 2 * (6 + 13 * T)  # two more blocks' saved tensors


def test_saved_tensor_hooks_active_says_when_hooks_see_saved_tensors():
    assert not fused_step.saved_tensor_hooks_active()
    with torch.autograd.graph.saved_tensors_hooks(lambda t: t, lambda t: t):
        assert fused_step.saved_tensor_hooks_active()
    seen = []
    checkpoint(  # as bptt_checkpoint runs a chunk
        lambda x: seen.append(fused_step.saved_tensor_hooks_active()) or x * 2,
        torch.ones(2, requires_grad=True),
        use_reentrant=False,
    )
    assert seen == [True]
