"""One LSTM or GRU layer over a whole sequence as one autograd node, with C++ loops (CPU).

torch's CPU ``nn.LSTM`` and ``nn.GRU`` record ~10 autograd ops per time step and replay them
one by one in the backward: at PPO's minibatches of 256 sequences of 128 steps that is
~130-180 ms per forward and backward of a 64-unit LSTM layer, most of the agent's training
time. :func:`lstm_sequence` and :func:`gru_sequence` run the same recurrences in
``agents/csrc/rnn_sequence.cpp`` (built with :mod:`agents.fused_step`'s extension): per step
one ``addmm`` and one vectorised pointwise call forward, one call and one matrix product
backward, and the weight gradients as one product each over all ``T B`` rows. Same results
as ``nn.LSTM`` / ``nn.GRU`` up to float rounding (``tests/test_fused_rnn.py``).

Equations (PyTorch's gate orders; a start at ``(t, b)`` resets row ``b`` to a zero state
before step ``t``):

- LSTM (Hochreiter & Schmidhuber 1997), gates ``i f g o``: ``gates = W_ih x_t + b_ih + W_hh h
  + b_hh``, ``c' = f c + i g``, ``h' = o tanh(c')``.
- GRU (Cho et al. 2014), gates ``r z n``: ``r = sigmoid(W_ir x + b_ir + W_hr h + b_hr)``, ``z``
  likewise, ``n = tanh(W_in x + b_in + r (W_hn h + b_hn))``, ``h' = (1 - z) n + z h``.
"""

from __future__ import annotations

import torch
from torch.autograd.function import once_differentiable

from agents import fused_step


class _LSTMSequence(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, starts, h, c, w_ih, w_hh, bias):
        y, h_n, c_n, *saved = fused_step.load().lstm_sequence_forward(
            x, starts, h, c, w_ih, w_hh, bias
        )
        ctx.save_for_backward(x, starts, w_ih, w_hh, *saved)
        ctx.shapes = (y.shape, h_n.shape, c_n.shape)
        return y, h_n, c_n

    @staticmethod
    @once_differentiable
    def backward(ctx, dy, dh, dc):
        saved = ctx.saved_tensors  # once: non-reentrant checkpointing unpacks each only once
        grads = fused_step.grads_or_zeros((dy, dh, dc), ctx.shapes, saved[0])
        dx, dh0, dc0, d_w_ih, d_w_hh, d_bias = fused_step.load().lstm_sequence_backward(
            *grads, *saved, ctx.needs_input_grad[0]
        )
        return dx, None, dh0, dc0, d_w_ih, d_w_hh, d_bias


class _GRUSequence(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, starts, h, w_ih, w_hh, b_ih, b_hh):
        y, h_n, *saved = fused_step.load().gru_sequence_forward(
            x, starts, h, w_ih, w_hh, b_ih, b_hh
        )
        ctx.save_for_backward(x, starts, w_ih, w_hh, *saved)
        ctx.shapes = (y.shape, h_n.shape)
        return y, h_n

    @staticmethod
    @once_differentiable
    def backward(ctx, dy, dh):
        saved = ctx.saved_tensors  # once, as above
        grads = fused_step.grads_or_zeros((dy, dh), ctx.shapes, saved[0])
        dx, dh0, d_w_ih, d_w_hh, d_b_ih, d_b_hh = fused_step.load().gru_sequence_backward(
            *grads, *saved, ctx.needs_input_grad[0]
        )
        return dx, None, dh0, d_w_ih, d_w_hh, d_b_ih, d_b_hh


def _checked(x: torch.Tensor, h: torch.Tensor, name: str) -> None:
    if x.dim() != 3 or h.dim() != 2:
        raise ValueError(f"{name} needs x [T, B, F] and h [B, C], got {x.shape}, {h.shape}")
    if x.device.type != "cpu":
        raise ValueError(f"{name} runs on CPU tensors only, got {x.device}")


def lstm_sequence(
    x: torch.Tensor,
    episode_starts: torch.Tensor,
    h: torch.Tensor,
    c: torch.Tensor,
    w_ih: torch.Tensor,
    w_hh: torch.Tensor,
    bias: torch.Tensor,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """One LSTM layer over ``x [T, B, F]`` from ``h, c [B, C]``, resetting rows to zeros
    where ``episode_starts [T, B]`` is set: ``(y [T, B, C], h [B, C], c [B, C])``.

    ``w_ih [4C, F]``, ``w_hh [4C, C]`` and ``bias [4C]`` (``b_ih + b_hh``) as ``nn.LSTM``
    holds them. CPU tensors of one floating dtype.
    """
    _checked(x, h, "lstm_sequence")
    return _LSTMSequence.apply(
        x.contiguous(), episode_starts.bool().contiguous(), h.contiguous(), c.contiguous(),
        w_ih.contiguous(), w_hh.contiguous(), bias.contiguous(),
    )  # fmt: skip


def gru_sequence(
    x: torch.Tensor,
    episode_starts: torch.Tensor,
    h: torch.Tensor,
    w_ih: torch.Tensor,
    w_hh: torch.Tensor,
    b_ih: torch.Tensor,
    b_hh: torch.Tensor,
) -> tuple[torch.Tensor, torch.Tensor]:
    """One GRU layer over ``x [T, B, F]`` from ``h [B, C]``, resetting rows to zeros where
    ``episode_starts [T, B]`` is set: ``(y [T, B, C], h [B, C])``.

    ``w_ih [3C, F]``, ``w_hh [3C, C]``, ``b_ih`` and ``b_hh [3C]`` as ``nn.GRU`` holds them
    (the two biases stay apart: ``b_hn`` is inside the reset gate's product). CPU tensors of
    one floating dtype.
    """
    _checked(x, h, "gru_sequence")
    return _GRUSequence.apply(
        x.contiguous(), episode_starts.bool().contiguous(), h.contiguous(), w_ih.contiguous(),
        w_hh.contiguous(), b_ih.contiguous(), b_hh.contiguous(),
    )  # fmt: skip


def applies(x: torch.Tensor) -> bool:
    """Whether the C++ sequences can run on ``x [T, B, F]`` here: CPU, float32 or float64,
    more than one step, and the extension builds (first call: about a minute, then cached)."""
    return (
        x.device.type == "cpu"
        and x.dtype in (torch.float32, torch.float64)
        and x.shape[0] > 1
        and fused_step.available()
    )
