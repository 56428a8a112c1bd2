"""The memory-core protocol: shapes, explicit state, reset semantics, fused == stepwise."""

from __future__ import annotations

import pickle

import pytest
import torch
from core_contract import check_expected_reads

from agents import fused_step
from agents.cores import (
    CoreExtras,
    EpisodicMemoryCore,
    GRUCore,
    LSTMCore,
    NTMCore,
    index_rows,
    tree_map,
)
from agents.cores.state import tree_leaves

F = 5


def make_cores():
    torch.manual_seed(0)
    return {
        "lstm": LSTMCore(F, hidden_size=16),
        "gru": GRUCore(F, hidden_size=16, num_layers=2),
        "lstm-chrono": LSTMCore(F, hidden_size=16, num_layers=2, chrono_max=64),
        "ntm-lstm": NTMCore(F, memory_slots=12, memory_width=6, controller_size=16),
        "ntm-mlp": NTMCore(
            F, memory_slots=12, memory_width=6, controller="mlp", read_heads=2, write_heads=2
        ),
        "ntm-sample": NTMCore(
            F, memory_slots=12, memory_width=6, read_mode="sample", write_mode="sample"
        ),
        "ntm-sequential": NTMCore(
            F, memory_slots=12, memory_width=6, read_mode="sample", write_mode="sequential"
        ),
    }


CORE_NAMES = list(make_cores())


def run(core, x, state, starts, replay=None):
    extras = CoreExtras(replay=replay)
    y, state = core(x, state, starts, extras)
    return y, state, extras


@pytest.mark.parametrize("name", CORE_NAMES)
def test_shapes_and_batch_axis(name):
    core = make_cores()[name]
    T, B = 7, 3
    state = core.initial_state(B)
    for leaf in tree_leaves(state):
        assert leaf.shape[0] == B
    y, new_state, extras = run(
        core, torch.randn(T, B, F), state, torch.zeros(T, B, dtype=torch.bool)
    )
    assert y.shape == (T, B, core.output_size)
    for old, new in zip(tree_leaves(state), tree_leaves(new_state), strict=True):
        assert old.shape == new.shape
    if core.internal_action_nvec:
        assert extras.actions.shape == (T, B, len(core.internal_action_nvec))
        assert extras.log_prob.shape == (T, B) and torch.isfinite(extras.log_prob).all()
        assert extras.actions.max() < max(core.internal_action_nvec) and extras.actions.min() >= 0


@pytest.mark.parametrize("grad", [True, False])
@pytest.mark.parametrize("name", [*CORE_NAMES, "ntm-aten", "episodic"])
def test_empty_sequence_gives_empty_output_and_the_same_state(name, grad):
    """``T = 0``: ``y [0, B, output_size]`` and the state unchanged, on every path (NTM: the
    fused sequence with a gradient, the step loop without; aten; LSTM/GRU: fused and torch)."""
    extra = {
        "ntm-aten": NTMCore(F, memory_slots=12, memory_width=6, fused=False),
        "episodic": EpisodicMemoryCore(F, max_memory=4, embed_size=8),
    }
    core = extra[name] if name in extra else make_cores()[name]
    state = core.initial_state(3)
    with torch.set_grad_enabled(grad):
        y, new_state, _ = run(
            core, torch.zeros(0, 3, F), state, torch.zeros(0, 3, dtype=torch.bool)
        )
    assert y.shape == (0, 3, core.output_size)
    for old, new in zip(tree_leaves(state), tree_leaves(new_state), strict=True):
        assert torch.equal(old, new)


