"""EpisodicMemoryCore: the core contract, episode isolation, the window, the parallel update
pass against the step-by-step rollout, sampled reads, the chunked read against the full
read, and MemoryPPO replay with it."""

from __future__ import annotations

import math

import pytest
import torch
from core_contract import F, check_core, check_expected_reads, check_memory_ppo

from agents.cores import CoreExtras, EpisodicMemoryCore, episodic
from agents.cores.state import tree_leaves


def core(**kw) -> EpisodicMemoryCore:
    torch.manual_seed(0)
    return EpisodicMemoryCore(F, **{"max_memory": 6, "embed_size": 8, **kw})


def stepwise(c, x, state, starts, replay=None, deterministic=False):
    """The rollout's way: one step per call, no gradient (cached keys)."""
    ys, acts, lps = [], [], []
    with torch.no_grad():
        for t in range(x.shape[0]):
            ex = CoreExtras(replay=None if replay is None else replay[t : t + 1])
            ex.deterministic = deterministic
            y, state = c(x[t : t + 1], state, starts[t : t + 1], ex)
            ys.append(y)
            acts.append(ex.actions)
            lps.append(ex.log_prob)
    if acts[0] is None:
        return torch.cat(ys), state, None, None
    return torch.cat(ys), state, torch.cat(acts), torch.cat(lps)


def random_starts(T, B, p=0.15, seed=1):
    g = torch.Generator().manual_seed(seed)
    starts = torch.rand(T, B, generator=g) < p
    starts[0] = True
    return starts


CHUNKED = {"attention": "chunked", "chunk_size": 2, "top_k_chunks": 2}


@pytest.mark.parametrize(
    "kw",
    [
        {},
        {"hops": 2, "heads": 3},
        {"max_memory": 1},
        CHUNKED,
        {**CHUNKED, "hops": 2, "max_memory": 7, "top_k_chunks": 1},
        {**CHUNKED, "max_memory": 7, "top_k_chunks": 1, "age_features": False},
        {"length_scale": True, "hops": 2},
        {**CHUNKED, "max_memory": 7, "top_k_chunks": 1, "length_scale": True},
    ],
)
def test_parallel_update_pass_equals_step_by_step_rollout(kw):
    """Resets inside the sequence, episodes longer than max_memory, a stored state."""
    c = core(**kw)
    T, B = 20, 4
    x, starts = torch.randn(T, B, F), random_starts(T, B)
    starts[:, 0] = False
    starts[0, 0] = True  # row 0: one episode of 20 steps > max_memory
    y_step, s_step, *_ = stepwise(c, x, c.initial_state(B), starts)
    y_par, s_par = c(x, c.initial_state(B), starts)  # gradient enabled: recomputed keys
    torch.testing.assert_close(y_par, y_step, atol=1e-5, rtol=1e-5)
    for a, b in zip(tree_leaves(s_par), tree_leaves(s_step), strict=True):
        torch.testing.assert_close(a, b, atol=1e-5, rtol=1e-5)
    # split the sequence: the second half replays from the stored (cached) state
    _, mid = stepwise(c, x[:9], c.initial_state(B), starts[:9])[:2]
    y2, _ = c(x[9:], mid, starts[9:])
    torch.testing.assert_close(y2, y_step[9:], atol=1e-5, rtol=1e-5)


def test_shapes_state_and_output_size():
    c = core(hops=2, heads=2)
    state = c.initial_state(3)
    assert all(leaf.shape[0] == 3 for leaf in tree_leaves(state))
    y, new = c(torch.randn(7, 3, F), state, torch.zeros(7, 3, dtype=torch.bool))
    assert y.shape == (7, 3, c.output_size)
    assert new.count.tolist() == [7, 7, 7] and new.inputs.shape == (3, 6, F)


