"""The fused C++ NTM step (agents.fused_step) against the aten path it replaces."""

from __future__ import annotations

import os

import pytest
import torch

from agents import fused_step
from agents.cores.base import CoreExtras
from agents.cores.ntm import NTMCore

CONFIGS = [
    {},
    {"read_heads": 2, "write_heads": 2, "shift_range": 2},
    {"read_heads": 3, "shift_range": 0},
    {"controller": "mlp", "head_clip": None},
]


def step_inputs(W, R, S, M=4, N=7, B=2, scale=3.0, seed=0):
    g = torch.Generator().manual_seed(seed)
    P = (W + R) * (M + 3 + S) + 2 * W * M
    raw = torch.randn(B, P, generator=g, dtype=torch.float64) * scale
    memory = torch.randn(B, N, M, generator=g, dtype=torch.float64)
    wp = torch.softmax(torch.randn(B, W, N, generator=g, dtype=torch.float64), -1)
    rp = torch.softmax(torch.randn(B, R, N, generator=g, dtype=torch.float64), -1)
    return [t.requires_grad_() for t in (raw, memory, wp, rp)]


def test_fused_step_uses_the_addressing_constants():
    """The kernel's eps and clamps are agents.addressing's (a change to one must reach both)."""
    from agents import addressing

    ext = fused_step.load()
    for name in ("EPSILON", "BETA_MAX", "GAMMA_MAX"):
        assert getattr(ext, name) == getattr(addressing, name)


@pytest.mark.parametrize("W,R,S,clip", [(1, 1, 3, 2.5), (2, 1, 3, None), (1, 2, 1, 20.0)])
@pytest.mark.parametrize("fixed_writes", [False, True])
def test_fused_step_gradients_match_finite_differences(W, R, S, clip, fixed_writes):
    """gradcheck: the hand-written backward (softmaxes, shift, cosine, erase/add, the
    activations and the clip; with ``fixed_writes`` the given write weighting's pass-through)
    against finite differences, float64."""
    inputs = step_inputs(W, R, S)
    assert torch.autograd.gradcheck(
        lambda *t: fused_step.ntm_step(*t, S, clip, fixed_writes=fixed_writes), inputs
    )


def test_fixed_writes_use_the_given_weighting_and_ignore_write_addressing():
    """``fixed_writes``: the write weighting returned is the one given, the write heads'
    addressing outputs change nothing and get zero gradient, and the memory is written as
    erase/add with that weighting (eqs. 3-4)."""
    from agents import addressing as A

    W, R, S, M = 2, 1, 3, 4
    raw, memory, wp, rp = step_inputs(W, R, S, M=M)
    outs = fused_step.ntm_step(raw, memory, wp, rp, S, None, fixed_writes=True)
    ww, _, _, new_memory = outs
    torch.testing.assert_close(ww, wp, rtol=0, atol=0)
    n_addr = (W + R) * (M + 3 + S)
    erase, add = raw[:, n_addr:].view(2, W, 2 * M).split(M, dim=-1)
    expected = A.erase_and_add(memory, wp, torch.sigmoid(erase), torch.tanh(add))
    torch.testing.assert_close(new_memory, expected, rtol=1e-12, atol=1e-12)
    moved = raw.detach().clone()
    moved[:, : W * (M + 3 + S)] += 5.0  # every write head's key, beta, gate, shift, gamma
    again = fused_step.ntm_step(moved, memory, wp, rp, S, None, fixed_writes=True)
    for a, b in zip(again, outs, strict=True):
        torch.testing.assert_close(a, b, rtol=0, atol=0)
    (grad,) = torch.autograd.grad(sum(t.sum() for t in (ww, new_memory)), [raw])
    assert (grad[:, : W * (M + 3 + S)] == 0).all()
    assert (grad[:, n_addr:] != 0).any()


