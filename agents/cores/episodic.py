"""Episodic memory core: write every step, read by soft content attention (memory networks).

Memory networks (Weston et al. 2014; end-to-end MemN2N, Sukhbaatar et al. 2015) keep every
input of the episode and read by attention, so the gradient from an answer to the cue it
needs is one step long whatever the delay (a recurrent core carries the cue through a chain
of per-step updates instead). Per step ``t`` with input ``x_t``:

    entry      m_t = x_t                      (raw input, appended to the episode's memory)
    keys       k_j = W_k x_j,   values v_j = W_v x_j   (linear maps of the raw input)
    query      u_0 = W_u x_t,   q = W_q u_h,   c = W_c u_h               (per head)
    weights    a_tj = softmax_j(q . k_j / sqrt(d_k) + c . phi(t - j))    (j in memory, j <= t)
    read       o_h = sum_j a_tj v_j;   next hop u_{h+1} = u_h + W_o o_h   (MemN2N eq. 1-3)
    output     y_t = [u_0, o_1, ..., o_hops]

``phi(age) = [1{age = 0}, s, s^2]`` with ``s = log(1 + age) / 4`` is the time feature (an
equivalent of MemN2N's temporal encoding that extrapolates: the query's ``c`` can peak the
read at any age in log-time, so order-dependent tasks are possible and lengths beyond
training still work). Every hop has its own key/value maps (MemN2N's adjacent tying is
not imposed).

``age_features=False`` keeps only ``1{age = 0}`` (``c`` times ``[1, 0, 0]``): the read tells
the query's own entry from the others but finds the rest by content alone. A read that
prefers an age in log-time does not carry over to longer delays: a stochastic-episodic
policy trained on DelayedRecall to delay 64 read the cue (age 65) at the answer step there,
and its own entry (age 0) at delay 1,024 (``benchmarks/results/frontier-long/rerun-xeon``).
With ``age_features=False`` every seed that learned delay 64 read the cue at 10,000 (4 of 5).

Memory is a window of the last ``max_memory`` entries (oldest dropped), per batch row, with
the count of entries written in the current episode (an episode start empties the row).
Rollout (no gradient): one new entry per step, attention over the cached keys/values of the
window (no recomputation of the past). Update (gradient enabled): keys and values of the
stored window *and* the new steps are recomputed from the raw inputs with the current
parameters in one parallel pass (masked at episode boundaries, no loop over time), so the
gradient reaches a cue seen in an earlier rollout than the answer: the agent is not limited
to BPTT within ``n_steps``.

``length_scale=True`` multiplies every logit by ``log n_t``, with ``n_t`` the entries query
``t`` sees (Scalable-Softmax, Nakanishi 2025): ``a_tj = softmax_j(log(n_t) (q . k_j /
sqrt(d_k) + c . phi(t - j)))``. With plain softmax a cue's weight against ``n - 1``
distractors at a margin ``m`` is ``1 / (1 + (n - 1) e^-m)``, which falls towards 0 as the
window grows past ``e^m``, so a read learned at delay 64 can miss the cue at 10,000; scaled,
it is ``1 / (1 + (n - 1) n^-m)``, which rises with ``n`` once ``m > 1``. Off by default (the
earlier committed results ran without it). Soft reads need both: trained to delay 64 with
``age_features=False`` and ``length_scale=True`` they read the cue at 10,000 on 3 of 3 seeds
of DelayedRecall and of passive TMaze, against 1 and 2 of 3 with ``age_features=False``
alone (``benchmarks/results/frontier-long/rerun-xeon``).

``read_mode="sample"`` draws one entry per head and hop from the attention weights (argmax
when deterministic) and reads its value: a discrete read (Zaremba & Sutskever 2015) whose
choice is an internal action (index into the window) trained by the policy gradient.

``attention="chunked"`` (hierarchical chunk attention, Lampinen et al. 2021) reads from the
``top_k_chunks`` most relevant chunks of ``chunk_size`` entries instead of the whole window.
Chunks are counted back from the query by age: chunk ``i`` of query ``t`` holds its visible
entries with age in ``[iC, (i + 1) C)`` (visible = this episode, inside the window), so a
chunk never spans two episodes, holds no padding and is the same set in the rollout and in
the update. With ``l_tj`` the full read's logit above (``kbar`` / ``phibar``: means of the
chunk's keys / time features):

    score      s_ti = mean_{j in chunk i} l_tj = q . kbar_ti / sqrt(d_k) + c . phibar_ti
    select     I_t  = top-k_i s_ti             (chunks with no visible entry never count)
    read       a_tj = softmax_{j in union of I_t} l_tj,   o = sum_j a_tj v_j

i.e. exact attention over the union of the selected chunks' entries; with ``top_k_chunks >=
ceil(max_memory / chunk_size)`` that is every visible entry and the read equals the full one.
``kbar`` comes from block sums of the keys in the rollout (one query, chunks aligned with
its newest entry) and from prefix sums in the update (float64 across blocks, float32 inside),
``phibar`` from prefix sums of ``phi`` over age; the scoring and selection carry no gradient,
the read inside the selected chunks does. While ``k C`` covers every query's visible entries
the (equal) full read runs instead. Sampled reads are not offered with chunking. With
``length_scale`` the read's logits (not the scores, whose ranking it would not change) are
multiplied by ``log n_t``, as in the full read.

Cost: the update's attention is ``[B, heads, K, L + K]`` per hop and block of ``K = max(L,
256)`` steps (``T`` steps run as ``ceil(T / K)`` blocks, so cost grows linearly with ``T``;
entries older than every query's episode are skipped), the rollout's ``[B, heads, 1, L +
1]``; chunked, the scores are ``[B, heads, T, ceil(L / C)]`` and the read ``[B, heads, T,
k C]``. See ``scripts/bench_episodic.py`` for time and peak memory against ``max_memory``.

Inputs must be finite (a ValueError otherwise): a NaN or inf stored in the memory would
reach every later read of its row through the masked attention's ``0 * NaN``, across
episodes. Finite inputs large enough for a query-key product to overflow float32 (keys
near 1e19, far beyond any normalised observation) give NaN reads; guarding against that
costs a pass over the logits, so it is not done.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import torch
from torch import nn

from agents.addressing import EPSILON
from agents.checks import check_bool
from agents.cores.base import (
    MAX_SIZE,
    CoreExtras,
    Diagnostics,
    MemoryCore,
    check_int,
    check_sequence,
    run_in_time_blocks,
)
from agents.cores.state import State

READ_MODES = ("soft", "sample")
ATTENTIONS = ("full", "chunked")
TIME_FEATURES = 3
MIN_BLOCK_STEPS = 256  # forward's time blocks: at least this many steps (and max_memory)


class EpisodicState(NamedTuple):
    inputs: torch.Tensor  # [B, L, F] raw inputs of the window, oldest first (slot L-1 newest)
    keys: torch.Tensor  # [B, hops * heads, L, d_k] keys cached at write time (rollout)
    values: torch.Tensor  # [B, hops * heads, L, d_v] values cached at write time
    count: torch.Tensor  # [B] int64: entries written in the current episode (not capped)


def time_features(age: torch.Tensor) -> torch.Tensor:
    """phi(age) = [1{age=0}, s, s^2], s = log(1 + age) / 4: ``[...] int -> [..., 3]``."""
    s = torch.log1p(age.float()) / 4.0
    return torch.stack([(age == 0).float(), s, s * s], dim=-1)


class EpisodicMemoryCore(MemoryCore):
    """Episodic memory: every step's input is kept, reads are multi-head content attention.

    Args:
        input_size: features per step ``F``.
        max_memory: entries kept per row ``L`` (oldest dropped; default 1024). Give at
            least the delay the task needs plus one.
        embed_size: query embedding ``u`` width (default 64).
        heads: attention heads per hop (default 2). key_size / value_size: ``d_k`` / ``d_v``
            per head (default 16 each). hops: MemN2N hops (default 1).
        read_mode: ``"soft"`` (attention-weighted read) or ``"sample"`` (one sampled entry
            per head and hop, an internal action).
        attention: ``"full"`` (every visible entry, the exact reference) or ``"chunked"``
            (exact attention inside the ``top_k_chunks`` best chunks of ``chunk_size``
            entries; soft reads only). chunk_size: ``C`` in ``[1, max_memory]`` (default 64).
            top_k_chunks: ``k`` in ``[1, ceil(max_memory / C)]`` (default 8).
        age_features: the read's time term uses the entry's age (default True) or only
            whether it is the query's own entry (module docstring).
        length_scale: multiply the read's logits by ``log`` of the entries each query sees
            (module docstring; default False).
    """

    traces = True
    full_read_when_covered = True  # chunked: the full read while k chunks hold all (exact)

    def __init__(
        self,
        input_size: int,
        max_memory: int = 1024,
        embed_size: int = 64,
        heads: int = 2,
        key_size: int = 16,
        value_size: int = 16,
        hops: int = 1,
        read_mode: str = "soft",
        attention: str = "full",
        chunk_size: int = 64,
        top_k_chunks: int = 8,
        age_features: bool = True,
        length_scale: bool = False,
    ) -> None:
        super().__init__()
        self.input_size = check_int("input_size", input_size, 1, MAX_SIZE)
        self.L = check_int("max_memory", max_memory, 1, MAX_SIZE)
        self.D = check_int("embed_size", embed_size, 1, 65536)
        self.H = check_int("heads", heads, 1, 256)
        self.dk = check_int("key_size", key_size, 1, 4096)
        self.dv = check_int("value_size", value_size, 1, 4096)
        self.hops = check_int("hops", hops, 1, 16)
        if read_mode not in READ_MODES:
            raise ValueError(f"read_mode must be one of {READ_MODES}, got {read_mode!r}")
        self.read_mode = read_mode
        if attention not in ATTENTIONS:
            raise ValueError(f"attention must be one of {ATTENTIONS}, got {attention!r}")
        self.attention = attention
        self.age_features = check_bool("age_features", age_features)
        self.length_scale = check_bool("length_scale", length_scale)
        chunked = attention == "chunked"
        self.chunk = check_int("chunk_size", chunk_size, 1, self.L if chunked else None)
        n_max = -(-self.L // self.chunk) if chunked else None
        self.top_k = check_int("top_k_chunks", top_k_chunks, 1, n_max)
        if chunked and read_mode == "sample":
            raise ValueError(
                "attention='chunked' supports read_mode='soft' only (a replayed sampled slot "
                "could fall outside the chunks selected under new parameters)"
            )
        n_k, n_v = self.hops * self.H * self.dk, self.hops * self.H * self.dv
        self.key_proj = nn.Linear(input_size, n_k)
        self.value_proj = nn.Linear(input_size, n_v)
        self.embed = nn.Linear(input_size, self.D)
        self.query = nn.ModuleList(nn.Linear(self.D, self.H * self.dk) for _ in range(self.hops))
        self.time_query = nn.ModuleList(
            nn.Linear(self.D, self.H * TIME_FEATURES) for _ in range(self.hops)
        )
        for lin in self.time_query:  # start with no preference for any age
            nn.init.zeros_(lin.weight)
            nn.init.zeros_(lin.bias)
        self.hop_out = nn.ModuleList(nn.Linear(self.H * self.dv, self.D) for _ in range(self.hops))
        self.output_size = self.D + self.hops * self.H * self.dv
        self.internal_action_nvec = (
            (self.L,) * (self.hops * self.H) if read_mode == "sample" else ()
        )

    def initial_state(self, batch_size: int, device=None) -> EpisodicState:
        dev = self.embed.weight.device if device is None else device
        L, heads, dtype = self.L, self.hops * self.H, self.embed.weight.dtype
        return EpisodicState(
            torch.zeros(batch_size, L, self.input_size, device=dev, dtype=dtype),
            torch.zeros(batch_size, heads, L, self.dk, device=dev, dtype=dtype),
            torch.zeros(batch_size, heads, L, self.dv, device=dev, dtype=dtype),
            torch.zeros(batch_size, dtype=torch.long, device=dev),
        )

    # ----------------------------------------------------------------------------- forward
    def forward(
        self,
        x: torch.Tensor,
        state: State,
        episode_starts: torch.Tensor,
        extras: CoreExtras | None = None,
    ) -> tuple[torch.Tensor, EpisodicState]:
        """``x [T, B, F]``, ``episode_starts [T, B]`` -> ``y [T, B, output_size]``, state.

        Sequences longer than ``block_steps`` (``max(max_memory, 256)``) run as consecutive
        blocks of that many steps, each from the state the previous one left: the same
        reads up to float rounding (a query sees at most ``max_memory`` entries, all in the
        state or its own block), and a block's attention is ``[B, heads, K, L + K]``, so
        time and memory grow linearly with ``T`` (one call's attention, ``[B, heads, T, L +
        T]``, grew with ``T^2``: 4.4 GB at T = 10,000). Sequences up to ``block_steps`` run as
        one block, as before."""
        check_sequence(x, episode_starts)
        if x.shape[0] == 0 or x.shape[1] == 0:
            return self.empty_output(x, extras), state
        return run_in_time_blocks(
            self._forward_block, x, state, episode_starts, extras, self.block_steps
        )

    @property
    def block_steps(self) -> int:
        """The longest sequence one attention pass covers (see :meth:`forward`)."""
        return max(self.L, MIN_BLOCK_STEPS)

    def _forward_block(
        self,
        x: torch.Tensor,
        state: State,
        episode_starts: torch.Tensor,
        extras: CoreExtras | None = None,
    ) -> tuple[torch.Tensor, EpisodicState]:
        """:meth:`forward` in one attention pass over all ``T`` steps."""
        T, B, _ = x.shape
        _check_finite(x)
        L = self.L
        xs = x.transpose(0, 1)  # [B, T, F]
        count = _counts(state.count, episode_starts.bool())  # [T, B] entries incl. step t
        inputs = torch.cat([state.inputs, xs], dim=1)  # [B, L + T, F]: concat index c
        if torch.is_grad_enabled():  # update: recompute the stored window's keys too
            keys, values = self._keys_values(inputs)
        else:  # rollout: the window's keys were cached when written
            new_k, new_v = self._keys_values(xs)
            keys = torch.cat([state.keys, new_k], dim=2)
            values = torch.cat([state.values, new_v], dim=2)
        # query t sees c in [first_t, L + t]: the window [t + 1, L + t] within its episode
        t_idx = torch.arange(T, device=x.device)
        first = torch.maximum(t_idx[:, None] + 1, L + t_idx[:, None] + 1 - count.clamp(max=L))
        lo = int(first.min())  # entries before lo are invisible to every query: skip them
        mem_k, mem_v = keys[:, :, lo:], values[:, :, lo:]  # [B, hops * H, S, d]
        n_vis = (L + t_idx[:, None] + 1 - first).T  # [B, T] visible entries per query
        scale = torch.log(n_vis.float())[:, None, :, None] if self.length_scale else None
        # chunked only where some query sees more than k chunks: else it is the full read
        covered = self.full_read_when_covered and int(n_vis.max()) <= self.top_k * self.chunk
        chunked = self.attention == "chunked" and not covered
        if not chunked:  # (the chunked read builds its own, smaller, indices)
            c_idx = torch.arange(lo, L + T, device=x.device)
            age = L + t_idx[:, None] - c_idx[None, :]  # [T, S]
            visible = (c_idx[None, None, :] >= first.T[:, :, None]) & (age[None] >= 0)  # [B, T, S]
            phi = time_features(age.clamp(min=0))  # [T, S, 3]

        u = self.embed(xs)  # [B, T, D]
        reads, acts, logps, ents, trace_w = [u], [], [], [], []
        replay = None if extras is None else extras.replay
        sampled = self.read_mode == "sample"
        want_expected = sampled and extras is not None and extras.expected
        expected, u_exp = [u], u  # CoreExtras.expected: the expected reads, and their hops' u

        def query(h, u):  # hop h's queries from u: content [B, H, T, dk], time [B, H, T, 3]
            q = self.query[h](u).view(B, T, self.H, self.dk).transpose(1, 2)
            ct = self.time_query[h](u).view(B, T, self.H, TIME_FEATURES).transpose(1, 2)
            if not self.age_features:  # the time term: 1{age = 0} only
                ct = ct * ct.new_tensor([1.0, 0.0, 0.0])
            return q, ct

        def weights(h, u):  # hop h's read weighting for queries from u: [B, H, T, S]
            q, ct = query(h, u)
            logits = q @ mem_k[:, h * self.H : (h + 1) * self.H].transpose(-1, -2)
            logits = logits / math.sqrt(self.dk)
            for n in range(TIME_FEATURES):
                logits = logits + ct[..., n, None] * phi[..., n]
            if scale is not None:
                logits = logits * scale
            return torch.softmax(logits.masked_fill(~visible[:, None], float("-inf")), dim=-1)

        def hop_out(h, o, u):  # hop h's read o [B, H, T, d_v] -> [B, T, H d_v], the next u
            o = o.transpose(1, 2).reshape(B, T, self.H * self.dv)
            return o, u + self.hop_out[h](o)

        for h in range(self.hops):
            heads = slice(h * self.H, (h + 1) * self.H)
            v = mem_v[:, heads]  # [B, H, S, d_v]: no copy of the memory
            if chunked:
                q, ct = query(h, u)
                w, o, w_age = self._chunked_read(
                    q, ct, mem_k[:, heads], v, L + t_idx - lo, n_vis, scale
                )
                w_age = w_age[:, 0]  # [B, T, kC]: ages read by head 0
            else:
                w = weights(h, u)
                if sampled:
                    if want_expected:  # this hop's expected read: hop 0 shares the draw's
                        # weighting, later hops query from the expected reads' own u_exp
                        w_exp = w if h == 0 else weights(h, u_exp)
                        o_exp, u_exp = hop_out(h, w_exp.detach() @ v, u_exp)
                        expected.append(o_exp)
                    rep = None if replay is None else replay[..., heads]
                    w, a, lp, en = self._sample(w, rep, extras, lo, t_idx)
                    acts.append(a)
                    logps.append(lp)
                    ents.append(en)
                o, w_age = w @ v, age  # [B, H, T, d_v]
            o, u = hop_out(h, o, u)
            reads.append(o)
            trace_w.append((w, w_age))
        y = torch.cat(reads, dim=-1).transpose(0, 1)  # [T, B, output_size]
        if extras is not None and sampled:
            extras.actions = torch.cat(acts, dim=-1)
            extras.log_prob = torch.stack(logps).sum(0)
            extras.entropy = torch.stack(ents).sum(0)
            if want_expected:  # [embedding, expected read of hop 0, .., of the last hop]
                extras.expected_y = torch.cat(expected, dim=-1).transpose(0, 1)
        if extras is not None and extras.trace is not None:
            self._trace(extras.trace, *trace_w[0], n_vis)
        new_state = EpisodicState(
            inputs[:, T:], keys[:, :, T:], values[:, :, T:], count[-1] if T else state.count
        )
        return y, new_state

    def write(
        self, state: EpisodicState, x: torch.Tensor, episode_starts: torch.Tensor
    ) -> EpisodicState:
        """Append ``x [T, B, F]`` to memory without reading: ``O(T)``, no attention.

        The state after it equals ``forward``'s (outputs aside). For feeding a long prefix
        cheaply (a supervised probe, a warm start); the gradient of a later ``forward`` still
        reaches these entries, since the update recomputes keys from the raw inputs."""
        xs = x.transpose(0, 1)
        count = _counts(state.count, episode_starts.bool())
        L = self.L
        _check_finite(x)
        new_k, new_v = self._keys_values(xs)
        return EpisodicState(
            torch.cat([state.inputs, xs], dim=1)[:, -L:],
            torch.cat([state.keys, new_k], dim=2)[:, :, -L:],
            torch.cat([state.values, new_v], dim=2)[:, :, -L:],
            count[-1] if x.shape[0] else state.count,
        )

    # ----------------------------------------------------------------------------- pieces
    def _keys_values(self, inputs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``[B, S, F]`` -> keys ``[B, hops * H, S, d_k]``, values ``[B, hops * H, S, d_v]``."""
        B, S, _ = inputs.shape
        k = self.key_proj(inputs).view(B, S, self.hops * self.H, self.dk).transpose(1, 2)
        v = self.value_proj(inputs).view(B, S, self.hops * self.H, self.dv).transpose(1, 2)
        return k, v

    def _chunked_read(self, q, ct, k, v, top, n_vis, scale=None):
        """Exact attention over the union of the ``k`` best chunks (module docstring).

        ``q [B, H, T, d_k]``, ``ct [B, H, T, 3]``, ``k / v [B, H, S, d]`` (memory from the
        first column any query sees), ``top [T]`` column of query t's own entry (age 0),
        ``n_vis [B, T]`` visible entries (ages ``0..n_vis - 1``), ``scale [B, 1, T, 1]``
        ``log n_vis`` or None (``length_scale``; it leaves the selection as it is). Returns
        the weights ``[B, H, T, kC]``, the read ``[B, H, T, d_v]`` and the ages read
        ``[B, H, T, kC]``."""
        B, H, T, dk = q.shape
        C = self.chunk
        most = int(n_vis.max())
        n = -(-most // C)  # chunks that any query sees
        lo_age = torch.arange(n, device=q.device) * C  # [n] chunk i: ages [iC, iC + C)
        hi_age = torch.minimum(lo_age + C, n_vis[..., None])  # [B, T, n] visible end
        size = (hi_age - lo_age).clamp(min=0)
        with torch.no_grad():  # chunk scores only select: no gradient
            if T == 1:  # rollout: chunks align with the blocks counted back from the end
                k_sum = _newest_chunk_sums(k, n_vis[:, 0], C, n)
            else:
                end = (top[:, None] + 1 - lo_age).expand_as(size)  # chunk i: [end - size, end)
                S = k.shape[2]
                k_sum = _range_sums(k, (end - size).clamp(0, S), end.clamp(0, S), C)
            phi_cum = torch.cat(  # [most + 1, 3]: sum of phi over ages < a
                [
                    torch.zeros(1, TIME_FEATURES, dtype=torch.float64, device=q.device),
                    time_features(torch.arange(most, device=q.device)).double().cumsum(0),
                ]
            )
            n_c = size.clamp(min=1)[..., None]
            phi_bar = (phi_cum[hi_age] - phi_cum[lo_age]) / n_c
            score = torch.einsum("bhtd,bhtnd->bhtn", q, k_sum / n_c[:, None]) / math.sqrt(dk)
            score = score + torch.einsum("bhtf,btnf->bhtn", ct, phi_bar.to(ct.dtype))
            score = score.masked_fill(size[:, None] == 0, float("-inf"))
            chosen = score.topk(self.top_k, dim=-1).indices  # [B, H, T, k]
        age = (chosen[..., None] * C + torch.arange(C, device=q.device)).flatten(-2)
        ok = age < n_vis[:, None, :, None]  # [B, H, T, kC]: unselected padding is masked
        col = (top[:, None] - age).clamp(min=0).view(B, H, -1)
        b_i = torch.arange(B, device=q.device).view(B, 1, 1)
        h_i = torch.arange(H, device=q.device).view(1, H, 1)

        def pick(m):  # [B, H, S, d] -> [B, H, T, kC, d]
            return m[b_i, h_i, col].view(B, H, T, -1, m.shape[-1])

        logits = (pick(k) * q[..., None, :]).sum(-1) / math.sqrt(dk)  # [B, H, T, kC]
        logits = logits + (ct[..., None, :] * time_features(age)).sum(-1)
        if scale is not None:
            logits = logits * scale
        w = torch.softmax(logits.masked_fill(~ok, float("-inf")), dim=-1)
        return w, (w[..., None] * pick(v)).sum(-2), age

    def _sample(self, w, replay, extras, lo, t_idx):
        """Hard reads: one entry per head, an index into the window ``[0, L)``.

        ``w [B, H, T, S]`` over concat indices ``lo..``; window slot ``j`` of query ``t`` is
        concat index ``t + 1 + j``. Returns the one-hot weights, actions ``[T, B, H]``,
        log-probs and entropies ``[T, B]``."""
        B, H, T, S = w.shape
        offset = (t_idx + 1 - lo).view(1, 1, T, 1)  # window slot j -> column j + offset
        if replay is not None:
            slots = replay.permute(1, 2, 0).unsqueeze(-1)  # [T, B, H] -> [B, H, T, 1]
            cols = slots + offset
        elif extras is not None and extras.deterministic:
            cols = w.argmax(-1, keepdim=True)
        else:
            cols = torch.multinomial(w.detach().reshape(-1, S), 1).view(B, H, T, 1)
        if (cols < 0).any() or (cols >= S).any():
            raise ValueError("replayed episodic read slots point outside the stored memory")
        picked = w.gather(-1, cols).squeeze(-1)  # [B, H, T]
        log_prob = torch.log(picked + EPSILON).sum(1).T  # [T, B]
        entropy = -(w * torch.log(w + EPSILON)).sum(-1).sum(1).T
        hard = torch.zeros_like(w).scatter_(-1, cols, 1.0)
        actions = (cols - offset).squeeze(-1).permute(2, 0, 1)  # [T, B, H]
        return hard, actions, log_prob, entropy

    def _trace(self, trace, w, age, entries) -> None:
        """Per step: the read's mean age (head 0) and the number of visible entries.

        ``w [B, H, T, S]``, ``age`` broadcastable to ``[B, T, S]``, ``entries [B, T]``."""
        B, H, T, S = w.shape
        mean_age = (w[:, 0] * age.float()).sum(-1)  # [B, T]
        for t in range(T):
            trace.setdefault("read_age", []).append(mean_age[:, t].detach())
            trace.setdefault("entries", []).append(entries[:, t].float())
            trace.setdefault("read_entropy", []).append(
                -(w[:, :, t] * torch.log(w[:, :, t] + EPSILON)).sum(-1).mean(-1).detach()
            )

    def diagnostics(
        self, trace: dict[str, list[torch.Tensor]], images: bool = False
    ) -> Diagnostics:
        """Mean age of the read (steps back), read entropy (nats), entries in memory."""
        names = {"read_age": "read_age", "read_entropy": "read_entropy", "entries": "entries"}
        return Diagnostics(
            scalars={names[k]: torch.stack(v).float().mean().item() for k, v in trace.items() if v}
        )


def _range_sums(m: torch.Tensor, a: torch.Tensor, b: torch.Tensor, C: int) -> torch.Tensor:
    """Sums of ``m [B, H, S, d]`` over columns ``[a, b)`` for ``a, b [B, T, n]`` in ``[0, S]``
    -> ``[B, H, T, n, d]``: prefix sums, float64 across blocks of ``C`` and float32 within
    one (exact to ~C eps of a chunk sum for any S)."""
    B, H, S, d = m.shape
    nb = S // C + 1  # so that column S falls inside the padded blocks
    blocks = torch.cat([m, m.new_zeros(B, H, nb * C - S, d)], dim=2).view(B, H, nb, C, d)
    inner = blocks.cumsum(3).sub_(blocks).view(B, H, nb * C, d)  # exclusive, within a block
    outer = nn.functional.pad(blocks.sum(3).double().cumsum(2), (0, 0, 1, 0))

    def prefix(i):  # sum of columns < i: [B, T, n] -> [B, H, T * n, d] (two parts)
        i = i.reshape(B, 1, -1, 1)
        return (
            outer.gather(2, (i // C).expand(-1, H, -1, d)),
            inner.gather(2, i.expand(-1, H, -1, d)),
        )

    (ob, ib), (oa, ia) = prefix(b), prefix(a)
    return ((ob - oa).to(m.dtype) + (ib - ia)).view(B, H, *a.shape[1:], d)


def _newest_chunk_sums(m: torch.Tensor, n_vis: torch.Tensor, C: int, n: int) -> torch.Tensor:
    """Chunk sums for one query whose own entry is the last column: ``m [B, H, S, d]``,
    ``n_vis [B]`` -> ``[B, H, 1, n, d]``. Chunk ``i`` (ages ``[iC, iC + C)``, column
    ``S - 1 - age``) is a block sum when fully visible; the oldest, partly visible one is
    summed over its visible ages; chunks past ``n_vis`` are zero. One pass, no copy."""
    B, H, S, d = m.shape
    nb = S // C
    blocks = m[:, :, S - nb * C :].view(B, H, nb, C, d).sum(3).flip(2)  # [B, H, nb, d]
    sums = torch.cat([blocks, blocks.new_zeros(B, H, n - nb, d)], dim=2)
    last = n_vis // C  # [B] the chunk that is partly visible (if n_vis % C)
    age = last[:, None] * C + torch.arange(C, device=m.device)  # [B, C]
    col = (S - 1 - age).clamp(min=0).view(B, 1, C, 1).expand(-1, H, -1, d)
    part = (m.gather(2, col) * (age < n_vis[:, None]).view(B, 1, C, 1)).sum(2)  # [B, H, d]
    i = torch.arange(n, device=m.device)
    sums = torch.where((i < last[:, None]).view(B, 1, n, 1), sums, 0.0)
    sums = torch.where((i == last[:, None]).view(B, 1, n, 1), part[:, :, None], sums)
    return sums[:, :, None]


def _check_finite(x: torch.Tensor) -> None:
    """Refuse a NaN or inf in ``x [T, B, F]``, naming the first (step, row)."""
    bad = ~torch.isfinite(x).all(-1)
    if bad.any():
        t, b = (int(i) for i in bad.nonzero()[0])
        raise ValueError(
            f"x must be finite: step {t}, row {b} holds {x[t, b][~x[t, b].isfinite()][0]} "
            "(the episodic memory would carry it into every later read of the row)"
        )


def _counts(count0: torch.Tensor, starts: torch.Tensor) -> torch.Tensor:
    """Entries in the episode after writing step t: ``[B]``, ``starts [T, B]`` -> ``[T, B]``.

    A start at t empties the row before step t is written (count 1 at t)."""
    T = starts.shape[0]
    t_idx = torch.arange(T, device=starts.device)[:, None].expand_as(starts)
    last = torch.where(starts, t_idx, torch.full_like(t_idx, -1)).cummax(dim=0).values
    return torch.where(last >= 0, t_idx - last + 1, count0[None] + t_idx + 1)