@pytest.mark.parametrize("grad", [True, False])
@pytest.mark.parametrize("name", [*CORE_NAMES, "ntm-aten", "episodic", "episodic-sample"])
def test_a_batch_of_no_rows_gives_empty_outputs(name, grad):
    """``B = 0`` (``T = 0`` already worked): ``y [T, 0, output_size]``, the state unchanged,
    and empty internal actions, log-probs and entropies; it failed in a reshape or a min()
    in every core but the LSTM and GRU."""
    extra = {
        "ntm-aten": NTMCore(F, memory_slots=12, memory_width=6, fused=False),
        "episodic": EpisodicMemoryCore(F, max_memory=4, embed_size=8),
        "episodic-sample": EpisodicMemoryCore(F, max_memory=4, embed_size=8, read_mode="sample"),
    }
    core = extra[name] if name in extra else make_cores()[name]
    state = core.initial_state(0)
    with torch.set_grad_enabled(grad):
        y, new_state, extras = run(core, torch.zeros(3, 0, F), state, torch.zeros(3, 0))
    assert y.shape == (3, 0, core.output_size)
    for old, new in zip(tree_leaves(state), tree_leaves(new_state), strict=True):
        assert old.shape == new.shape
    if core.internal_action_nvec:
        assert extras.actions.shape == (3, 0, len(core.internal_action_nvec))
        assert extras.log_prob.shape == extras.entropy.shape == (3, 0)


@pytest.mark.parametrize("grad", [True, False])
@pytest.mark.parametrize("name", [*CORE_NAMES, "ntm-aten", "episodic"])
def test_a_double_core_runs_from_its_own_initial_state(name, grad):
    """``core.double()``: the initial state is float64 too (it was float32, and every core
    but the episodic one failed on it with a dtype error), on every path."""
    extra = {
        "ntm-aten": NTMCore(F, memory_slots=12, memory_width=6, fused=False),
        "episodic": EpisodicMemoryCore(F, max_memory=4, embed_size=8),
    }
    core = (extra[name] if name in extra else make_cores()[name]).double()
    state = core.initial_state(3)
    assert {leaf.dtype for leaf in tree_leaves(state) if leaf.is_floating_point()} == {
        torch.float64
    }
    with torch.set_grad_enabled(grad):
        y, new_state, _ = run(
            core, torch.randn(4, 3, F, dtype=torch.float64), state, torch.zeros(4, 3)
        )
    assert y.dtype == torch.float64 and torch.isfinite(y).all()


@pytest.mark.parametrize("grad", [True, False])
@pytest.mark.parametrize("name", [*CORE_NAMES, "lstm-torch"])
def test_episode_starts_of_another_shape_are_refused(name, grad):
    """[T + 1, B] and [T, B + 1] ran on the NTM's step loop, [T - 1, B] on nn.LSTM's path:
    starts must match x's [T, B] on every path."""
    extra = {"lstm-torch": LSTMCore(F, hidden_size=8, fused=False)}
    core = extra[name] if name in extra else make_cores()[name]
    x = torch.randn(4, 3, F)
    for shape in ((5, 3), (4, 4), (3, 3), (12,)):
        with torch.set_grad_enabled(grad), pytest.raises(ValueError, match="episode_starts"):
            core(x, core.initial_state(3), torch.zeros(shape, dtype=torch.bool))


@pytest.mark.parametrize("name", CORE_NAMES)
def test_episode_start_equals_fresh_run(name):
    """After a start at step k in row b, outputs equal a fresh run on the suffix."""
    core = make_cores()[name]
    T, B, k = 9, 3, 4
    x = torch.randn(T, B, F)
    starts = torch.zeros(T, B, dtype=torch.bool)
    starts[0] = True
    starts[k, 1] = True
    y, _, extras = run(core, x, core.initial_state(B), starts)
    replay = None if extras.actions is None else extras.actions[k:, 1:2]
    fresh_starts = torch.zeros(T - k, 1, dtype=torch.bool)
    fresh_starts[0] = True
    y_fresh, _, _ = run(core, x[k:, 1:2], core.initial_state(1), fresh_starts, replay)
    torch.testing.assert_close(y[k:, 1:2], y_fresh, atol=1e-6, rtol=1e-5)
    # rows without a start are untouched by row 1's reset
    y_other, _, _ = run(
        core,
        x[:, [0, 2]],
        core.initial_state(2),
        starts[:, [0, 2]],
        None if extras.actions is None else extras.actions[:, [0, 2]],
    )
    torch.testing.assert_close(y[:, [0, 2]], y_other, atol=1e-6, rtol=1e-5)