def core_pair(**kwargs):
    """Two equal small cores, aten and fused, and a 7-step batch of 3 with episode starts
    mid-way: ``(aten, fused, x [7, 3, 5], starts [7, 3])``."""
    torch.manual_seed(0)
    aten = NTMCore(5, 12, 6, controller_size=16, fused=False, **kwargs)
    fused = NTMCore(5, 12, 6, controller_size=16, fused=True, **kwargs)
    fused.load_state_dict(aten.state_dict())
    x = torch.randn(7, 3, 5) * 3
    starts = torch.zeros(7, 3)
    starts[0] = 1
    starts[4, 1] = 1
    return aten, fused, x, starts


@pytest.mark.parametrize("kwargs", CONFIGS)
def test_fused_core_equals_aten_core_in_outputs_and_parameter_gradients(float64, kwargs):
    """A sequence with episode starts mid-way: same outputs, final state and parameter
    gradients (float64, to 1e-10) whichever path runs the step."""
    aten, fused, x, starts = core_pair(**kwargs)
    results = []
    for core in (aten, fused):
        y, state = core(x, core.initial_state(3), starts)
        loss = y.square().sum() + state.memory.sum() + state.read_weights[:, :, 0].sum()
        results.append((y, state, torch.autograd.grad(loss, list(core.parameters()))))
    (ya, sa, ga), (yb, sb, gb) = results
    torch.testing.assert_close(yb, ya, rtol=0, atol=1e-10)
    for a, b in zip(sa, sb, strict=True):
        torch.testing.assert_close(b, a, rtol=0, atol=1e-10)
    for a, b in zip(ga, gb, strict=True):
        torch.testing.assert_close(b, a, rtol=1e-8, atol=1e-10)


@pytest.mark.parametrize(
    "kwargs",
    [
        {},
        {"read_heads": 2, "shift_range": 2},
        {"write_mode": "sequential"},
        {"write_mode": "sequential", "write_heads": 2, "read_stay_bias": 2.0},
    ],
)
def test_fused_core_with_sampled_reads_equals_aten_core(float64, kwargs):
    """Sampled reads on the kernel (the slot drawn from the kernel's read weighting, read
    outside it): sampling under one seed draws the same slots; replaying them gives the same
    outputs, state, log-probabilities, entropies and parameter gradients through all of them
    (float64) as the aten path; so does the sequential write, given to the kernel."""
    aten, fused, x, starts = core_pair(read_mode="sample", **kwargs)
    drawn = []
    for core in (aten, fused):
        torch.manual_seed(7)
        extras = CoreExtras()
        with torch.no_grad():
            core(x, core.initial_state(3), starts, extras)
        drawn.append(extras.actions)
    torch.testing.assert_close(drawn[1], drawn[0], rtol=0, atol=0)
    assert drawn[0].unique().numel() > 1  # the draws moved between slots
    results = []
    for core in (aten, fused):
        extras = CoreExtras(replay=drawn[0])
        y, state = core(x, core.initial_state(3), starts, extras)
        loss = y.square().sum() + state.memory.sum() + extras.log_prob.sum() + extras.entropy.sum()
        params = list(core.parameters())  # a sequential write leaves init_write_logits unused
        grads = torch.autograd.grad(loss, params, allow_unused=True)
        pairs = zip(params, grads, strict=True)
        grads = [torch.zeros_like(p) if g is None else g for p, g in pairs]
        results.append((y, *state, extras.log_prob, extras.entropy, *grads))
    for a, b in zip(*results, strict=True):
        torch.testing.assert_close(b, a, rtol=1e-8, atol=1e-10)


