"""The C++ LSTM and GRU sequences (agents/fused_rnn.py) against nn.LSTM and nn.GRU, and where
LSTMCore and GRUCore use them."""

import pytest
import torch

from agents import fused_rnn, fused_step
from agents.cores import GRUCore, LSTMCore, LSTMState

pytestmark = pytest.mark.skipif(not fused_step.available(), reason="the C++ kernel does not build")


CORES = [LSTMCore, GRUCore]


def rnn_case(cls=LSTMCore, layers=1, dtype=torch.float64, T=11, B=4, F=5, C=6, std=0.5):
    """A fused core and a torch-layer one of class ``cls`` with the same weights (drawn from
    N(0, std), biases too; ``std=None``: the core's own init), inputs, episode starts at t = 0
    for one row, mid-way for another and at t = 7 for all, and a non-zero incoming state."""
    torch.manual_seed(0)
    fused = cls(F, C, num_layers=layers).to(dtype)
    with torch.no_grad():
        for p in fused.parameters() if std else []:
            p.normal_(0.0, std)
    reference = cls(F, C, num_layers=layers, fused=False).to(dtype)
    reference.load_state_dict(fused.state_dict())
    x = torch.randn(T, B, F, dtype=dtype) * 2
    starts = torch.zeros(T, B)
    starts[0, 0] = 1
    starts[T // 2, 1] = 1
    starts[7 % T] = 1
    state = fused.state_cls(
        *(torch.randn(B, layers, C, dtype=dtype) for _ in fused.state_cls._fields)
    )
    return fused, reference, x, starts, state


def outputs_and_grads(core, x, starts, state, loss_on=("y", "h", "c")):
    """y, the final state and the gradients of a loss on them (those named in ``loss_on``; a
    GRU has no ``c``) to the parameters, ``x`` and the incoming state."""
    x = x.clone().requires_grad_()
    state = type(state)(*(t.clone().requires_grad_() for t in state))
    y, final = core(x, state, starts)
    terms = {"y": y.square().sum(), "h": final.h.sin().sum()}
    if isinstance(final, LSTMState):
        terms["c"] = (2 * final.c).cos().sum()
    loss = sum(terms.get(k, 0) for k in loss_on)
    inputs = [*core.parameters(), x, *state]
    grads = torch.autograd.grad(loss, inputs)
    return [y, *final, *grads]


@pytest.mark.parametrize("cls", CORES)
@pytest.mark.parametrize("layers", [1, 2])
@pytest.mark.parametrize("loss_on", [("y", "h", "c"), ("y",), ("h",), ("c", "h")])
def test_fused_sequence_equals_the_torch_layer_in_float64(cls, layers, loss_on, row_blocks):
    """In one call and in blocks of rows."""
    fused, reference, x, starts, state = rnn_case(cls, layers)
    got = outputs_and_grads(fused, x, starts, state, loss_on)
    want = outputs_and_grads(reference, x, starts, state, loss_on)
    n_state = len(state)
    assert len(got) == len(want) == 1 + n_state + 4 * layers + 1 + n_state
    for g, w in zip(got, want, strict=True):
        torch.testing.assert_close(g, w, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("cls", CORES)
def test_fused_sequence_matches_in_float32_at_training_size(cls):
    """PPO's shape: 64 sequences of 128 steps, 64 units, episodes of 50 steps, the cores' own
    initialisation (N(0, 0.5) weights make 64 units chaotic enough that float32 rounding
    grows past 1e-4 in a few of the 524,288 outputs)."""
    fused, reference, x, _, state = rnn_case(
        cls, dtype=torch.float32, T=128, B=64, F=16, C=64, std=None
    )
    starts = torch.zeros(128, 64)
    starts[::50] = 1
    starts[17, :8] = 1
    for g, w in zip(
        outputs_and_grads(fused, x, starts, state),
        outputs_and_grads(reference, x, starts, state),
        strict=True,
    ):
        torch.testing.assert_close(g, w, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("cls", CORES)
def test_blocks_at_training_size_match_one_call_in_float32(monkeypatch, cls):
    """64 sequences of 128 steps in 2 and 4 blocks against one call: float rounding only
    (each block sums its own weight gradients)."""
    fused, _, x, _, state = rnn_case(cls, dtype=torch.float32, T=128, B=64, F=16, C=64, std=None)
    starts = torch.zeros(128, 64)
    starts[::50] = 1
    results = {}
    for k in (1, 2, 4):
        monkeypatch.setattr(fused_step, "row_blocks", lambda batch, k=k: k)
        results[k] = outputs_and_grads(fused, x, starts, state)
    for k in (2, 4):
        for a, b in zip(results[1], results[k], strict=True):
            torch.testing.assert_close(b, a, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("cls", CORES)
def test_a_start_at_every_step_cuts_every_gradient_path(cls):
    """All rows restart at every step: each output depends on its own step's input only."""
    fused, _, x, _, state = rnn_case(cls, T=6)
    x = x.clone().requires_grad_()
    y, _ = fused(x, state, torch.ones(6, 4))
    (grad,) = torch.autograd.grad(y[4].sum(), x)
    assert grad[4].abs().sum() > 0
    assert grad[:4].abs().sum() == 0 and grad[5].abs().sum() == 0


def count_calls(monkeypatch) -> list:
    calls = []
    for name in ("lstm_sequence", "gru_sequence"):
        original = getattr(fused_rnn, name)

        def counting(*args, _original=original):
            calls.append(args[0].shape)
            return _original(*args)

        monkeypatch.setattr(fused_rnn, name, counting)
    return calls


@pytest.mark.parametrize(
    ("steps", "fused", "dtype", "used"),
    [
        (9, True, torch.float32, True),
        (9, True, torch.float64, True),
        (1, True, torch.float32, False),  # a rollout step: the cell function
        (9, False, torch.float32, False),
    ],
)
@pytest.mark.parametrize("cls", CORES)
def test_core_uses_the_sequence_only_where_it_applies(monkeypatch, cls, steps, fused, dtype, used):
    calls = count_calls(monkeypatch)
    core = cls(3, 4, num_layers=2, fused=fused).to(dtype)
    x = torch.randn(steps, 2, 3, dtype=dtype)
    state = core.state_cls(*(t.to(dtype) for t in core.initial_state(2)))
    y, state = core(x, state, torch.zeros(steps, 2))
    assert y.shape == (steps, 2, 4) and state.h.shape == (2, 2, 4)
    assert len(calls) == (2 if used else 0)  # one call per layer


def test_applies_only_to_cpu_float_sequences():
    assert fused_rnn.applies(torch.zeros(2, 1, 3))
    assert not fused_rnn.applies(torch.zeros(1, 1, 3))  # one step
    assert not fused_rnn.applies(torch.zeros(2, 1, 3, dtype=torch.bfloat16))  # no kernel
    assert not fused_rnn.applies(torch.zeros(2, 1, 3, device="meta"))


@pytest.mark.parametrize("cls", CORES)
def test_fused_argument_is_checked(cls):
    with pytest.raises(ValueError, match="fused must be one of"):
        cls(3, 4, fused="yes")


def test_sequences_reject_bad_shapes(row_blocks):
    x, h = torch.randn(5, 2, 3), torch.zeros(2, 4)
    w_ih, w_hh, bias = torch.randn(16, 3), torch.randn(16, 4), torch.zeros(16)
    with pytest.raises(ValueError, match=r"x \[T, B, F\]"):
        fused_rnn.lstm_sequence(x[0], torch.zeros(5, 2), h, h, w_ih, w_hh, bias)
    with pytest.raises(RuntimeError, match="w_ih \\[4C, F\\]"):
        fused_rnn.lstm_sequence(x, torch.zeros(5, 2), h, h, w_ih[:, :2], w_hh, bias)
    with pytest.raises(ValueError, match=r"starts must have shape \[5, 2\]"):
        fused_rnn.lstm_sequence(x, torch.zeros(4, 2), h, h, w_ih, w_hh, bias)
    with pytest.raises(ValueError, match=r"x \[T, B, F\]"):
        fused_rnn.gru_sequence(x, torch.zeros(5, 2), h[None], w_ih[:12], w_hh[:12], bias, bias)
    with pytest.raises(RuntimeError, match="w_ih \\[3C, F\\]"):
        fused_rnn.gru_sequence(x, torch.zeros(5, 2), h, w_ih, w_hh, bias, bias)


@pytest.mark.parametrize("rows", [1, 3])
def test_sequences_refuse_a_state_with_another_number_of_rows(rows, row_blocks):
    """The loops read the state by pointer: 1 row for 2 used to read past its end."""
    x, starts = torch.randn(5, 2, 3), torch.zeros(5, 2)
    h = torch.zeros(rows, 4)
    w_ih, w_hh, bias = torch.randn(16, 3), torch.randn(16, 4), torch.zeros(16)
    with pytest.raises(ValueError, match=rf"h must have shape \[2, 4\], got \[{rows}, 4\]"):
        fused_rnn.lstm_sequence(x, starts, h, h, w_ih, w_hh, bias)
    with pytest.raises(ValueError, match=rf"h must have shape \[2, 4\], got \[{rows}, 4\]"):
        fused_rnn.gru_sequence(x, starts, h, w_ih[:12], w_hh[:12], bias[:12], bias[:12])


def test_pooled_buffers_are_reused_and_never_alias_live_outputs():
    ext = fused_step.load()
    fused, reference, x, starts, state = rnn_case(T=40, B=8)
    ext.release_pool()
    kept = outputs_and_grads(fused, x, starts, state)  # held: its output's block stays out
    copies = [t.clone() for t in kept]
    outputs_and_grads(fused, x * 0.5, starts, state)  # forward + backward, all freed
    free_after_one = ext.pooled_free_bytes()
    assert free_after_one > 0  # the freed buffers wait for the next call
    for _ in range(3):  # the same shapes again take the same blocks: the pool does not grow
        outputs_and_grads(fused, x * 0.5, starts, state)
    assert ext.pooled_free_bytes() == free_after_one
    for g, c in zip(kept, copies, strict=True):  # the live output was not written over
        torch.testing.assert_close(g, c, rtol=0, atol=0)
    for g, w in zip(kept, outputs_and_grads(reference, x, starts, state), strict=True):
        torch.testing.assert_close(g, w, rtol=1e-10, atol=1e-12)
    ext.release_pool()
    assert ext.pooled_free_bytes() == 0


@pytest.mark.parametrize("cls", [LSTMCore, GRUCore])
def test_fused_sequence_leaves_the_incoming_state_untouched(cls):
    """Resets zero the started rows of the sequence's own copies, never the caller's state."""
    fused, _, x, starts, state = rnn_case(cls)
    before = [t.clone() for t in state]
    fused(x, state, starts)
    for got, want in zip(state, before, strict=True):
        assert torch.equal(got, want)


@pytest.mark.parametrize("cls, per_block", [(LSTMCore, 4), (GRUCore, 3)])
def test_every_blocks_saved_tensor_goes_through_saved_tensor_hooks(monkeypatch, cls, per_block):
    """bptt_checkpoint's checkpointing frees what the forward saves through torch's hooks: in
    blocks, each block's saved tensors are saved as one call's are, not kept out of the
    hooks' sight."""
    fused, _, x, starts, state = rnn_case(cls, B=6)
    counts = {}
    for blocks in (1, 3):
        monkeypatch.setattr(fused_step, "row_blocks", lambda batch, k=blocks: k)
        packed = []
        hooks = torch.autograd.graph.saved_tensors_hooks
        with hooks(lambda t, p=packed: p.append(t) or t, lambda t: t):
            fused(x.requires_grad_(), state, starts)
        counts[blocks] = len(packed)
    assert counts[3] - counts[1] == 2 * per_block  # two more blocks' saved tensors