@pytest.mark.parametrize("name", CORE_NAMES)
def test_sequence_equals_step_by_step_with_stored_state(name):
    """Replaying from a stored state reproduces the outputs exactly (state is explicit)."""
    core = make_cores()[name]
    T, B = 10, 4
    x = torch.randn(T, B, F)
    starts = torch.rand(T, B) < 0.2
    y, final, extras = run(core, x, core.initial_state(B), starts)
    state, ys = core.initial_state(B), []
    for t in range(T):
        replay = None if extras.actions is None else extras.actions[t : t + 1]
        yt, state, _ = run(core, x[t : t + 1], state, starts[t : t + 1], replay)
        ys.append(yt)
    torch.testing.assert_close(torch.cat(ys), y, atol=1e-6, rtol=1e-5)
    for a, b in zip(tree_leaves(state), tree_leaves(final), strict=True):
        torch.testing.assert_close(a, b, atol=1e-6, rtol=1e-5)
    # a state is plain data: it pickles and its rows can be taken apart
    clone = pickle.loads(pickle.dumps(final))
    assert all(
        torch.equal(a, b) for a, b in zip(tree_leaves(clone), tree_leaves(final), strict=True)
    )
    assert tree_leaves(index_rows(final, slice(1, 3)))[0].shape[0] == 2


def test_ntm_initial_state_is_not_zero_and_learned():
    core = NTMCore(F, memory_slots=8, memory_width=4)
    s = core.initial_state(2)
    assert torch.all(s.memory > 0)  # constant init (Collier & Beel 2018)
    torch.testing.assert_close(s.read_weights.sum(-1), torch.ones(2, 1))
    y, _ = core(torch.randn(3, 2, F), s, torch.ones(3, 2, dtype=torch.bool))
    y.sum().backward()
    assert core.init_reads.grad is not None and core.init_read_logits.grad is not None


def slot_spread(core, steps=10, batch=4):
    """Largest difference between any slot's memory and slot 0's after random input."""
    gen = torch.Generator().manual_seed(1)
    x = torch.randn(steps, batch, F, generator=gen)
    with torch.no_grad():
        _, s = core(x, core.initial_state(batch), torch.zeros(steps, batch, dtype=torch.bool))
    return (s.memory - s.memory[:, :1]).abs().amax().item()


@pytest.mark.parametrize(
    "kwargs",
    [
        {},
        {"controller": "mlp", "read_heads": 2, "write_heads": 2},
        {"read_mode": "sample"},
        {"read_mode": "sample", "write_mode": "sample"},
    ],
    ids=["soft", "mlp-2-heads", "sampled-reads", "sampled-both"],
)
def test_ntm_slots_can_be_told_apart(kwargs):
    """Identical slots addressed identically stay identical forever (issue 11): the initial
    weightings must break the symmetry. The old uniform (zero-logit) start fails the check."""
    torch.manual_seed(0)
    core = NTMCore(F, memory_slots=12, memory_width=6, **kwargs)
    assert core.initial_state(1).write_weights[0, :, 0].min() > 0.99  # focused on slot 0
    assert slot_spread(core) > 1e-3
    with torch.no_grad():
        core.init_read_logits.zero_()
        core.init_write_logits.zero_()
    if core.write_mode == "soft":  # sampled writes break the symmetry by chance
        assert slot_spread(core) == 0.0


@pytest.mark.parametrize("write_heads", [1, 2])
def test_sequential_writes_advance_one_slot_per_step_and_reset(write_heads):
    """write_mode="sequential": head h writes slot (W t + h) mod N at step t of an episode."""
    torch.manual_seed(0)
    N, W, T = 5, write_heads, 8
    core = NTMCore(F, memory_slots=N, memory_width=3, write_heads=W, write_mode="sequential")
    starts = torch.zeros(T, 2, dtype=torch.bool)
    starts[0] = True
    starts[3, 1] = True  # row 1 starts a new episode at step 3
    extras = CoreExtras(trace={})
    core(torch.randn(T, 2, F), core.initial_state(2), starts, extras)
    ww = torch.stack(extras.trace["write_weights"])  # [T, B, W, N]
    assert torch.equal(ww, ww.round()) and torch.all(ww.sum(-1) == 1)  # one-hot
    slots = ww.argmax(-1)
    for t in range(T):
        for row, t0 in ((0, 0), (1, 3 if t >= 3 else 0)):
            expected = [(W * (t - t0) + h) % N for h in range(W)]
            assert slots[t, row].tolist() == expected, (t, row)
    assert core.internal_action_nvec == ()  # nothing sampled, nothing to replay


