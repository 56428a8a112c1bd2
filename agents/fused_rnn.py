"""One LSTM or GRU layer over a whole sequence as one autograd node, with C++ loops (CPU).

torch's CPU ``nn.LSTM`` and ``nn.GRU`` record ~10 autograd ops per time step and replay them
one by one in the backward: at PPO's minibatches of 256 sequences of 128 steps that is
~130-180 ms per forward and backward of a 64-unit LSTM layer, most of the agent's training
time. :func:`lstm_sequence` and :func:`gru_sequence` run the same recurrences in
``agents/csrc/rnn_sequence.cpp`` (built with :mod:`agents.fused_step`'s extension): per step
one ``addmm`` and one vectorised pointwise call forward, one call and one matrix product
backward, and the weight gradients as one product each over all ``T B`` rows. Same results
as ``nn.LSTM`` / ``nn.GRU`` up to float rounding (``tests/test_fused_rnn.py``). With several
torch threads a batch runs as blocks of rows, one per thread (:func:`fused_step.row_blocks`).

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


class _RNNSequence(torch.autograd.Function):
    """One ``kind`` ("lstm" or "gru") layer over a sequence: the C++ loops in one call or, with
    ``blocks > 1``, in blocks of rows on torch's threads (:func:`fused_step.row_blocks`). Every
    tensor the backward needs is saved with ``save_for_backward``, so saved-tensor hooks
    (``bptt_checkpoint``'s checkpointing) see them all."""

    @staticmethod
    def forward(ctx, kind, n_state, blocks, x, starts, *tensors):
        # tensors: the state (h; or h and c), then the weights (w_ih, w_hh, then the biases)
        ext = fused_step.load()
        if blocks == 1:
            y, *rest = getattr(ext, f"{kind}_sequence_forward")(x, starts, *tensors)
        else:  # the same outputs, then every block's saved tensors
            y, *rest = getattr(ext, f"{kind}_sequence_forward_blocks")(x, starts, *tensors, blocks)
        final, saved = rest[:n_state], rest[n_state:]
        ctx.save_for_backward(x, starts, *tensors[n_state : n_state + 2], *saved)
        ctx.kind, ctx.blocks, ctx.shapes = kind, blocks, (y.shape, *(t.shape for t in final))
        return y, *final

    @staticmethod
    @once_differentiable
    def backward(ctx, dy, *d_final):
        saved = ctx.saved_tensors  # once: non-reentrant checkpointing unpacks each only once
        grads = fused_step.grads_or_zeros((dy, *d_final), ctx.shapes, saved[0])
        ext, need_dx = fused_step.load(), ctx.needs_input_grad[3]
        if ctx.blocks == 1:
            dx, *rest = getattr(ext, f"{ctx.kind}_sequence_backward")(*grads, *saved, need_dx)
        else:  # x, starts, w_ih, w_hh, then the blocks' saved tensors as one list
            dx, *rest = getattr(ext, f"{ctx.kind}_sequence_backward_blocks")(
                *grads, *saved[:4], saved[4:], ctx.blocks, need_dx
            )
        return None, None, None, dx, None, *rest


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
    return _RNNSequence.apply(
        "lstm", 2, fused_step.row_blocks(x.shape[1]), x.contiguous(),
        episode_starts.bool().contiguous(), h.contiguous(), c.contiguous(),
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
    return _RNNSequence.apply(
        "gru", 1, fused_step.row_blocks(x.shape[1]), x.contiguous(),
        episode_starts.bool().contiguous(), h.contiguous(), w_ih.contiguous(),
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
