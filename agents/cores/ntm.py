"""Neural Turing Machine core (Graves et al. 2014), soft or stochastic addressing.

Each step: the controller sees the input and the previous reads; its output sets, for
every head, a key, key strength beta, interpolation gate g, shift distribution s and
sharpening gamma >= 1 (write heads also an erase and an add vector). All heads address the
memory of step t - 1 in one batched call; the read heads read it, then the write heads erase
and add (the order of pytorch-ntm and Collier & Beel 2018), so a read at step t sees the
writes up to step t - 1 (the controller sees x_t itself). The output is the controller state
plus the reads (or the reads alone, ``controller_output=False``).

``read_mode="sample"`` (and optionally ``write_mode="sample"``) turns a head's weighting
into a categorical distribution: one slot is sampled (argmax when deterministic) and used
as a hard one-hot weighting, as in Zaremba & Sutskever 2015. The slot choices are internal
actions reported through :class:`CoreExtras` and trained by the policy gradient.
``straight_through=True`` also passes the loss's gradient to the addressing of a sampled
head as if its weighting were soft (Bengio et al. 2013): forward values are unchanged, so a
read head can learn to move by backpropagation and not only by the policy gradient.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import nn

from agents import addressing as A
from agents import fused_step
from agents.checks import check_bool, check_number, check_optional_positive
from agents.cores.base import (
    MAX_SIZE,
    CoreExtras,
    Diagnostics,
    StepCore,
    StepOutput,
    check_int,
    check_sequence,
)
from agents.fused_sequence import ntm_sequence, sequence_applies

MEMORY_INIT = 1e-6  # constant memory initialisation (Collier & Beel 2018)
# Initial logit of slot 0 (all others 0): the initial weightings put 1 - (N-1)/(e^10+N-1)
# (0.994 at N = 128) on slot 0. With constant memory, uniform initial weightings address,
# write and read every slot identically forever, and their gradients are equal too, so
# nothing ever breaks the symmetry between slots (issue 11); a focused start does.
INIT_FOCUS = 10.0
# the read gate's logit with read_content=False: sigmoid(-30) ~ 1e-13 (-head_clip after the
# clip: sigmoid(-20) ~ 2e-9), so eq. 7 keeps the previous weighting and content cannot enter
GATE_OFF = 30.0
MODES = ("soft", "sample")
WRITE_MODES = (*MODES, "sequential")


def focused_logits(heads: int, slots: int) -> torch.Tensor:
    """Initial weighting logits ``[heads, slots]``: ``INIT_FOCUS`` on slot 0, zero elsewhere."""
    logits = torch.zeros(heads, slots)
    logits[:, 0] = INIT_FOCUS
    return logits


class _ClipGrad(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, bound):
        ctx.bound = bound
        return x.view_as(x)

    @staticmethod
    def backward(ctx, grad):
        return grad.clamp(-ctx.bound, ctx.bound), None


def clip_grad(x: torch.Tensor, bound: float) -> torch.Tensor:
    """Identity forward; the gradient passing back through it is clipped to [-bound, bound]
    (NaN stays NaN). A no-op where no gradient is recorded."""
    if not (torch.is_grad_enabled() and x.requires_grad):
        return x
    return _ClipGrad.apply(x, bound)


class NTMState(NamedTuple):
    h: torch.Tensor  # [B, C] controller hidden (zeros for a feed-forward controller)
    c: torch.Tensor  # [B, C] controller cell
    memory: torch.Tensor  # [B, N, M]
    read_weights: torch.Tensor  # [B, R, N]
    write_weights: torch.Tensor  # [B, W, N]
    reads: torch.Tensor  # [B, R, M]


class NTMCore(StepCore):
    """NTM memory core: ``N x M`` memory, ``R`` read heads, ``W`` write heads.

    Args:
        input_size: features per step ``F``.
        memory_slots: ``N`` (default 128). memory_width: ``M`` (default 20).
        read_heads / write_heads: ``R`` / ``W`` (default 1 each).
        controller: ``"lstm"`` or ``"mlp"`` (feed-forward). controller_size: ``C``.
        shift_range: shifts allowed in each direction (offsets ``-r..r``, default 1).
        read_mode / write_mode: ``"soft"`` (differentiable) or ``"sample"`` (hard, sampled);
            ``write_mode="sequential"``: no write addressing, head ``h`` writes slot
            ``(W t + h) mod N`` at step ``t`` of an episode (one slot per step, issue 10), the
            position kept in the state as the one-hot write weighting.
        head_clip: the controller's raw head outputs are clipped to ``[-head_clip, head_clip]``
            (Collier & Beel 2018's ``clip_value``; ``None``: no clip), which bounds key
            strength and sharpening (beta, gamma - 1 <= softplus(head_clip)).
        compile: run the per-step function through ``torch.compile`` (soft modes only): fuses
            the ~150 small ops of a step; pays a one-off compile of about a minute.
        fused: on CPU, head activations, addressing, read and write in one C++ kernel with a
            hand-written backward (:mod:`agents.fused_step`; compiled once per machine, about
            30 s). Needs ``write_mode`` ``"soft"`` or ``"sequential"`` (the kernel then takes
            the write weighting as given); with ``read_mode="sample"`` the slot is drawn
            from the kernel's read weighting and read from memory t - 1 outside it. Same
            results up to float rounding; on other devices the step runs the aten path.
            ``None`` (default): fused where the modes allow it, ``compile`` is off and the
            kernel builds here (else the aten path, with a warning).
        fused_sequence: while a gradient is recorded, a fused core with the LSTM controller
            and soft reads (or sampled reads being replayed, as in PPO's update) runs the whole
            sequence as one autograd node with its loops in C++ (:mod:`agents.fused_sequence`):
            same results up to float rounding, a few large ops per step instead of ~140
            autograd ops. Default ``True``; ``False``: step by step (for comparison).
        state_grad_clip: clip the gradient reaching each step's incoming memory and weightings
            to ``[-c, c]`` during the backward (Graves 2013 clips LSTM derivatives this way),
            so it cannot compound through the weighting recurrence (eq. 7) and overflow within
            one backward; ``None`` (default): no clip.
        straight_through: sampled heads use the one-hot weighting ``e`` forward and the soft
            weighting ``w`` it was drawn from backward, ``e + w - stopgrad(w)`` (needs a
            sampled mode). Default ``False``: sampled slots get only the policy gradient.
        read_stay_bias: initial bias ``b >= 0`` of every read head towards staying where it
            is: gate logit ``-b`` (eq. 7 keeps the previous weighting) and shift logit ``+b``
            on offset 0 (eq. 8), so an untrained read head holds its slot and learns when to
            move. Default 0: the zero-mean init of the paper's reproduction.
        controller_output: the output is the controller state plus the reads (default);
            ``False``: the reads alone ``[B, R M]``, so a policy on this core acts only on
            what it reads and cannot learn to ignore its read head.
        read_content: ``True`` (default): read heads address by content and location, as in
            the paper. ``False``: by location only, the paper's "location-based addressing
            alone" (eq. 7 with ``g = 0``): the read gate's logit is fixed at ``-GATE_OFF``
            (its weights zero, no gradient), so a read head moves only by its shift (eq. 8)
            and cannot jump to the slot whose content matches its key.
    """

    def __init__(
        self,
        input_size: int,
        memory_slots: int = 128,
        memory_width: int = 20,
        read_heads: int = 1,
        write_heads: int = 1,
        controller: str = "lstm",
        controller_size: int = 100,
        shift_range: int = 1,
        read_mode: str = "soft",
        write_mode: str = "soft",
        compile: bool = False,
        head_clip: float | None = 20.0,
        fused: bool | None = None,
        state_grad_clip: float | None = None,
        straight_through: bool = False,
        read_stay_bias: float = 0.0,
        controller_output: bool = True,
        fused_sequence: bool = True,
        read_content: bool = True,
    ) -> None:
        super().__init__()
        self.input_size = check_int("input_size", input_size, 1, MAX_SIZE)
        self.N = check_int("memory_slots", memory_slots, 1, MAX_SIZE)
        self.M = check_int("memory_width", memory_width, 1, MAX_SIZE)
        self.R = check_int("read_heads", read_heads, 1, 1024)
        self.W = check_int("write_heads", write_heads, 1, 1024)
        self.C = check_int("controller_size", controller_size, 1, MAX_SIZE)
        straight_through = check_bool("straight_through", straight_through)
        compile = check_bool("compile", compile)
        fused = None if fused is None else check_bool("fused", fused)
        check_int("shift_range", shift_range, 0)
        if 2 * shift_range + 1 > self.N:
            raise ValueError(f"shift_range must be <= (memory_slots - 1) // 2, got {shift_range}")
        if controller not in ("lstm", "mlp"):
            raise ValueError(f"controller must be 'lstm' or 'mlp', got {controller!r}")
        for name, mode, allowed in (
            ("read_mode", read_mode, MODES),
            ("write_mode", write_mode, WRITE_MODES),
        ):
            if mode not in allowed:
                raise ValueError(f"{name} must be one of {allowed}, got {mode!r}")
        self.read_mode, self.write_mode = read_mode, write_mode
        if straight_through and "sample" not in (read_mode, write_mode):
            raise ValueError(
                "straight_through=True needs read_mode or write_mode 'sample', got "
                f"{read_mode!r} and {write_mode!r}"
            )
        self.straight_through = straight_through
        self.read_stay_bias = check_number("read_stay_bias", read_stay_bias, 0.0, 100.0)
        self.shift_range, self.controller_kind = shift_range, controller
        if compile and "sample" in (read_mode, write_mode):
            raise ValueError("compile=True does not support read_mode or write_mode 'sample'")
        self.compile = compile
        kernel_writes = write_mode != "sample"
        if fused and not kernel_writes:
            raise ValueError(
                f"fused=True needs write_mode 'soft' or 'sequential', got {write_mode!r}"
            )
        if fused and compile:
            raise ValueError("fused=True and compile=True are alternatives: choose one")
        if fused:
            fused_step.load()  # a failed build raises here, with the compiler's message
        self.fused = (
            fused if fused is not None else kernel_writes and not compile and fused_step.available()
        )
        self.head_clip = check_optional_positive("head_clip", head_clip)
        self.state_grad_clip = check_optional_positive("state_grad_clip", state_grad_clip)
        self._compiled_step = None
        self.S = 2 * shift_range + 1
        ctrl_in = input_size + self.R * self.M
        if controller == "lstm":
            self.controller = nn.LSTMCell(ctrl_in, self.C)
        else:
            self.controller = nn.Sequential(nn.Linear(ctrl_in, self.C), nn.Tanh())
        self.head_size = self.M + 1 + 1 + self.S + 1  # key, beta, g, s, gamma
        # one projection for every head: [write addressing (W), read addressing (R), erase/add (W)]
        self.head_proj = nn.Linear(self.C, (self.W + self.R) * self.head_size + self.W * 2 * self.M)
        if self.read_stay_bias:
            with torch.no_grad():
                bias = self.head_proj.bias[: (self.W + self.R) * self.head_size]
                read = bias.view(self.W + self.R, self.head_size)[self.W :]
                read[:, self.M + 1] = -self.read_stay_bias  # gate: keep the previous weighting
                read[:, self.M + 2 + shift_range] = self.read_stay_bias  # shift: offset 0
        self.read_content = check_bool("read_content", read_content)
        gate_rows = torch.ones(self.head_proj.out_features)  # 0 on the read gates if off
        if not self.read_content:
            addressing = gate_rows[: (self.W + self.R) * self.head_size]
            addressing.view(self.W + self.R, self.head_size)[self.W :, self.M + 1] = 0.0
        self.register_buffer("_gate_rows", gate_rows, persistent=False)
        # learned initial reads and weightings, focused on slot 0 (see INIT_FOCUS)
        self.init_reads = nn.Parameter(torch.randn(self.R, self.M) * 0.01)
        self.init_read_logits = nn.Parameter(focused_logits(self.R, self.N))
        self.init_write_logits = nn.Parameter(focused_logits(self.W, self.N))
        self.controller_output = check_bool("controller_output", controller_output)
        self.fused_sequence = check_bool("fused_sequence", fused_sequence)
        self.output_size = (self.C if self.controller_output else 0) + self.R * self.M
        nvec = []
        if write_mode == "sample":
            nvec += [self.N] * self.W
        if read_mode == "sample":
            nvec += [self.N] * self.R
        self.internal_action_nvec = tuple(nvec)

    traces = True

    def forward(self, x, state, episode_starts, extras=None):
        """``StepCore.forward``; while training a soft core on the fused kernel, the whole
        sequence as one autograd node instead (:mod:`agents.fused_sequence`)."""
        if sequence_applies(self, x, extras):
            check_sequence(x, episode_starts)  # StepCore.forward checks the other path
            return ntm_sequence(self, x, state, episode_starts, extras)
        return super().forward(x, state, episode_starts, extras)

    def diagnostics(
        self, trace: dict[str, list[torch.Tensor]], images: bool = False
    ) -> Diagnostics:
        """Entropy of the read/write weightings, slots written (total write weight > 0.05)
        and, if asked, ``[N, T]`` images of head 0's weightings (slot x time, as in the paper)."""
        diag = Diagnostics()
        for name, steps in trace.items():
            w = torch.stack(steps)[:, 0]  # [T, heads, N]
            diag.scalars[f"{name}_entropy"] = A.weight_entropy(w).mean().item()
            if name == "write_weights":
                diag.scalars["slots_written"] = float((w.sum(dim=(0, 1)) > 0.05).sum().item())
            if images:
                img = w[:, 0].T.clamp(0, 1).cpu().numpy()
                diag.images[name] = (img / max(img.max(), 1e-6) * 255).astype("uint8")
        return diag

    def with_memory_slots(self, memory_slots: int) -> NTMCore:
        """A copy of this trained core with ``memory_slots`` slots (``N`` may grow or shrink).

        No weight depends on ``N`` except the initial weighting logits: slot ``i < N`` keeps
        its learned logit, new slots get logit 0 (as in :func:`focused_logits`). This is how
        the paper's length generalisation is tested beyond the training memory: a copy of
        length 200 needs at least 200 slots.
        """
        new = NTMCore(
            self.input_size, memory_slots, self.M, self.R, self.W, self.controller_kind, self.C,
            self.shift_range, self.read_mode, self.write_mode, self.compile, self.head_clip,
            self.fused, self.state_grad_clip, self.straight_through, self.read_stay_bias,
            self.controller_output, self.fused_sequence, self.read_content,
        )  # fmt: skip
        n = min(self.N, new.N)
        state = self.state_dict()
        for name in ("init_read_logits", "init_write_logits"):
            logits = torch.zeros_like(getattr(new, name))
            logits[:, :n] = state[name][:, :n]
            state[name] = logits
        new.load_state_dict(state)
        return new.to(self.init_reads.device)

    def initial_state(self, batch_size: int, device=None) -> NTMState:
        dev = self.init_reads.device if device is None else device
        dtype = self.init_reads.dtype  # the parameters' (a .double() core: float64)
        zeros = torch.zeros(batch_size, self.C, device=dev, dtype=dtype)
        memory = torch.full((batch_size, self.N, self.M), MEMORY_INIT, device=dev, dtype=dtype)
        rw = torch.softmax(self.init_read_logits, -1).to(dev).expand(batch_size, -1, -1)
        if self.write_mode == "sequential":  # head h writes slot (W t + h) mod N at step t
            ww = A.one_hot_weights(torch.arange(-self.W, 0, device=dev) % self.N, self.N)
            ww = ww.to(memory.dtype).expand(batch_size, -1, -1)
        else:
            ww = torch.softmax(self.init_write_logits, -1).to(dev).expand(batch_size, -1, -1)
        reads = self.init_reads.to(dev).expand(batch_size, -1, -1)
        return NTMState(zeros, zeros, memory, rw, ww, reads)

    # ------------------------------------------------------------------------------ heads
    def head_linear(self) -> tuple[torch.Tensor, torch.Tensor]:
        """``head_proj``'s weight ``[P, C]`` and bias ``[P]`` as the heads use them: with
        ``read_content=False`` the read gates' rows are zero and their bias ``-GATE_OFF``
        (products with a constant mask, so those entries get no gradient)."""
        weight, bias = self.head_proj.weight, self.head_proj.bias
        if self.read_content:
            return weight, bias
        keep = self._gate_rows
        return weight * keep[:, None], bias * keep - GATE_OFF * (1.0 - keep)

    def _head_params(self, h: torch.Tensor):
        """Project the controller output ``[B, C]`` to every head's parameters.

        Returns key ``[B, W+R, M]``, beta, g, gamma ``[B, W+R]``, shift ``[B, W+R, S]`` (write
        heads first), erase and add ``[B, W, M]``.
        """
        B, n_addr = h.shape[0], (self.W + self.R) * self.head_size
        raw = F.linear(h, *self.head_linear())
        if self.head_clip is not None:
            raw = raw.clamp(-self.head_clip, self.head_clip)
        addr = raw[:, :n_addr].view(B, self.W + self.R, self.head_size)
        erase, add = raw[:, n_addr:].view(B, self.W, 2 * self.M).split(self.M, dim=-1)
        key, beta, gate, shift, gamma = torch.split(addr, [self.M, 1, 1, self.S, 1], dim=-1)
        scalars = torch.cat([beta, gamma], dim=-1)
        beta, gamma = F.softplus(scalars).unbind(-1)
        return (
            key,
            beta,
            torch.sigmoid(gate.squeeze(-1)),
            torch.softmax(shift, dim=-1),
            1.0 + gamma,
            torch.sigmoid(erase),
            torch.tanh(add),
        )

    def _choose(self, weights, mode, replay, extras, picks):
        """Soft weights pass through; sampled heads become one-hot on the chosen slot (with
        the soft weighting's gradient if ``straight_through``), and ``(slots [B, H],
        log_prob [B], entropy [B])`` is appended to ``picks``."""
        if mode == "soft":
            return weights
        if replay is not None:
            slots = replay
        elif extras is not None and extras.deterministic:
            slots = weights.argmax(-1)
        else:
            slots = A.sample_slots(weights.detach())
        logp = A.slot_log_prob(weights, slots).sum(-1)
        picks.append((slots, logp, A.weight_entropy(weights).sum(-1)))
        hard = A.one_hot_weights(slots, self.N).to(weights.dtype)
        return A.straight_through(hard, weights) if self.straight_through else hard

    def step(
        self,
        x: torch.Tensor,
        state: NTMState,
        replay: torch.Tensor | None,
        extras: CoreExtras | None,
    ) -> StepOutput:
        """One time step: ``x [B, F]`` -> ``y [B, C + R*M]`` (compiled when ``compile=True``)."""
        if self.compile:
            if self._compiled_step is None:
                self._compiled_step = torch.compile(self._soft_step, dynamic=True)
            y, *leaves = self._compiled_step(x, *state)
            return StepOutput(y, NTMState(*leaves))
        return self._step(x, state, replay, extras)

    def _step(self, x, state: NTMState, replay, extras) -> StepOutput:
        B = x.shape[0]
        if self.state_grad_clip is not None:
            state = state._replace(
                memory=clip_grad(state.memory, self.state_grad_clip),
                read_weights=clip_grad(state.read_weights, self.state_grad_clip),
                write_weights=clip_grad(state.write_weights, self.state_grad_clip),
            )
        ctrl_in = torch.cat([x, state.reads.reshape(B, -1)], dim=-1)
        if self.controller_kind == "lstm":
            h, c = self.controller(ctrl_in, (state.h, state.c))
        else:
            h, c = self.controller(ctrl_in), state.c
        picks: list[tuple[torch.Tensor, torch.Tensor, torch.Tensor]] = []
        if self.fused and x.device.type == "cpu":  # heads, eqs. 2-9 in one C++ kernel
            sequential = self.write_mode == "sequential"
            ww, rw, reads, memory = fused_step.ntm_step(
                F.linear(h, *self.head_linear()),
                state.memory,
                self._sequential_writes(state) if sequential else state.write_weights,
                state.read_weights,
                self.S,
                self.head_clip,
                fixed_writes=sequential,
            )
            soft_rw = rw
            if self.read_mode == "sample":  # the drawn slot of memory t - 1, as below
                rw = self._choose(rw, self.read_mode, replay, extras, picks)
                reads = A.read(state.memory, rw)
        else:
            ww, rw, soft_rw, reads, memory = self._aten_heads(h, state, replay, extras, picks)
        y = self._output(h, reads)
        new_state = NTMState(h, c, memory, rw, ww, reads)
        if not picks:
            return StepOutput(y, new_state)
        slots, logps, ents = zip(*picks, strict=True)
        expected = None
        if extras is not None and extras.expected:  # the read's expectation: eq. 2 with w
            sampled = self.read_mode == "sample"
            expected = self._output(h, A.read(state.memory, soft_rw.detach())) if sampled else y
        return StepOutput(y, new_state, torch.cat(slots, -1), sum(logps), sum(ents), expected)

    def _output(self, h: torch.Tensor, reads: torch.Tensor) -> torch.Tensor:
        """``y [B, C + R M]`` (``[B, R M]`` without ``controller_output``) from the controller
        output ``h [B, C]`` and the reads ``[B, R, M]``."""
        flat = reads.reshape(reads.shape[0], -1)
        return torch.cat([h, flat], -1) if self.controller_output else flat

    def _aten_heads(self, h, state: NTMState, replay, extras, picks):
        """Addressing (eqs. 5-9), read (eq. 2) and erase/add (eqs. 3-4) in aten ops: the
        write and read weightings, the read weighting before a sampled read head chose its
        slot (the soft one it was drawn from), the reads (of memory t - 1) and the new
        memory."""
        W = self.W
        key, beta, g, s, gamma, erase, add = self._head_params(h)
        memory = state.memory
        if self.write_mode == "sequential":  # only the read heads address
            ww = self._sequential_writes(state)
            rw = A.address(
                memory, state.read_weights, *(p[:, W:] for p in (key, beta, g, s, gamma))
            )
        else:  # every head in one addressing call, on the memory of step t - 1
            prev = torch.cat([state.write_weights, state.read_weights], dim=1)
            weights = A.address(memory, prev, key, beta, g, s, gamma)
            ww, rw = weights[:, :W], weights[:, W:]
        n_write = W if self.write_mode == "sample" else 0
        if self.write_mode != "sequential":
            ww = self._choose(
                ww, self.write_mode, None if replay is None else replay[:, :n_write], extras, picks
            )
        soft_rw = rw
        rw = self._choose(
            rw, self.read_mode, None if replay is None else replay[:, n_write:], extras, picks
        )
        reads = A.read(memory, rw)  # read, then erase and add (as pytorch-ntm, Collier & Beel)
        return ww, rw, soft_rw, reads, A.erase_and_add(memory, ww, erase, add)

    def _sequential_writes(self, state: NTMState) -> torch.Tensor:
        """``write_mode="sequential"``: head ``h`` moves from slot ``W (t - 1) + h`` to
        ``W t + h``, the one-hot weightings ``[B, W, N]`` rolled by ``W``."""
        return torch.roll(state.write_weights, self.W, dims=-1)

    def trace_step(self, state: NTMState) -> dict[str, torch.Tensor]:
        return {"read_weights": state.read_weights, "write_weights": state.write_weights}

    def _soft_step(self, x: torch.Tensor, *leaves: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """``_step`` on plain tensors (for ``torch.compile``): soft addressing only."""
        y, state, *_ = self._step(x, NTMState(*leaves), None, None)
        return (y, *state)

    def __getstate__(self):
        state = super().__getstate__()
        state["_compiled_step"] = None  # compiled code is rebuilt lazily, never pickled
        return state