def test_ntm_gradients_reach_memory_writes():
    """Soft NTM: the loss at the last step depends on what was written at the first."""
    torch.manual_seed(0)
    core = NTMCore(F, memory_slots=8, memory_width=4, controller_size=8)
    x = torch.randn(6, 2, F, requires_grad=True)
    y, _ = core(x, core.initial_state(2), torch.zeros(6, 2, dtype=torch.bool))
    y[-1].sum().backward()
    assert x.grad[0].abs().sum() > 0
    assert all(torch.isfinite(p.grad).all() for p in core.parameters() if p.grad is not None)


def test_stochastic_reads_replay_and_deterministic():
    torch.manual_seed(0)
    core = NTMCore(F, memory_slots=8, memory_width=4, read_mode="sample")
    x, B = torch.randn(5, 3, F), 3
    starts = torch.zeros(5, B, dtype=torch.bool)
    _, _, ex = run(core, x, core.initial_state(B), starts)
    _, _, ex2 = run(core, x, core.initial_state(B), starts, replay=ex.actions)
    assert torch.equal(ex.actions, ex2.actions)
    torch.testing.assert_close(ex.log_prob, ex2.log_prob)
    det1, det2 = CoreExtras(deterministic=True), CoreExtras(deterministic=True)
    core(x, core.initial_state(B), starts, det1)
    core(x, core.initial_state(B), starts, det2)
    assert torch.equal(det1.actions, det2.actions)


@pytest.mark.parametrize("fused", [False, True], ids=["aten", "fused"])
def test_straight_through_reads_same_forward_and_a_gradient_to_the_read_head(fused):
    """Sampled reads pass no gradient to the read head's addressing (only the policy gradient
    trains it); with ``straight_through`` the same forward (same slots, reads and log-probs)
    passes the soft weighting's gradient to it."""
    torch.manual_seed(0)
    T, B = 6, 3
    x, starts = torch.randn(T, B, F), torch.zeros(T, B, dtype=torch.bool)
    cores = [
        NTMCore(F, 8, 4, read_mode="sample", fused=fused, straight_through=st)
        for st in (False, True)
    ]
    cores[1].load_state_dict(cores[0].state_dict())
    out, grads = [], []
    for core in cores:
        torch.manual_seed(1)
        y, _, ex = run(core, x, core.initial_state(B), starts)
        y.pow(2).sum().backward()
        out.append((core, y, ex))
        rows = slice(core.W * core.head_size, (core.W + core.R) * core.head_size)
        grads.append(core.head_proj.weight.grad[rows].abs().sum().item())
    (_, y0, ex0), (core_st, y1, ex1) = out  # same draws: same seed, same weightings
    assert torch.equal(ex0.actions, ex1.actions) and torch.equal(y0, y1)
    assert torch.equal(ex0.log_prob, ex1.log_prob)
    assert grads[0] == 0.0 and grads[1] > 0.0
    assert core_st.with_memory_slots(16).straight_through


@pytest.mark.parametrize("write_mode", ["soft", "sequential"])
def test_read_stay_bias_holds_an_untrained_sampled_read_head_on_its_slot(write_mode):
    """With ``read_stay_bias`` an untrained sampled read head stays on its initial slot (0)
    step after step; with the default init its draws wander off it."""
    torch.manual_seed(0)
    T, B = 12, 32
    x, starts = torch.randn(T, B, F), torch.zeros(T, B, dtype=torch.bool)
    on_slot_0 = {}
    for bias in (0.0, 8.0):
        core = NTMCore(F, 16, 4, read_mode="sample", write_mode=write_mode, read_stay_bias=bias)
        _, _, ex = run(core, x, core.initial_state(B), starts)
        on_slot_0[bias] = (ex.actions[..., -1] == 0).float().mean().item()
    assert on_slot_0[8.0] >= 0.95, on_slot_0
    assert on_slot_0[0.0] < 0.5, on_slot_0
    grown = NTMCore(F, 16, 4, read_mode="sample", read_stay_bias=8.0).with_memory_slots(32)
    assert grown.read_stay_bias == 8.0


