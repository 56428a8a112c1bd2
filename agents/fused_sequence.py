"""A whole NTM sequence (LSTM controller + fused step) as one autograd node, for training.

``NTMCore`` run step by step records ~140 autograd ops per step (the LSTM cell, the head
projection, concatenations, resets) around the fused C++ step of :mod:`agents.fused_step`;
at a minibatch of 64 sequences that bookkeeping costs about as much as the step itself.
:func:`ntm_sequence` runs the same recurrence for ``T`` steps as one
``torch.autograd.Function`` whose loops are C++ (``agents/csrc/ntm_sequence.cpp``, built
with the fused step): per step forward one ``addmm`` for the recurrent part of the LSTM gates,
their activations, one ``addmm`` for the head outputs and the fused step; backward the fused
step's backward, the LSTM's, one ``addmm`` and one ``mm``; every weight gradient is formed
after the loop as one matrix product over all ``T B`` rows. Same results as the step-wise
core up to float rounding (``tests/test_fused_sequence.py``). With several torch threads a
minibatch runs as blocks of consecutive rows (:func:`agents.fused_step.row_blocks`), each
through the C++ loops on its own thread: rows are independent until the weight gradients,
which are summed over the blocks (so results differ from one call by float rounding).

Scope: soft reads, or sampled reads replayed (as PPO's update replays the rollout's slots:
each read head reads its slot of memory t - 1 and keeps the one-hot weighting, with the log
probability and entropy of the soft weighting it was drawn from, straight-through if the
core says so, and the expected reads if asked: ``CoreExtras.expected``), a soft or
sequential write, the LSTM controller, CPU, no ``state_grad_clip``, no trace;
:meth:`NTMCore.forward` uses it only then, and only where a gradient is recorded (rollouts,
one step at a time and sampling, run the step-wise path).

Equations (``i f g o`` the LSTM gates, PyTorch's order; ``r`` the reads of step t - 1):
``gates = W_ih [x_t, r] + b_ih + W_hh h + b_hh``, ``c' = f c + i g``, ``h' = o tanh(c')``,
``raw = W_head h' + b_head``, then the fused step (Graves et al. 2014, eqs. 2-9) on ``raw``.
"""

from __future__ import annotations

import itertools
from typing import NamedTuple

import torch
from torch.autograd.function import once_differentiable

from agents import fused_step


class SequenceConfig(NamedTuple):
    """What the loop needs besides tensors (hashable, passed through ``apply``)."""

    write_heads: int
    read_heads: int
    shifts: int
    head_clip: float  # 0: no clip
    sequential_write: bool  # head h writes slot W t + h: the kernel is given the weighting
    controller_output: bool  # y = [h, reads] (else the reads alone)
    memory_init: float
    straight_through: bool  # sampled reads: the used weighting's gradient reaches the soft one
    expected: bool  # sampled reads: also the expected reads (CoreExtras.expected)


