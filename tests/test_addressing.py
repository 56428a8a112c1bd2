"""NTM addressing: hand-computed tables, gradcheck, and no NaN/inf at extreme head outputs."""

from __future__ import annotations

import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from agents import addressing as A

torch.set_default_dtype(torch.float32)


def t(x, dtype=torch.float64):
    return torch.tensor(x, dtype=dtype)


def test_cosine_similarity_table():
    memory = t([[[1.0, 0.0], [0.0, 2.0], [-3.0, 0.0]]])  # [1, 3, 2]
    keys = t([[[2.0, 0.0]]])  # [1, 1, 2]
    sim = A.cosine_similarity(keys, memory)
    assert sim.shape == (1, 1, 3)
    torch.testing.assert_close(sim, t([[[1.0, 0.0, -1.0]]]), atol=1e-5, rtol=0)


def test_content_weights_table():
    memory = t([[[1.0, 0.0], [0.0, 1.0]]])
    keys = t([[[1.0, 0.0]]])
    w = A.content_weights(keys, t([[2.0]]), memory)
    # softmax([2*1, 2*0]) = [e^2, 1] / (e^2 + 1)
    e2 = math.exp(2.0)
    torch.testing.assert_close(w, t([[[e2 / (e2 + 1), 1 / (e2 + 1)]]]), atol=1e-5, rtol=0)
    uniform = A.content_weights(keys, t([[0.0]]), memory)
    torch.testing.assert_close(uniform, t([[[0.5, 0.5]]]))


def test_interpolate_table():
    wc, wp = t([[[1.0, 0.0, 0.0]]]), t([[[0.0, 0.0, 1.0]]])
    torch.testing.assert_close(A.interpolate(wc, wp, t([[0.25]])), t([[[0.25, 0.0, 0.75]]]))


def test_shift_table():
    w = t([[[0.0, 1.0, 0.0, 0.0]]])
    right = A.shift(w, t([[[0.0, 0.0, 1.0]]]))  # all mass on offset +1
    torch.testing.assert_close(right, t([[[0.0, 0.0, 1.0, 0.0]]]))
    left = A.shift(w, t([[[1.0, 0.0, 0.0]]]))  # offset -1
    torch.testing.assert_close(left, t([[[1.0, 0.0, 0.0, 0.0]]]))
    wrap = A.shift(t([[[0.0, 0.0, 0.0, 1.0]]]), t([[[0.0, 0.0, 1.0]]]))  # circular
    torch.testing.assert_close(wrap, t([[[1.0, 0.0, 0.0, 0.0]]]))
    spread = A.shift(w, t([[[0.2, 0.5, 0.3]]]))
    torch.testing.assert_close(spread, t([[[0.2, 0.5, 0.3, 0.0]]]))


def test_sharpen_table():
    w = t([[[0.5, 0.25, 0.25]]])
    out = A.sharpen(w, t([[2.0]]))
    torch.testing.assert_close(out, t([[[0.25, 0.0625, 0.0625]]]) / 0.375, atol=1e-5, rtol=0)
    torch.testing.assert_close(A.sharpen(w, t([[1.0]])), w, atol=1e-5, rtol=0)


def test_erase_and_add_table():
    memory = t([[[1.0, 1.0], [2.0, 2.0]]])
    w = t([[[1.0, 0.0]]])
    erase = t([[[1.0, 0.5]]])
    add = t([[[3.0, 4.0]]])
    out = A.erase_and_add(memory, w, erase, add)
    torch.testing.assert_close(out, t([[[0.0 + 3.0, 0.5 + 4.0], [2.0, 2.0]]]))
    # two heads: erase products multiply, adds sum
    w2 = t([[[0.5, 0.0], [0.5, 0.0]]])
    out2 = A.erase_and_add(memory, w2, t([[[1.0, 0.0], [1.0, 0.0]]]), t([[[1.0, 0.0], [1.0, 0.0]]]))
    torch.testing.assert_close(out2, t([[[0.25 + 1.0, 1.0], [2.0, 2.0]]]))


