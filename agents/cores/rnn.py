"""LSTM and GRU baselines: torch's fused (cuDNN-capable) layers, and on CPU C++ sequence loops."""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import nn

from agents import fused_rnn
from agents.checks import check_bool
from agents.cores.base import MAX_SIZE, CoreExtras, MemoryCore, check_int, check_sequence
from agents.cores.state import State, reset_where


class LSTMState(NamedTuple):
    h: torch.Tensor  # [B, layers, H]
    c: torch.Tensor  # [B, layers, H]


class GRUState(NamedTuple):
    h: torch.Tensor  # [B, layers, H]


class _FusedRNNCore(MemoryCore):
    """Runs a fused ``nn.LSTM``/``nn.GRU`` over the longest spans without an episode start.

    The sequence is cut only at time steps where some row starts an episode; each span
    runs as one fused call. With no starts inside the sequence that is a single call.
    Results equal a step-by-step loop exactly (same math, same order per row).

    Initialisation: orthogonal weights and zero biases, so the gate that keeps memory (LSTM
    forget gate, GRU update gate) starts at 0.5 and a cue fades about as ``0.5 ** delay``
    (torch's default init, which sb3-contrib's RecurrentPPO keeps, is the same on average).
    ``chrono_max=T`` instead draws that gate's biases as ``log U(1, T - 1)`` and sets the
    LSTM input-gate biases to their negatives: the chrono initialisation of Tallec & Ollivier
    2018 ("Can recurrent neural networks warp time?"), which spreads the initial memory
    timescales up to ``T`` steps (measured effect: ``scripts/probe_supervised_recall.py``).

    ``fused`` (default ``True``): on CPU, sequences of more than one step (PPO's update) run
    each layer through :mod:`agents.fused_rnn`'s C++ loops, the same math as the torch layer
    up to float rounding and faster at PPO's minibatches (``scripts/bench_rnn_sequence.py``);
    where the extension does not build, the torch layer. ``False``: always the torch layer.
    On GPU it is the torch layer (cuDNN) either way; rollout steps use the cell functions.
    """

    rnn_cls: type[nn.RNNBase]
    state_cls: type
    keep_gate: int  # index of the gate block that keeps memory (torch's gate order)
    input_gate: int | None  # index of the gate block set to minus the keep bias, if any

    def __init__(
        self,
        input_size: int,
        hidden_size: int = 128,
        num_layers: int = 1,
        chrono_max: int | None = None,
        fused: bool = True,
    ) -> None:
        super().__init__()
        self.fused = check_bool("fused", fused)
        self.hidden_size = check_int("hidden_size", hidden_size, 1, MAX_SIZE)
        self.num_layers = check_int("num_layers", num_layers, 1, 1024)
        self.input_size = check_int("input_size", input_size, 1, MAX_SIZE)
        self.chrono_max = None if chrono_max is None else check_int("chrono_max", chrono_max, 2)
        self.rnn = self.rnn_cls(input_size, hidden_size, num_layers)
        self.output_size = hidden_size
        for name, param in self.rnn.named_parameters():
            if "bias" in name:
                nn.init.zeros_(param)
            elif "weight" in name:
                nn.init.orthogonal_(param, 1.0)
        if chrono_max is not None:
            self._chrono_init(chrono_max)

    @torch.no_grad()
    def _chrono_init(self, t_max: int) -> None:
        H = self.hidden_size
        for k in range(self.num_layers):
            bias = getattr(self.rnn, f"bias_ih_l{k}")  # bias_hh stays zero
            keep = torch.log(torch.empty(H).uniform_(1.0, t_max - 1.0))
            bias[self.keep_gate * H : (self.keep_gate + 1) * H] = keep
            if self.input_gate is not None:
                bias[self.input_gate * H : (self.input_gate + 1) * H] = -keep

    def initial_state(self, batch_size: int, device=None) -> State:
        weight = self.rnn.weight_hh_l0  # its device and dtype (a .double() core: float64)
        dev = weight.device if device is None else device
        zeros = torch.zeros(
            batch_size, self.num_layers, self.hidden_size, device=dev, dtype=weight.dtype
        )
        return self.state_cls(*([zeros] * len(self.state_cls._fields)))

    def forward(
        self,
        x: torch.Tensor,
        state: State,
        episode_starts: torch.Tensor,
        extras: CoreExtras | None = None,
    ) -> tuple[torch.Tensor, State]:
        check_sequence(x, episode_starts)
        if x.shape[0] == 0:
            return self.empty_output(x), state
        if self.fused and fused_rnn.applies(x):
            return self._fused_sequence(x, state, episode_starts)
        starts = episode_starts.bool()
        initial = self.initial_state(x.shape[1], x.device)
        if x.shape[0] == 1:  # the rollout's one-step calls: cell functions, no host sync
            state = reset_where(state, initial, starts[0])
            y, state = self._cell_step(x[0], state)
            return y.unsqueeze(0), state
        cuts = torch.nonzero(starts[1:].any(dim=1)).flatten().add(1).tolist()
        bounds = [0, *cuts, x.shape[0]]
        outputs = []
        for a, b in zip(bounds[:-1], bounds[1:], strict=True):
            state = reset_where(state, initial, starts[a])
            y, hx = self.rnn(x[a:b], self._to_torch(state))
            state = self._from_torch(hx)
            outputs.append(y)
        return (outputs[0] if len(outputs) == 1 else torch.cat(outputs)), state

    def _fused_sequence(self, x: torch.Tensor, state: State, episode_starts: torch.Tensor):
        """Every layer over ``x [T, B, F]`` through :mod:`agents.fused_rnn`: ``(y, state)``."""
        raise NotImplementedError

    def _layer_weights(self, k: int) -> tuple[torch.Tensor, ...]:
        rnn = self.rnn
        return (
            getattr(rnn, f"weight_ih_l{k}"),
            getattr(rnn, f"weight_hh_l{k}"),
            getattr(rnn, f"bias_ih_l{k}"),
            getattr(rnn, f"bias_hh_l{k}"),
        )


