"""The generic memory-core contract, as checks any core can be run through.

``check_core(make_core)`` with ``make_core()`` building a small core of input size ``F``:
state shapes (batch on axis 0), a start resets a row to a fresh run, a whole sequence equals
the step-by-step rollout (one step per call, no gradient) from a stored state, and the
state pickles. ``check_memory_ppo(policy_kwargs)`` runs MemoryPPO with the core: the first
epoch's recomputed log-probs and values equal the rollout's (ratio 1 within 1e-5), and
save/load gives identical predictions.
"""

from __future__ import annotations

import pickle
import re
from pathlib import Path

import numpy as np
import torch

from agents.cores import CoreExtras
from agents.cores.state import tree_leaves

README = Path(__file__).resolve().parents[1] / "README.md"


def readme_example_core(agent: str = "elman") -> str:
    """The source of the README's "Adding a core" example (an Elman core and its
    ``register_agent`` call), registering it as ``agent``."""
    block = re.search(
        r"<!-- example-core:begin -->\n```python\n(.*?)```\n<!-- example-core:end -->",
        README.read_text(),
        re.S,
    )
    assert block, "README has no example-core block"
    code = block.group(1)
    assert code.count('register_agent("elman", ') == 1, "the example registers 'elman'"
    return code.replace('register_agent("elman", ', f"register_agent({agent!r}, ")


F = 5


def _run(core, x, state, starts, replay=None):
    extras = CoreExtras(replay=replay)
    y, state = core(x, state, starts, extras)
    return y, state, extras


def _close(a, b):
    torch.testing.assert_close(a, b, atol=1e-5, rtol=1e-5)


def _inputs(T: int, B: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """``x [T, B, F]`` (seeded) and ``starts [T, B]`` with every row starting at t = 0."""
    x = torch.randn(T, B, F, generator=torch.Generator().manual_seed(seed))
    starts = torch.zeros(T, B, dtype=torch.bool)
    starts[0] = True
    return x, starts


def check_core(make_core) -> None:
    core = make_core()
    T, B = 9, 3
    x, starts = _inputs(T, B, seed=0)
    starts[5, 1] = True
    state = core.initial_state(B)
    assert all(leaf.shape[0] == B for leaf in tree_leaves(state)), "batch must be on axis 0"
    y, _, ex = _run(core, x, state, starts)
    assert y.shape == (T, B, core.output_size)
    replay = ex.actions
    # a start inside the sequence == a fresh run of that row from the initial state
    y_fresh, _, _ = _run(
        core,
        x[5:, 1:2],
        core.initial_state(1),
        starts[5:, 1:2],
        None if replay is None else replay[5:, 1:2],
    )
    _close(y[5:, 1:2], y_fresh)
    # whole sequence == one step per call without gradient, through the carried state
    ys, st = [], core.initial_state(B)
    with torch.no_grad():
        for t in range(T):
            yt, st, _ = _run(
                core,
                x[t : t + 1],
                st,
                starts[t : t + 1],
                None if replay is None else replay[t : t + 1],
            )
            ys.append(yt)
    _close(torch.cat(ys), y.detach())
    pickle.loads(pickle.dumps(st))


def assert_batch_replays(policy, batch):
    """Replaying a stored minibatch (gradients on, as in the update) gives the rollout's
    action and internal log-probs (ratio 1 within 1e-5) and values."""
    ev = policy.evaluate_sequences(
        batch.observations,
        batch.actions,
        batch.state,
        batch.episode_starts,
        batch.internal_actions,
    )
    ratio = torch.exp(ev.log_prob - batch.old_log_prob).detach()
    assert torch.allclose(ratio, torch.ones_like(ratio), atol=1e-5), (ratio - 1).abs().max()
    if ev.internal_log_prob is not None:
        iratio = torch.exp(ev.internal_log_prob - batch.old_internal_log_prob).detach()
        assert torch.allclose(iratio, torch.ones_like(iratio), atol=1e-5)
    _close(ev.values.detach(), batch.old_values)
    if ev.internal_values is not None:
        _close(ev.internal_values.detach(), batch.old_internal_values)
    return ev


def check_memory_ppo(policy: str, policy_kwargs: dict, tmp_path) -> None:
    import memenvs  # noqa: F401
    from agents import MemoryPPO, make_vec_env

    env = make_vec_env("memenvs/TMaze-v0", n_envs=4, seed=0, env_kwargs={"length": 3})
    model = MemoryPPO(policy, env, n_steps=24, seq_len=8, seed=0, policy_kwargs=policy_kwargs)
    _, callback = model._setup_learn(model.n_steps * model.n_envs, None)
    for _ in range(2):  # the second rollout starts from a state carried across rollouts
        model.collect_rollouts(model.env, callback, model.rollout_buffer, model.n_steps)
    for batch in model.rollout_buffer.sequences(model.sequences_per_batch):
        assert_batch_replays(model.policy, batch)
    model.learn(48)
    model.save(tmp_path / "m.zip")
    loaded = MemoryPPO.load(tmp_path / "m.zip", env=env)
    obs, s1, s2 = env.reset(), None, None
    starts = np.ones(4, dtype=bool)
    for _ in range(6):
        a1, s1 = model.predict(obs, s1, starts, deterministic=True)
        a2, s2 = loaded.predict(obs, s2, starts, deterministic=True)
        np.testing.assert_array_equal(a1, a2)
        obs, _, starts, _ = env.step(a1)


def check_expected_reads(make_core, make_soft_core=None, t: int = 4) -> None:
    """``CoreExtras.expected`` of a core with sampled reads: ``expected_y`` has ``y``'s shape,
    does not move when the read drawn at step ``t`` (or later) changes, while ``y[t]`` does,
    and passes a gradient to the parameters. ``make_soft_core()`` (the same core reading
    softly, same parameters): at step 0 ``expected_y`` is its ``y``."""
    core = make_core()
    T, B = 7, 3
    x, starts = _inputs(T, B, seed=1)
    draws = []
    for seed in (0, 1):  # two runs of draws: the second's replace the first's from t on
        torch.manual_seed(seed)
        with torch.no_grad():
            draws.append(CoreExtras())
            core(x, core.initial_state(B), starts, draws[-1])
    drawn = draws[0]
    moved = torch.cat([drawn.actions[:t], draws[1].actions[t:]])
    assert (moved[t] != drawn.actions[t]).any(), "pick seeds whose draws at t differ"
    runs = []
    for replay in (drawn.actions, moved):
        ex = CoreExtras(replay=replay, expected=True)
        y, _ = core(x, core.initial_state(B), starts, ex)
        assert ex.expected_y is not None and ex.expected_y.shape == y.shape
        runs.append((y, ex.expected_y))
    (y0, e0), (y1, e1) = runs
    _close(e1[: t + 1], e0[: t + 1])  # up to t the baseline ignores the draw at t
    assert not torch.allclose(y1[t], y0[t]), "the draw at t should change y[t]"
    assert torch.isfinite(e0).all()
    grads = torch.autograd.grad(e0.square().sum(), list(core.parameters()), allow_unused=True)
    assert any(g is not None and g.abs().sum() > 0 for g in grads)
    if make_soft_core is not None:
        soft = make_soft_core()
        soft.load_state_dict(core.state_dict())
        y_soft, _ = soft(x[:1], soft.initial_state(B), starts[:1])
        _close(e0[:1], y_soft)