@pytest.mark.parametrize("kw", [{}, CHUNKED, {**CHUNKED, "chunk_size": 4, "top_k_chunks": 1}])
def test_never_attends_to_another_episodes_entries(kw):
    """After a start (inside a sequence, or carried across calls) the output equals a fresh
    run: what the previous episode wrote has no influence (nor, chunked, on which chunks
    are read: a chunk never holds another episode's entries or padding)."""
    c = core(**kw)
    T, B = 10, 2
    x = torch.randn(T, B, F)
    starts = torch.zeros(T, B, dtype=torch.bool)
    starts[0] = True
    starts[4, 0] = True
    y, _ = c(x, c.initial_state(B), starts)
    fresh, _ = c(x[4:, :1], c.initial_state(1), starts[4:, :1])
    torch.testing.assert_close(y[4:, :1], fresh, atol=1e-6, rtol=1e-6)
    # across calls: a stored state full of another episode, then a start
    _, old = c(torch.randn(5, B, F) * 10, c.initial_state(B), starts[:5])
    s = starts[4:].clone()
    s[0] = True
    y_after, _ = c(x[4:], old, s)
    y_fresh, _ = c(x[4:], c.initial_state(B), s)
    torch.testing.assert_close(y_after, y_fresh, atol=1e-6, rtol=1e-6)


@pytest.mark.parametrize("kw", [{}, {**CHUNKED, "top_k_chunks": 1}])
def test_oldest_entries_are_dropped_beyond_max_memory(kw):
    c = core(**{**kw, "max_memory": 4})
    T = 8
    x = torch.randn(T, 1, F)
    starts = torch.zeros(T, 1, dtype=torch.bool)
    starts[0] = True
    y, _ = c(x, c.initial_state(1), starts)
    x2 = x.clone()
    x2[0] += 5.0  # change the first entry
    y2, _ = c(x2, c.initial_state(1), starts)
    assert not torch.allclose(y[3], y2[3])  # step 3 still holds entry 0 (4 entries)
    torch.testing.assert_close(y[4:], y2[4:])  # from step 4 on it is dropped


def test_gradient_reaches_a_cue_stored_in_an_earlier_rollout():
    """The update recomputes the stored window's keys/values from raw inputs: the loss at a
    later step has a gradient on the cue entry's input, one attention step long."""
    c = core(max_memory=64)
    starts = torch.zeros(40, 1, dtype=torch.bool)
    starts[0] = True
    with torch.no_grad():
        _, state = c(torch.randn(40, 1, F), c.initial_state(1), starts)  # "rollout 1"
    inputs = state.inputs.clone().requires_grad_(True)
    state = state._replace(inputs=inputs)
    y, _ = c(torch.randn(3, 1, F), state, torch.zeros(3, 1, dtype=torch.bool))  # "update"
    y[-1].sum().backward()
    grad = inputs.grad[0].abs().sum(-1)  # [L]
    assert (grad[-40:] > 0).all()  # every entry of the episode, the oldest included
    assert (grad[:-40] == 0).all()  # empty slots get none
    c.key_proj.weight.grad = None


