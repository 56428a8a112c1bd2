"""How sure is a sampled-read NTM of where to read? (diagnostics, 2026-12-04)

    OMP_NUM_THREADS=1 python diagnose_read_entropy.py CHECKPOINT_DIR LENGTH

Runs an ``ntm`` or ``stochastic-ntm`` run saved by ``probe_rl_copy.py --checkpoint`` (sampled
reads as in training) on 64 fresh Copy episodes of exactly ``LENGTH`` symbols. Per step (input,
delimiter, output) it prints for read head 0's weighting before the slot is drawn (eqs. 5-9):
the mean entropy (ln 128 = 4.85 is uniform), the mean largest probability, the slot most often
the most probable one (share of episodes), and the share of episodes whose most probable slot
is the step before's plus 0 (stays), plus 1 or minus 1 (moves on, as a copying read head does,
in the direction the write head walked). At output step j it adds the share whose most
probable read slot is the write head's most probable slot at input step j or j + 1 ("on
target": where the symbol now due was written, by a write head that stores a symbol when it
sees it or one step later; the soft NTM of seed 2 does the latter); on input steps, the same
stays / +1 / -1 shares for the write head's most probable slot (does it lay the symbols out
one slot apart?) and its mean largest probability. The read weighting is read by wrapping
``NTMCore._choose``, which receives it (``NTMCore._step``'s new state for a soft-read NTM),
the write weighting by wrapping ``NTMCore._step``. Outputs of the runs made:
diagnose_read_entropy.log (the -1, write and on-target columns since the seventh round).
"""

import math
import sys

import numpy as np
import torch

import memenvs  # noqa: F401
from agents.checkpoint import load_checkpoint
from agents.cores.ntm import NTMCore
from agents.vec_env import make_vec_env


def moves(now: torch.Tensor, was: torch.Tensor, n: int) -> str:
    """Shares of episodes whose top slot ``now [B]`` is ``was [B]`` plus 0, +1 and -1 (mod n)."""
    return (
        f"stays {share(now == was)}, +1 {share(now == (was + 1) % n)},"
        f" -1 {share(now == (was - 1) % n)}"
    )


def share(mask: torch.Tensor) -> str:
    return f"{mask.float().mean().item():.2f}"


def main() -> None:
    torch.set_num_threads(1)
    seen: list[torch.Tensor] = []
    writes: list[torch.Tensor] = []
    choose, step = NTMCore._choose, NTMCore._step

    def spy(self, weights, mode, replay, extras, picks):
        if mode == "sample":
            seen.append(weights.detach()[:, 0])  # [B, N], head 0
        return choose(self, weights, mode, replay, extras, picks)

    def spy_step(self, x, state, replay, extras):
        out = step(self, x, state, replay, extras)
        writes.append(out.state.write_weights.detach()[:, 0])  # [B, N], head 0
        if self.read_mode == "soft":  # the read weighting itself, for a soft-read NTM
            seen.append(out.state.read_weights.detach()[:, 0])
        return out

    NTMCore._choose, NTMCore._step = spy, spy_step
    model, length = load_checkpoint(sys.argv[1]), int(sys.argv[2])
    print("checkpoint", sys.argv[1], "env steps", model.num_timesteps, "length", length)
    kwargs = {"min_length": length, "max_length": length}
    env = make_vec_env("memenvs/Copy-v0", n_envs=64, seed=7, env_kwargs=kwargs)
    obs, state, starts = env.reset(), None, np.ones(64, bool)
    before, written = None, []
    for t in range(2 * length + 1):
        seen.clear()
        writes.clear()
        actions, state = model.predict(obs, state=state, episode_start=starts)
        w = seen[0]
        entropy = -(w * w.clamp_min(1e-12).log()).sum(-1).mean().item()
        uniform = math.log(w.shape[-1])
        phase = "input" if t < length else "delimiter" if t == length else "output"
        top = w.argmax(-1)
        mode = int(top.mode().values)
        n = len(w[0])
        columns = "" if before is None else ", " + moves(top, before, n)
        if phase != "output":
            written.append(writes[0].argmax(-1))
        if phase == "input" and t > 0:
            columns += (
                f"; write {moves(written[-1], written[-2], n)},"
                f" largest {writes[0].max(-1).values.mean().item():.3f}"
            )
        if phase == "output":
            j = t - length - 1
            columns += f", on target {share(top == written[j])} / {share(top == written[j + 1])}"
        print(
            f"step {t:3d} {phase:9s} read entropy {entropy:.3f} (uniform {uniform:.2f}),"
            f" largest probability {w.max(-1).values.mean().item():.3f},"
            f" most common top slot {mode} ({share(top == mode)})" + columns
        )
        before = top
        obs, _, starts, _ = env.step(actions)


if __name__ == "__main__":
    main()