class LSTMCore(_FusedRNNCore):
    """LSTM baseline (Hochreiter & Schmidhuber 1997); state ``LSTMState(h, c)``, zeros at start."""

    rnn_cls = nn.LSTM
    state_cls = LSTMState
    keep_gate, input_gate = 1, 0  # gates i, f, g, o

    def _fused_sequence(
        self, x, state: LSTMState, episode_starts
    ) -> tuple[torch.Tensor, LSTMState]:
        hs, cs = [], []
        for k in range(self.num_layers):  # resets at the same starts in every layer
            w_ih, w_hh, b_ih, b_hh = self._layer_weights(k)
            x, h, c = fused_rnn.lstm_sequence(
                x, episode_starts, state.h[:, k], state.c[:, k], w_ih, w_hh, b_ih + b_hh
            )
            hs.append(h)
            cs.append(c)
        return x, LSTMState(torch.stack(hs, 1), torch.stack(cs, 1))

    @staticmethod
    def _to_torch(state: LSTMState):
        return state.h.transpose(0, 1).contiguous(), state.c.transpose(0, 1).contiguous()

    @staticmethod
    def _from_torch(hx) -> LSTMState:
        return LSTMState(hx[0].transpose(0, 1), hx[1].transpose(0, 1))

    def _cell_step(self, x: torch.Tensor, state: LSTMState) -> tuple[torch.Tensor, LSTMState]:
        """One step ``x [B, F]`` through every layer with ``torch.lstm_cell`` (same math)."""
        hs, cs = [], []
        for k in range(self.num_layers):
            h, c = torch.lstm_cell(x, (state.h[:, k], state.c[:, k]), *self._layer_weights(k))
            hs.append(h)
            cs.append(c)
            x = h
        return x, LSTMState(torch.stack(hs, 1), torch.stack(cs, 1))


class GRUCore(_FusedRNNCore):
    """GRU baseline (Cho et al. 2014); state ``GRUState(h)``, zeros at start."""

    rnn_cls = nn.GRU
    state_cls = GRUState
    keep_gate, input_gate = 1, None  # gates r, z, n; h' = (1 - z) n + z h

    @staticmethod
    def _to_torch(state: GRUState):
        return state.h.transpose(0, 1).contiguous()

    @staticmethod
    def _from_torch(hx) -> GRUState:
        return GRUState(hx.transpose(0, 1))

    def _fused_sequence(self, x, state: GRUState, episode_starts) -> tuple[torch.Tensor, GRUState]:
        hs = []
        for k in range(self.num_layers):  # resets at the same starts in every layer
            x, h = fused_rnn.gru_sequence(x, episode_starts, state.h[:, k], *self._layer_weights(k))
            hs.append(h)
        return x, GRUState(torch.stack(hs, 1))

    def _cell_step(self, x: torch.Tensor, state: GRUState) -> tuple[torch.Tensor, GRUState]:
        """One step ``x [B, F]`` through every layer with ``torch.gru_cell`` (same math)."""
        hs = []
        for k in range(self.num_layers):
            x = torch.gru_cell(x, state.h[:, k], *self._layer_weights(k))
            hs.append(x)
        return x, GRUState(torch.stack(hs, 1))