@pytest.mark.parametrize("bias", [-1.0, float("nan"), 101.0, "5"])
def test_read_stay_bias_rejects_bad_values(bias):
    with pytest.raises(ValueError, match="read_stay_bias"):
        NTMCore(F, read_stay_bias=bias)


@pytest.mark.parametrize("fused", [False, True])
def test_location_only_reads_ignore_what_memory_holds(fused):
    """With ``read_content=False`` the read weighting after a step is the same whatever the
    memory holds (eq. 7 with g = 0: only the previous weighting, shifted and sharpened);
    with content addressing it changes with the memory. The gate's weights get no gradient,
    every other head weight does."""
    torch.manual_seed(0)
    B, N, M = 4, 12, 6
    x = torch.randn(1, B, F)
    read_weights = {}
    for content in (True, False):
        core = NTMCore(F, N, M, controller_size=16, fused=fused, read_content=content)
        state = core.initial_state(B)
        for memory in (torch.randn(B, N, M), torch.randn(B, N, M)):
            _, final = core(x, state._replace(memory=memory), torch.zeros(1, B))
            read_weights.setdefault(content, []).append(final.read_weights)
    assert not torch.allclose(*read_weights[True], atol=1e-3)
    torch.testing.assert_close(*read_weights[False], rtol=0, atol=1e-7)
    y, _ = core(torch.randn(6, B, F), core.initial_state(B), torch.zeros(6, B))
    y.square().sum().backward()
    grad = core.head_proj.weight.grad.abs().sum(1)  # [P]
    gate = core.W * core.head_size + M + 1  # the read head's gate row
    assert grad[gate] == 0 and core.head_proj.bias.grad[gate] == 0
    others = torch.cat([grad[:gate], grad[gate + 1 :]])
    assert (others > 0).float().mean() > 0.9  # (an unused write head's rows may stay zero)
    assert core.with_memory_slots(16).read_content is False


def test_read_content_rejects_non_booleans():
    with pytest.raises(ValueError, match="read_content must be one of"):
        NTMCore(F, read_content="no")


@pytest.mark.parametrize("kwargs", [{}, {"read_mode": "sample", "write_mode": "sequential"}])
def test_ntm_without_controller_output_outputs_the_reads_alone(kwargs):
    """``controller_output=False``: the output at every step is that step's reads ``[B, R M]``
    (what a policy acts on), so the loss reaches the controller only through addressing and
    memory; the setting survives ``with_memory_slots``."""
    torch.manual_seed(0)
    T, B = 6, 3
    core = NTMCore(F, 16, 4, read_heads=2, controller_output=False, **kwargs)
    assert core.output_size == 2 * 4
    x, starts = torch.randn(T, B, F), torch.zeros(T, B, dtype=torch.bool)
    state, ys = core.initial_state(B), []
    for t in range(T):
        y, state, _ = run(core, x[t : t + 1], state, starts[t : t + 1])
        ys.append(y[0])
        torch.testing.assert_close(y[0], state.reads.reshape(B, -1), rtol=0, atol=0)
    torch.stack(ys).square().sum().backward()
    assert core.head_proj.weight.grad.abs().sum() > 0  # through memory and addressing
    assert not core.with_memory_slots(32).controller_output
    assert NTMCore(F, 16, 4).output_size == 100 + 4


PATHS = {  # NTMCore kwargs of each path a sampled read runs through while training
    "aten": {"fused": False},
    "fused": {"fused": True, "fused_sequence": False},
    "fused-sequence": {"fused": True},  # the C++ sequence (replayed draws, gradient on)
}