def test_read_table():
    memory = t([[[1.0, 2.0], [3.0, 4.0]]])
    torch.testing.assert_close(A.read(memory, t([[[0.25, 0.75]]])), t([[[2.5, 3.5]]]))


def test_hard_read_and_log_prob():
    memory = t([[[1.0, 2.0], [3.0, 4.0]], [[5.0, 6.0], [7.0, 8.0]]])
    slots = torch.tensor([[1], [0]])
    torch.testing.assert_close(A.read_slots(memory, slots), t([[[3.0, 4.0]], [[5.0, 6.0]]]))
    w = t([[[0.0, 1.0]], [[1.0, 0.0]]])
    lp = A.slot_log_prob(w, torch.tensor([[0], [0]]))
    assert torch.isfinite(lp).all() and lp[0, 0] < -10 and abs(lp[1, 0]) < 1e-5


def test_sampling_stays_in_range_and_follows_weights():
    gen = torch.Generator().manual_seed(0)
    w = torch.softmax(torch.randn(64, 3, 10, generator=gen), -1)
    slots = torch.stack([A.sample_slots(w, gen) for _ in range(200)])
    assert slots.min() >= 0 and slots.max() < 10
    peaked = A.one_hot_weights(torch.full((5, 2), 7), 10)
    assert (A.sample_slots(peaked, gen) == 7).all()


@pytest.mark.parametrize(
    "fn,args",
    [
        (A.cosine_similarity, lambda: (torch.randn(2, 2, 3), torch.randn(2, 4, 3))),
        (
            A.content_weights,
            lambda: (torch.randn(2, 2, 3), torch.rand(2, 2) * 3, torch.randn(2, 4, 3)),
        ),
        (A.interpolate, lambda: (torch.rand(2, 2, 4), torch.rand(2, 2, 4), torch.rand(2, 2))),
        (A.shift, lambda: (torch.rand(2, 2, 5), torch.softmax(torch.randn(2, 2, 3), -1))),
        (A.sharpen, lambda: (torch.rand(2, 2, 4) + 0.1, 1 + torch.rand(2, 2) * 3)),
        (A.read, lambda: (torch.randn(2, 4, 3), torch.softmax(torch.randn(2, 2, 4), -1))),
        (
            A.erase_and_add,
            lambda: (
                torch.randn(2, 4, 3),
                torch.rand(2, 2, 4),
                torch.rand(2, 2, 3),
                torch.randn(2, 2, 3),
            ),
        ),
        (A.weight_entropy, lambda: (torch.softmax(torch.randn(2, 2, 4), -1),)),
    ],
    ids=lambda x: getattr(x, "__name__", ""),
)
def test_gradcheck(fn, args):
    torch.manual_seed(0)
    inputs = tuple(a.double().requires_grad_() for a in args())
    assert torch.autograd.gradcheck(fn, inputs, eps=1e-6, atol=1e-5)


extreme = st.sampled_from([0.0, 1e-12, 1e-6, 1.0, 1e3, 1e6, 1e12])


