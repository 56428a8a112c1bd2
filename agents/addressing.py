"""Neural Turing Machine addressing as small pure functions (Graves et al. 2014, sec. 3.3).

Shapes: ``B`` batch, ``H`` heads, ``N`` memory slots, ``M`` slot width, ``S`` shift offsets.
Addressing (similarity, content weights, interpolate, shift, sharpen) gives no NaN/inf in
values or gradients for every finite float32 input: zero vectors, vectors up to the float32
maximum (rescaled before their norms are taken), and key strengths and sharpening exponents
up to the float32 maximum (clamped at ``BETA_MAX`` / ``GAMMA_MAX``, far beyond what changes a
weighting: a softmax is saturated long before). ``read`` and ``erase_and_add`` are weighted
sums: finite while ``N * max|memory|`` and ``max|add|`` stay below the float32 maximum.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

EPSILON = 1e-6
BETA_MAX = 1e6  # key strength clamp: beta * K stays <= 1e6, its gradients finite
GAMMA_MAX = 1e6  # sharpening clamp: gamma * log(eps) = -1.4e7, finite


def _unit_scale(x: torch.Tensor) -> torch.Tensor:
    """``x`` divided by ``max(max_i |x_i|, 1)`` over its last axis (the scale detached: the
    cosine is scale-free, so its gradient is unchanged), so squared norms cannot overflow."""
    return x / x.detach().abs().amax(-1, keepdim=True).clamp_min(1.0)


def cosine_similarity(keys: torch.Tensor, memory: torch.Tensor) -> torch.Tensor:
    """K[b, h, i] = k·M_i / (||k|| ||M_i||) with eps inside the norms (eq. 6).

    Vectors with an entry above 1 in magnitude are first scaled to max-abs 1. Memory is
    scaled only where its squared norms would overflow (checked on CPU, where the check is
    cheaper than three more passes over memory and their gradients; elsewhere, and under
    ``torch.compile``, always): with the key at max-abs <= 1 and every ``||M_i||^2``
    finite, the dot products are finite too, and rows with max-abs <= 1 are unchanged by
    the scale, so both paths give the same cosine.

    Args: keys ``[B, H, M]``, memory ``[B, N, M]``. Returns ``[B, H, N]`` in [-1, 1].
    """
    keys = _unit_scale(keys)
    mem_sq = None
    if memory.device.type == "cpu" and not torch.compiler.is_compiling():
        mem_sq = (memory * memory).sum(-1)  # [B, N]
        if not torch.isfinite(mem_sq).all():
            mem_sq = None
    if mem_sq is None:
        memory = _unit_scale(memory)
        mem_sq = (memory * memory).sum(-1)
    dot = torch.bmm(keys, memory.transpose(1, 2))
    key_norm = torch.sqrt((keys * keys).sum(-1) + EPSILON)  # [B, H]
    mem_norm = torch.sqrt(mem_sq + EPSILON)  # [B, N]
    return dot / (key_norm.unsqueeze(-1) * mem_norm.unsqueeze(1))


def content_weights(
    keys: torch.Tensor, strengths: torch.Tensor, memory: torch.Tensor
) -> torch.Tensor:
    """w^c_t(i) = softmax_i(beta_t K(k_t, M_t(i))) (eq. 5).

    Args: keys ``[B, H, M]``, strengths beta ``[B, H]`` (>= 0, clamped at ``BETA_MAX``),
    memory ``[B, N, M]``. Returns ``[B, H, N]``, rows summing to 1.
    """
    beta = strengths.clamp(max=BETA_MAX).unsqueeze(-1)
    return torch.softmax(beta * cosine_similarity(keys, memory), dim=-1)


def interpolate(content: torch.Tensor, previous: torch.Tensor, gate: torch.Tensor) -> torch.Tensor:
    """w^g_t = g_t w^c_t + (1 - g_t) w_{t-1} (eq. 7).

    Args: content and previous weightings ``[B, H, N]``, gate g ``[B, H]`` in [0, 1].
    """
    g = gate.unsqueeze(-1)
    return g * content + (1.0 - g) * previous


def shift(weights: torch.Tensor, shifts: torch.Tensor) -> torch.Tensor:
    """Circular convolution w~_t(i) = sum_j w^g_t(j) s_t(i - j) (eq. 8).

    Args: weights ``[B, H, N]``, shifts ``[B, H, S]`` a distribution over the offsets
    ``-(S // 2) .. S // 2`` (S odd). Returns ``[B, H, N]``.
    """
    radius = shifts.shape[-1] // 2
    # w~(i) = sum_k w(i - k) s(k) = sum_k roll(w, k)[i] s(k): S rolls of [B, H, N] (cheaper
    # in time and in backward than unfolding a padded copy into [B, H, N, S] windows)
    out = weights * shifts[..., radius : radius + 1]
    for k in range(1, radius + 1):
        out = out + torch.roll(weights, k, -1) * shifts[..., radius + k : radius + k + 1]
        out = out + torch.roll(weights, -k, -1) * shifts[..., radius - k : radius - k + 1]
    return out


def sharpen(weights: torch.Tensor, gamma: torch.Tensor) -> torch.Tensor:
    """w_t(i) = w~_t(i)^gamma / sum_j w~_t(j)^gamma (eq. 9), computed as a softmax of
    ``gamma * log(w + eps)`` so that zero weights and huge gamma stay finite.

    Args: weights ``[B, H, N]`` (non-negative), gamma ``[B, H]`` (>= 1, clamped at
    ``GAMMA_MAX``).
    """
    return torch.softmax(
        gamma.clamp(max=GAMMA_MAX).unsqueeze(-1) * torch.log(weights + EPSILON), dim=-1
    )


def address(
    memory: torch.Tensor,
    previous: torch.Tensor,
    keys: torch.Tensor,
    strengths: torch.Tensor,
    gate: torch.Tensor,
    shifts: torch.Tensor,
    gamma: torch.Tensor,
) -> torch.Tensor:
    """Full NTM addressing: content -> interpolate -> shift -> sharpen (fig. 2). ``[B, H, N]``."""
    w = content_weights(keys, strengths, memory)
    w = interpolate(w, previous, gate)
    w = shift(w, shifts)
    return sharpen(w, gamma)


def read(memory: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    """r_t = sum_i w_t(i) M_t(i) (eq. 2): ``[B, N, M]``, ``[B, H, N]`` -> ``[B, H, M]``."""
    return torch.bmm(weights, memory)


def erase_and_add(
    memory: torch.Tensor, weights: torch.Tensor, erase: torch.Tensor, add: torch.Tensor
) -> torch.Tensor:
    """M_t = M_{t-1} * prod_h (1 - w_h e_h^T) + sum_h w_h a_h^T (eqs. 3-4).

    Args: memory ``[B, N, M]``, weights ``[B, H, N]``, erase ``[B, H, M]`` in [0, 1],
    add ``[B, H, M]``. Returns the new memory ``[B, N, M]``.
    """
    wt = weights.transpose(1, 2)  # [B, N, H]
    if weights.shape[1] == 1:  # one head: M + w (a - e M)^T, one fused pass (addcmul)
        return torch.addcmul(memory, wt, add - erase * memory)
    keep = (1.0 - weights.unsqueeze(-1) * erase.unsqueeze(-2)).prod(dim=1)  # [B, N, M]
    return memory * keep + torch.bmm(wt, add)


def sample_slots(weights: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    """Draw one slot per head from the weighting read as a categorical distribution.

    Args: weights ``[B, H, N]`` (rows sum to 1). Returns int64 ``[B, H]`` in ``[0, N)``.
    """
    flat = weights.reshape(-1, weights.shape[-1]).clamp_min(0.0) + EPSILON
    idx = torch.multinomial(flat, 1, generator=generator)
    return idx.view(weights.shape[:-1])


def slot_log_prob(weights: torch.Tensor, slots: torch.Tensor) -> torch.Tensor:
    """log p(slot) under the weighting, floored at log(eps): finite however peaked.

    Args: weights ``[B, H, N]``, slots int64 ``[B, H]``. Returns ``[B, H]``.
    """
    picked = weights.gather(-1, slots.unsqueeze(-1)).squeeze(-1)
    return torch.log(picked + EPSILON)


def weight_entropy(weights: torch.Tensor) -> torch.Tensor:
    """H(w) = -sum_i w(i) log w(i) per head, ``[B, H, N] -> [B, H]`` (nats)."""
    return -(weights * torch.log(weights + EPSILON)).sum(-1)


def read_slots(memory: torch.Tensor, slots: torch.Tensor) -> torch.Tensor:
    """Hard read of the chosen rows: ``[B, N, M]``, ``[B, H]`` -> ``[B, H, M]``."""
    return memory.gather(1, slots.unsqueeze(-1).expand(-1, -1, memory.shape[-1]))


def one_hot_weights(slots: torch.Tensor, num_slots: int) -> torch.Tensor:
    """The weighting that puts all mass on the chosen slot: ``[B, H] -> [B, H, N]``."""
    return F.one_hot(slots, num_slots).to(torch.get_default_dtype())


def straight_through(hard: torch.Tensor, soft: torch.Tensor) -> torch.Tensor:
    """``hard`` forward, ``soft``'s gradient backward: ``hard + soft - stopgrad(soft)``
    (the straight-through estimator, Bengio et al. 2013). Forward values equal ``hard``
    exactly (``x - x`` is 0 in floating point for finite ``x``). Shapes: any, equal."""
    return hard + (soft - soft.detach())