@pytest.mark.parametrize(
    "path, kwargs",
    [
        *((p, {}) for p in PATHS),
        *((p, {"read_heads": 2, "controller_output": False}) for p in PATHS),
        *((p, {"write_mode": "sequential", "straight_through": True}) for p in PATHS),
        ("aten", {"read_heads": 2, "write_mode": "sample"}),
    ],
)
def test_ntm_expected_reads_are_a_baseline_that_ignores_the_draw(path, kwargs):
    """CoreExtras.expected on every path of the NTM: see core_contract."""
    if PATHS[path]["fused"] and not fused_step.available():
        pytest.skip("the C++ kernel does not build")

    def make(read_mode):
        torch.manual_seed(0)
        kw = {"memory_slots": 12, "memory_width": 6, "controller_size": 16, **kwargs}
        if read_mode == "soft":  # step 0's write weighting as given, the same as a drawn one
            kw.pop("straight_through", None)
            kw["write_mode"] = "sequential" if kw.get("write_mode") == "sequential" else "soft"
        return NTMCore(F, read_mode=read_mode, **PATHS[path], **kw)

    check_expected_reads(lambda: make("sample"), lambda: make("soft"))


def test_straight_through_needs_a_sampled_mode():
    with pytest.raises(ValueError, match="straight_through"):
        NTMCore(F, straight_through=True)


@pytest.mark.parametrize(
    "kwargs,arg",
    [
        ({"memory_slots": 0}, "memory_slots"),
        ({"memory_width": -1}, "memory_width"),
        ({"read_heads": 0}, "read_heads"),
        ({"write_heads": 0}, "write_heads"),
        ({"controller": "transformer"}, "controller"),
        ({"read_mode": "hard"}, "read_mode"),
        ({"read_mode": "sequential"}, "read_mode"),
        ({"write_mode": "hard"}, "write_mode"),
        ({"shift_range": 10, "memory_slots": 8}, "shift_range"),
        ({"memory_slots": 10**12}, r"memory_slots must be an integer in \[1, 10000000\]"),
        ({"memory_width": 10**12}, "memory_width"),
        ({"controller_size": 10**12}, "controller_size"),
        ({"read_heads": 10**12}, "read_heads"),
        ({"head_clip": True}, "head_clip must be a number > 0 or None"),
        ({"head_clip": "x"}, "head_clip"),
        ({"state_grad_clip": "1"}, "state_grad_clip"),
    ],
)
def test_ntm_rejects_bad_arguments(kwargs, arg):
    with pytest.raises(ValueError, match=arg):
        NTMCore(F, **kwargs)


@pytest.mark.parametrize(
    "flag", ["compile", "controller_output", "straight_through", "fused", "fused_sequence"]
)
@pytest.mark.parametrize("bad", ["no", "False", 1])
def test_ntm_rejects_non_boolean_flags(flag, bad):
    with pytest.raises(ValueError, match=rf"{flag} must be one of \(True, False\)"):
        NTMCore(F, read_mode="sample", **{flag: bad})


@pytest.mark.parametrize("cls", [LSTMCore, GRUCore, NTMCore, EpisodicMemoryCore])
def test_huge_sizes_are_a_clear_error(cls):
    with pytest.raises(ValueError, match=r"input_size must be an integer in \[1, 10000000\]"):
        cls(10**12)


def test_rnn_rejects_bad_arguments():
    with pytest.raises(ValueError, match="hidden_size"):
        LSTMCore(F, hidden_size=0)
    with pytest.raises(ValueError, match="num_layers"):
        GRUCore(F, num_layers=0)
    with pytest.raises(ValueError, match=r"hidden_size must be an integer in \[1, 10000000\]"):
        GRUCore(F, hidden_size=10**12)


@pytest.mark.parametrize("bad", [0, 1, 2.5, True, "64"])
def test_rnn_rejects_bad_chrono_max(bad):
    with pytest.raises(ValueError, match="chrono_max"):
        LSTMCore(F, chrono_max=bad)


@pytest.mark.parametrize("cls, keep, negated", [(LSTMCore, 1, 0), (GRUCore, 1, None)])
def test_chrono_init_sets_the_keep_gate_biases_on_every_layer(cls, keep, negated):
    """Keep-gate biases log U(1, T-1) (LSTM input gate: their negatives); all else zero."""
    H, T = 32, 100
    core = cls(F, hidden_size=H, num_layers=2, chrono_max=T)
    for k in range(2):
        bias = getattr(core.rnn, f"bias_ih_l{k}").detach().view(-1, H)
        kept = bias[keep]
        assert kept.min() >= 0.0 and kept.max() <= torch.log(torch.tensor(T - 1.0)) + 1e-6
        assert kept.std() > 0.1  # spread timescales, not one constant
        assert torch.sigmoid(kept).mean() > 0.8  # memory kept at start (zero bias: 0.5)
        for gate in range(bias.shape[0]):
            if gate == negated:
                assert torch.equal(bias[gate], -kept)
            elif gate != keep:
                assert not bias[gate].any()
        assert not getattr(core.rnn, f"bias_hh_l{k}").any()
    plain = cls(F, hidden_size=H)
    assert not plain.rnn.bias_ih_l0.any() and plain.chrono_max is None