@settings(max_examples=60, deadline=None)
@given(
    key_scale=extreme,
    mem_scale=extreme,
    beta=extreme,
    gamma=st.sampled_from([1.0, 1.5, 10.0, 1e3, 1e6]),
    gate=st.sampled_from([0.0, 0.5, 1.0]),
    seed=st.integers(0, 2**16),
)
def test_no_nan_or_inf_at_extremes(key_scale, mem_scale, beta, gamma, gate, seed):
    gen = torch.Generator().manual_seed(seed)
    B, H, N, M = 2, 2, 6, 3
    memory = (torch.randn(B, N, M, generator=gen) * mem_scale).requires_grad_()
    keys = (torch.randn(B, H, M, generator=gen) * key_scale).requires_grad_()
    prev = torch.softmax(torch.randn(B, H, N, generator=gen), -1).requires_grad_()
    beta_t = torch.full((B, H), beta, requires_grad=True)
    gate_t = torch.full((B, H), gate, requires_grad=True)
    shifts = torch.softmax(torch.randn(B, H, 3, generator=gen), -1).requires_grad_()
    gamma_t = torch.full((B, H), gamma, requires_grad=True)
    erase = torch.rand(B, H, M, generator=gen).requires_grad_()
    add = torch.randn(B, H, M, generator=gen).requires_grad_()
    w = A.address(memory, prev, keys, beta_t, gate_t, shifts, gamma_t)
    assert torch.isfinite(w).all()
    torch.testing.assert_close(w.sum(-1), torch.ones(B, H))
    new_memory = A.erase_and_add(memory, w, erase, add)
    r = A.read(new_memory, w)
    slots = A.sample_slots(w.detach(), gen)
    lp = A.slot_log_prob(w, slots)
    loss = r.sum() + lp.sum() + A.weight_entropy(w).sum()
    loss.backward()
    for tensor in (memory, keys, prev, beta_t, gate_t, shifts, gamma_t, erase, add):
        assert torch.isfinite(tensor.grad).all()


def test_zero_vectors_are_safe():
    memory = torch.zeros(1, 4, 3, requires_grad=True)
    keys = torch.zeros(1, 1, 3, requires_grad=True)
    w = A.content_weights(keys, torch.ones(1, 1), memory)
    torch.testing.assert_close(w, torch.full((1, 1, 4), 0.25))
    w.sum().backward()
    assert torch.isfinite(memory.grad).all() and torch.isfinite(keys.grad).all()
    s = A.sharpen(torch.tensor([[[0.0, 1.0, 0.0]]], requires_grad=True), torch.tensor([[50.0]]))
    assert torch.isfinite(s).all()


F32_MAX = torch.finfo(torch.float32).max
huge = st.sampled_from([1.0, 1e6, 1e20, 1e30, 1e38, F32_MAX])


def finite(*tensors: torch.Tensor) -> bool:
    return all(torch.isfinite(x).all() for x in tensors)


@settings(max_examples=60, deadline=None)
@given(scale=huge, seed=st.integers(0, 2**16))
def test_cosine_similarity_is_finite_up_to_float32_max(scale, seed):
    """Issue 14 item 5: vectors at 1e20 gave NaN (their squared norms overflow)."""
    gen = torch.Generator().manual_seed(seed)
    keys = (torch.rand(2, 2, 4, generator=gen) * 2 - 1) * scale
    memory = torch.cat([keys, (torch.rand(2, 3, 4, generator=gen) * 2 - 1) * scale], dim=1)
    keys.requires_grad_()
    memory.requires_grad_()
    sim = A.cosine_similarity(keys, memory)
    (sim * torch.randn(sim.shape, generator=gen)).sum().backward()
    assert finite(sim, keys.grad, memory.grad)
    assert sim.abs().max() <= 1.0 + 1e-6
    same = torch.diagonal(sim[:, :, :2], dim1=1, dim2=2)  # key i against its own copy
    # identical vectors give |k|^2 / (|k|^2 + eps) (eps inside the norms): 1 up to eps/|k|^2
    n2 = (A._unit_scale(keys.detach()) ** 2).sum(-1)
    torch.testing.assert_close(same, n2 / (n2 + A.EPSILON), atol=1e-5, rtol=0)


def test_cosine_similarity_identical_vectors_at_1e20():
    v = torch.full((1, 1, 3), 1e20, requires_grad=True)
    sim = A.cosine_similarity(v, v.detach().clone().requires_grad_())
    sim.sum().backward()
    assert abs(sim.item() - 1.0) < 1e-5 and finite(v.grad)