def test_fused_core_matches_aten_in_float32_at_training_size():
    """The benchmark's shape (128 x 20 memory, 64-unit controller, batch 16, 32 steps) in
    float32: the same outputs and gradients up to float rounding."""
    torch.manual_seed(1)
    aten = NTMCore(11, 128, 20, controller_size=64, fused=False)
    fused = NTMCore(11, 128, 20, controller_size=64, fused=True)
    fused.load_state_dict(aten.state_dict())
    x = torch.randn(32, 16, 11)
    starts = torch.zeros(32, 16)
    starts[0] = 1
    outs = []
    for core in (aten, fused):
        y, _ = core(x, core.initial_state(16), starts)
        outs.append((y, torch.autograd.grad(y.square().mean(), list(core.parameters()))))
    torch.testing.assert_close(outs[1][0], outs[0][0], rtol=1e-4, atol=1e-5)
    for a, b in zip(outs[0][1], outs[1][1], strict=True):
        torch.testing.assert_close(b, a, rtol=1e-3, atol=1e-6)


@pytest.mark.parametrize("value", [1e30, 3e38])
def test_fused_step_is_finite_for_huge_memory_and_unclipped_heads(value):
    """Memory entries up to the float32 maximum (squared norms overflow in float: the row is
    redone in double) and raw head outputs of 1e30 with no clip (beta and gamma beyond their
    clamps): values and gradients stay finite."""
    raw, memory, wp, rp = (t.detach().float() for t in step_inputs(1, 1, 3, M=20, N=16))
    memory = torch.full_like(memory, value)
    memory[:, ::2] = 1.0
    raw = raw * 1e29
    inputs = [t.requires_grad_() for t in (raw, memory, wp, rp)]
    outs = fused_step.ntm_step(*inputs, 3, None)
    grads = torch.autograd.grad(sum(o.sum() * 1e-30 for o in outs), inputs)
    for t in (*outs, *grads):
        assert torch.isfinite(t).all()


def test_fused_is_the_default_where_it_applies():
    assert NTMCore(3, 8, 4).fused  # the kernel builds on the test machine
    assert NTMCore(3, 8, 4, read_mode="sample").fused  # sampled reads of a fused step
    assert not NTMCore(3, 8, 4, write_mode="sample").fused
    assert NTMCore(3, 8, 4, write_mode="sequential").fused  # the kernel takes its weighting
    assert not NTMCore(3, 8, 4, compile=True).fused
    assert not NTMCore(3, 8, 4, fused=False).fused
    assert NTMCore(3, 8, 4).with_memory_slots(16).fused


def test_without_the_kernel_the_default_core_runs_the_aten_path(monkeypatch):
    monkeypatch.setattr(fused_step, "available", lambda: False)
    core = NTMCore(3, 8, 4)
    assert not core.fused
    y, _ = core(torch.randn(2, 1, 3), core.initial_state(1), torch.ones(2, 1))
    assert torch.isfinite(y).all()


@pytest.mark.parametrize(
    "kwargs,match",
    [
        ({"fused": True, "write_mode": "sample"}, "fused=True needs write_mode 'soft'"),
        ({"fused": True, "compile": True}, "alternatives"),
    ],
)
def test_fused_refuses_modes_it_does_not_implement(kwargs, match):
    with pytest.raises(ValueError, match=match):
        NTMCore(3, 8, 4, **kwargs)


def test_fused_step_refuses_bad_arguments():
    raw, memory, wp, rp = step_inputs(1, 1, 3)
    with pytest.raises(ValueError, match="head_clip must be a number > 0"):
        fused_step.ntm_step(raw, memory, wp, rp, 3, 0.0)
    with pytest.raises(ValueError, match="CPU tensors only"):
        fused_step.ntm_step(raw, memory.to("meta"), wp, rp, 3, None)
    with pytest.raises(RuntimeError, match="wrong width"):
        fused_step.ntm_step(raw[:, 1:], memory, wp, rp, 3, None)