def test_sampled_reads_replay_exactly_and_deterministic_is_argmax():
    c = core(read_mode="sample", heads=2, hops=2)
    T, B = 12, 3
    x, starts = torch.randn(T, B, F), random_starts(T, B)
    torch.manual_seed(3)
    y_step, _, acts, lps = stepwise(c, x, c.initial_state(B), starts)
    assert acts.shape == (T, B, 4) and acts.dtype == torch.int64
    assert acts.min() >= 0 and acts.max() < 6
    ex = CoreExtras(replay=acts)
    y_par, _ = c(x, c.initial_state(B), starts, ex)
    torch.testing.assert_close(y_par, y_step, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(ex.log_prob, lps, atol=1e-5, rtol=1e-5)
    assert torch.equal(ex.actions, acts)
    # a sampled slot is always a visible entry of the current episode
    counts = torch.stack([(~starts[: t + 1]).flip(0).cumprod(0).sum(0) + 1 for t in range(T)])
    assert (acts >= 6 - counts.clamp(max=6)[..., None]).all()
    _, _, a1, _ = stepwise(c, x, c.initial_state(B), starts, deterministic=True)
    _, _, a2, _ = stepwise(c, x, c.initial_state(B), starts, deterministic=True)
    assert torch.equal(a1, a2)


def test_replayed_slots_outside_memory_are_rejected():
    c = core(read_mode="sample", heads=1)
    bad = torch.full((2, 1, 1), 10, dtype=torch.long)
    with pytest.raises(ValueError, match="outside"):
        c(
            torch.randn(2, 1, F),
            c.initial_state(1),
            torch.ones(2, 1, dtype=torch.bool),
            CoreExtras(replay=bad),
        )


@pytest.mark.parametrize(
    "kwargs, arg",
    [
        ({"max_memory": 0}, "max_memory"),
        ({"max_memory": 10**8}, "max_memory"),
        ({"heads": 0}, "heads"),
        ({"hops": 0}, "hops"),
        ({"hops": 2.0}, "hops"),
        ({"key_size": True}, "key_size"),
        ({"embed_size": -1}, "embed_size"),
        ({"read_mode": "hard"}, "read_mode"),
        ({"attention": "sparse"}, "attention"),
        ({**CHUNKED, "chunk_size": 0}, r"chunk_size must be an integer in \[1, 1024\]"),
        ({**CHUNKED, "max_memory": 6, "chunk_size": 7}, r"chunk_size .*\[1, 6\]"),
        ({**CHUNKED, "chunk_size": 2.0}, "chunk_size"),
        ({"chunk_size": -1}, "chunk_size"),
        ({**CHUNKED, "max_memory": 7, "top_k_chunks": 5}, r"top_k_chunks .*\[1, 4\]"),
        ({**CHUNKED, "top_k_chunks": 0}, "top_k_chunks"),
        ({"top_k_chunks": None}, "top_k_chunks"),
        ({**CHUNKED, "read_mode": "sample"}, "read_mode='soft' only"),
        ({"age_features": "no"}, "age_features"),
        ({"length_scale": "yes"}, "length_scale"),
    ],
)
def test_bad_arguments_are_rejected(kwargs, arg):
    with pytest.raises(ValueError, match=arg):
        EpisodicMemoryCore(F, **kwargs)


def test_no_nan_for_extreme_inputs():
    c = core()
    x = torch.tensor([1e30, -1e30, 0.0, 1e-30, 3.0]).expand(4, 2, F).clone()
    starts = torch.ones(4, 2, dtype=torch.bool)
    y, _ = c(x * 1e-20, c.initial_state(2), starts)  # large but finite logits
    assert torch.isfinite(y).all()


@pytest.mark.parametrize("grad", [False, True])
@pytest.mark.parametrize("bad", [math.nan, math.inf])
def test_a_non_finite_input_is_refused(bad, grad):
    """Stored, it would reach every later read of its row (a masked 0 * NaN), across
    episodes: forward and write refuse it, naming the step and row."""
    c = core(max_memory=16)
    x = torch.randn(6, 2, F)
    x[4, 1, 2] = bad
    starts = torch.zeros(6, 2, dtype=torch.bool)
    with torch.set_grad_enabled(grad), pytest.raises(ValueError, match="step 4, row 1 holds"):
        c(x, c.initial_state(2), starts)
    with pytest.raises(ValueError, match="x must be finite: step 4, row 1"):
        c.write(c.initial_state(2), x, starts)


SMALL = {"max_memory": 40, "embed_size": 16, "key_size": 8, "value_size": 8}


@pytest.mark.parametrize(
    "kw", [{}, {"read_mode": "sample", "hops": 2}, {**CHUNKED, "top_k_chunks": 1}]
)
def test_generic_core_contract(kw):
    check_core(lambda: EpisodicMemoryCore(F, **{"max_memory": 4, "embed_size": 8, **kw}))


@pytest.mark.parametrize("kw", [{}, {"hops": 2, "heads": 2}, {"hops": 3, "age_features": False}])
def test_expected_reads_are_a_baseline_that_ignores_the_draw(kw):
    """CoreExtras.expected (core_contract): with the hops' own expected queries, the
    expected output is the soft core's at every step, not only at step 0, also over more
    steps than one attention pass covers (time blocks: the blocks' expected outputs join)."""

    def make(read_mode):
        torch.manual_seed(0)
        return EpisodicMemoryCore(F, read_mode=read_mode, **{**SMALL, "max_memory": 8, **kw})

    check_expected_reads(lambda: make("sample"), lambda: make("soft"))
    core, soft = make("sample"), make("soft")
    T = core.block_steps + 7  # two time blocks
    x, starts = torch.randn(T, 3, F), torch.zeros(T, 3)
    starts[0], starts[100, 1] = 1, 1
    ex = CoreExtras(expected=True)
    core(x, core.initial_state(3), starts, ex)
    y_soft, _ = soft(x, soft.initial_state(3), starts)
    torch.testing.assert_close(ex.expected_y, y_soft)


@pytest.mark.parametrize(
    "policy, shared_core, kw",
    [
        ("MlpEpisodicPolicy", True, {}),
        ("MlpEpisodicPolicy", False, {}),
        ("MlpStochasticEpisodicPolicy", True, {}),
        ("MlpStochasticEpisodicPolicy", False, {}),
        ("MlpEpisodicPolicy", True, {**CHUNKED, "top_k_chunks": 1}),
        ("MlpStochasticEpisodicPolicy", True, {"age_features": False}),
        ("MlpStochasticEpisodicPolicy", True, {"length_scale": True}),
    ],
)
def test_memory_ppo_replay_ratio_is_one_and_save_load(policy, shared_core, kw, tmp_path):
    """First epoch of the first update: recomputed log-probs and values equal the rollout's,
    with a stored state that holds an earlier rollout's entries."""
    check_memory_ppo(policy, {"core_kwargs": {**SMALL, **kw}, "shared_core": shared_core}, tmp_path)


def chunk_pair(**kw):
    """The full read and a chunked one with the same parameters."""
    full = core(**kw)
    chunked = core(**kw, attention="chunked", chunk_size=4, top_k_chunks=1)
    chunked.load_state_dict(full.state_dict())
    return full, chunked


def test_chunked_read_covering_every_chunk_is_the_full_read():
    """top_k_chunks = ceil(max_memory / chunk_size): the union is every visible entry; with
    resets inside the sequence, episodes longer than max_memory and a stored state."""
    full, _ = chunk_pair(max_memory=10, hops=2)
    every = core(max_memory=10, hops=2, attention="chunked", chunk_size=3, top_k_chunks=4)
    every.load_state_dict(full.state_dict())
    every.full_read_when_covered = False  # run the chunked code, not the equal full read
    T, B = 30, 4
    x, starts = torch.randn(T, B, F), random_starts(T, B, p=0.1)
    state = full.initial_state(B)
    for part in (slice(0, 13), slice(13, T)):  # two calls: the second from a stored state
        y_full, s_full = full(x[part], state, starts[part])
        y_every, state = every(x[part], state, starts[part])
        torch.testing.assert_close(y_every, y_full, atol=1e-5, rtol=1e-5)
    _, tight = chunk_pair(max_memory=10, hops=2)  # one chunk of 4: a different read
    assert (
        tight(x, tight.initial_state(B), starts)[0] - full(x, full.initial_state(B), starts)[0]
    ).abs().max() > 0.1


@pytest.mark.parametrize("cue_age", [2, 9, 14, 21])
def test_chunked_read_finds_a_planted_cue(cue_age):
    """Faint noise, one strong cue entry that the full read attends to almost alone: the
    chunked read (one chunk of 4 out of 6) selects the cue's chunk, wherever the cue lies
    (newest chunk, middle, the partial oldest chunk of a window of 22), and reads the same."""
    full, chunked = chunk_pair(max_memory=22, heads=1)
    T = 30
    x = 0.01 * torch.randn(T, 1, F)
    starts = torch.zeros(T, 1, dtype=torch.bool)
    starts[0] = True
    query = torch.randn(F)
    x[-1, 0] = query
    cue = T - 1 - cue_age
    trace: dict = {}
    for sign in (1.0, -1.0):  # the sign that the query's bilinear form prefers
        x[cue, 0] = 30.0 * sign * query
        y_full, _ = full(x, full.initial_state(1), starts, CoreExtras(trace=trace))
        if abs(trace["read_age"][-1].item() - cue_age) < 0.05:
            break
        trace.clear()
    assert trace, "the planted cue should dominate the full read"
    y_chunk, _ = chunked(x, chunked.initial_state(1), starts, CoreExtras(trace=trace))
    assert abs(trace["read_age"][-1].item() - cue_age) < 0.05
    torch.testing.assert_close(y_chunk[-1], y_full[-1], atol=0.05, rtol=0.05)


def test_write_equals_forward_state_and_gradient_flows_through_it():
    c = core(max_memory=8)
    T, B = 11, 3
    x, starts = torch.randn(T, B, F), random_starts(T, B)
    _, s_fwd = stepwise(c, x, c.initial_state(B), starts)[:2]
    with torch.no_grad():
        s_wr = c.write(c.initial_state(B), x, starts)
    for a, b in zip(tree_leaves(s_wr), tree_leaves(s_fwd), strict=True):
        torch.testing.assert_close(a, b, atol=1e-6, rtol=1e-6)
    y_wr, _ = c(x[-1:], c.write(c.initial_state(B), x[:-1], starts[:-1]), starts[-1:])
    y_fwd, _ = c(x, c.initial_state(B), starts)
    torch.testing.assert_close(y_wr[0], y_fwd[-1], atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("peak_age", [1.5, 10.0, 21.0])
def test_chunk_scores_average_the_time_term(peak_age):
    """Identical entries (equal content scores), a time query peaked at ``peak_age``: the
    chunk read is the one whose mean time logit is highest (the partial oldest chunk of 2
    entries included), as computed here by brute force over ages."""
    from agents.cores.episodic import time_features

    _, chunked = chunk_pair(max_memory=22, heads=1)
    s_peak, K = math.log1p(peak_age) / 4, 20.0
    chunked.time_query[0].bias.data = torch.tensor([0.0, 2 * s_peak * K, -K])
    T = 30
    x = torch.randn(1, 1, F).expand(T, 1, F)
    starts = torch.zeros(T, 1, dtype=torch.bool)
    starts[0] = True
    trace: dict = {}
    chunked(x, chunked.initial_state(1), starts, CoreExtras(trace=trace))
    time_logit = time_features(torch.arange(22)) @ chunked.time_query[0].bias.data
    best = max(range(6), key=lambda i: time_logit[4 * i : 4 * i + 4].mean().item())
    assert 4 * best <= trace["read_age"][-1].item() <= min(4 * best + 3, 21)


def test_without_age_features_a_read_depends_on_content_and_age_zero_only():
    """age_features=False: moving the cue among identical distractors (a longer delay, the
    same entries) leaves the read unchanged; with age features it changes it."""
    outs = {}
    for age_features in (True, False):
        c = core(max_memory=40, heads=2, age_features=age_features)
        with torch.no_grad():
            for lin in c.time_query:  # a time term that prefers some ages (it starts at 0)
                lin.weight.normal_()
                lin.bias.normal_()
        cue, query = torch.randn(1, 1, F), torch.randn(1, 1, F)
        reads = []
        for delay in (5, 30):  # every distractor the same input: only the cue's age moves
            x = torch.cat([torch.ones(30 - delay, 1, F), cue, torch.ones(delay, 1, F), query])
            starts = torch.zeros(len(x), 1, dtype=torch.bool)
            starts[0] = True
            reads.append(c(x, c.initial_state(1), starts)[0][-1])
        outs[age_features] = (reads[1] - reads[0]).abs().max().item()
    assert outs[False] < 1e-5, outs
    assert outs[True] > 1e-3, outs


@pytest.mark.parametrize(
    "kw",
    [
        {},
        {"read_mode": "sample"},
        {"attention": "chunked", "chunk_size": 3, "top_k_chunks": 2},  # 2 of 4 chunks
    ],
)
def test_length_scale_multiplies_the_logits_by_log_of_the_visible_entries(kw):
    """Scalable-Softmax: at a query that sees n entries the scaled read equals the plain read
    with the query's maps (content and time) multiplied by log n, which scales its logits."""
    T, n = 11, 11  # one episode from an empty memory: the last query sees all T entries
    scaled = core(max_memory=12, heads=2, length_scale=True, **kw)
    plain = core(max_memory=12, heads=2, **kw)
    with torch.no_grad():
        for lin in scaled.time_query:  # a time term too (it starts at zero)
            lin.weight.normal_()
            lin.bias.normal_()
        plain.load_state_dict(scaled.state_dict())
        for lin in (*plain.query, *plain.time_query):
            lin.weight.mul_(math.log(n))
            lin.bias.mul_(math.log(n))
    x = torch.randn(T, 3, F)
    starts = torch.zeros(T, 3, dtype=torch.bool)
    starts[0] = True
    ex_s, ex_p = CoreExtras(), CoreExtras()
    ex_s.deterministic = ex_p.deterministic = True
    y_scaled, _ = scaled(x, scaled.initial_state(3), starts, ex_s)
    y_plain, _ = plain(x, plain.initial_state(3), starts, ex_p)
    torch.testing.assert_close(y_scaled[-1], y_plain[-1], atol=1e-5, rtol=1e-5)
    # at step 2 the query sees 3 entries: scaled by log 3, not log 11
    if ex_s.log_prob is None:
        assert (y_scaled[2] - y_plain[2]).abs().max() > 1e-3
    else:  # the sampled read's distribution is the same at the end, not at step 2
        torch.testing.assert_close(ex_s.log_prob[-1], ex_p.log_prob[-1], atol=1e-5, rtol=1e-5)
        assert (ex_s.log_prob[2] - ex_p.log_prob[2]).abs().max() > 1e-3


@pytest.mark.parametrize(
    "kw", [{}, {"hops": 2, "length_scale": True}, CHUNKED, {"read_mode": "sample", "heads": 2}]
)
def test_a_long_sequence_runs_in_time_blocks_with_the_one_pass_results(monkeypatch, kw):
    """Sequences longer than block_steps run as blocks carrying the state (one pass's
    attention grew with T^2): outputs, state, input gradients, replayed sampled reads, their
    log-probs and entropies and the trace equal one pass over the whole sequence (float64),
    with resets inside and across blocks."""
    monkeypatch.setattr(episodic, "MIN_BLOCK_STEPS", 1)
    c = core(**kw).double()
    assert c.block_steps == 6  # max_memory
    T, B = 23, 3  # 4 blocks, the last one short
    x, starts = torch.randn(T, B, F, dtype=torch.float64), random_starts(T, B)
    state = c.initial_state(B)  # float64, as the parameters
    replay = None
    if kw.get("read_mode") == "sample":
        ex = CoreExtras()
        with torch.no_grad():
            c._forward_block(x, state, starts, ex)
        replay = ex.actions
    results, one_pass, calls = [], c._forward_block, []
    monkeypatch.setattr(c, "_forward_block", lambda *a: calls.append(a[0].shape[0]) or one_pass(*a))
    for run in (c, one_pass):
        xg = x.clone().requires_grad_()
        ex = CoreExtras(replay=replay, trace={})
        y, final = run(xg, state, starts, ex)
        (y.square().sum() + sum(t.float().sum() for t in tree_leaves(final))).backward()
        extra = () if replay is None else (ex.actions, ex.log_prob, ex.entropy)
        trace = [torch.stack(v) for _, v in sorted(ex.trace.items())]
        results.append([y, *tree_leaves(final), xg.grad, *extra, *trace])
    assert calls == [6, 6, 6, 5]
    for a, b in zip(*results, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-9, atol=1e-10)