def test_tree_map_handles_nested_states():
    state = (LSTMCore(F, 4).initial_state(2), None)
    doubled = tree_map(lambda a: a + 1, state)
    assert doubled[1] is None and torch.equal(doubled[0].h, torch.ones(2, 1, 4))


@pytest.mark.slow
def test_compiled_ntm_step_matches_eager():
    """``compile=True`` runs the same math through torch.compile (minutes to compile on CPU)."""
    torch.manual_seed(0)
    eager = NTMCore(F, memory_slots=8, memory_width=4, controller_size=8)
    compiled = NTMCore(F, memory_slots=8, memory_width=4, controller_size=8, compile=True)
    compiled.load_state_dict(eager.state_dict())
    x, starts = torch.randn(6, 3, F), torch.zeros(6, 3, dtype=torch.bool)
    starts[3, 1] = True
    y1, _ = eager(x, eager.initial_state(3), starts)
    y2, _ = compiled(x, compiled.initial_state(3), starts)
    torch.testing.assert_close(y1, y2, atol=1e-5, rtol=1e-5)
    (y1.sum() + y2.sum()).backward()
    for p, q in zip(eager.parameters(), compiled.parameters(), strict=True):
        torch.testing.assert_close(p.grad, q.grad, atol=1e-5, rtol=1e-4)


def test_compile_rejects_sampled_modes():
    with pytest.raises(ValueError, match="compile"):
        NTMCore(F, read_mode="sample", compile=True)


def test_ntm_with_memory_slots_keeps_every_weight():
    """A trained NTM evaluated with a bigger memory (length generalisation beyond N): the same
    N gives the same outputs; another N keeps every weight and the learned initial logits."""
    torch.manual_seed(0)
    core = NTMCore(F, memory_slots=6, memory_width=4, controller_size=8)
    with torch.no_grad():
        core.init_read_logits.add_(torch.randn_like(core.init_read_logits))
    x, starts = torch.randn(5, 2, F), torch.zeros(5, 2, dtype=torch.bool)
    same = core.with_memory_slots(6)
    y0, _ = core(x, core.initial_state(2), starts)
    y1, _ = same(x, same.initial_state(2), starts)
    torch.testing.assert_close(y0, y1, rtol=0, atol=0)
    big = core.with_memory_slots(10)
    assert big.N == 10 and big.initial_state(2).memory.shape == (2, 10, 4)
    torch.testing.assert_close(big.init_read_logits[:, :6], core.init_read_logits)
    assert torch.all(big.init_read_logits[:, 6:] == 0)
    for name, p in core.named_parameters():
        if "logits" not in name:
            torch.testing.assert_close(dict(big.named_parameters())[name], p)
    with pytest.raises(ValueError, match="memory_slots"):
        core.with_memory_slots(0)


def test_ntm_head_clip_bounds_key_strength_and_sharpening():
    """Collier & Beel's clip of the controller's head outputs: beta, gamma - 1 <= softplus(c)."""
    torch.manual_seed(0)
    core = NTMCore(F, memory_slots=6, memory_width=4, controller_size=8, head_clip=1.0)
    with torch.no_grad():
        core.head_proj.weight.mul_(1e3)  # raw head outputs far beyond the clip
    _, beta, _, _, gamma, _, _ = core._head_params(torch.randn(5, 8))
    bound = torch.nn.functional.softplus(torch.tensor(1.0))
    assert beta.max() <= bound + 1e-6 and (gamma - 1).max() <= bound + 1e-6
    assert NTMCore(F, head_clip=None).head_clip is None
    for bad in (0, -1.0):
        with pytest.raises(ValueError, match="head_clip"):
            NTMCore(F, head_clip=bad)