def test_fused_step_refuses_previous_weightings_of_the_wrong_shape():
    """The kernel reads them by pointer: one row for a batch of two used to read past it."""
    raw, memory, wp, rp = step_inputs(1, 1, 3)
    for name, bad in (("write_prev", (wp[:1], rp)), ("read_prev", (wp, rp[:, :, :-2]))):
        with pytest.raises(ValueError, match=rf"{name} must have shape \[2, 1, 7\]"):
            fused_step.ntm_step(raw, memory, *bad, 3, None)


@pytest.mark.parametrize("fused", [False, True])
def test_state_grad_clip_bounds_the_gradient_reaching_each_steps_state(fused):
    """With state_grad_clip=c the gradient arriving at every step's incoming memory and
    weightings is clipped to [-c, c] (the controller state is not), on either path; the
    forward is unchanged."""
    torch.manual_seed(0)
    plain = NTMCore(5, 16, 6, controller_size=16, fused=fused)
    clipped = NTMCore(5, 16, 6, controller_size=16, fused=fused, state_grad_clip=1e-3)
    clipped.load_state_dict(plain.state_dict())
    assert clipped.with_memory_slots(32).state_grad_clip == 1e-3
    x = torch.randn(6, 2, 5)
    grads, ys = [], []
    for core in (plain, clipped):
        state = type(core.initial_state(2))(
            *(t.detach().clone().requires_grad_() for t in core.initial_state(2))
        )
        y, _ = core(x, state, torch.zeros(6, 2))
        (y.sum() * 1e3).backward()
        grads.append(state)
        ys.append(y)
    torch.testing.assert_close(ys[1], ys[0])
    for name in ("memory", "read_weights", "write_weights"):
        assert getattr(grads[0], name).grad.abs().max() > 1e-3  # the clip has work to do
        assert getattr(grads[1], name).grad.abs().max() <= 1e-3 + 1e-9
    assert grads[1].h.grad.abs().max() > 1e-3


@pytest.mark.parametrize("bad", [0.0, -1.0, float("nan")])
def test_state_grad_clip_refuses_non_positive_bounds(bad):
    with pytest.raises(ValueError, match="state_grad_clip must be a number > 0"):
        NTMCore(3, 8, 4, state_grad_clip=bad)


def test_a_stale_build_lock_is_removed_under_the_os_lock(tmp_path):
    """torch's bare ``lock`` file, left by a killed build, would make every later load wait
    forever; under the flock no live build of ours holds it, so it goes (with a warning)."""
    (tmp_path / "lock").write_text("")
    with (
        pytest.warns(RuntimeWarning, match="stale build lock"),
        fused_step.exclusive_build(str(tmp_path)),
    ):
        assert not (tmp_path / "lock").exists()
    with fused_step.exclusive_build(str(tmp_path)):  # nothing stale: no warning, no change
        assert not (tmp_path / "lock").exists()


def test_without_flock_a_build_lock_is_left_alone(tmp_path, monkeypatch):
    """Where the file system refuses flock, a lock file may be a live build's: keep it."""
    import fcntl

    def refuse(*args):
        raise OSError("flock not supported")

    monkeypatch.setattr(fcntl, "flock", refuse)
    (tmp_path / "lock").write_text("")
    with fused_step.exclusive_build(str(tmp_path)):
        assert (tmp_path / "lock").exists()


def test_load_in_a_new_process_passes_a_stale_build_lock():
    """End to end: a build directory holding a stale lock still loads (it hung before)."""
    import subprocess
    import sys

    fused_step.load()  # built and cached, so the child only checks and imports it
    openmp = fused_step.openmp_flags() if fused_step.load().openmp() else []
    build_dir = fused_step.build_directory(fused_step.build_flags(openmp), openmp)
    assert os.path.exists(os.path.join(build_dir, f"{fused_step.NAME}.so"))
    lock = os.path.join(build_dir, "lock")
    open(lock, "w").close()
    code = "from agents import fused_step; print(fused_step.load().kernel_isa())"
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=300, check=True
    )
    assert "stale build lock" in out.stderr
    assert not os.path.exists(lock)