@settings(max_examples=60, deadline=None)
@given(
    beta=st.sampled_from([1e10, 1e20, 1e35, F32_MAX]),
    gamma=st.sampled_from([1e10, 2.5e37, F32_MAX]),
    slots=st.sampled_from([2, 128, 4096]),
    seed=st.integers(0, 2**16),
)
def test_huge_key_strength_and_sharpening_stay_finite(beta, gamma, slots, seed):
    """Issue 14 item 5: beta = 1e35 gave NaN gradients, gamma = 2.5e37 NaN values."""
    gen = torch.Generator().manual_seed(seed)
    memory = torch.randn(2, slots, 4, generator=gen)
    memory[:, 1] = memory[:, 0]  # ties between slots
    memory.requires_grad_()
    keys = memory[:, :2].detach().clone().requires_grad_()
    beta_t = torch.full((2, 2), beta, requires_grad=True)
    gamma_t = torch.full((2, 2), gamma, requires_grad=True)
    w = A.content_weights(keys, beta_t, memory)
    uniform = torch.full((2, 2, slots), 1.0 / slots, requires_grad=True)
    zero = torch.zeros(2, 2, slots, requires_grad=True)
    outs = [w, A.sharpen(w, gamma_t), A.sharpen(uniform, gamma_t), A.sharpen(zero, gamma_t)]
    sum((o * torch.randn(o.shape, generator=gen)).sum() for o in outs).backward()
    assert finite(*outs, memory.grad, keys.grad, beta_t.grad, gamma_t.grad, uniform.grad, zero.grad)
    for o in outs:
        torch.testing.assert_close(o.sum(-1), torch.ones(2, 2))


def _shift_reference(weights: torch.Tensor, shifts: torch.Tensor) -> torch.Tensor:
    """Eq. 8 by its definition: w~(i) = sum_j w(j) s((i - j) mod N), offsets -r..r."""
    n, r = weights.shape[-1], shifts.shape[-1] // 2
    out = torch.zeros_like(weights)
    for i in range(n):
        for k in range(-r, r + 1):
            out[..., i] += weights[..., (i - k) % n] * shifts[..., k + r]
    return out


@pytest.mark.parametrize("offsets", [1, 3, 5, 7])
def test_shift_matches_eq8_for_every_radius(offsets):
    gen = torch.Generator().manual_seed(offsets)
    w = torch.softmax(torch.randn(3, 2, 9, generator=gen), -1)
    s = torch.softmax(torch.randn(3, 2, offsets, generator=gen), -1)
    torch.testing.assert_close(A.shift(w, s), _shift_reference(w, s))


def test_gradcheck_one_head_erase_and_add():
    """One write head takes its own fused path (M + w (a - e M)^T)."""
    torch.manual_seed(0)
    args = (torch.randn(2, 4, 3), torch.rand(2, 1, 4), torch.rand(2, 1, 3), torch.randn(2, 1, 3))
    inputs = tuple(a.double().requires_grad_() for a in args)
    assert torch.autograd.gradcheck(A.erase_and_add, inputs, eps=1e-6, atol=1e-5)
    memory, w, e, a = (x.detach() for x in inputs)
    expected = memory * (1 - w.transpose(1, 2) @ e) + w.transpose(1, 2) @ a  # eqs. 3-4
    torch.testing.assert_close(A.erase_and_add(memory, w, e, a), expected)


@pytest.mark.parametrize("scale", [1e-6, 0.5, 3.0, 1e6, 1e18, 1e30])
def test_cosine_similarity_fast_path_equals_scaled_memory(scale):
    """On CPU memory is scaled only when its squared norms overflow; either way the cosine
    equals the one computed on memory scaled to max-abs 1 per slot."""
    gen = torch.Generator().manual_seed(0)
    keys = torch.randn(2, 3, 5, generator=gen)
    memory = torch.randn(2, 7, 5, generator=gen) * scale
    memory[:, 0] = 1e-6  # a freshly initialised slot
    expected = A.cosine_similarity(keys, A._unit_scale(memory))
    torch.testing.assert_close(A.cosine_similarity(keys, memory), expected, atol=1e-6, rtol=1e-5)