class _NTMSequence(torch.autograd.Function):
    @staticmethod
    def forward(ctx, cfg: SequenceConfig, blocks: int, x, starts, slots, *tensors):
        # blocks: how many blocks of rows run in parallel (1: one call); slots: the replayed
        # read slots [T, B, R] (None: soft reads); tensors: the state (h, c, memory, read_w,
        # write_w, reads), the initial read_w [R, N], write_w [W, N], reads [R, M], and w_ih,
        # w_hh, bias, w_head, b_head
        ext = fused_step.load()
        w_ih, w_hh, w_head = tensors[9], tensors[10], tensors[12]
        args = (x, starts, *tensors, slots, *cfg[:7], cfg.expected)
        if blocks == 1:  # steps: the per-step tensors, in C++ (one object; per block, a list)
            out, steps = ext.sequence_forward(*args)
        else:
            out, steps = ext.sequence_forward_blocks(*args, blocks)
        y, final, saved = out[0], out[1:10], out[10:]  # final: state, log_prob, entropy, ey
        ctx.n_saved, ctx.steps, ctx.step_counts = 5 + len(saved), steps, None
        per_step = []
        if fused_step.saved_tensor_hooks_active():  # checkpointing: they must see every tensor
            blocks_steps = [steps] if blocks == 1 else steps
            per_step = [s.tensors() for s in blocks_steps]
            ctx.steps, ctx.step_counts = None, [len(t) for t in per_step]
        ctx.save_for_backward(
            x, starts, w_ih, w_hh, w_head, *saved, *itertools.chain.from_iterable(per_step)
        )
        ctx.cfg, ctx.slots, ctx.blocks = cfg, slots, blocks
        ctx.final_shapes = [t.shape for t in final]
        return y, *final

    @staticmethod
    @once_differentiable
    def backward(ctx, dy, *d_final):
        d_final = fused_step.grads_or_zeros(d_final, ctx.final_shapes, dy)
        cfg, ext, every = ctx.cfg, fused_step.load(), ctx.saved_tensors  # unpacked once
        saved, steps = every[: ctx.n_saved], ctx.steps
        if steps is None:  # saved through the hooks: back into one holder per block
            ends = itertools.accumulate(ctx.step_counts, initial=ctx.n_saved)
            steps = [ext.SavedSteps(list(every[a:b])) for a, b in itertools.pairwise(ends)]
            steps = steps[0] if ctx.blocks == 1 else steps
        if ctx.blocks == 1:
            backward, saved = ext.sequence_backward, (*saved, steps)
        else:  # every block's saved tensors as one list, then the blocks' per-step ones
            backward, saved = ext.sequence_backward_blocks, (*saved[:5], saved[5:], steps)
        grads = backward(
            dy.contiguous(), *d_final, *saved, ctx.slots, *cfg[:6], cfg.straight_through,
            ctx.needs_input_grad[2],
        )  # fmt: skip
        return None, None, grads[0], None, None, *grads[1:]


def ntm_sequence(core, x: torch.Tensor, state, episode_starts: torch.Tensor, extras=None):
    """Run ``core`` (an :class:`agents.cores.ntm.NTMCore` for which :func:`sequence_applies`)
    over ``x [T, B, F]`` from ``state`` with resets at ``episode_starts [T, B]``: ``(y [T, B,
    Y], state)``, as ``StepCore.forward`` would return them; with sampled reads it replays
    ``extras.replay`` and fills ``extras.actions``, ``log_prob`` and ``entropy``."""
    from agents.cores.ntm import MEMORY_INIT, NTMState

    init = core.initial_state(1, x.device)
    lstm = core.controller
    cfg = SequenceConfig(
        core.W, core.R, core.S, core.head_clip or 0.0, core.write_mode == "sequential",
        core.controller_output, MEMORY_INIT, core.straight_through,
        core.read_mode == "sample" and extras is not None and extras.expected,
    )  # fmt: skip
    sampled = core.read_mode == "sample"
    slots = extras.replay.long().contiguous() if sampled else None
    y, *final, log_prob, entropy, expected_reads = _NTMSequence.apply(
        cfg, fused_step.row_blocks(x.shape[1]), x.contiguous(),
        episode_starts.bool().contiguous(), slots,
        *(t.contiguous() for t in state),
        init.read_weights[0], init.write_weights[0], init.reads[0],
        lstm.weight_ih, lstm.weight_hh, lstm.bias_ih + lstm.bias_hh,
        *core.head_linear(),
    )  # fmt: skip
    if sampled:
        extras.actions, extras.log_prob, extras.entropy = slots, log_prob, entropy
    if cfg.expected:  # y with the expected reads in place of the sampled ones
        h = (y[..., : core.C],) if core.controller_output else ()
        extras.expected_y = torch.cat([*h, expected_reads], dim=-1)
    return y, NTMState(*final)


def sequence_applies(core, x: torch.Tensor, extras) -> bool:
    """Whether :func:`ntm_sequence` runs ``core`` on ``x`` (see the module's scope)."""
    replayed = extras is not None and extras.replay is not None
    return (
        core.fused
        and core.fused_sequence
        and torch.is_grad_enabled()
        and x.device.type == "cpu"
        and (core.read_mode == "soft" or replayed)
        and core.write_mode in ("soft", "sequential")
        and core.controller_kind == "lstm"
        and core.state_grad_clip is None
        and (extras is None or extras.trace is None)
    )
